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
    /// The message's `ID0` is neither among the next [`super::WINDOW`] tags of the peer's
    /// current chain nor a kept skipped key: it is further ahead than the window, from an epoch
    /// this side has not reached yet, of another channel, or forged.
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
