//! End-to-end channels: open, accept, rekey, seal and unseal.
//!
//! A channel joins two identities. The initiator publishes an *open* addressed to no one visible
//! (`ID0` is the network-wide [`open_tag`]); every identity trial-decapsulates opens and
//! [`recognise`]s its own. The responder answers with an *accept*: a KEM ratchet step that
//! encapsulates to the initiator's bundle KEM key and carries a fresh ratchet key; its secret
//! enters both directions' roots, so no data key depends on one side's randomness alone. Epoch 0
//! carries only the open and the accept; data flows from epoch 1, after the accept.
//!
//! Each direction then steps its own KEM ratchet (a *rekey*) independently; message `i` of an
//! epoch uses the lazily derived key `key_i`, erased once used, and is found by its tag
//! `ID0 = HMAC(tag_key, i)`. The rekey that ends an epoch travels under the epoch's *control
//! tag*, which the receiver always watches, so a receiver that missed any number of data
//! messages resumes at the next rekey. Control frames (open, accept, rekeys) stay in the state
//! until the peer acknowledges the epoch they start ([`Channel::control_frames`] re-seals them
//! for re-sending). `docs/crypto.md` is the specification; [`schedule`] holds every derivation.
//!
//! ```
//! use ems_core::channel::{self, Channel, Received};
//! use ems_core::Identity;
//!
//! let mut rng = rand::rng();
//! let now = 1_800_000_000;
//! let alice = Identity::generate(&mut rng, now, now + 86_400 * 365, None).unwrap();
//! let bob = Identity::generate(&mut rng, now, now + 86_400 * 365, None).unwrap();
//! let (ttl, blockhash) = (now as u32 + 3600, [1, 2, 3, 4]);
//!
//! // Alice opens a channel to Bob's bundle; she mines and publishes `open`.
//! let (mut a, open) = Channel::open(&alice, bob.bundle(), now, ttl, blockhash, &mut rng).unwrap();
//! // Bob tries every message tagged with the open tag, recognises his and accepts.
//! let incoming = channel::recognise(&bob, &open, now).unwrap().expect("addressed to Bob");
//! assert_eq!(incoming.sender_fingerprint(), alice.fingerprint());
//! let (mut b, accept) = incoming.accept(&bob, ttl, blockhash, &mut rng).unwrap();
//! assert!(matches!(a.unseal(&alice, &accept, now).unwrap(), Received::Rekey { epoch: 1 }));
//!
//! let sealed = b.seal(&bob, b"hello Alice", ttl, blockhash, false, &mut rng).unwrap();
//! match a.unseal(&alice, &sealed, now).unwrap() {
//!     Received::Data { plaintext, signature, .. } => {
//!         assert_eq!(plaintext, b"hello Alice");
//!         assert!(signature.is_none());
//!     }
//!     Received::Rekey { .. } => unreachable!(),
//! }
//! // Alice's keys still depend on the bundle KEM keys until she steps to Bob's fresh key.
//! assert!(a.needs_rekey());
//! ```

mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod handshake;
mod ratchet;
mod receive;
mod receiver;
pub mod schedule;
mod seal;
mod send;
mod signed;

pub use error::ChannelError;
pub use handshake::{recognise, IncomingOpen, OPEN_PAYLOAD_LEN};
pub use receiver::{MAX_CATCHUP, MAX_SKIPPED, REPLAY_MEMORY, SKIPPED_KEY_LIFETIME, WINDOW};
pub use schedule::{open_tag, Role};
pub use seal::{bucket, MAX_PLAINTEXT, MAX_SIGNED_PLAINTEXT, PAYLOAD_BUCKETS};
pub use signed::{verify_message_signature, MessageContext};

use crate::bundle::{BundleBody, Fingerprint};
use crate::secret::{hex_bytes, Secret};
use crate::suite::{Key, DSA_PUBLIC_KEY_LEN, DSA_SIGNATURE_LEN, KEM_PUBLIC_KEY_LEN, KEM_SEED_LEN};
use ratchet::{Epoch, Tag};
use receiver::Receiver;
use schedule::Handshake;
use seal::Rekey;
use serde::{Deserialize, Deserializer, Serialize};

/// Version of the serialised channel state.
pub const STATE_VERSION: u8 = 2;
/// How many of its own ratchet keys a side keeps: the one the peer last acknowledged and every
/// newer one. A side refuses to rekey again ([`ChannelError::TooManyUnacknowledged`]) while
/// this many are held, so at most `MAX_RATCHET_KEYS - 1` rekeys wait for the peer.
pub const MAX_RATCHET_KEYS: usize = 16;
/// ML-DSA context string of rekey (and accept) signatures.
const REKEY_CONTEXT: &[u8] = b"ems/v1/rekey";

/// What an unsealed message held.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Application data. Channel messages are always authenticated as coming from the peer (only
    /// the two ends hold the keys); `signature`, when present, is the sender's verified ML-DSA
    /// signature of [`MessageContext::signed_bytes`] (context `"ems/v1/message"`), which anyone
    /// holding the sender's public key can check again: non-repudiation.
    Data {
        /// The plaintext.
        plaintext: Vec<u8>,
        /// The sender's verified signature, if the message was signed.
        signature: Option<Box<[u8; DSA_SIGNATURE_LEN]>>,
        /// Where the message stands in the channel: what its signature covers.
        context: Box<MessageContext>,
    },
    /// The peer stepped its KEM ratchet (the accept is the responder's first step); its messages
    /// now use `epoch`. [`Channel::watch_tags`] has changed.
    Rekey {
        /// The peer's new sending epoch.
        epoch: u32,
    },
}

/// One end's state of a channel. It serialises with serde so the caller can persist it (secret
/// keys inside: store it like the key file), and it never holds a message key that was used.
/// Long-term secrets stay in the [`Identity`](crate::Identity) passed to each call.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    version: StateVersion,
    #[serde(with = "hex_bytes::array")]
    id: [u8; 32],
    role: Role,
    own: Fingerprint,
    peer: Fingerprint,
    #[serde(with = "hex_bytes::array")]
    peer_signing_key: [u8; DSA_PUBLIC_KEY_LEN],
    send_root: Key,
    send: Epoch,
    recv_root: Key,
    receiver: Receiver,
    /// Newest first.
    own_ratchet: Vec<OwnRatchetKey>,
    peer_ratchet: PeerRatchetKey,
    /// Whether this side's sending keys no longer depend on any bundle KEM key: it has stepped
    /// with a secret encapsulated to one of the peer's ephemeral ratchet keys.
    independent: bool,
    /// The newest of this side's sending epochs the peer has acknowledged reaching.
    acked: u32,
    /// Rekeys (the accept included) the peer has not acknowledged yet, oldest first.
    pending: Vec<PendingControl>,
    /// The open, until the accept arrives (initiator only).
    open: Option<PendingOpen>,
}

#[derive(Serialize)]
struct StateVersion(u8);

impl<'de> Deserialize<'de> for StateVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            STATE_VERSION => Ok(StateVersion(STATE_VERSION)),
            other => Err(serde::de::Error::custom(format!(
                "channel state version {other}, this implementation reads {STATE_VERSION}"
            ))),
        }
    }
}

/// A KEM key of this side the peer may encapsulate to, named by the epoch that introduced it.
#[derive(Serialize, Deserialize)]
struct OwnRatchetKey {
    id: u32,
    secret: RatchetSecret,
}

#[derive(Serialize, Deserialize)]
enum RatchetSecret {
    /// The KEM key of this side's bundle the channel was opened with (key #0): its secret stays
    /// in the [`Identity`](crate::Identity).
    Identity,
    /// An ephemeral key made for one rekey.
    Ephemeral(Secret<KEM_SEED_LEN>),
}

#[derive(Serialize, Deserialize)]
struct PeerRatchetKey {
    id: u32,
    #[serde(with = "hex_bytes::array")]
    public: [u8; KEM_PUBLIC_KEY_LEN],
}

/// A rekey waiting for the peer's acknowledgement, with what re-sealing it needs: the control
/// tag and key of the epoch it ends.
#[derive(Serialize, Deserialize)]
struct PendingControl {
    /// The receiving epoch when it was made.
    ack: u32,
    ends: u32,
    tag: Tag,
    key: Key,
    rekey: Rekey,
}

/// The open, kept until the accept arrives so that it can be re-sealed and re-sent.
#[derive(Serialize, Deserialize)]
struct PendingOpen {
    key: Key,
    #[serde(with = "hex_bytes")]
    ct: Vec<u8>,
    #[serde(with = "hex_bytes")]
    sealed: Vec<u8>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &hex::encode(self.id))
            .field("role", &self.role)
            .field("peer", &self.peer)
            .field("send_epoch", &self.send.epoch)
            .field("recv_epoch", &self.receiver.epoch.epoch)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Channel {
    /// Both directions at epoch 0, as the open leaves them.
    fn new(
        id: [u8; 32],
        role: Role,
        own: Fingerprint,
        peer: &BundleBody,
        handshake: &Handshake,
    ) -> Self {
        let (send_root, send_seed) = handshake.direction(role);
        let (recv_root, recv_seed) = handshake.direction(role.peer());
        Channel {
            version: StateVersion(STATE_VERSION),
            id,
            role,
            own,
            peer: peer.fingerprint(),
            peer_signing_key: *peer.signing_key(),
            send_root: send_root.clone(),
            send: Epoch::new(0, send_seed),
            recv_root: recv_root.clone(),
            receiver: Receiver::new(Epoch::new(0, recv_seed)),
            own_ratchet: vec![OwnRatchetKey {
                id: 0,
                secret: RatchetSecret::Identity,
            }],
            peer_ratchet: PeerRatchetKey {
                id: 0,
                public: *peer.kem_key(),
            },
            independent: false,
            acked: 0,
            pending: Vec::new(),
            open: None,
        }
    }

    /// The channel's identifier (the open's transcript hash), equal on both ends.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// This side's bundle fingerprint when the channel was opened.
    pub fn own_fingerprint(&self) -> Fingerprint {
        self.own
    }

    /// The peer's bundle fingerprint.
    pub fn peer_fingerprint(&self) -> Fingerprint {
        self.peer
    }

    /// This side's sending epoch (0 until the accept; then one more per rekey).
    pub fn send_epoch(&self) -> u32 {
        self.send.epoch
    }

    /// The peer's sending epoch as this side has seen it.
    pub fn receive_epoch(&self) -> u32 {
        self.receiver.epoch.epoch
    }

    /// Whether data may flow: the accept has been made (responder) or received (initiator).
    pub fn is_established(&self) -> bool {
        self.send.epoch > 0
    }

    /// Whether this side should rekey now: its sending keys still depend on the bundle KEM keys
    /// and the peer has published an ephemeral ratchet key to step to. An initiator needs one
    /// rekey after the accept, a responder one after the initiator's first rekey; then every
    /// data key of both directions is independent of both bundle KEM keys.
    pub fn needs_rekey(&self) -> bool {
        self.is_established()
            && !self.independent
            && self.peer_ratchet.id > 0
            && self.own_ratchet.len() < MAX_RATCHET_KEYS
    }

    /// Whether every sending key from now on is independent of both bundle KEM keys.
    pub fn is_independent_of_bundle_keys(&self) -> bool {
        self.independent
    }

    /// How many control frames (the open before its accept, rekeys and the accept before the
    /// peer acknowledges them) wait to be re-sent with [`Channel::control_frames`].
    pub fn pending_controls(&self) -> usize {
        self.pending.len() + usize::from(self.open.is_some())
    }

    /// The `ID0` tags to watch at `now` for this channel's incoming messages: the control tag of
    /// the peer's epoch (always), the next [`WINDOW`] data tags, and the tags of skipped
    /// messages whose keys have not expired. Recompute after every unseal.
    pub fn watch_tags(&self, now: u64) -> Vec<[u8; 32]> {
        self.receiver.watch_tags(now)
    }

    /// Records the peer's acknowledgement that it reached this side's epoch `ack`: control
    /// frames of earlier epochs are done, and own ratchet keys older than the newest one the
    /// peer has seen are erased.
    fn note_ack(&mut self, ack: u32) {
        let ack = ack.min(self.send.epoch);
        if ack <= self.acked {
            return;
        }
        self.acked = ack;
        self.pending.retain(|p| p.ends >= ack);
        if let Some(floor) = self
            .own_ratchet
            .iter()
            .map(|k| k.id)
            .filter(|&id| id <= ack)
            .max()
        {
            self.own_ratchet.retain(|k| k.id >= floor);
        }
    }
}

#[cfg(test)]
mod compromise;
#[cfg(test)]
mod tests;
