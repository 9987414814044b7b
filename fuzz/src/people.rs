//! Alice and Bob: deterministic identities (the same keys in every run, so seeds made once stay
//! meaningful), and channel states between them at several points of a conversation.

use crate::rng;
use ems_core::{Channel, Identity, Message, QrlAddress, Received};
use std::sync::OnceLock;

/// The clock of every fixture (the vectors' `now`).
pub const NOW: u64 = 1_800_000_000;
/// The TTL of fixture frames.
pub const TTL: u32 = 1_800_003_600;
/// The BLOCKHASH of fixture frames.
pub const BLOCKHASH: [u8; 4] = [0xa0, 0xa1, 0xa2, 0xa3];
/// Bob's QRL address (Alice's bundle names none).
pub const BOB_ADDRESS: [u8; 39] = [0x01; 39];

/// Alice: a bundle without an address.
pub fn alice() -> &'static Identity {
    static ALICE: OnceLock<Identity> = OnceLock::new();
    ALICE.get_or_init(|| {
        Identity::generate(&mut rng(1), NOW, NOW + 365 * 86_400, None).expect("Alice's keys")
    })
}

/// Bob: a bundle that names [`BOB_ADDRESS`].
pub fn bob() -> &'static Identity {
    static BOB: OnceLock<Identity> = OnceLock::new();
    BOB.get_or_init(|| {
        let address = Some(QrlAddress(BOB_ADDRESS));
        Identity::generate(&mut rng(2), NOW, NOW + 365 * 86_400, address).expect("Bob's keys")
    })
}

/// Alice's and Bob's channel states (serialised), and the frames that led there.
pub struct Conversation {
    /// `(Alice's state, Bob's state)` at each point: just established; after messages both
    /// ways, some delivered out of order; after a rekey each way.
    pub states: Vec<(String, String)>,
    /// Every frame exchanged: the open, the accept, data (signed and not), rekeys.
    pub frames: Vec<Message>,
}

/// The conversation (played once).
pub fn conversation() -> &'static Conversation {
    static CONVERSATION: OnceLock<Conversation> = OnceLock::new();
    CONVERSATION.get_or_init(play)
}

/// Whether `message` is one of the conversation's frames (same ID, payload, TTL and blockhash;
/// the proof of work is not authenticated): a fuzzer cannot forge a frame, but it can replay these.
pub fn is_conversation_frame(message: &Message) -> bool {
    conversation().frames.iter().any(|f| {
        f.id() == message.id()
            && f.payload() == message.payload()
            && (f.ttl(), f.blockhash()) == (message.ttl(), message.blockhash())
    })
}

/// Restores a serialised channel state.
pub fn restore(state: &str) -> Channel {
    serde_json::from_str(state).expect("fixture state")
}

/// Serialises a channel state.
pub fn save(channel: &Channel) -> String {
    serde_json::to_string(channel).expect("state serialises")
}

/// A channel state in binary form (CBOR: keys as byte strings, not hex). It holds the same
/// state as [`save`] at a fraction of the cost, for targets that compare states per input.
pub fn compact(channel: &Channel) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(channel, &mut out).expect("state serialises");
    out
}

/// Restores a state from [`compact`].
pub fn from_compact(state: &[u8]) -> Channel {
    ciborium::from_reader(state).expect("fixture state")
}

fn play() -> Conversation {
    let (alice, bob) = (alice(), bob());
    let mut rng = rng(3);
    let mut frames = Vec::new();
    let (mut a, open) =
        Channel::open(alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).expect("open");
    let incoming = ems_core::channel::recognise(bob, &open, NOW)
        .expect("open verifies")
        .expect("open is for Bob");
    let (mut b, accept) = incoming
        .accept(bob, TTL, BLOCKHASH, &mut rng)
        .expect("accept");
    assert_eq!(
        a.unseal(alice, &accept, NOW).ok(),
        Some(Received::Rekey { epoch: 1 })
    );
    frames.extend([open, accept]);
    let mut states = vec![(save(&a), save(&b))];

    // Bob sends three, the third arrives first (keys for the first two are kept as skipped);
    // Alice sends one signed.
    let sent: Vec<Message> = (0..3)
        .map(|i| {
            b.seal(
                bob,
                format!("hello {i}").as_bytes(),
                TTL,
                BLOCKHASH,
                i == 1,
                &mut rng,
            )
            .expect("seal")
        })
        .collect();
    a.unseal(alice, &sent[2], NOW).expect("out of order");
    let signed = a
        .seal(alice, b"signed by Alice", TTL, BLOCKHASH, true, &mut rng)
        .expect("seal");
    b.unseal(bob, &signed, NOW).expect("signed message");
    frames.extend(sent);
    frames.push(signed);
    states.push((save(&a), save(&b)));

    // A rekey each way.
    let rekey = a.rekey(alice, TTL, BLOCKHASH, &mut rng).expect("rekey");
    b.unseal(bob, &rekey, NOW).expect("Alice's rekey");
    let rekey_back = b.rekey(bob, TTL, BLOCKHASH, &mut rng).expect("rekey");
    a.unseal(alice, &rekey_back, NOW).expect("Bob's rekey");
    frames.extend([rekey, rekey_back]);
    states.push((save(&a), save(&b)));
    Conversation { states, frames }
}
