//! End-to-end channel behaviour between real identities: open, recognise, accept, seal, unseal,
//! rekey, and every way a message must fail.

use ems_core::channel::{
    self, Channel, ChannelError, Received, MAX_PLAINTEXT, MAX_SIGNED_PLAINTEXT, WINDOW,
};
use ems_core::{BundleError, Identity, Message};
use rand::rngs::StdRng;
use rand::SeedableRng;

const NOW: u64 = 1_800_000_000;
const YEAR: u64 = 365 * 86_400;
const TTL: u32 = 1_800_003_600;
const BLOCKHASH: [u8; 4] = [0xaa, 0xbb, 0xcc, 0xdd];

struct Pair {
    rng: StdRng,
    alice: Identity,
    bob: Identity,
    a: Channel,
    b: Channel,
}

impl Pair {
    /// Alice opens to Bob, Bob recognises and accepts; the accept is not yet delivered.
    fn opened(seed: u64) -> (Pair, Message) {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
        let bob = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
        let (a, open) = Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
        let incoming = channel::recognise(&bob, &open, NOW)
            .unwrap()
            .expect("Bob recognises the open");
        assert_eq!(incoming.sender_fingerprint(), alice.fingerprint());
        let (b, accept) = incoming.accept(&bob, TTL, BLOCKHASH, &mut rng).unwrap();
        (
            Pair {
                rng,
                alice,
                bob,
                a,
                b,
            },
            accept,
        )
    }

    /// [`Pair::opened`] with the accept delivered.
    fn accepted(seed: u64) -> Pair {
        let (mut pair, accept) = Pair::opened(seed);
        assert_eq!(
            pair.a.unseal(&pair.alice, &accept, NOW).unwrap(),
            Received::Rekey { epoch: 1 }
        );
        pair
    }

    fn a_to_b(&mut self, text: &[u8], sign: bool) -> Message {
        self.a
            .seal(&self.alice, text, TTL, BLOCKHASH, sign, &mut self.rng)
            .unwrap()
    }

    fn b_to_a(&mut self, text: &[u8], sign: bool) -> Message {
        self.b
            .seal(&self.bob, text, TTL, BLOCKHASH, sign, &mut self.rng)
            .unwrap()
    }
}

fn data(received: Received) -> (Vec<u8>, bool) {
    match received {
        Received::Data {
            plaintext,
            signature,
            ..
        } => (plaintext, signature.is_some()),
        Received::Rekey { epoch } => panic!("expected data, got a rekey to epoch {epoch}"),
    }
}

#[test]
fn data_waits_for_the_accept_then_flows_both_ways() {
    let (mut p, accept) = Pair::opened(1);
    assert_eq!(p.a.id(), p.b.id());
    // Epoch 0 carries only the open and the accept: Alice cannot send before the accept.
    assert!(!p.a.is_established());
    let err =
        p.a.seal(&p.alice, b"too early", TTL, BLOCKHASH, false, &mut p.rng)
            .unwrap_err();
    assert!(matches!(err, ChannelError::NotEstablished), "{err}");
    assert!(matches!(
        p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng),
        Err(ChannelError::NotEstablished)
    ));
    // Bob's replies follow the accept; Alice reads both once it arrives.
    assert!(p.b.is_established());
    let reply = p.b_to_a(b"reply after accept", true);
    assert_eq!(
        p.a.unseal(&p.alice, &accept, NOW).unwrap(),
        Received::Rekey { epoch: 1 }
    );
    assert_eq!(
        data(p.a.unseal(&p.alice, &reply, NOW).unwrap()),
        (b"reply after accept".to_vec(), true)
    );
    for round in 0..3u8 {
        let m = p.a_to_b(&[round; 300], round % 2 == 0);
        assert_eq!(
            data(p.b.unseal(&p.bob, &m, NOW).unwrap()),
            (vec![round; 300], round % 2 == 0)
        );
        let m = p.b_to_a(&[round; 5], false);
        assert_eq!(
            data(p.a.unseal(&p.alice, &m, NOW).unwrap()).0,
            vec![round; 5]
        );
    }
    assert_eq!(p.a.peer_fingerprint(), p.bob.fingerprint());
    assert_eq!(p.b.peer_fingerprint(), p.alice.fingerprint());
}

#[test]
fn the_largest_plaintexts_fit_and_one_byte_more_is_refused() {
    let mut p = Pair::accepted(2);
    for (len, sign) in [
        (MAX_PLAINTEXT, false),
        (MAX_SIGNED_PLAINTEXT, true),
        (0, false),
    ] {
        let m = p.a_to_b(&vec![7; len], sign);
        assert!(m.payload().len() <= ems_core::message::MAX_PAYLOAD);
        assert_eq!(
            data(p.b.unseal(&p.bob, &m, NOW).unwrap()),
            (vec![7; len], sign)
        );
    }
    for (len, sign) in [(MAX_PLAINTEXT + 1, false), (MAX_SIGNED_PLAINTEXT + 1, true)] {
        let err =
            p.a.seal(&p.alice, &vec![7; len], TTL, BLOCKHASH, sign, &mut p.rng)
                .unwrap_err();
        assert!(
            matches!(err, ChannelError::PlaintextTooLarge { max, .. } if max == len - 1),
            "{err}"
        );
    }
}

#[test]
fn payloads_come_in_padding_buckets() {
    let mut p = Pair::accepted(3);
    for (len, bucket) in [
        (1, 256),
        (232, 256),
        (233, 512),
        (1000, 1024),
        (1024, 2048),
        (5000, 8192),
    ] {
        assert_eq!(
            p.a_to_b(&vec![1; len], false).payload().len(),
            bucket,
            "plaintext of {len} bytes"
        );
    }
    assert_eq!(p.a_to_b(b"short but signed", true).payload().len(), 4096);
}

#[test]
fn after_a_rekey_the_old_chain_no_longer_opens_new_messages() {
    let mut p = Pair::accepted(4);
    let stale_bob = serde_json::to_string(&p.b).unwrap();
    let rekey = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
    let after = p.a_to_b(b"new epoch", false);
    // A Bob that never processed the rekey holds only the old chain: the new message is unknown.
    let mut stale: Channel = serde_json::from_str(&stale_bob).unwrap();
    assert!(matches!(
        stale.unseal(&p.bob, &after, NOW),
        Err(ChannelError::UnknownTag { epoch: 1, .. })
    ));
    assert!(!stale.watch_tags(NOW).contains(after.id0()));
    // The real Bob processes the rekey and reads on.
    assert_eq!(
        p.b.unseal(&p.bob, &rekey, NOW).unwrap(),
        Received::Rekey { epoch: 2 }
    );
    assert!(p.b.watch_tags(NOW).contains(after.id0()));
    assert_eq!(
        data(p.b.unseal(&p.bob, &after, NOW).unwrap()).0,
        b"new epoch"
    );
    assert_eq!((p.a.send_epoch(), p.b.receive_epoch()), (2, 2));
}

#[test]
fn many_rekeys_in_both_directions_including_crossing_ones_keep_the_channel_working() {
    let mut p = Pair::accepted(5);
    for round in 0..4u8 {
        // Both sides rekey at once: each rekey targets the other's key from before the crossing.
        let from_a = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
        let from_b = p.b.rekey(&p.bob, TTL, BLOCKHASH, &mut p.rng).unwrap();
        assert!(matches!(
            p.b.unseal(&p.bob, &from_a, NOW).unwrap(),
            Received::Rekey { .. }
        ));
        assert!(matches!(
            p.a.unseal(&p.alice, &from_b, NOW).unwrap(),
            Received::Rekey { .. }
        ));
        let m = p.a_to_b(&[round], false);
        assert_eq!(data(p.b.unseal(&p.bob, &m, NOW).unwrap()).0, [round]);
        let m = p.b_to_a(&[round], false);
        assert_eq!(data(p.a.unseal(&p.alice, &m, NOW).unwrap()).0, [round]);
    }
    // Alice alone, several times in a row.
    for _ in 0..3 {
        let rekey = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
        p.b.unseal(&p.bob, &rekey, NOW).unwrap();
    }
    let m = p.a_to_b(b"still here", false);
    assert_eq!(data(p.b.unseal(&p.bob, &m, NOW).unwrap()).0, b"still here");
}

#[test]
fn messages_sent_before_a_rekey_still_open_when_they_arrive_after_it() {
    let mut p = Pair::accepted(6);
    let before = p.a_to_b(b"before", false);
    let rekey = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
    p.b.unseal(&p.bob, &rekey, NOW).unwrap();
    assert_eq!(data(p.b.unseal(&p.bob, &before, NOW).unwrap()).0, b"before");
}

#[test]
fn tampering_with_any_byte_of_payload_id_ttl_or_blockhash_fails_and_changes_nothing() {
    let mut p = Pair::accepted(7);
    let m = p.a_to_b(b"integrity", false);
    let rebuild = |id: [u8; 64], payload: Vec<u8>, ttl: u32, blockhash: [u8; 4]| {
        Message::new(id, payload, ttl, blockhash).unwrap()
    };
    for at in 0..m.payload().len() {
        let mut payload = m.payload().to_vec();
        payload[at] ^= 0x01;
        let err =
            p.b.unseal(
                &p.bob,
                &rebuild(*m.id(), payload, m.ttl(), m.blockhash()),
                NOW,
            )
            .unwrap_err();
        assert!(
            matches!(err, ChannelError::Tampered),
            "payload byte {at}: {err}"
        );
    }
    for at in 0..64 {
        let mut id = *m.id();
        id[at] ^= 0x80;
        let err =
            p.b.unseal(
                &p.bob,
                &rebuild(id, m.payload().to_vec(), m.ttl(), m.blockhash()),
                NOW,
            )
            .unwrap_err();
        match at {
            0..32 => assert!(
                matches!(err, ChannelError::UnknownTag { .. }),
                "ID0 byte {at}: {err}"
            ),
            _ => assert!(
                matches!(err, ChannelError::Tampered),
                "ID1 byte {at}: {err}"
            ),
        }
    }
    for bit in 0..32 {
        let err =
            p.b.unseal(
                &p.bob,
                &rebuild(
                    *m.id(),
                    m.payload().to_vec(),
                    m.ttl() ^ (1 << bit),
                    m.blockhash(),
                ),
                NOW,
            )
            .unwrap_err();
        let altered = u64::from(m.ttl() ^ (1 << bit));
        assert!(
            match err {
                ChannelError::Expired { .. } => altered <= NOW,
                ChannelError::Tampered => altered > NOW,
                _ => false,
            },
            "TTL bit {bit}: {err}"
        );
    }
    for at in 0..4 {
        let mut blockhash = m.blockhash();
        blockhash[at] ^= 0x01;
        let err =
            p.b.unseal(
                &p.bob,
                &rebuild(*m.id(), m.payload().to_vec(), m.ttl(), blockhash),
                NOW,
            )
            .unwrap_err();
        assert!(
            matches!(err, ChannelError::Tampered),
            "blockhash byte {at}: {err}"
        );
    }
    let truncated = rebuild(
        *m.id(),
        m.payload()[..m.payload().len() - 1].to_vec(),
        m.ttl(),
        m.blockhash(),
    );
    assert!(matches!(
        p.b.unseal(&p.bob, &truncated, NOW),
        Err(ChannelError::Tampered)
    ));
    // None of that consumed the key: the genuine message still opens.
    assert_eq!(data(p.b.unseal(&p.bob, &m, NOW).unwrap()).0, b"integrity");
}

#[test]
fn a_tampered_open_is_not_recognised() {
    let mut rng = StdRng::seed_from_u64(8);
    let alice = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let bob = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let (_, open) = Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
    // One byte in the KEM ciphertext, one in the sealed body, one of ID1, TTL, blockhash.
    for at in [0, 1087, 1088, 5000, open.payload().len() - 1] {
        let mut payload = open.payload().to_vec();
        payload[at] ^= 1;
        let altered = Message::new(*open.id(), payload, open.ttl(), open.blockhash()).unwrap();
        assert!(
            channel::recognise(&bob, &altered, NOW).unwrap().is_none(),
            "payload byte {at}"
        );
    }
    let mut id = *open.id();
    id[40] ^= 1;
    let altered = Message::new(id, open.payload().to_vec(), open.ttl(), open.blockhash()).unwrap();
    assert!(channel::recognise(&bob, &altered, NOW).unwrap().is_none());
    let altered = Message::new(
        *open.id(),
        open.payload().to_vec(),
        open.ttl() + 1,
        open.blockhash(),
    )
    .unwrap();
    assert!(channel::recognise(&bob, &altered, NOW).unwrap().is_none());
    assert!(channel::recognise(&bob, &open, NOW).unwrap().is_some());
}

#[test]
fn a_third_party_neither_recognises_the_open_nor_opens_the_messages() {
    let (mut p, accept) = Pair::opened(9);
    let carol = Identity::generate(&mut p.rng, NOW, NOW + YEAR, None).unwrap();
    let (_, open) =
        Channel::open(&p.alice, p.bob.bundle(), NOW, TTL, BLOCKHASH, &mut p.rng).unwrap();
    assert_eq!(open.id0(), &channel::open_tag());
    assert!(channel::recognise(&carol, &open, NOW).unwrap().is_none());
    // Carol's own channel with Alice holds different keys: Bob's messages are unknown to it.
    let (mut c, _) =
        Channel::open(&carol, p.alice.bundle(), NOW, TTL, BLOCKHASH, &mut p.rng).unwrap();
    let m = p.b_to_a(b"for Alice only", false);
    assert!(matches!(
        c.unseal(&carol, &accept, NOW),
        Err(ChannelError::UnknownTag { .. })
    ));
    assert!(matches!(
        c.unseal(&carol, &m, NOW),
        Err(ChannelError::UnknownTag { .. })
    ));
    // An open to someone else is not Bob's either.
    let (_, to_carol) =
        Channel::open(&p.alice, carol.bundle(), NOW, TTL, BLOCKHASH, &mut p.rng).unwrap();
    assert!(channel::recognise(&p.bob, &to_carol, NOW)
        .unwrap()
        .is_none());
    // Ordinary traffic is not an open.
    assert!(channel::recognise(&p.bob, &m, NOW).unwrap().is_none());
}

#[test]
fn replays_are_refused() {
    let mut p = Pair::accepted(10);
    let m = p.a_to_b(b"once", false);
    assert_eq!(data(p.b.unseal(&p.bob, &m, NOW).unwrap()).0, b"once");
    let err = p.b.unseal(&p.bob, &m, NOW).unwrap_err();
    assert!(matches!(err, ChannelError::Replay), "{err}");
    assert!(err.to_string().contains("replay"));
    let rekey = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
    p.b.unseal(&p.bob, &rekey, NOW).unwrap();
    assert!(matches!(
        p.b.unseal(&p.bob, &rekey, NOW),
        Err(ChannelError::Replay)
    ));
    // A replayed open names the same channel, so the caller can tell it is not a new one.
    let (_, open) =
        Channel::open(&p.alice, p.bob.bundle(), NOW, TTL, BLOCKHASH, &mut p.rng).unwrap();
    let first = channel::recognise(&p.bob, &open, NOW).unwrap().unwrap();
    let again = channel::recognise(&p.bob, &open, NOW).unwrap().unwrap();
    assert_eq!(first.channel_id(), again.channel_id());
}

#[test]
fn out_of_order_delivery_opens_within_the_window_and_fails_clearly_beyond_it() {
    let mut p = Pair::accepted(11);
    let sent: Vec<Message> = (0..WINDOW + 2)
        .map(|i| p.a_to_b(&i.to_be_bytes(), false))
        .collect();
    // Index WINDOW + 1 is beyond the window of a receiver still expecting index 0.
    let err =
        p.b.unseal(&p.bob, &sent[WINDOW as usize + 1], NOW)
            .unwrap_err();
    assert!(
        matches!(
            err,
            ChannelError::UnknownTag {
                next: 0,
                window: WINDOW,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("beyond the out-of-order window"),
        "{err}"
    );
    // The last index inside the window opens; the ones it skipped open afterwards, in any order.
    let last = WINDOW as usize - 1;
    assert_eq!(
        data(p.b.unseal(&p.bob, &sent[last], NOW).unwrap()).0,
        (last as u64).to_be_bytes()
    );
    for i in (0..last).rev() {
        assert_eq!(
            data(p.b.unseal(&p.bob, &sent[i], NOW).unwrap()).0,
            (i as u64).to_be_bytes()
        );
    }
    // Now the window has moved on and the rest open.
    for i in [WINDOW as usize + 1, WINDOW as usize] {
        assert_eq!(
            data(p.b.unseal(&p.bob, &sent[i], NOW).unwrap()).0,
            (i as u64).to_be_bytes()
        );
    }
}

#[test]
fn state_survives_serialisation_mid_conversation() {
    let mut p = Pair::accepted(12);
    let m1 = p.a_to_b(b"one", false);
    let m2 = p.a_to_b(b"two", false);
    p.b.unseal(&p.bob, &m2, NOW).unwrap();
    let json = serde_json::to_string(&p.b).unwrap();
    let mut b: Channel = serde_json::from_str(&json).unwrap();
    assert_eq!(data(b.unseal(&p.bob, &m1, NOW).unwrap()).0, b"one");
    let mut a: Channel = serde_json::from_str(&serde_json::to_string(&p.a).unwrap()).unwrap();
    let m3 = a
        .seal(&p.alice, b"three", TTL, BLOCKHASH, false, &mut p.rng)
        .unwrap();
    assert_eq!(data(b.unseal(&p.bob, &m3, NOW).unwrap()).0, b"three");
    assert!(serde_json::from_str::<Channel>(&json[..json.len() / 2]).is_err());
}

#[test]
fn opening_to_a_bad_bundle_is_refused() {
    let mut rng = StdRng::seed_from_u64(13);
    let alice = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let bob = Identity::generate(&mut rng, NOW, NOW + 100, None).unwrap();
    let open = |bundle: &ems_core::Bundle, now: u64, rng: &mut StdRng| {
        Channel::open(&alice, bundle, now, TTL, BLOCKHASH, rng)
            .map(|_| ())
            .unwrap_err()
    };
    let err = open(bob.bundle(), NOW + 100, &mut rng);
    assert!(
        matches!(err, ChannelError::Bundle(BundleError::Expired { .. })),
        "{err}"
    );
    let mut bytes = bob.bundle().encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let forged = ems_core::Bundle::decode(&bytes).unwrap();
    let err = open(&forged, NOW, &mut rng);
    assert!(
        matches!(err, ChannelError::Bundle(BundleError::BadSignature)),
        "{err}"
    );
}

#[test]
fn an_open_from_an_expired_sender_is_refused() {
    let mut rng = StdRng::seed_from_u64(14);
    let alice = Identity::generate(&mut rng, NOW, NOW + 100, None).unwrap();
    let bob = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let (_, open) = Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
    let err = channel::recognise(&bob, &open, NOW + 100).unwrap_err();
    assert!(
        matches!(err, ChannelError::Bundle(BundleError::Expired { .. })),
        "{err}"
    );
}

#[test]
fn opens_to_a_rotated_away_kem_key_are_still_recognised() {
    let mut rng = StdRng::seed_from_u64(15);
    let alice = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let mut bob = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let old_bundle = bob.bundle().clone();
    bob.rotate_kem(&mut rng, NOW + 10, NOW + 2 * YEAR, NOW + 30)
        .unwrap();
    let (mut a, open) =
        Channel::open(&alice, &old_bundle, NOW + 20, TTL, BLOCKHASH, &mut rng).unwrap();
    let incoming = channel::recognise(&bob, &open, NOW + 20)
        .unwrap()
        .expect("old key still held");
    let (mut b, accept) = incoming.accept(&bob, TTL, BLOCKHASH, &mut rng).unwrap();
    a.unseal(&alice, &accept, NOW).unwrap();
    assert_eq!(a.receive_epoch(), 1);
    let m = b
        .seal(&bob, b"rotated", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    assert_eq!(data(a.unseal(&alice, &m, NOW).unwrap()).0, b"rotated");
    assert_eq!(a.peer_fingerprint(), old_bundle.fingerprint());
}

#[test]
fn a_rotated_away_kem_key_recognises_opens_only_while_it_is_kept() {
    let mut rng = StdRng::seed_from_u64(21);
    let alice = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let mut bob = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let old_bundle = bob.bundle().clone();
    let (_, open) = Channel::open(&alice, &old_bundle, NOW + 20, TTL, BLOCKHASH, &mut rng).unwrap();
    bob.rotate_kem(&mut rng, NOW + 10, NOW + 2 * YEAR, NOW + 100)
        .unwrap();
    assert_eq!(
        bob.retired_kem_keys().collect::<Vec<_>>(),
        [(old_bundle.fingerprint(), NOW + 100)]
    );
    assert!(channel::recognise(&bob, &open, NOW + 99).unwrap().is_some());
    // Its time is over: the key no longer recognises anything, and the next rotation drops it.
    assert!(channel::recognise(&bob, &open, NOW + 100)
        .unwrap()
        .is_none());
    bob.rotate_kem(&mut rng, NOW + 100, NOW + 2 * YEAR, NOW + 200)
        .unwrap();
    assert_eq!(
        bob.retired_kem_keys().count(),
        1,
        "only the second bundle's key"
    );
    // Kept for no time at all, a key is dropped at once.
    let mut carol = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let (_, open) = Channel::open(&alice, carol.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
    carol.rotate_kem(&mut rng, NOW, NOW + YEAR, NOW).unwrap();
    assert_eq!(carol.retired_kem_keys().count(), 0);
    assert!(channel::recognise(&carol, &open, NOW).unwrap().is_none());
}

#[test]
fn an_open_fits_its_budget() {
    let mut rng = StdRng::seed_from_u64(16);
    let alice = Identity::generate(
        &mut rng,
        NOW,
        NOW + YEAR,
        Some(format!("Q{}", "ab".repeat(39)).parse().unwrap()),
    )
    .unwrap();
    let bob = Identity::generate(&mut rng, NOW, NOW + YEAR, None).unwrap();
    let (_, open) = Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
    assert_eq!(open.payload().len(), channel::OPEN_PAYLOAD_LEN);
    assert_eq!(channel::OPEN_PAYLOAD_LEN, 7638);
    let incoming = channel::recognise(&bob, &open, NOW).unwrap().unwrap();
    assert_eq!(incoming.sender().address(), alice.bundle().body().address());
}

#[test]
fn rekeys_and_signed_messages_signed_by_anyone_but_the_peer_are_refused() {
    let mut p = Pair::accepted(17);
    let mallory = Identity::generate(&mut p.rng, NOW, NOW + YEAR, None).unwrap();
    // Bob's chain keys, but Mallory's signing key (a stolen state without the identity).
    let forged =
        p.b.seal(
            &mallory,
            b"signed by someone else",
            TTL,
            BLOCKHASH,
            true,
            &mut p.rng,
        )
        .unwrap();
    let err = p.a.unseal(&p.alice, &forged, NOW).unwrap_err();
    assert!(
        matches!(err, ChannelError::BadSignature("message")),
        "{err}"
    );
    let forged = p.b.rekey(&mallory, TTL, BLOCKHASH, &mut p.rng).unwrap();
    let err = p.a.unseal(&p.alice, &forged, NOW).unwrap_err();
    assert!(matches!(err, ChannelError::BadSignature("rekey")), "{err}");
    assert_eq!(p.a.receive_epoch(), 1, "a refused rekey changes nothing");
}

#[test]
fn a_receiver_behind_by_any_number_of_messages_resumes_at_the_next_rekey() {
    for missed in [WINDOW + 1, channel::MAX_CATCHUP + 5] {
        let mut p = Pair::accepted(20);
        let lost: Vec<Message> = (0..missed).map(|_| p.a_to_b(b"lost", false)).collect();
        // Bob saw none of them: the last is far beyond his window.
        assert!(matches!(
            p.b.unseal(&p.bob, lost.last().unwrap(), NOW),
            Err(ChannelError::UnknownTag { .. })
        ));
        // The rekey travels under the control tag Bob always watches.
        let rekey = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
        assert!(p.b.watch_tags(NOW).contains(rekey.id0()));
        assert!(matches!(
            p.b.unseal(&p.bob, &rekey, NOW).unwrap(),
            Received::Rekey { epoch: 2 }
        ));
        let m = p.a_to_b(b"back in step", false);
        assert_eq!(
            data(p.b.unseal(&p.bob, &m, NOW).unwrap()).0,
            b"back in step"
        );
        // Bounded: the control tag, the window, and at most MAX_SKIPPED kept keys.
        let watched = p.b.watch_tags(NOW).len();
        assert!(
            watched <= 1 + WINDOW as usize + channel::MAX_SKIPPED,
            "{watched}"
        );
        // The most recent of the missed ones still open (their keys were set aside at the
        // rekey) when the rekey says how many there were and they are not too many.
        let last = p.b.unseal(&p.bob, lost.last().unwrap(), NOW);
        if missed <= channel::MAX_CATCHUP {
            assert_eq!(data(last.unwrap()).0, b"lost");
        } else {
            assert!(matches!(last, Err(ChannelError::UnknownTag { .. })));
        }
    }
}

#[test]
fn skipped_keys_expire_and_their_tags_are_no_longer_watched() {
    let mut p = Pair::accepted(21);
    let skipped = p.a_to_b(b"late", false);
    let next = p.a_to_b(b"first", false);
    p.b.unseal(&p.bob, &next, NOW).unwrap();
    assert!(p.b.watch_tags(NOW).contains(skipped.id0()));
    let later = NOW + channel::SKIPPED_KEY_LIFETIME;
    assert!(!p.b.watch_tags(later).contains(skipped.id0()));
    // A frame still alive then, under the expired key, no longer opens.
    let m = |ttl: u32| {
        Message::new(
            *skipped.id(),
            skipped.payload().to_vec(),
            ttl,
            skipped.blockhash(),
        )
        .unwrap()
    };
    let far = (later + 10) as u32;
    assert!(matches!(
        p.b.unseal(&p.bob, &m(far), later),
        Err(ChannelError::UnknownTag { .. })
    ));
    // Before expiry it opened (same bytes, original TTL).
    let mut fresh = Pair::accepted(21);
    let skipped = fresh.a_to_b(b"late", false);
    let next = fresh.a_to_b(b"first", false);
    fresh.b.unseal(&fresh.bob, &next, NOW).unwrap();
    assert_eq!(
        data(fresh.b.unseal(&fresh.bob, &skipped, NOW + 10).unwrap()).0,
        b"late"
    );
}

#[test]
fn frames_past_their_ttl_are_refused_and_change_nothing() {
    let (mut p, accept) = Pair::opened(22);
    let before = serde_json::to_string(&p.a).unwrap();
    let err = p.a.unseal(&p.alice, &accept, u64::from(TTL)).unwrap_err();
    assert!(
        matches!(err, ChannelError::Expired { ttl: TTL, .. }),
        "{err}"
    );
    assert_eq!(serde_json::to_string(&p.a).unwrap(), before);
    let (_, open) =
        Channel::open(&p.alice, p.bob.bundle(), NOW, TTL, BLOCKHASH, &mut p.rng).unwrap();
    assert!(channel::recognise(&p.bob, &open, u64::from(TTL))
        .unwrap()
        .is_none());
    assert!(channel::recognise(&p.bob, &open, NOW).unwrap().is_some());
}

#[test]
fn many_unacknowledged_rekeys_and_a_crossing_one_keep_the_channel_and_are_bounded() {
    let mut p = Pair::accepted(23);
    // Bob rekeys to Alice's bundle key before he sees anything of hers.
    let from_b = p.b.rekey(&p.bob, TTL, BLOCKHASH, &mut p.rng).unwrap();
    // Alice rekeys as often as a side may without an acknowledgement.
    let from_a: Vec<Message> = (0..channel::MAX_RATCHET_KEYS - 1)
        .map(|_| p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap())
        .collect();
    let err = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap_err();
    assert!(
        matches!(err, ChannelError::TooManyUnacknowledged { .. }),
        "{err}"
    );
    assert_eq!(p.a.pending_controls(), channel::MAX_RATCHET_KEYS - 1);
    // Bob's crossing rekey still opens for Alice (she kept her bundle key's slot).
    assert!(matches!(
        p.a.unseal(&p.alice, &from_b, NOW).unwrap(),
        Received::Rekey { .. }
    ));
    for rekey in &from_a {
        assert!(matches!(
            p.b.unseal(&p.bob, rekey, NOW).unwrap(),
            Received::Rekey { .. }
        ));
    }
    let m = p.a_to_b(b"after fifteen", false);
    assert_eq!(
        data(p.b.unseal(&p.bob, &m, NOW).unwrap()).0,
        b"after fifteen"
    );
    // Bob's next message acknowledges Alice's last epoch: nothing waits any more.
    let m = p.b_to_a(b"ack", false);
    p.a.unseal(&p.alice, &m, NOW).unwrap();
    assert_eq!(p.a.pending_controls(), 0);
    p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
}

#[test]
fn lost_control_frames_are_resealed_until_acknowledged() {
    let (mut p, _lost_accept) = Pair::opened(24);
    // Alice's open waits for its accept; Bob's accept waits for Alice to reach epoch 1.
    assert_eq!(p.a.pending_controls(), 1);
    let again = p.a.control_frames(TTL, BLOCKHASH, &mut p.rng).unwrap();
    assert_eq!(again.len(), 1);
    let recognised = channel::recognise(&p.bob, &again[0], NOW).unwrap().unwrap();
    assert_eq!(
        recognised.channel_id(),
        p.b.id(),
        "a re-sent open names the same channel"
    );
    let resent = p.b.control_frames(TTL, BLOCKHASH, &mut p.rng).unwrap();
    assert_eq!(resent.len(), 1);
    assert_eq!(
        p.a.unseal(&p.alice, &resent[0], NOW).unwrap(),
        Received::Rekey { epoch: 1 }
    );
    assert_eq!(p.a.pending_controls(), 0, "the accept settles the open");
    // A second copy is a replay; Alice's rekey acknowledges the accept.
    let copy = p.b.control_frames(TTL, BLOCKHASH, &mut p.rng).unwrap();
    assert!(matches!(
        p.a.unseal(&p.alice, &copy[0], NOW),
        Err(ChannelError::Replay)
    ));
    assert!(p.a.needs_rekey());
    let rekey = p.a.rekey(&p.alice, TTL, BLOCKHASH, &mut p.rng).unwrap();
    p.b.unseal(&p.bob, &rekey, NOW).unwrap();
    assert_eq!(p.b.pending_controls(), 0);
    assert_eq!(
        p.a.pending_controls(),
        1,
        "Alice's rekey waits for Bob's answer"
    );
    let m = p.b_to_a(b"ack", false);
    p.a.unseal(&p.alice, &m, NOW).unwrap();
    assert_eq!(p.a.pending_controls(), 0);
}

#[test]
fn a_message_signature_covers_its_whole_context() {
    let mut p = Pair::accepted(25);
    let m = p.a_to_b(b"on the record", true);
    let Received::Data {
        plaintext,
        signature: Some(signature),
        context,
    } = p.b.unseal(&p.bob, &m, NOW).unwrap()
    else {
        panic!("a signed message");
    };
    assert_eq!(context.epoch, 1);
    assert_eq!(
        (context.sender, context.recipient),
        (p.alice.fingerprint(), p.bob.fingerprint())
    );
    let key = p.alice.bundle().body().signing_key();
    assert!(channel::verify_message_signature(
        key, &context, &plaintext, &signature
    ));
    let mut variants = Vec::new();
    for change in 0..7 {
        let mut c = context.clone();
        match change {
            0 => c.channel[0] ^= 1,
            1 => std::mem::swap(&mut c.sender, &mut c.recipient),
            2 => c.epoch += 1,
            3 => c.index += 1,
            4 => c.id[40] ^= 1,
            5 => c.ttl += 1,
            _ => c.blockhash[0] ^= 1,
        }
        variants.push(c);
    }
    for c in &variants {
        assert!(
            !channel::verify_message_signature(key, c, &plaintext, &signature),
            "{c:?}"
        );
    }
    assert!(!channel::verify_message_signature(
        key,
        &context,
        b"on the recorD",
        &signature
    ));
}
