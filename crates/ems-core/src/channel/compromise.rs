//! Compromise tests: an adversary who recorded every frame and holds one secret (a bundle KEM
//! key, a signing key, or one side's state at time t) tries to read and to forge. Each test
//! checks one statement of `docs/crypto.md`, "What each compromise reveals".
//!
//! The passive adversary ([`reads`]) is generic: it decapsulates every KEM ciphertext it can see
//! with every KEM key it holds, derives every root and epoch that follows, and tries every key
//! it derived on every frame. A frame counts as read only if its AEAD verifies.

use super::ratchet::Epoch;
use super::schedule::{
    epoch_start, message_key, next_chain_key, open_key, ratchet, tag, transcript_hash, Handshake,
    Step,
};
use super::seal::{self, Body};
use super::*;
use crate::bundle::{BundleBody, BODY_LEN};
use crate::identity::Identity;
use crate::message::Message;
use crate::suite::{KemKeyPair, KEM_CIPHERTEXT_LEN};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::HashSet;

const NOW: u64 = 1_800_000_000;
const TTL: u32 = 1_800_003_600;
const BLOCKHASH: [u8; 4] = [5, 6, 7, 8];
/// Data messages per epoch the adversary derives keys for (the transcripts send fewer).
const DEPTH: u64 = 16;

/// One recorded frame and what it was.
struct Recorded {
    message: Message,
    data: bool,
}

/// A recorded conversation between Alice and Bob.
struct Transcript {
    /// Every ephemeral ratchet key made, as a thief of both states over time would hold them.
    ephemeral: Vec<KemKeyPair>,
    alice: Identity,
    bob: Identity,
    a: Channel,
    b: Channel,
    frames: Vec<Recorded>,
}

impl Transcript {
    /// Open, accept, data both ways before the healing rekeys, then the healing rekeys as the
    /// client makes them, then data both ways.
    fn run(seed: u64) -> Transcript {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
        let bob = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
        let (mut a, open) =
            Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
        let incoming = recognise(&bob, &open, NOW).unwrap().unwrap();
        let (b, accept) = incoming.accept(&bob, TTL, BLOCKHASH, &mut rng).unwrap();
        a.unseal(&alice, &accept, NOW).unwrap();
        let mut t = Transcript {
            ephemeral: Vec::new(),
            alice,
            bob,
            a,
            b,
            frames: vec![
                Recorded {
                    message: open,
                    data: false,
                },
                Recorded {
                    message: accept,
                    data: false,
                },
            ],
        };
        t.keep_newest(Role::Responder);
        t.data(Role::Initiator, b"epoch 1 from Alice");
        t.data(Role::Responder, b"epoch 1 from Bob");
        assert!(t.a.needs_rekey() && !t.b.needs_rekey());
        t.rekey(Role::Initiator);
        assert!(t.b.needs_rekey());
        t.rekey(Role::Responder);
        assert!(t.a.is_independent_of_bundle_keys() && t.b.is_independent_of_bundle_keys());
        t.data(Role::Initiator, b"healed from Alice");
        t.data(Role::Responder, b"healed from Bob");
        t
    }

    fn sides(&mut self, from: Role) -> (&Identity, &mut Channel, &Identity, &mut Channel) {
        match from {
            Role::Initiator => (&self.alice, &mut self.a, &self.bob, &mut self.b),
            Role::Responder => (&self.bob, &mut self.b, &self.alice, &mut self.a),
        }
    }

    /// `from` sends `text`, the peer reads it.
    fn data(&mut self, from: Role, text: &[u8]) -> Message {
        let mut rng = StdRng::seed_from_u64(self.frames.len() as u64);
        let (sender, s, receiver, r) = self.sides(from);
        let m = s
            .seal(sender, text, TTL, BLOCKHASH, false, &mut rng)
            .unwrap();
        assert!(matches!(
            r.unseal(receiver, &m, NOW).unwrap(),
            Received::Data { .. }
        ));
        self.frames.push(Recorded {
            message: m.clone(),
            data: true,
        });
        m
    }

    /// `from` rekeys, the peer follows.
    fn rekey(&mut self, from: Role) {
        let mut rng = StdRng::seed_from_u64(1000 + self.frames.len() as u64);
        let (sender, s, receiver, r) = self.sides(from);
        let m = s.rekey(sender, TTL, BLOCKHASH, &mut rng).unwrap();
        assert!(matches!(
            r.unseal(receiver, &m, NOW).unwrap(),
            Received::Rekey { .. }
        ));
        self.frames.push(Recorded {
            message: m,
            data: false,
        });
        self.keep_newest(from);
    }

    /// Records the newest ephemeral ratchet key of `side`.
    fn keep_newest(&mut self, side: Role) {
        let channel = match side {
            Role::Initiator => &self.a,
            Role::Responder => &self.b,
        };
        if let RatchetSecret::Ephemeral(seed) = &channel.own_ratchet[0].secret {
            self.ephemeral.push(KemKeyPair::from_seed(seed));
        }
    }

    fn data_texts(&self, read: &HashSet<usize>) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = read
            .iter()
            .filter(|&&i| self.frames[i].data)
            .map(|&i| self.frames[i].message.payload().to_vec())
            .collect();
        out.sort();
        out
    }
}

/// An epoch the adversary derived: the sending side, its root and seed, and the channel.
#[derive(Clone)]
struct Derived {
    role: Role,
    epoch: u32,
    root: Key,
    seed: Key,
    channel: [u8; 32],
}

/// What the passive adversary holding `kem_keys` can read of `frames`: the indices whose AEAD
/// verifies under a key it can derive. `fingerprints` are public (bundles are published).
fn reads(
    frames: &[Recorded],
    kem_keys: &[&KemKeyPair],
    fingerprints: [Fingerprint; 2],
) -> HashSet<usize> {
    let mut read = HashSet::new();
    let mut epochs: Vec<Derived> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let m = &f.message;
        if *m.id0() != open_tag() {
            continue;
        }
        let (ct, sealed) = m.payload().split_at(KEM_CIPHERTEXT_LEN);
        let ct: &[u8; KEM_CIPHERTEXT_LEN] = ct.try_into().unwrap();
        for key in kem_keys {
            let ss = key.decapsulate(ct);
            let Ok(plain) = seal::open(&open_key(&ss), m, sealed) else {
                continue;
            };
            read.insert(i);
            let initiator = BundleBody::decode(&plain[..BODY_LEN])
                .unwrap()
                .fingerprint();
            let salt: [u8; 32] = plain[BODY_LEN..BODY_LEN + 32].try_into().unwrap();
            for responder in fingerprints {
                let th = transcript_hash(&initiator, &responder, ct, &salt);
                let h = Handshake::derive(&ss, &salt, &th);
                for role in [Role::Initiator, Role::Responder] {
                    let (root, seed) = h.direction(role);
                    epochs.push(Derived {
                        role,
                        epoch: 0,
                        root: root.clone(),
                        seed: seed.clone(),
                        channel: th,
                    });
                }
            }
        }
    }
    let mut done = 0;
    while done < epochs.len() {
        let d = epochs[done].clone();
        done += 1;
        let start = epoch_start(&d.seed);
        let mut chain = start.chain_key.clone();
        let mut keys = vec![(start.control_tag, start.control_key.clone())];
        for index in 0..DEPTH {
            keys.push((tag(&start.tag_key, index), message_key(&chain)));
            chain = next_chain_key(&chain);
        }
        for (i, f) in frames.iter().enumerate() {
            let Some((_, key)) = keys.iter().find(|(t, _)| t == f.message.id0()) else {
                continue;
            };
            let Ok(plain) = seal::open(key, &f.message, f.message.payload()) else {
                continue;
            };
            read.insert(i);
            let Ok(seal::Opened {
                body: Body::Rekey(rekey),
                ..
            }) = seal::decode(&plain)
            else {
                continue;
            };
            let h = Step {
                channel: &d.channel,
                sender: d.role,
                new_epoch: d.epoch + 1,
                target: rekey.target,
                count: rekey.count,
                ct: &rekey.ct,
                new_key: &rekey.new_key,
            }
            .hash();
            for kem in kem_keys {
                let ss = kem.decapsulate(&rekey.ct);
                let mut steps = vec![(d.role, d.root.clone())];
                if d.epoch == 0 {
                    // The accept steps the initiator's root too.
                    steps.extend(
                        epochs
                            .iter()
                            .filter(|e| e.role == Role::Initiator && e.epoch == 0)
                            .filter(|e| e.channel == d.channel)
                            .map(|e| (Role::Initiator, e.root.clone())),
                    );
                }
                for (role, root) in steps {
                    let (root, seed) = ratchet(&root, &ss, &h);
                    epochs.push(Derived {
                        role,
                        epoch: d.epoch + 1,
                        root,
                        seed,
                        channel: d.channel,
                    });
                }
            }
        }
        assert!(epochs.len() < 10_000, "the search must terminate");
    }
    read
}

fn fingerprints(t: &Transcript) -> [Fingerprint; 2] {
    [t.alice.fingerprint(), t.bob.fingerprint()]
}

fn kem(identity: &Identity) -> &KemKeyPair {
    identity.kem_key_of(&identity.fingerprint()).unwrap()
}

fn indices(list: &[usize]) -> HashSet<usize> {
    list.iter().copied().collect()
}

#[test]
fn one_bundle_kem_key_reads_no_data_in_either_direction() {
    let t = Transcript::run(1);
    // Bob's key opens the open and the accept (bundle body, salt, KEM ciphertext, Bob's next
    // public ratchet key: nothing secret), and no data message.
    assert_eq!(
        reads(&t.frames, &[kem(&t.bob)], fingerprints(&t)),
        indices(&[0, 1])
    );
    // Alice's key cannot even open the open.
    assert!(reads(&t.frames, &[kem(&t.alice)], fingerprints(&t)).is_empty());
}

#[test]
fn both_bundle_kem_keys_read_epoch_1_only_until_the_healing_rekeys() {
    let t = Transcript::run(2);
    let read = reads(&t.frames, &[kem(&t.alice), kem(&t.bob)], fingerprints(&t));
    // Open, accept, the two epoch-1 messages and the two rekeys (public contents)...
    assert_eq!(read, indices(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(t.data_texts(&read).len(), 2);
    // ...but not one message after the healing rekeys of both sides.
    assert!(!read.contains(&6) && !read.contains(&7));
    // With every ephemeral secret too (both states), the same search reads everything: the
    // search is able, the keys are what it lacks.
    let mut all: Vec<&KemKeyPair> = t.ephemeral.iter().collect();
    all.extend([kem(&t.alice), kem(&t.bob)]);
    assert_eq!(
        reads(&t.frames, &all, fingerprints(&t)).len(),
        t.frames.len()
    );
}

/// What an adversary with the responder's bundle KEM key derives from an open: the responder's
/// epoch 0.
#[test]
fn either_sides_stolen_state_reads_and_forges_until_the_rekeys_heal_it() {
    stolen_state_case(Role::Initiator, 5);
    stolen_state_case(Role::Responder, 6);
}

fn responder_epoch_0(open: &Message, bob: &Identity) -> (Epoch, [u8; 32]) {
    let (ct, sealed) = open.payload().split_at(KEM_CIPHERTEXT_LEN);
    let ct: &[u8; KEM_CIPHERTEXT_LEN] = ct.try_into().unwrap();
    let ss = kem(bob).decapsulate(ct);
    let plain = seal::open(&open_key(&ss), open, sealed).unwrap();
    let alice = BundleBody::decode(&plain[..BODY_LEN])
        .unwrap()
        .fingerprint();
    let salt: [u8; 32] = plain[BODY_LEN..BODY_LEN + 32].try_into().unwrap();
    let th = transcript_hash(&alice, &bob.fingerprint(), ct, &salt);
    let h = Handshake::derive(&ss, &salt, &th);
    (Epoch::new(0, h.direction(Role::Responder).1), th)
}

#[test]
fn the_responders_bundle_kem_key_cannot_forge_data_or_an_accept_nor_kill_the_establishment() {
    let mut rng = StdRng::seed_from_u64(3);
    let alice = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
    let bob = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
    let mallory = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
    let (mut a, open) = Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
    let before = serde_json::to_string(&a).unwrap();
    let (mut epoch, th) = responder_epoch_0(&open, &bob);
    assert_eq!(th, a.id());
    let body = seal::encode_data(0, b"Bob says hi (not)", None);
    // Data under the epoch-0 control tag, and under epoch 0's first data tag.
    let control = Message::new(
        [epoch.control_tag.0, [1; 32]].concat().try_into().unwrap(),
        seal::seal(
            &epoch.control_key,
            &[epoch.control_tag.0, [1; 32]].concat().try_into().unwrap(),
            TTL,
            BLOCKHASH,
            &body,
        ),
        TTL,
        BLOCKHASH,
    )
    .unwrap();
    let (_, data_tag, data_key) = epoch.advance();
    let id: [u8; 64] = [data_tag.0, [2; 32]].concat().try_into().unwrap();
    let data = Message::new(
        id,
        seal::seal(&data_key, &id, TTL, BLOCKHASH, &body),
        TTL,
        BLOCKHASH,
    )
    .unwrap();
    // An accept signed by someone other than Bob, under the right control key.
    let (mut fake_bob, _) = {
        let incoming = recognise(&bob, &open, NOW).unwrap().unwrap();
        incoming.accept(&mallory, TTL, BLOCKHASH, &mut rng).unwrap()
    };
    let forged_accept = fake_bob
        .control_frames(TTL, BLOCKHASH, &mut rng)
        .unwrap()
        .remove(0);
    assert!(matches!(
        a.unseal(&alice, &control, NOW),
        Err(ChannelError::Malformed(_))
    ));
    assert!(matches!(
        a.unseal(&alice, &data, NOW),
        Err(ChannelError::UnknownTag { .. })
    ));
    assert!(matches!(
        a.unseal(&alice, &forged_accept, NOW),
        Err(ChannelError::BadSignature("rekey"))
    ));
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        before,
        "refusals change nothing"
    );
    // The genuine accept still establishes the channel.
    let (mut b, accept) = recognise(&bob, &open, NOW)
        .unwrap()
        .unwrap()
        .accept(&bob, TTL, BLOCKHASH, &mut rng)
        .unwrap();
    assert_eq!(
        a.unseal(&alice, &accept, NOW).unwrap(),
        Received::Rekey { epoch: 1 }
    );
    let m = b
        .seal(&bob, b"real", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    assert!(
        matches!(a.unseal(&alice, &m, NOW).unwrap(), Received::Data { plaintext, .. } if plaintext == b"real")
    );
    let _ = fake_bob.seal(&mallory, b"x", TTL, BLOCKHASH, false, &mut rng);
}

#[test]
fn a_signing_key_alone_opens_channels_in_its_owners_name_that_carry_nothing() {
    let mut rng = StdRng::seed_from_u64(4);
    let alice = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
    let bob = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
    let mallory = Identity::generate(&mut rng, NOW, NOW + 1000, None).unwrap();
    // Mallory holds Alice's signing key (the open needs only that and her public bundle).
    let (mut forged, open) =
        Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
    let incoming = recognise(&bob, &open, NOW).unwrap().unwrap();
    assert_eq!(
        incoming.sender_fingerprint(),
        alice.fingerprint(),
        "Bob sees Alice"
    );
    let (mut b, accept) = incoming.accept(&bob, TTL, BLOCKHASH, &mut rng).unwrap();
    // The accept's secret is encapsulated to Alice's bundle KEM key, which Mallory lacks.
    assert!(matches!(
        forged.unseal(&mallory, &accept, NOW),
        Err(ChannelError::UnknownRatchetKey(0))
    ));
    assert!(matches!(
        forged.seal(&alice, b"as Alice", TTL, BLOCKHASH, false, &mut rng),
        Err(ChannelError::NotEstablished)
    ));
    let reply = b
        .seal(&bob, b"for Alice", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    let frames = vec![
        Recorded {
            message: open,
            data: false,
        },
        Recorded {
            message: accept,
            data: false,
        },
        Recorded {
            message: reply,
            data: true,
        },
    ];
    // A signing key enters no key derivation: with no KEM secret, nothing opens.
    assert!(reads(&frames, &[], [alice.fingerprint(), bob.fingerprint()]).is_empty());
}

/// The adversary who stole `victim`'s state at some time t, without the identity.
struct Thief {
    /// The stolen state, to receive what the peer sends the victim and to forge as the victim.
    state: Channel,
    /// A receiver over the victim's sending epoch, to read what the victim sends.
    outgoing: Receiver,
    mallory: Identity,
}

impl Thief {
    fn steal(victim: &Channel, rng: &mut StdRng) -> Thief {
        let json = serde_json::to_string(victim).unwrap();
        let copy: Channel = serde_json::from_str(&json).unwrap();
        Thief {
            state: serde_json::from_str(&json).unwrap(),
            outgoing: Receiver::new(copy.send),
            mallory: Identity::generate(rng, NOW, NOW + 1000, None).unwrap(),
        }
    }

    fn reads_outgoing(&mut self, m: &Message) -> bool {
        let Ok(found) = self.outgoing.find(m.id0(), NOW) else {
            return false;
        };
        let ok = seal::open(&found.key, m, m.payload()).is_ok();
        self.outgoing.commit(found, NOW);
        ok
    }

    fn reads_incoming(&mut self, m: &Message) -> bool {
        self.state.unseal(&self.mallory, m, NOW).is_ok()
    }
}

/// The state of `victim` (either side) stolen after the healing rekeys.
fn stolen_state_case(victim: Role, seed: u64) {
    let mut t = Transcript::run(seed);
    let mut rng = StdRng::seed_from_u64(seed + 100);
    let peer = victim.peer();
    let mut thief = Thief::steal(t.sides(victim).1, &mut rng);
    // Until the victim rekeys, the thief reads both directions...
    let m = t.data(victim, b"victim, before its rekey");
    assert!(thief.reads_outgoing(&m));
    let m = t.data(peer, b"peer, before any rekey");
    assert!(thief.reads_incoming(&m));
    // ...and forges unsigned data as the victim (here after the victim's last message), but
    // neither a signed message nor a rekey.
    let mallory = &thief.mallory;
    let seal = |state: &mut Channel, sign: bool, rng: &mut StdRng| {
        state
            .seal(mallory, b"forged", TTL, BLOCKHASH, sign, rng)
            .unwrap()
    };
    let _already_sent = seal(&mut thief.state, false, &mut rng);
    let forged = seal(&mut thief.state, false, &mut rng);
    let signed = seal(&mut thief.state, true, &mut rng);
    let rekey_forgery = thief
        .state
        .rekey(mallory, TTL, BLOCKHASH, &mut rng)
        .unwrap();
    let (pid, pch, _, _) = t.sides(peer);
    assert!(
        matches!(pch.unseal(pid, &forged, NOW).unwrap(), Received::Data { plaintext, .. } if plaintext == b"forged"),
        "unsigned data is forgeable until the victim rekeys"
    );
    assert!(matches!(
        pch.unseal(pid, &signed, NOW),
        Err(ChannelError::BadSignature("message"))
    ));
    assert!(matches!(
        pch.unseal(pid, &rekey_forgery, NOW),
        Err(ChannelError::BadSignature("rekey"))
    ));
    // The peer rekeys to the victim's ratchet key from before the theft: the thief follows.
    let before = t.frames.len();
    t.rekey(peer);
    let rekey = t.frames[before].message.clone();
    assert!(matches!(
        thief.state.unseal(&thief.mallory, &rekey, NOW),
        Ok(Received::Rekey { .. })
    ));
    let m = t.data(peer, b"peer, after a rekey to a stolen key");
    assert!(thief.reads_incoming(&m));
    // The victim rekeys: its direction heals (the secret goes to the peer's key).
    t.rekey(victim);
    let m = t.data(victim, b"victim, after its rekey");
    assert!(!thief.reads_outgoing(&m), "the victim's direction healed");
    let after = t.data(victim, b"victim, second after its rekey");
    assert!(!thief.reads_outgoing(&after));
    // The peer rekeys to the victim's new key: the peer's direction heals too.
    let before = t.frames.len();
    t.rekey(peer);
    let rekey = t.frames[before].message.clone();
    // The thief's copy lacks the secret the rekey was encapsulated to (it may hold a key of
    // its own under that number, from its forged rekey: the secret it decapsulates is wrong).
    let _ = thief.state.unseal(&thief.mallory, &rekey, NOW);
    let m = t.data(peer, b"peer, after the heal");
    assert!(!thief.reads_incoming(&m), "the peer's direction healed");
}
