//! The receiver's handling of frames, without a node: frames past their TTL are refused through
//! ems-core's `unseal(.., now)` and leave the channel state as it was.

use super::*;
use crate::keys::{save_new, Passphrase};
use crate::node::NodeClient;
use crate::state::{default_name, ChannelRecord};
use ems_core::channel::recognise;
use ems_core::{Channel, Identity};

const HASH: [u8; 4] = [1, 2, 3, 4];

/// Alice's channel state and Bob's session holding the other end, with keys ready both ways.
fn ready_pair(dir: &std::path::Path) -> (Identity, Channel, Session) {
    let t = now();
    let mut rng = crate::rng();
    let alice = Identity::generate(&mut rng, t - 10, t + 86_400, None).unwrap();
    let bob = Identity::generate(&mut rng, t - 10, t + 86_400, None).unwrap();
    let ttl = (t + 3_600) as u32;
    let (mut a, open) = Channel::open(&alice, bob.bundle(), t, ttl, HASH, &mut rng).unwrap();
    let incoming = recognise(&bob, &open, t).unwrap().unwrap();
    let (mut b, accept) = incoming.accept(&bob, ttl, HASH, &mut rng).unwrap();
    a.unseal(&alice, &accept, t).unwrap();
    let rekey = a.rekey(&alice, ttl, HASH, &mut rng).unwrap();
    b.unseal(&bob, &rekey, t).unwrap();
    let rekey = b.rekey(&bob, ttl, HASH, &mut rng).unwrap();
    a.unseal(&alice, &rekey, t).unwrap();
    assert!(a.is_independent_of_bundle_keys() && b.is_independent_of_bundle_keys());

    let key_file = dir.join("bob.key");
    save_new(&bob, &key_file, &Passphrase::default(), false).unwrap();
    // Nothing listens there: a test that reached the node would fail.
    let node = NodeClient::new("http://127.0.0.1:9", None).unwrap();
    let session = Session::open(&key_file, &Passphrase::default(), node).unwrap();
    let record = ChannelRecord {
        name: default_name(&alice.fingerprint(), None),
        peer: alice.fingerprint(),
        peer_address: None,
        peer_committed: false,
        expires: t + 86_400,
        opened: t,
        established: true,
        channel: b,
        held: Vec::new(),
        delivery: Default::default(),
    };
    session.state.save_channel(&record).unwrap();
    (alice, a, session)
}

#[test]
fn a_frame_past_its_ttl_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut a, session) = ready_pair(dir.path());
    let mut rng = crate::rng();
    let t = now();
    let expired = a
        .seal(&alice, b"too late", (t - 1) as u32, HASH, false, &mut rng)
        .unwrap();
    let fresh = a
        .seal(&alice, b"in time", (t + 600) as u32, HASH, false, &mut rng)
        .unwrap();
    let state_file = |s: &Session| {
        let id = s.state.channels().unwrap()[0].id_hex();
        std::fs::read(dir.path().join(format!("bob.key.d/channels/{id}.state"))).unwrap()
    };
    let before = state_file(&session);

    let mut receiver = Receiver::new(&session, None, 3_600);
    let mut events = Vec::new();
    let opened = receiver
        .process(vec![expired.clone()], &mut |e| events.push(e))
        .unwrap();
    assert!(!opened, "an expired frame opened");
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(state_file(&session), before, "the state changed");

    // The same channel still reads a frame within its TTL, and then the expired one still not.
    let opened = receiver
        .process(vec![fresh, expired], &mut |e| events.push(e))
        .unwrap();
    assert!(opened);
    let texts: Vec<&[u8]> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message { text, .. } => Some(&text[..]),
            _ => None,
        })
        .collect();
    assert_eq!(texts, [&b"in time"[..]]);
}
