//! Opening a channel by QRL address against a real `qrl-node` (the isolated testnet of
//! `scripts/qrl-node/`): an address with no commitment, an announced bundle the address did not
//! commit to, and the committed one; then the retirement of a committed bundle, after which
//! senders checking the chain and `--accept committed` refuse it.

#[path = "../../ems-chain/tests/qrl_support/mod.rs"]
mod qrl_support;
mod support;

use qrl_support::QrlNode;
use support::{check_one_line_error, texts, Node, User};

/// The address of the mocknet key `publish_lattice.py` signs with.
const MOCKNET_ADDRESS: &str =
    "Q01050058bb3f8cb66fd90d0347478e5bdf3a475e82cfc5fe5dc276500ca21531e6edaf3d2d0f7e";

/// Publishes `pk3` (hex, as `ems keys show` prints it) from the mocknet address.
fn publish_pk3(qrl: &QrlNode, pk3: &str) {
    let published = qrl.publish_lattice(&hex::decode(pk3).expect("pk3 is hex"));
    assert_eq!(published.address, MOCKNET_ADDRESS);
}

/// The `pk3` values `ems keys show` prints for `user`'s bundle: the commitment, the retirement.
fn pk3s(user: &User) -> (String, String) {
    let out = user.ems_ok(&["keys", "show", user.bundle().to_str().unwrap()]);
    let mut values = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pk3"))
        .map(|v| v.trim().to_string());
    (values.next().unwrap(), values.next().unwrap())
}

fn commitment(user: &User) -> String {
    pk3s(user).0
}

#[test]
fn opening_by_address_accepts_only_the_bundle_committed_on_chain() {
    let qrl = QrlNode::start();
    let node = Node::start(&[]);
    let chain = qrl.endpoint();
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &["--qrl-address", MOCKNET_ADDRESS]);
    let other = User::new(&node.api, &["--qrl-address", MOCKNET_ADDRESS]);
    let open = |to: &str| alice.ems_keys(&["channel", "open", "--chain", &chain, "--to", to]);

    // An address that never published a lattice transaction, and Bob's before he commits.
    let nobody = format!("Q{}", "02".repeat(39));
    check_one_line_error(
        &open(&nobody),
        &format!("address {nobody} has published no EMS key commitment"),
    );
    check_one_line_error(
        &open(MOCKNET_ADDRESS),
        "has published no EMS key commitment",
    );

    // The address commits to another bundle, which nobody announced.
    publish_pk3(&qrl, &commitment(&other));
    check_one_line_error(&open(MOCKNET_ADDRESS), "no valid key announcement");
    // Bob announces a bundle the address did not commit to.
    bob.ems_keys_ok(&["keys", "announce"]);
    check_one_line_error(&open(MOCKNET_ADDRESS), "is not committed on chain");
    // A bundle handed over directly is checked against the chain too.
    check_one_line_error(
        &open(bob.bundle().to_str().unwrap()),
        "no on-chain commitment matches",
    );

    // Bob's address commits to his bundle: now it resolves, and the channel works.
    publish_pk3(&qrl, &commitment(&bob));
    let out = support::check_ok(&["channel", "open"], open(MOCKNET_ADDRESS));
    assert!(out.contains("committed on chain"), "{out}");
    alice.establish(&bob);
    alice.ems_keys_ok(&[
        "send",
        "--channel",
        &MOCKNET_ADDRESS[..13],
        "hello by address",
    ]);
    let events = bob.recv_until("Bob to read it", |e| !texts(e).is_empty());
    assert_eq!(texts(&events), ["hello by address"]);

    // Bob retires the bundle: opening to it by address, or by the bundle checked against the
    // chain, is refused from then on.
    let (_, retirement) = pk3s(&bob);
    assert_eq!(retirement, format!("{}72657469726564", commitment(&bob)));
    publish_pk3(&qrl, &retirement);
    let retired = format!(
        "bundle {} was retired on chain",
        bob.ems_ok(&["keys", "show", bob.bundle().to_str().unwrap()])
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("fingerprint")
            .trim()
    );
    check_one_line_error(&open(MOCKNET_ADDRESS), &retired);
    check_one_line_error(&open(bob.bundle().to_str().unwrap()), &retired);
}

#[test]
fn accept_committed_takes_opens_from_a_committed_sender_until_it_retires_its_bundle() {
    let qrl = QrlNode::start();
    let node = Node::start(&[]);
    let chain = qrl.endpoint();
    let alice = User::new(&node.api, &["--qrl-address", MOCKNET_ADDRESS]);
    let bob = User::new(&node.api, &[]);
    let bob_recv = || {
        support::check_ok(
            &["recv"],
            bob.ems_keys(&["recv", "--json", "--accept", "committed", "--chain", &chain]),
        )
    };
    publish_pk3(&qrl, &commitment(&alice));
    alice.open_channel(&bob, "first");
    let events = bob_recv();
    assert!(events.contains(r#""event":"opened""#), "{events}");

    // Alice retires her bundle: her next open is refused, neither accepted nor kept pending.
    publish_pk3(&qrl, &pk3s(&alice).1);
    alice.open_channel(&bob, "second");
    let events = bob_recv();
    assert!(!events.contains(r#""event":"opened""#), "{events}");
    assert!(events.contains("was retired on chain"), "{events}");
    assert_eq!(bob.ems_keys_ok(&["channel", "pending"]), "");
}
