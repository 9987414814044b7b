//! Writes the wire-format v1 test vectors (`tests/vectors/wire-v1.json`) to stdout.
//!
//! `cargo run -p ems-core --example wire_vectors > tests/vectors/wire-v1.json`
//!
//! Deterministic: the same code gives the same file. The suite's `vectors` test checks every
//! vector in the file against the implementation, so regenerate only when the format changes
//! on purpose.

use ems_core::message::MAX_PAYLOAD;
use ems_core::{BlockRef, Message, Policy};
use ems_pow::{Algorithm, Proof, WorkParams};
use serde_json::{json, Value};

#[path = "../tests/fixture/mod.rs"]
mod fixture;
use fixture::{DAYS_OLD, HEAD, HOURS_OLD, JUST_STALE, NOW, OLDEST_FRESH};

fn policy() -> Policy {
    let mut p = Policy::default();
    p.pow.sha256 = WorkParams {
        min_work: 4_096,
        size_factor: 1,
        ttl_factor: 16,
    };
    p
}

fn id(tag: u8) -> [u8; 64] {
    let mut id = [0u8; 64];
    for (i, b) in id.iter_mut().enumerate() {
        *b = if i < 32 { tag } else { i as u8 };
    }
    id
}

fn mined(tag: u8, payload: Vec<u8>, ttl: u64, block: BlockRef) -> Message {
    let mut m = Message::new(id(tag), payload, ttl as u32, block.prefix).unwrap();
    m.mine(&policy(), Algorithm::Sha256, NOW);
    m
}

fn valid(name: &str, context: &str, m: &Message) -> Value {
    json!({
        "name": name,
        "context": context,
        "frame": hex::encode(m.encode()),
        "expect": {
            "accept": true,
            "digest": hex::encode(m.digest()),
            "id0": hex::encode(m.id0()),
            "payload_len": m.payload().len(),
            "ttl": m.ttl(),
            "blockhash": hex::encode(m.blockhash()),
            "pow_algorithm": m.pow().algorithm,
            "nonce": m.pow().proof.nonce,
        }
    })
}

fn invalid(name: &str, context: &str, frame: &[u8], reason: &str, decode: Option<&str>) -> Value {
    let mut expect = json!({ "accept": false, "reason": reason });
    if let Some(d) = decode {
        expect["decode_error"] = json!(d);
    }
    json!({ "name": name, "context": context, "frame": hex::encode(frame), "expect": expect })
}

fn main() {
    let p = policy();
    let skew = p.limits.clock_skew;
    let max_ttl = p.limits.max_ttl;
    let base = mined(0x01, b"hello, QRL".to_vec(), NOW + 3_600, HEAD);
    let base_bytes = base.encode();
    let alg_at = base_bytes.len() - ems_pow::PROOF_LEN - 1;

    let mut v = vec![
        valid(
            "empty payload",
            "live",
            &mined(0x02, vec![], NOW + 60, HEAD),
        ),
        valid("short text payload, one hour", "live", &base),
        valid(
            "1 KiB payload",
            "live",
            &mined(0x03, vec![0x5a; 1024], NOW + 600, HEAD),
        ),
        valid(
            "largest payload (8192 bytes)",
            "live",
            &mined(
                0x04,
                (0..MAX_PAYLOAD).map(|i| i as u8).collect(),
                NOW + 120,
                HEAD,
            ),
        ),
        valid(
            "TTL at the max_ttl limit",
            "live",
            &mined(0x05, b"far".to_vec(), NOW + max_ttl + skew, HEAD),
        ),
        valid(
            "oldest block within block_depth",
            "live",
            &mined(0x06, b"edge".to_vec(), NOW + 60, OLDEST_FRESH),
        ),
        valid(
            "TTL just inside the clock-skew allowance",
            "live",
            &mined(0x07, b"late".to_vec(), NOW - skew + 1, HEAD),
        ),
        valid(
            "history: block five hours old",
            "history",
            &mined(0x08, b"history".to_vec(), NOW + 600, HOURS_OLD),
        ),
    ];

    let truncations = [
        (0usize, "truncated:id"),
        (64, "truncated:payload_length"),
        (66 + 5, "truncated:payload"),
        (76 + 2, "truncated:ttl"),
        (80 + 1, "truncated:blockhash"),
        (84, "truncated:pow_algorithm"),
        (85 + 20, "truncated:pow_proof"),
    ];
    for (cut, kind) in truncations {
        v.push(invalid(
            &format!("cut at byte {cut}"),
            "live",
            &base_bytes[..cut],
            "malformed",
            Some(kind),
        ));
    }
    let mut trailing = base_bytes.clone();
    trailing.push(0);
    v.push(invalid(
        "one byte after the proof",
        "live",
        &trailing,
        "malformed",
        Some("trailing_bytes"),
    ));
    let mut long_len = base_bytes.clone();
    long_len[64..66].copy_from_slice(&((MAX_PAYLOAD + 1) as u16).to_be_bytes());
    v.push(invalid(
        "payload length 8193",
        "live",
        &long_len,
        "too_large",
        Some("payload_too_large"),
    ));
    v.push(invalid(
        "frame of 8308 bytes",
        "live",
        &vec![0u8; ems_core::message::MAX_FRAME + 1],
        "too_large",
        Some("frame_too_large"),
    ));

    v.push(invalid(
        "expired",
        "live",
        &mined(0x10, b"old".to_vec(), NOW - skew, HEAD).encode(),
        "expired",
        None,
    ));
    v.push(invalid(
        "TTL beyond max_ttl",
        "live",
        &mined(0x11, b"far".to_vec(), NOW + max_ttl + skew + 1, HEAD).encode(),
        "ttl_too_far",
        None,
    ));
    v.push(invalid(
        "unknown block",
        "live",
        &mined(
            0x12,
            b"?".to_vec(),
            NOW + 60,
            BlockRef {
                prefix: [9, 9, 9, 9],
                ..HEAD
            },
        )
        .encode(),
        "stale_blockhash",
        None,
    ));
    v.push(invalid(
        "block one past block_depth",
        "live",
        &mined(0x13, b"stale".to_vec(), NOW + 60, JUST_STALE).encode(),
        "stale_blockhash",
        None,
    ));
    v.push(invalid(
        "history: block older than max_ttl",
        "history",
        &mined(0x14, b"ancient".to_vec(), NOW + 60, DAYS_OLD).encode(),
        "stale_blockhash",
        None,
    ));
    v.push(invalid(
        "history: TTL outlives its block by more than max_ttl",
        "history",
        &mined(
            0x15,
            b"stretch".to_vec(),
            HOURS_OLD.time + max_ttl + 1,
            HOURS_OLD,
        )
        .encode(),
        "stale_blockhash",
        None,
    ));
    for alg in [0x00u8, 0xee] {
        let mut b = base_bytes.clone();
        b[alg_at] = alg;
        v.push(invalid(
            &format!("algorithm byte 0x{alg:02x}"),
            "live",
            &b,
            "unsupported_pow",
            None,
        ));
    }
    let mut weak = Message::new(
        id(0x16),
        b"weak".to_vec(),
        (NOW + 3_600) as u32,
        HEAD.prefix,
    )
    .unwrap();
    let easy = ems_pow::solve(Algorithm::Sha256, &weak.digest(), u64::MAX, 0);
    weak.set_pow(Algorithm::Sha256, easy);
    v.push(invalid(
        "proof hash above the target",
        "live",
        &weak.encode(),
        "insufficient_work",
        None,
    ));
    let mut wrong_nonce = base.clone();
    let proof = base.pow().proof;
    wrong_nonce.set_pow(
        Algorithm::Sha256,
        Proof {
            nonce: proof.nonce ^ 1,
            ..proof
        },
    );
    v.push(invalid(
        "nonce changed after mining",
        "live",
        &wrong_nonce.encode(),
        "insufficient_work",
        None,
    ));
    let mut tampered = base_bytes.clone();
    tampered[66] ^= 0x20;
    v.push(invalid(
        "payload changed after mining",
        "live",
        &tampered,
        "insufficient_work",
        None,
    ));

    let blocks: Vec<Value> = fixture::BLOCKS
        .iter()
        .map(|b| json!({ "height": b.height, "prefix": hex::encode(b.prefix), "time": b.time }))
        .collect();
    let doc = json!({
        "format": "EMS wire format v1 test vectors; see docs/wire-format.md",
        "now": NOW,
        "chain": { "blocks": blocks },
        "policy": p,
        "vectors": v,
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}
