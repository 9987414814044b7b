//! End-to-end channels: open, accept, rekey, seal and unseal.
//!
//! A channel joins two identities. The initiator publishes an *open* addressed to no one visible
//! (`ID0` is the network-wide [`open_tag`]); every identity trial-decapsulates opens and
//! [`recognise`]s its own. The responder answers with an *accept*, which is its first *rekey*: a
//! KEM ratchet step that encapsulates to the other side's latest ratchet key and carries a fresh
//! one. Each direction has its own root and chain; message `i` of an epoch uses the lazily
//! derived key `key_i`, erased once used, and is found by its tag `ID0 = HMAC(tag_key, i)`.
//! `docs/crypto.md` is the specification; [`schedule`] holds every derivation.
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
//! assert!(matches!(a.unseal(&alice, &accept).unwrap(), Received::Rekey { .. }));
//!
//! let sealed = b.seal(&bob, b"hello Alice", ttl, blockhash, false, &mut rng).unwrap();
//! match a.unseal(&alice, &sealed).unwrap() {
//!     Received::Data { plaintext, signature } => {
//!         assert_eq!(plaintext, b"hello Alice");
//!         assert!(signature.is_none());
//!     }
//!     Received::Rekey { .. } => unreachable!(),
//! }
//! ```

mod chain;
mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod handshake;
pub mod schedule;
mod seal;

pub use chain::{MAX_SKIPPED, REPLAY_MEMORY, WINDOW};
pub use error::ChannelError;
pub use handshake::{recognise, IncomingOpen, OPEN_PAYLOAD_LEN};
pub use schedule::{open_tag, Role};
pub use seal::{bucket, MAX_PLAINTEXT, MAX_SIGNED_PLAINTEXT, PAYLOAD_BUCKETS};

use crate::bundle::{BundleBody, Fingerprint};
use crate::identity::Identity;
use crate::message::{Message, ID_LEN};
use crate::secret::{hex_bytes, Secret};
use crate::suite::{
    self, KemKeyPair, KemPublicKey, Key, DSA_PUBLIC_KEY_LEN, DSA_SIGNATURE_LEN, KEM_PUBLIC_KEY_LEN,
    KEM_SEED_LEN,
};
use chain::{Chain, Receiver};
use rand_core::CryptoRng;
use schedule::{ratchet, step_hash, Handshake};
use seal::{Body, Rekey};
use serde::{Deserialize, Deserializer, Serialize};

/// Version of the serialised channel state.
pub const STATE_VERSION: u8 = 1;
/// How many of its own ratchet keys a side keeps for rekeys still in flight from the peer.
pub const MAX_RATCHET_KEYS: usize = 4;
/// ML-DSA context string of rekey signatures.
const REKEY_CONTEXT: &[u8] = b"ems/v1/rekey";
/// ML-DSA context string of message signatures.
const MESSAGE_CONTEXT: &[u8] = b"ems/v1/message";

/// What an unsealed message held.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Application data. Channel messages are always authenticated as coming from the peer (only
    /// the two ends hold the keys); `signature`, when present, is the sender's verified ML-DSA
    /// signature of `recipient fingerprint ‖ plaintext` (context `"ems/v1/message"`), which
    /// anyone holding the sender's public key can check again: non-repudiation.
    Data {
        /// The plaintext.
        plaintext: Vec<u8>,
        /// The sender's verified signature, if the message was signed.
        signature: Option<Box<[u8; DSA_SIGNATURE_LEN]>>,
    },
    /// The peer stepped its KEM ratchet (an accept is the responder's first); its messages now
    /// use `epoch`. [`Channel::watch_tags`] has changed.
    Rekey {
        /// The peer's new sending epoch.
        epoch: u32,
    },
}

/// One end's state of a channel. It serialises with serde so the caller can persist it (secret
/// keys inside: store it like the key file), and it never holds a message key that was used.
/// Long-term secrets stay in the [`Identity`] passed to each call.
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
    send: Chain,
    recv_root: Key,
    receiver: Receiver,
    own_ratchet: Vec<OwnRatchetKey>,
    peer_ratchet: PeerRatchetKey,
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
    /// The KEM key of this side's bundle the channel was opened with (epoch 0): its secret stays
    /// in the [`Identity`].
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

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &hex::encode(self.id))
            .field("role", &self.role)
            .field("peer", &self.peer)
            .field("send_epoch", &self.send.epoch)
            .field("recv_epoch", &self.receiver.chain.epoch)
            .finish()
    }
}

impl Channel {
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
            send: Chain::new(0, send_seed),
            recv_root: recv_root.clone(),
            receiver: Receiver::new(Chain::new(0, recv_seed)),
            own_ratchet: vec![OwnRatchetKey {
                id: 0,
                secret: RatchetSecret::Identity,
            }],
            peer_ratchet: PeerRatchetKey {
                id: 0,
                public: *peer.kem_key(),
            },
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

    /// This side's sending epoch (how many rekeys it has made).
    pub fn send_epoch(&self) -> u32 {
        self.send.epoch
    }

    /// The peer's sending epoch as this side has seen it.
    pub fn receive_epoch(&self) -> u32 {
        self.receiver.chain.epoch
    }

    /// The `ID0` tags to watch for this channel's incoming messages: the next [`WINDOW`] of the
    /// peer's current chain and the tags of skipped messages. Recompute after every unseal.
    pub fn watch_tags(&self) -> Vec<[u8; 32]> {
        self.receiver.watch_tags()
    }

    /// Seals `plaintext` into a message (unmined) for the peer; with `sign`, an ML-DSA signature
    /// of `peer fingerprint ‖ plaintext` travels inside the ciphertext.
    pub fn seal(
        &mut self,
        identity: &Identity,
        plaintext: &[u8],
        ttl: u32,
        blockhash: [u8; 4],
        sign: bool,
        rng: &mut impl CryptoRng,
    ) -> Result<Message, ChannelError> {
        let max = if sign {
            MAX_SIGNED_PLAINTEXT
        } else {
            MAX_PLAINTEXT
        };
        if plaintext.len() > max {
            return Err(ChannelError::PlaintextTooLarge {
                len: plaintext.len(),
                max,
                signed: sign,
            });
        }
        let signature = match sign {
            true => Some(identity.sign(
                &[&self.peer.0[..], plaintext].concat(),
                MESSAGE_CONTEXT,
                rng,
            )?),
            false => None,
        };
        let body = seal::encode_data(plaintext, signature.as_ref());
        self.seal_body(&body, ttl, blockhash, rng)
    }

    /// Steps this side's KEM ratchet: encapsulates to the peer's latest ratchet key, makes a
    /// fresh ratchet key of its own, and returns the signed rekey message (unmined), sealed on
    /// the current chain. Later messages use the new epoch.
    pub fn rekey(
        &mut self,
        identity: &Identity,
        ttl: u32,
        blockhash: [u8; 4],
        rng: &mut impl CryptoRng,
    ) -> Result<Message, ChannelError> {
        let peer_key = KemPublicKey::from_bytes(&self.peer_ratchet.public)
            .ok_or(ChannelError::State("the peer's ratchet key is malformed"))?;
        let (ct, ss) = peer_key.encapsulate(rng);
        let seed: Secret<KEM_SEED_LEN> = suite::random_secret(rng);
        let new_key = *KemKeyPair::from_seed(&seed).public();
        let new_epoch = self
            .send
            .epoch
            .checked_add(1)
            .ok_or(ChannelError::State("epoch counter exhausted"))?;
        let target = self.peer_ratchet.id;
        let hash = step_hash(&self.id, self.role, new_epoch, target, &ct, &new_key);
        let signature = identity.sign(&hash, REKEY_CONTEXT, rng)?;
        let body = seal::encode_rekey(&Rekey {
            target,
            ct: Box::new(ct),
            new_key: Box::new(new_key),
            signature: Box::new(signature),
        });
        let message = self.seal_body(&body, ttl, blockhash, rng)?;
        let (root, chain_seed) = ratchet(&self.send_root, &ss, &hash);
        self.send_root = root;
        self.send = Chain::new(new_epoch, &chain_seed);
        self.own_ratchet.insert(
            0,
            OwnRatchetKey {
                id: new_epoch,
                secret: RatchetSecret::Ephemeral(seed),
            },
        );
        self.own_ratchet.truncate(MAX_RATCHET_KEYS);
        Ok(message)
    }

    fn seal_body(
        &mut self,
        body: &[u8],
        ttl: u32,
        blockhash: [u8; 4],
        rng: &mut impl CryptoRng,
    ) -> Result<Message, ChannelError> {
        let (_, tag, key) = self.send.advance();
        let mut id = [0u8; ID_LEN];
        id[..32].copy_from_slice(&tag.0);
        rng.fill_bytes(&mut id[32..]);
        #[cfg(fuzzing)]
        let body = &fuzzing::edited(body);
        let payload = seal::seal(&key, &id, ttl, blockhash, body);
        Message::new(id, payload, ttl, blockhash)
            .map_err(|_| ChannelError::State("sealed message exceeds a payload"))
    }

    /// Opens a message of the peer's. Nothing changes unless it opens: a tampered, replayed or
    /// unknown message leaves the state as it was.
    pub fn unseal(
        &mut self,
        identity: &Identity,
        message: &Message,
    ) -> Result<Received, ChannelError> {
        let found = self.receiver.find(message.id0())?;
        let plaintext = seal::open(&found.key, message, message.payload())?;
        match seal::decode(&plaintext)? {
            Body::Data { data, signature } => {
                if let Some(signature) = &signature {
                    let signed = [&self.own.0[..], &data[..]].concat();
                    if !suite::verify(&self.peer_signing_key, &signed, MESSAGE_CONTEXT, signature) {
                        return Err(ChannelError::BadSignature("message"));
                    }
                }
                self.receiver.commit(found);
                Ok(Received::Data {
                    plaintext: data.to_vec(),
                    signature,
                })
            }
            Body::Rekey(rekey) => {
                if !found.current {
                    return Err(ChannelError::Malformed(
                        "rekey: sent on an epoch that already ended",
                    ));
                }
                let new_epoch = found
                    .epoch
                    .checked_add(1)
                    .ok_or(ChannelError::State("epoch counter exhausted"))?;
                let hash = step_hash(
                    &self.id,
                    self.role.peer(),
                    new_epoch,
                    rekey.target,
                    &rekey.ct,
                    &rekey.new_key,
                );
                if !suite::verify(
                    &self.peer_signing_key,
                    &hash,
                    REKEY_CONTEXT,
                    &rekey.signature,
                ) {
                    return Err(ChannelError::BadSignature("rekey"));
                }
                if KemPublicKey::from_bytes(&rekey.new_key).is_none() {
                    return Err(ChannelError::Malformed(
                        "rekey: the new ratchet key fails the ML-KEM check",
                    ));
                }
                let position = self
                    .own_ratchet
                    .iter()
                    .position(|key| key.id == rekey.target)
                    .ok_or(ChannelError::UnknownRatchetKey(rekey.target))?;
                let ss = match &self.own_ratchet[position].secret {
                    RatchetSecret::Identity => identity
                        .kem_key_of(&self.own)
                        .ok_or(ChannelError::UnknownRatchetKey(rekey.target))?
                        .decapsulate(&rekey.ct),
                    RatchetSecret::Ephemeral(seed) => {
                        KemKeyPair::from_seed(seed).decapsulate(&rekey.ct)
                    }
                };
                let (root, chain_seed) = ratchet(&self.recv_root, &ss, &hash);
                self.receiver.commit(found);
                self.receiver
                    .start_epoch(Chain::new(new_epoch, &chain_seed));
                self.recv_root = root;
                self.own_ratchet.truncate(position + 1);
                self.peer_ratchet = PeerRatchetKey {
                    id: new_epoch,
                    public: *rekey.new_key,
                };
                Ok(Received::Rekey { epoch: new_epoch })
            }
        }
    }
}

#[cfg(test)]
mod tests;
