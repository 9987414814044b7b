//! What can go wrong opening, sealing and unsealing.

use crate::bundle::BundleError;
use crate::identity::IdentityError;

/// Why a channel operation failed. Every variant says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A bundle or key body was refused.
    #[error("bundle refused: {0}")]
    Bundle(#[from] BundleError),
    /// The identity could not sign.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The plaintext does not fit one message.
    #[error("plaintext of {len} bytes exceeds the {max}-byte maximum{}", if *.signed { " for a signed message" } else { "" })]
    PlaintextTooLarge {
        /// Bytes offered.
        len: usize,
        /// The largest plaintext that fits.
        max: usize,
        /// Whether a signature was asked for.
        signed: bool,
    },
    /// The message's `ID0` is neither the control tag of the peer's current epoch, nor among the
    /// next [`super::WINDOW`] data tags of that epoch (none at epoch 0), nor a kept skipped key:
    /// it is further ahead than the window, from an epoch this side has not reached yet, a
    /// skipped message whose key expired, of another channel, or forged.
    #[error(
        "ID0 matches no key of this channel (epoch {epoch}, next index {next}, window {window}): \
         beyond the out-of-order window, from a later epoch, or not of this channel"
    )]
    UnknownTag {
        /// The peer's current epoch as this side knows it.
        epoch: u32,
        /// The next index this side expects.
        next: u64,
        /// How far ahead a message may be.
        window: u64,
    },
    /// Data cannot flow before the accept: epoch 0 carries only the open and the accept.
    #[error("the channel is not established: data and rekeys wait for the accept")]
    NotEstablished,
    /// This side already waits for the peer to acknowledge `max` rekeys.
    #[error("{max} rekeys already wait for the peer's acknowledgement; send data or wait")]
    TooManyUnacknowledged {
        /// How many unacknowledged rekeys a side may have.
        max: usize,
    },
    /// The frame's TTL has passed: it is refused, whatever it holds.
    #[error("the frame expired at {ttl} (now {now})")]
    Expired {
        /// The frame's TTL (unix seconds).
        ttl: u32,
        /// The time it was checked at.
        now: u64,
    },
    /// The message's tag was already used: a replay.
    #[error("replay: a message with this ID0 was already opened")]
    Replay,
    /// The AEAD tag did not verify under the key the message's `ID0` names.
    #[error("the message does not authenticate: its payload, ID, TTL or blockhash was altered")]
    Tampered,
    /// The authenticated plaintext is not well formed (a faulty or hostile peer).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// An ML-DSA signature did not verify under the peer's key.
    #[error("the {0} signature does not verify under the peer's signing key")]
    BadSignature(&'static str),
    /// A rekey names a ratchet key this side no longer (or never) held.
    #[error("the rekey targets ratchet key {0}, which this side does not hold")]
    UnknownRatchetKey(u32),
    /// Deserialised channel state is inconsistent.
    #[error("invalid channel state: {0}")]
    State(&'static str),
}
