//! Model checking of the channel state machine (proptest generates the schedules).
//!
//! Two clients, Alice (initiator) and Bob (responder), and a network that drops, duplicates,
//! reorders, delays and tampers with frames. Every step of a client persists its state (the
//! serialised form, as a client does before a frame leaves); a client can crash at any step,
//! which throws away the step's change and its frames, and restarts from what was persisted.
//! Clients behave as `ems` does: they re-send unacknowledged control frames, and rekey when
//! [`Channel::needs_rekey`] says so.
//!
//! Invariants, checked on every schedule:
//! - no (key, nonce) pair is used twice: a data `ID0` (one message key) leaves a client in at
//!   most one frame, and control frames that share a key never share a nonce;
//! - nothing is accepted that the peer did not send, and nothing twice;
//! - honest frames never fail except as replays or not-yet-known tags (never as tampered,
//!   malformed, badly signed or aimed at an unknown ratchet key);
//! - liveness: after any schedule, re-sending control frames and delivering what is in the
//!   network reads every data message still in the network, and then the channel carries a new
//!   message each way (it always recovers after loss).

use ems_core::channel::{self, Channel, ChannelError, Received};
use ems_core::{Identity, Message};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;
const TTL: u32 = 1_800_003_600;
const BLOCKHASH: [u8; 4] = [9, 9, 9, 9];

fn identities() -> &'static (Identity, Identity) {
    static IDS: OnceLock<(Identity, Identity)> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(99);
        let year = 365 * 86_400;
        (
            Identity::generate(&mut rng, NOW, NOW + year, None).unwrap(),
            Identity::generate(&mut rng, NOW, NOW + year, None).unwrap(),
        )
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Side {
    A,
    B,
}

#[derive(Clone, Debug)]
enum Op {
    Send,
    Rekey,
    Resend,
}

#[derive(Clone, Debug)]
enum Action {
    /// A client step; with `crash`, the client dies before persisting it.
    Step { side: Side, op: Op, crash: bool },
    /// Deliver network frame `at` (modulo the count); `keep` leaves a copy (duplication).
    /// With `crash`, the recipient dies before persisting what the frame changed (the frame
    /// stays: the node still holds it).
    Deliver { at: usize, keep: bool, crash: bool },
    /// Drop network frame `at`.
    Drop { at: usize },
    /// Deliver a copy of frame `at` with one payload bit flipped.
    Tamper { at: usize, bit: usize },
}

fn action() -> impl Strategy<Value = Action> {
    let side = prop_oneof![Just(Side::A), Just(Side::B)];
    let op = prop_oneof![3 => Just(Op::Send), 1 => Just(Op::Rekey), 1 => Just(Op::Resend)];
    prop_oneof![
        4 => (side, op, prop::bool::weighted(0.15))
            .prop_map(|(side, op, crash)| Action::Step { side, op, crash }),
        5 => (any::<usize>(), prop::bool::weighted(0.2), prop::bool::weighted(0.1))
            .prop_map(|(at, keep, crash)| Action::Deliver { at, keep, crash }),
        1 => any::<usize>().prop_map(|at| Action::Drop { at }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(at, bit)| Action::Tamper { at, bit }),
    ]
}

/// A frame in the network, and whom it is for.
#[derive(Clone)]
struct Frame {
    to: Side,
    message: Message,
}

struct Client {
    /// The persisted state; `None` until the channel exists (Bob before accepting).
    saved: Option<String>,
    sent: u32,
    read: HashSet<Vec<u8>>,
}

struct World {
    rng: StdRng,
    a: Client,
    b: Client,
    network: Vec<Frame>,
    /// Plaintexts each side put into a published frame.
    published: HashMap<Side, HashSet<Vec<u8>>>,
    /// Every data `ID0` published (one message key), with its recipient and plaintext.
    data_texts: HashMap<[u8; 32], (Side, Vec<u8>)>,
    /// Every (ID0, nonce) pair of control frames published.
    nonces: HashSet<([u8; 32], [u8; 12])>,
}

fn identity(side: Side) -> &'static Identity {
    match side {
        Side::A => &identities().0,
        Side::B => &identities().1,
    }
}

fn peer(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

fn load(saved: &str) -> Channel {
    serde_json::from_str(saved).expect("persisted state reads back")
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let (alice, bob) = identities();
        let (a, open) = Channel::open(alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
        let mut world = World {
            rng,
            a: Client {
                saved: Some(serde_json::to_string(&a).unwrap()),
                sent: 0,
                read: HashSet::new(),
            },
            b: Client {
                saved: None,
                sent: 0,
                read: HashSet::new(),
            },
            network: Vec::new(),
            published: HashMap::new(),
            data_texts: HashMap::new(),
            nonces: HashSet::new(),
        };
        world.publish(Side::B, vec![open], None);
        world
    }

    fn client(&mut self, side: Side) -> &mut Client {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Frames leave a client only after its state is persisted.
    fn publish(&mut self, to: Side, frames: Vec<Message>, data: Option<Vec<u8>>) {
        for message in frames {
            let id0 = *message.id0();
            if let Some(text) = &data {
                let earlier = self.data_texts.insert(id0, (to, text.clone()));
                assert!(earlier.is_none(), "a data key left a client twice");
                self.published
                    .entry(peer(to))
                    .or_default()
                    .insert(text.clone());
            } else {
                let nonce: [u8; 12] = message.id1()[..12].try_into().unwrap();
                assert!(
                    self.nonces.insert((id0, nonce)),
                    "a control nonce was reused"
                );
            }
            self.network.push(Frame { to, message });
        }
    }

    /// One client step on the persisted state; persisted and published unless `crash`.
    fn step(&mut self, side: Side, op: &Op, crash: bool) {
        let Some(saved) = self.client(side).saved.clone() else {
            return;
        };
        let mut channel = load(&saved);
        let identity = identity(side);
        let (frames, data) = match op {
            Op::Send => {
                let n = self.client(side).sent;
                let text = format!("{side:?}{n}").into_bytes();
                match channel.seal(
                    identity,
                    &text,
                    TTL,
                    BLOCKHASH,
                    n.is_multiple_of(3),
                    &mut self.rng,
                ) {
                    Ok(m) => (vec![m], Some(text)),
                    Err(ChannelError::NotEstablished) => return,
                    Err(e) => panic!("seal failed: {e}"),
                }
            }
            Op::Rekey => match channel.rekey(identity, TTL, BLOCKHASH, &mut self.rng) {
                Ok(m) => (vec![m], None),
                Err(ChannelError::NotEstablished | ChannelError::TooManyUnacknowledged { .. }) => {
                    return
                }
                Err(e) => panic!("rekey failed: {e}"),
            },
            Op::Resend => (
                channel
                    .control_frames(TTL, BLOCKHASH, &mut self.rng)
                    .unwrap(),
                None,
            ),
        };
        if crash {
            return;
        }
        let client = self.client(side);
        client.saved = Some(serde_json::to_string(&channel).unwrap());
        if data.is_some() {
            client.sent += 1;
        }
        self.publish(peer(side), frames, data);
    }

    /// What a crash of a recipient must roll back besides its persisted state: what it read,
    /// and the frames it would have published (they never leave).
    fn snapshot(&self) -> (HashSet<Vec<u8>>, HashSet<Vec<u8>>, usize) {
        (self.a.read.clone(), self.b.read.clone(), self.network.len())
    }

    fn restore(
        &mut self,
        a: Option<String>,
        b: Option<String>,
        (a_read, b_read, len): (HashSet<Vec<u8>>, HashSet<Vec<u8>>, usize),
    ) {
        self.a.saved = a;
        self.b.saved = b;
        self.a.read = a_read;
        self.b.read = b_read;
        self.network.truncate(len);
    }

    /// Delivers `frame` to its recipient, as that client would handle it.
    fn deliver(&mut self, frame: &Frame) -> bool {
        let side = frame.to;
        let identity = identity(side);
        if *frame.message.id0() == channel::open_tag() {
            return self.deliver_open(&frame.message);
        }
        let Some(saved) = self.client(side).saved.clone() else {
            return false;
        };
        let mut channel = load(&saved);
        let received = match channel.unseal(identity, &frame.message, NOW) {
            Ok(received) => received,
            Err(ChannelError::Replay | ChannelError::UnknownTag { .. }) => return false,
            Err(e) => panic!("an honest frame to {side:?} failed: {e}"),
        };
        if let Received::Data { plaintext, .. } = &received {
            assert!(
                self.published[&peer(side)].contains(plaintext),
                "{side:?} accepted {plaintext:?}, which the peer never sent"
            );
            assert!(
                self.client(side).read.insert(plaintext.clone()),
                "{side:?} read {plaintext:?} twice"
            );
        }
        // The client rekeys at once when its keys still depend on the bundle KEM keys.
        let mut frames = Vec::new();
        if channel.needs_rekey() {
            frames.push(
                channel
                    .rekey(identity, TTL, BLOCKHASH, &mut self.rng)
                    .unwrap(),
            );
        }
        self.client(side).saved = Some(serde_json::to_string(&channel).unwrap());
        self.publish(peer(side), frames, None);
        true
    }

    /// Bob recognises an open and accepts it once (a client deduplicates by channel id).
    fn deliver_open(&mut self, open: &Message) -> bool {
        let bob = &identities().1;
        let incoming = channel::recognise(bob, open, NOW)
            .unwrap()
            .expect("the open is Bob's");
        if self.b.saved.is_some() {
            return false;
        }
        let (b, accept) = incoming.accept(bob, TTL, BLOCKHASH, &mut self.rng).unwrap();
        self.b.saved = Some(serde_json::to_string(&b).unwrap());
        self.publish(Side::A, vec![accept], None);
        true
    }

    fn run(&mut self, action: &Action) {
        match *action {
            Action::Step {
                side,
                ref op,
                crash,
            } => self.step(side, op, crash),
            _ if self.network.is_empty() => {}
            Action::Deliver { at, keep, crash } => {
                let at = at % self.network.len();
                let frame = if keep || crash {
                    self.network[at].clone()
                } else {
                    self.network.remove(at)
                };
                if crash {
                    let (a, b, texts) =
                        (self.a.saved.clone(), self.b.saved.clone(), self.snapshot());
                    self.deliver(&frame);
                    self.restore(a, b, texts);
                } else {
                    self.deliver(&frame);
                }
            }
            Action::Drop { at } => {
                let at = at % self.network.len();
                self.network.remove(at);
            }
            Action::Tamper { at, bit } => self.tamper(at, bit),
        }
    }

    /// A frame with one payload bit flipped is refused and changes nothing.
    fn tamper(&mut self, at: usize, bit: usize) {
        let frame = &self.network[at % self.network.len()];
        let m = &frame.message;
        let mut payload = m.payload().to_vec();
        let bit = bit % (payload.len() * 8);
        payload[bit / 8] ^= 1 << (bit % 8);
        let forged = Message::new(*m.id(), payload, m.ttl(), m.blockhash()).unwrap();
        let side = frame.to;
        if *m.id0() == channel::open_tag() {
            let recognised = channel::recognise(&identities().1, &forged, NOW);
            assert!(
                matches!(recognised, Ok(None)),
                "a tampered open was recognised"
            );
            return;
        }
        let Some(saved) = self.client(side).saved.clone() else {
            return;
        };
        let mut channel = load(&saved);
        assert!(
            channel.unseal(identity(side), &forged, NOW).is_err(),
            "a tampered frame opened"
        );
        assert_eq!(
            serde_json::to_string(&channel).unwrap(),
            saved,
            "a refused frame changed the state"
        );
    }

    /// Both clients re-send what is unacknowledged and read everything, until nothing moves.
    fn settle(&mut self) {
        for _ in 0..20 {
            for side in [Side::A, Side::B] {
                self.step(side, &Op::Resend, false);
            }
            let mut moved = false;
            loop {
                let mut progress = false;
                // Frames stay in the network (the node keeps them until their TTL).
                for frame in self.network.clone() {
                    progress |= self.deliver(&frame);
                }
                if !progress {
                    break;
                }
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the clients did not settle");
    }

    fn check_liveness(&mut self) {
        // The data messages still in the network when the schedule ends.
        let in_flight: Vec<(Side, Vec<u8>)> = self
            .network
            .iter()
            .filter_map(|f| self.data_texts.get(f.message.id0()).cloned())
            .collect();
        // Each side rekeys once more (as a client does periodically): the receiver learns how
        // many messages the ending epoch held, whatever it missed.
        for side in [Side::A, Side::B] {
            self.step(side, &Op::Rekey, false);
        }
        self.settle();
        for (to, text) in &in_flight {
            assert!(
                self.client(*to).read.contains(text),
                "{text:?} stayed in the network but {to:?} never read it"
            );
        }
        for side in [Side::A, Side::B] {
            let before = self.client(peer(side)).read.len();
            self.step(side, &Op::Send, false);
            self.settle();
            assert_eq!(
                self.client(peer(side)).read.len(),
                before + 1,
                "{side:?}'s message after recovery was not read"
            );
        }
        for side in [Side::A, Side::B] {
            let channel = load(self.client(side).saved.as_deref().unwrap());
            assert_eq!(
                channel.pending_controls(),
                0,
                "{side:?} still waits for acks"
            );
            assert!(channel.is_independent_of_bundle_keys());
        }
    }
}

/// Schedules per run: 16 in the suite; `EMS_MODEL_CASES=2000` for a long run.
fn cases() -> u32 {
    std::env::var("EMS_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn channels_survive_loss_duplication_reordering_tampering_and_crashes(
        seed in any::<u64>(),
        actions in prop::collection::vec(action(), 0..60),
    ) {
        let mut world = World::new(seed);
        for action in &actions {
            world.run(action);
        }
        world.check_liveness();
    }
}
