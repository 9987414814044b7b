//! Crashes and refusals lose nothing and reuse no key, with the real `ems` killed at each step.
//!
//! `EMS_CLIENT_FAULT=POINT:KIND` makes `ems` abort (SIGABRT, nothing flushed) when a frame of
//! that kind reaches that point: after the step saved its state, before mining (`mine`); mined,
//! not queued (`mined`); queued, not submitted (`queued`); taken by the node, still queued
//! (`submitted`). For each point the open, the accept, a re-sent open, messages both ways and a
//! rekey each crash once; the clients then run normally, and every message must be read exactly
//! once. Every frame the node accepts is recorded from its live stream: no two different frames
//! may share a data tag (a data key, and so its nonce, is used for one frame only).

mod support;

use ems_client::NodeClient;
use ems_core::Message;
use std::collections::{HashMap, HashSet};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{crash, texts, wait_for, Node, User};

/// A user whose client re-sends unacknowledged control frames on every pass.
fn user(node: &str) -> User {
    User::with_env(node, &[], &[("EMS_RESEND_AFTER", "0")])
}

/// Every frame `node` accepts from now on, recorded by a thread until `stop` is set.
fn record_frames(node: &str, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<Message>>> {
    let frames = Arc::new(Mutex::new(Vec::new()));
    let mut subscription = NodeClient::new(node, None).unwrap().subscribe().unwrap();
    let out = frames.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match subscription.next(Duration::from_millis(200)) {
                Ok(Some(message)) => out.lock().unwrap().push(message),
                Ok(None) => {}
                Err(_) => return,
            }
        }
    });
    frames
}

/// The name of `user`'s only channel.
fn channel_name(user: &User) -> String {
    let list = user.ems_keys_ok(&["channel", "list"]);
    let name = list.split('\t').next().unwrap_or_default();
    assert!(!name.is_empty() && list.lines().count() == 1, "{list}");
    name.to_string()
}

/// Runs both clients' `recv` in turn until `done` holds for (Alice's events, Bob's events).
fn converge(
    alice: &User,
    bob: &User,
    events: &mut (Vec<serde_json::Value>, Vec<serde_json::Value>),
    what: &str,
    done: impl Fn(&[serde_json::Value], &[serde_json::Value]) -> bool,
) {
    wait_for(what, || {
        events.1.extend(bob.recv());
        events.0.extend(alice.recv());
        done(&events.0, &events.1).then_some(())
    });
}

/// Data frames (a short text fits the smallest bucket; opens, accepts and rekeys are larger),
/// by tag: each tag must carry one frame only (re-mined copies have the same digest).
fn assert_one_frame_per_data_tag(frames: &[Message], at_least: usize) {
    let mut by_tag: HashMap<[u8; 32], HashSet<[u8; 32]>> = HashMap::new();
    for frame in frames.iter().filter(|f| f.payload().len() <= 1024) {
        by_tag
            .entry(*frame.id0())
            .or_default()
            .insert(frame.digest());
    }
    assert!(
        by_tag.len() >= at_least,
        "only {} data tags seen",
        by_tag.len()
    );
    for (tag, digests) in by_tag {
        assert_eq!(
            digests.len(),
            1,
            "data tag {} carries {} different frames",
            hex::encode(tag),
            digests.len()
        );
    }
}

#[test]
fn a_crash_at_every_step_loses_no_message_and_reuses_no_key() {
    let node = Node::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let frames = record_frames(&node.api, stop.clone());
    let mut data_tags = 0;
    for point in ["mine", "mined", "queued", "submitted"] {
        let alice = user(&node.api);
        let bob = user(&node.api);
        let bundle = bob.bundle();
        let fault = |kind: &str| format!("{point}:{kind}");

        // The open crashes; the next pass sends it again (and crashes doing so once more).
        crash(
            &alice,
            &[
                "channel",
                "open",
                "--to",
                bundle.to_str().unwrap(),
                "--name",
                "bob",
            ],
            &fault("open"),
        );
        let list = alice.ems_keys_ok(&["channel", "list"]);
        assert!(list.contains("bob"), "{list}");
        crash(&alice, &["recv", "--json"], &fault("control"));
        let out = alice.ems_keys_ok(&["send", "--channel", "bob", "a1"]);
        assert!(out.contains("held on bob"), "{out}");
        // Bob's client crashes sending the accept it saved.
        crash(&bob, &["recv", "--json"], &fault("accept"));

        let mut events = (Vec::new(), Vec::new());
        converge(&alice, &bob, &mut events, "a1 to arrive", |_, b| {
            texts(b) == ["a1"]
        });
        let bob_channel = channel_name(&bob);
        converge(
            &alice,
            &bob,
            &mut events,
            "both sides' keys ready",
            |a, b| {
                a.iter().any(|e| e["event"] == "rekeyed")
                    && b.iter().any(|e| e["event"] == "rekeyed")
            },
        );

        // Messages and a rekey crash on the way out; none is sent again by hand.
        crash(
            &alice,
            &["send", "--channel", "bob", "a2"],
            &fault("message"),
        );
        crash(
            &alice,
            &["channel", "rekey", "--channel", "bob"],
            &fault("rekey"),
        );
        crash(
            &bob,
            &["send", "--channel", &bob_channel, "b1"],
            &fault("message"),
        );
        converge(&alice, &bob, &mut events, "a2 and b1 to arrive", |a, b| {
            !texts(a).is_empty() && texts(b).len() >= 2
        });
        alice.ems_keys_ok(&["send", "--channel", "bob", "a3"]);
        bob.ems_keys_ok(&["send", "--channel", &bob_channel, "b2"]);
        converge(&alice, &bob, &mut events, "a3 and b2 to arrive", |a, b| {
            texts(a).len() >= 2 && texts(b).len() >= 3
        });
        // A few more passes: nothing arrives twice.
        for _ in 0..2 {
            events.0.extend(alice.recv());
            events.1.extend(bob.recv());
        }
        assert_eq!(
            texts(&events.1),
            ["a1", "a2", "a3"],
            "{point}: {:?}",
            events.1
        );
        assert_eq!(texts(&events.0), ["b1", "b2"], "{point}: {:?}", events.0);
        let list = alice.ems_keys_ok(&["channel", "list"]);
        assert!(list.contains("bob"), "{list}");
        data_tags += 5;
    }
    wait_for("the live stream to deliver the last frames", || {
        let frames = frames.lock().unwrap();
        let tags: HashSet<_> = frames
            .iter()
            .filter(|f| f.payload().len() <= 1024)
            .map(|f| *f.id0())
            .collect();
        (tags.len() >= data_tags).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    assert_one_frame_per_data_tag(&frames.lock().unwrap(), data_tags);
}

#[test]
fn frames_a_node_refuses_for_short_work_are_sealed_again_or_resent_and_read_once() {
    // Frames are mined for a node that asks for one try, and queued when the client crashes;
    // the node the users turn to then asks for 200,000 tries and refuses them as
    // `insufficient_work`. A proof mined for one try is a random hash, which meets the dear
    // node's target by luck once in 200,000. (Against a cheap node asking for 1,000 tries
    // plus one per byte and per byte-hour, a proof met it by luck about one run in 60 for a
    // one-hour message of 1.1 KB, and more often for a rekey, whose size weighs in both
    // nodes' work alike.)
    let cheap = Node::start_with(
        &[],
        &[
            "--set",
            "pow.sha256.min_work=1",
            "--set",
            "pow.sha256.size_factor=0",
            "--set",
            "pow.sha256.ttl_factor=0",
        ],
    );
    let dear = Node::start_with(&[&cheap], &["--set", "pow.sha256.min_work=200000"]);
    let mut alice = user(&cheap.api);
    let mut bob = user(&cheap.api);
    alice.open_ready_channel(&bob, "bob");
    let bob_channel = channel_name(&bob);
    crash(
        &alice,
        &["send", "--channel", "bob", "m1"],
        "queued:message",
    );
    crash(
        &bob,
        &["channel", "rekey", "--channel", &bob_channel],
        "queued:rekey",
    );
    alice.node = dear.api.clone();
    bob.node = dear.api.clone();

    // Alice's message is sealed again under a new key; Bob's rekey is dropped from the outbox
    // and, still unacknowledged in his channel state, sent again.
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let out = alice.ems_keys(&["recv", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("message on bob sealed again under a new key")
            && stderr(&out).contains("insufficient_work"),
        "{}",
        stderr(&out)
    );
    let out = bob.ems_keys(&["recv", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dropped a queued frame")
            && stderr(&out).contains("insufficient_work"),
        "{}",
        stderr(&out)
    );
    let mut bob_events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    wait_for("m1", || {
        bob_events.extend(bob.recv());
        (!texts(&bob_events).is_empty()).then_some(())
    });
    alice.recv_until("Bob's rekey", |e| e.iter().any(|e| e["event"] == "rekeyed"));
    bob_events.extend(bob.recv());
    assert_eq!(texts(&bob_events), ["m1"], "{bob_events:?}");
}
