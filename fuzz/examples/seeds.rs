//! Writes the seed corpora (`fuzz/seeds/<target>/`) from the wire-format vectors and from real
//! frames, keys, states and node answers made by the fixtures. Deterministic: run it again and
//! nothing changes unless the formats did.
//!
//! `cargo run --release --example seeds` (from `fuzz/`).

use ems_core::announce::announcement;
use ems_core::channel::fuzzing::with_plaintext_edit;
use ems_core::keyfile::KdfParams;
use ems_core::{Channel, Context, Protection};
use ems_fuzz::people::{self, alice, bob, BLOCKHASH, NOW, TTL};
use ems_fuzz::{proto, rng, vectors};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() {
    let v = vectors::get();
    for (i, vector) in v.list.iter().enumerate() {
        let context = match vector.context {
            Context::Live => 0,
            Context::History => 1,
        };
        write("frame", &format!("vector-{i:02}"), &vector.frame);
        write(
            "validate",
            &format!("vector-{i:02}"),
            &[&[context][..], &vector.frame].concat(),
        );
    }

    let conversation = people::conversation();
    for (i, frame) in conversation.frames.iter().enumerate() {
        let wire = frame.encode();
        write("frame", &format!("channel-{i}"), &wire);
        write(
            "channel_body",
            &format!("forged-{i}"),
            &[&[0, 1, 0x80][..], &wire].concat(),
        );
        write(
            "channel_open",
            &format!("forged-{i}"),
            &[&[1][..], &wire].concat(),
        );
    }
    // Bodies as Bob's sealing code writes them: data, signed data, rekey.
    for (i, state) in conversation.states.iter().enumerate() {
        let mut b = people::restore(&state.1);
        let mut rng = rng(100 + i as u64);
        let captured = Rc::new(RefCell::new(Vec::new()));
        let sink = captured.clone();
        with_plaintext_edit(
            move |plaintext| sink.borrow_mut().push(plaintext.clone()),
            || {
                b.seal(bob(), b"hello Alice", TTL, BLOCKHASH, false, &mut rng)
                    .expect("seal");
                b.seal(bob(), b"signed", TTL, BLOCKHASH, true, &mut rng)
                    .expect("seal");
                b.rekey(bob(), TTL, BLOCKHASH, &mut rng).expect("rekey");
            },
        );
        for (k, body) in captured.borrow().iter().enumerate() {
            write(
                "channel_body",
                &format!("body-{i}-{k}"),
                &[&[i as u8, 0][..], body].concat(),
            );
        }
        write(
            "channel_body",
            &format!("tamper-{i}"),
            &[i as u8, 2, 0, 70, 1],
        );
        write(
            "channel_body",
            &format!("order-{i}"),
            &[i as u8, 3, 4, 2, 0, 1, 0, 3, 4],
        );
        write("channel_state", &format!("alice-{i}"), state.0.as_bytes());
        write("channel_state", &format!("bob-{i}"), state.1.as_bytes());
    }
    // Alice's genuine open plaintext, under the randomness the target uses.
    let captured = Rc::new(RefCell::new(Vec::new()));
    let sink = captured.clone();
    with_plaintext_edit(
        move |plaintext| sink.borrow_mut().push(plaintext.clone()),
        || Channel::open(alice(), bob().bundle(), NOW, TTL, BLOCKHASH, &mut rng(7)),
    )
    .expect("open");
    write(
        "channel_open",
        "genuine",
        &[&[0][..], &captured.borrow()[0]].concat(),
    );

    for (name, who) in [("alice", alice()), ("bob", bob())] {
        let bundle = who.bundle();
        write("bundle", name, &bundle.encode());
        write("bundle", &format!("{name}-body"), &bundle.body().encode());
        write(
            "bundle",
            &format!("{name}-base64"),
            bundle.to_base64().as_bytes(),
        );
        let message = announcement(bundle, TTL, BLOCKHASH, &mut rng(9));
        write("announcement", name, &message.encode());
        write("frame", &format!("announcement-{name}"), &message.encode());
        let plain = who
            .to_key_file(Protection::None, &mut rng(10))
            .expect("key file");
        write("keyfile", &format!("{name}-plain"), &plain);
    }
    let tiny = KdfParams {
        memory_kib: 8,
        passes: 1,
        lanes: 1,
    };
    let protection = Protection::Passphrase {
        passphrase: b"fuzz",
        params: tiny,
    };
    let encrypted = bob()
        .to_key_file(protection, &mut rng(11))
        .expect("key file");
    write("keyfile", "bob-encrypted", &encrypted);

    let step = |op: u8, quantity: u8, bytes: &[u8]| {
        [
            &[op, quantity][..],
            &(bytes.len() as u16).to_be_bytes(),
            bytes,
        ]
        .concat()
    };
    let genesis = NOW - 86_400;
    let head = proto::headers(0, 0, 90, 99, genesis);
    let older = proto::headers(0, 0, 80, 89, genesis);
    let reorg = proto::headers(1, 0, 97, 101, genesis);
    let from_genesis = proto::headers(0, 0, 0, 3, genesis);
    write(
        "qrl_headers",
        "follow",
        &[step(0, 100, &head), step(1, 10, &older)].concat(),
    );
    write(
        "qrl_headers",
        "reorg",
        &[step(0, 100, &head), step(0, 10, &reorg)].concat(),
    );
    write(
        "qrl_headers",
        "trim",
        &[
            step(0, 100, &from_genesis),
            step(2, 0, &(genesis + 120).to_be_bytes()),
        ]
        .concat(),
    );
    let commitment = bob().bundle().body().commitment().to_vec();
    write(
        "qrl_lattice",
        "committed",
        &[&[100][..], &proto::lattice_page(&[vec![1; 33], commitment])].concat(),
    );
    write("qrl_lattice", "empty", &[100]);

    let default = toml::to_string(&ems_core::Policy::default()).expect("policy");
    write("policy", "default", default.as_bytes());
    write(
        "policy",
        "vectors",
        toml::to_string(&v.policy).expect("policy").as_bytes(),
    );
    write("policy", "dotted", b"store.enabled = false\nstore.max_bytes = 0\npow.algorithms = [\"argon2id\", \"sha256\"]\n");
    write("policy", "inline", b"pow.sha256 = { min_work = 1, size_factor = 2, ttl_factor = 3 }\npolicy.max_ttl = 4294967295\n");

    // The node's answers as a client reads them, one of each kind, from real values.
    use ems_client::schema::*;
    let answer = |name: &str, kind: u8, json: Vec<u8>| {
        write("node_answer", name, &[&[kind][..], &json].concat());
    };
    let head = ChainHead {
        height: 100,
        blockhash: BLOCKHASH,
        policy: ems_core::Policy::default(),
    };
    answer("chain-head", 0, json(&head));
    let accepted = Accepted {
        digest: conversation.frames[0].digest(),
        stored: true,
    };
    answer("accepted", 1, json(&accepted));
    let page = MessagePage {
        messages: conversation.frames.iter().map(StoredMessage::new).collect(),
        next_cursor: Some("00000000000000640000000000000003".into()),
    };
    answer("page", 2, json(&page));
    let last = MessagePage {
        messages: vec![],
        next_cursor: None,
    };
    answer("page-last", 2, json(&last));
    let status = NodeStatus {
        peer_id: "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp".into(),
        listen_addrs: vec![
            "/ip4/127.0.0.1/tcp/19100/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
                .into(),
        ],
        network: "devnet".into(),
        peers: 3,
        chain: ChainStatus {
            source: "devnet".into(),
            height: Some(100),
            head_prefix: Some(hex::encode(BLOCKHASH)),
            healthy: true,
        },
        store: StoreStatus {
            messages: 12,
            bytes: 40_960,
        },
        policy: ems_core::Policy::default(),
    };
    answer("status", 3, json(&status));
    let error = ErrorBody::new(
        ErrorCode::StaleBlockhash,
        "blockhash deadbeef is not the prefix of any recent block",
    );
    answer("error", 4, json(&error));
}

/// An answer's JSON.
fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("an answer serialises")
}
