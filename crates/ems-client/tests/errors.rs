//! The failures a user meets on a channel, against a real node: each is one line naming the
//! problem, a non-zero exit, and no change to the key file or channel state.

mod support;

use ems_core::channel::MAX_PLAINTEXT;
use support::{check_one_line_error, snapshot, texts, Node, User};

#[test]
fn oversize_message_node_down_and_unknown_channel_fail_cleanly_and_lose_nothing() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    alice.open_ready_channel(&bob, "bob");
    let before = snapshot(alice.dir.path());

    // One byte more than the largest text fits.
    let max = MAX_PLAINTEXT - 9;
    let too_long = "x".repeat(max + 1);
    let out = alice.ems_keys(&["send", "--channel", "bob", &too_long]);
    check_one_line_error(
        &out,
        &format!(
            "message of {} bytes exceeds the {max}-byte maximum",
            max + 1
        ),
    );
    let out = alice.ems_keys(&["send", "--sign", "--channel", "bob", &"x".repeat(5000)]);
    check_one_line_error(&out, "maximum for a signed message");

    // A node that is down: nothing is sealed, nothing is lost.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = alice.ems_keys(&["send", "--node", &down, "--channel", "bob", "hello"]);
    check_one_line_error(&out, "is unreachable");
    check_one_line_error(&alice.ems(&["status", "--node", &down]), "is unreachable");

    check_one_line_error(
        &alice.ems_keys(&["send", "--channel", "nobody", "hello"]),
        "no channel named \"nobody\"",
    );
    check_one_line_error(
        &alice.ems_keys(&["send", "--ttl", "5x", "--channel", "bob", "hello"]),
        "invalid --ttl",
    );
    check_one_line_error(
        &alice.ems_keys(&["send", "--ttl", "30d", "--channel", "bob", "hello"]),
        "policy.max_ttl",
    );
    assert_eq!(
        snapshot(alice.dir.path()),
        before,
        "a failed send changed the state"
    );

    // The channel still works, and the first message Bob reads is the first one sent.
    alice.ems_keys_ok(&["send", "--channel", "bob", "after the failures"]);
    let events = bob.recv_until("Bob to read the message", |e| !texts(e).is_empty());
    assert_eq!(texts(&events), ["after the failures"]);
}

#[test]
fn a_channel_to_an_expired_bundle_refuses_to_send() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let carol = User::new(&node.api, &["--valid", "8s"]);
    let expires = ems_core::Bundle::decode(&std::fs::read(carol.bundle()).unwrap())
        .unwrap()
        .body()
        .expires();
    alice.open_channel(&carol, "carol");

    // Wait for the bundle's expiry to pass (a known time, not a guess).
    support::wait_for("Carol's bundle to expire", || {
        (ems_now() > expires).then_some(())
    });
    let before = snapshot(alice.dir.path());
    check_one_line_error(
        &alice.ems_keys(&["send", "--channel", "carol", "too late"]),
        "channel \"carol\" expired at",
    );
    check_one_line_error(
        &alice.ems_keys(&["channel", "rekey", "--channel", "carol"]),
        "expired",
    );
    assert_eq!(snapshot(alice.dir.path()), before);
    let list = alice.ems_keys_ok(&["channel", "list"]);
    assert!(list.contains("expired"), "{list}");

    // An expired bundle cannot be opened to either.
    check_one_line_error(
        &alice.ems_keys(&["channel", "open", "--to", carol.bundle().to_str().unwrap()]),
        "the bundle expired",
    );
}

fn ems_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_frame_the_node_could_not_take_is_sent_by_the_next_command() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    alice.open_ready_channel(&bob, "bob");

    // `--at` holds the frame in the outbox; a process that dies while holding it leaves it there.
    let mut held = std::process::Command::new(support::ems())
        .args([
            "send",
            "--keys",
            alice.keys.to_str().unwrap(),
            "--channel",
            "bob",
            "--at",
            "+2s",
            "held",
        ])
        .env("EMS_NODE", &node.api)
        .env("EMS_QUIET", "true")
        .spawn()
        .unwrap();
    let outbox = alice.state_dir().join("outbox");
    let queued_entries = || {
        std::fs::read_dir(&outbox)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "state")
            })
            .count()
    };
    support::wait_for("the held frame to be queued", || {
        (queued_entries() == 1).then_some(())
    });
    let queued = ems_now();
    held.kill().unwrap();
    held.wait().unwrap();
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);

    // Once its time has come, the next command sends it, before its own message.
    // The entry is sealed like all state (no plain JSON on disk); its time is at most
    // `queued + 2`, the process having read the clock before queueing.
    let entry = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(std::fs::read(entry).unwrap().starts_with(b"EMSSTATE"));
    let due = queued + 3;
    support::wait_for("the --at time to pass", || (ems_now() > due).then_some(()));
    alice.ems_keys_ok(&["send", "--channel", "bob", "next"]);
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 0);
    let events = bob.recv_until("Bob to read both", |e| texts(e).len() >= 2);
    assert_eq!(texts(&events), ["held", "next"]);
}

#[test]
fn channel_state_is_sealed_and_an_altered_file_is_named_not_used() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    alice.open_ready_channel(&bob, "bob");
    let channels = alice.state_dir().join("channels");
    let file = std::fs::read_dir(&channels)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = std::fs::read(&file).unwrap();
    assert!(
        good.starts_with(b"EMSSTATE"),
        "channel state is stored in the clear"
    );

    // Another user's key file cannot read it, and an altered byte is refused by name.
    let mut altered = good.clone();
    altered[40] ^= 1;
    std::fs::write(&file, &altered).unwrap();
    let out = alice.ems_keys(&["send", "--channel", "bob", "hello"]);
    check_one_line_error(&out, "does not decrypt under this key file's state key");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(file.file_name().unwrap().to_str().unwrap())
    );
    check_one_line_error(&alice.ems_keys(&["channel", "list"]), "channel state");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        altered,
        "a failed command rewrote the state"
    );

    std::fs::write(&file, &good).unwrap();
    alice.ems_keys_ok(&["send", "--channel", "bob", "hello"]);
    let events = bob.recv_until("Bob to read it", |e| !texts(e).is_empty());
    assert_eq!(texts(&events), ["hello"]);
}
