//! Two users talk over three real relays with the real `ems` binary: open, accept, messages both
//! ways, history after being offline, rekeys in both directions, a signed message, and a third
//! user who relays and stores everything and reads nothing.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::{texts, wait_for, Node, User};

/// The texts read, each exactly once, sorted. Messages crossing three relays can reach the
/// reader's node out of sending order (each relay validates on a pool of threads), and the client
/// reads in arrival order (a skipped key opens an earlier message later); it promises every
/// message once, not an order. In sending order this test failed in 2 of 8 runs (a1 a3 a2;
/// a6 before a5).
fn read(events: &[serde_json::Value]) -> Vec<String> {
    let mut read = texts(events);
    read.sort();
    read
}

#[test]
fn alice_and_bob_talk_over_three_relays_across_rekeys_and_carol_reads_nothing() {
    let relay = Node::start(&[]);
    let alice_node = Node::start(&[&relay]);
    let bob_node = Node::start(&[&relay]);
    relay.wait_for_peers(2);
    alice_node.wait_for_peers(1);
    bob_node.wait_for_peers(1);

    let alice = User::new(&alice_node.api, &[]);
    let bob = User::with_env(
        &bob_node.api,
        &["--passphrase-env", "BOB_PASS"],
        &[("BOB_PASS", "correct horse")],
    );
    let bob_args = ["--passphrase-env", "BOB_PASS"];
    let carol = User::new(&relay.api, &[]);

    // Alice opens a channel to Bob's bundle file and, before Bob has even looked, writes three
    // messages: data waits for the channel's keys (Bob's accept, then one rekey each way), so
    // they are held in her channel state.
    let out = alice.open_channel(&bob, "bob");
    assert!(out.contains("opened channel bob"), "{out}");
    for text in ["a1", "a2", "a3"] {
        let out = alice.ems_keys_ok(&["send", "--channel", "bob", text]);
        assert!(out.contains("held on bob"), "{out}");
    }

    let recv_bob = |what: &str, done: &dyn Fn(&[serde_json::Value]) -> bool| {
        let mut events = Vec::new();
        wait_for(what, || {
            let out = bob.ems_keys_ok(&[&["recv", "--json"][..], &bob_args].concat());
            events.extend(
                out.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
            );
            done(&events).then_some(())
        });
        events
    };
    let mut bob_events = recv_bob("Bob to accept", &|e| {
        e.iter().any(|e| e["event"] == "opened")
    });
    // Alice's client sees the accept, steps to Bob's fresh ratchet key and sends what it held;
    // Bob's client follows her rekey (stepping its own) and reads a1..a3 from history.
    let mut alice_events = alice.recv_until("Alice to see the accept", |e| {
        e.iter().any(|e| e["event"] == "accepted")
    });
    bob_events.extend(recv_bob("Bob to read a1..a3", &|e| texts(e).len() >= 3));
    let opened: Vec<_> = bob_events
        .iter()
        .filter(|e| e["event"] == "opened")
        .collect();
    assert_eq!(opened.len(), 1, "{bob_events:?}");
    let bob_channel = opened[0]["channel"].as_str().unwrap().to_string();
    assert_eq!(read(&bob_events), ["a1", "a2", "a3"]);

    // Bob answers twice; Alice sees the accept, then his messages in order.
    for text in ["b1", "b2"] {
        bob.ems_keys_ok(&[&["send", "--channel", &bob_channel, text][..], &bob_args].concat());
    }
    alice_events.extend(alice.recv_until("Alice to read b1, b2", |e| texts(e).len() >= 2));
    assert_eq!(
        alice_events
            .iter()
            .filter(|e| e["event"] == "accepted")
            .count(),
        1,
        "{alice_events:?}"
    );
    assert_eq!(read(&alice_events), ["b1", "b2"]);
    let list = alice.ems_keys_ok(&["channel", "list"]);
    assert!(
        list.contains("bob") && list.contains("established"),
        "{list}"
    );

    // Alice rekeys and sends; Bob follows her to the new epoch (her third: epoch 1 came with the
    // accept, epoch 2 with the rekey her client made on it).
    let out = alice.ems_keys_ok(&["channel", "rekey", "--channel", "bob"]);
    assert!(out.contains("epoch 3"), "{out}");
    alice.ems_keys_ok(&["send", "--channel", "bob", "a4 after Alice's rekey"]);
    bob_events.extend(recv_bob("Bob to read a4", &|e| !texts(e).is_empty()));
    assert!(
        bob_events
            .iter()
            .any(|e| e["event"] == "rekeyed" && e["epoch"] == 3),
        "{bob_events:?}"
    );

    // Bob rekeys and sends a signed message; Alice reads it, verified.
    bob.ems_keys_ok(
        &[
            &["channel", "rekey", "--channel", &bob_channel][..],
            &bob_args,
        ]
        .concat(),
    );
    bob.ems_keys_ok(
        &[
            &[
                "send",
                "--sign",
                "--channel",
                &bob_channel,
                "b3 signed after Bob's rekey",
            ][..],
            &bob_args,
        ]
        .concat(),
    );
    alice_events.extend(alice.recv_until("Alice to read b3", |e| !texts(e).is_empty()));
    let b3 = alice_events
        .iter()
        .find(|e| e["text"] == "b3 signed after Bob's rekey")
        .expect("b3 arrived");
    assert_eq!(b3["signed"], true);
    assert!(
        alice_events
            .iter()
            .any(|e| e["event"] == "rekeyed" && e["epoch"] == 3),
        "{alice_events:?}"
    );

    // Bob, following live, gets Alice's next messages as they come, in order, once.
    let (_follow, lines_rx) = support::spawn_lines(
        Command::new(support::ems())
            .args([
                "recv",
                "--follow",
                "--json",
                "--keys",
                bob.keys.to_str().unwrap(),
                "--passphrase-env",
                "BOB_PASS",
            ])
            .env("EMS_NODE", &bob.node)
            .env("EMS_QUIET", "true")
            .env("BOB_PASS", "correct horse")
            .stderr(Stdio::null()),
    );
    for text in ["a5 live", "a6 live"] {
        alice.ems_keys_ok(&["send", "--channel", "bob", text]);
    }
    let mut live = Vec::new();
    wait_for("Bob's --follow to print a5, a6", || {
        while let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(100)) {
            live.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
        (texts(&live).len() >= 2).then_some(())
    });
    assert_eq!(read(&live), ["a5 live", "a6 live"]);
    drop(_follow);

    // Nothing arrives twice: a final receive on each side finds nothing new.
    bob_events.extend(live);
    assert!(bob
        .ems_keys_ok(&[&["recv", "--json"][..], &bob_args].concat())
        .trim()
        .is_empty());
    assert!(alice.recv().is_empty());
    assert_eq!(
        read(&bob_events),
        [
            "a1",
            "a2",
            "a3",
            "a4 after Alice's rekey",
            "a5 live",
            "a6 live"
        ]
    );
    assert_eq!(
        read(&alice_events),
        ["b1", "b2", "b3 signed after Bob's rekey"]
    );

    // Carol's relay stored every frame of the conversation, and Carol reads none of it.
    let stored = relay.status()["store"]["messages"].as_u64().unwrap();
    assert!(stored >= 13, "relay stored {stored} messages");
    assert!(carol.recv().is_empty(), "Carol read something");
}
