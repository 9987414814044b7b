//! Whether a relay accepts a frame: format, lifetime, chain binding, proof of work.
//!
//! Checks run cheapest first, so a flood of bad frames costs a node as little as possible:
//! lengths (while decoding), TTL against the clock, the algorithm byte against the policy, the
//! block-hash prefix against the cached chain, and only then the digest and the proof hash.

use crate::chain::{ChainError, ChainView};
use crate::message::{DecodeError, Message, MAX_PAYLOAD};
use crate::policy::Policy;
use ems_pow::{Algorithm, PowError};

/// Where a message comes from, which decides how recent its block must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Gossip and API submissions: the BLOCKHASH must be one of the last `block_depth`
    /// blocks, so nobody can pre-mine a stock of messages for a later flood.
    Live,
    /// History handed over by sync: the block may be older than `block_depth`, but must be a
    /// real block within `max_ttl` of now, and the TTL may not outlive it by more than
    /// `max_ttl`.
    History,
}

/// Why a node refuses a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// The bytes are not a v1 frame.
    #[error("malformed frame: {0}")]
    Malformed(DecodeError),
    /// The payload or frame is larger than the protocol allows.
    #[error("payload of {len} bytes exceeds the {MAX_PAYLOAD}-byte maximum")]
    PayloadTooLarge {
        /// The payload or frame length offered.
        len: usize,
    },
    /// The TTL has passed.
    #[error("expired: TTL {ttl} is before now ({now}) less the clock skew allowance")]
    Expired {
        /// The message's TTL.
        ttl: u32,
        /// The node's time.
        now: u64,
    },
    /// The TTL is further ahead than the policy allows.
    #[error("TTL {ttl} is more than max_ttl past now (latest accepted {latest})")]
    TtlTooFar {
        /// The message's TTL.
        ttl: u32,
        /// The latest TTL accepted now.
        latest: u64,
    },
    /// The BLOCKHASH is not a recent enough block.
    #[error("blockhash {} is not {}", hex4(.prefix), .why)]
    StaleBlockhash {
        /// The prefix the message carries.
        prefix: [u8; 4],
        /// What was wrong with it.
        why: &'static str,
    },
    /// The chain source cannot tell whether the BLOCKHASH is recent.
    #[error("{0}")]
    ChainUnavailable(ChainError),
    /// The proof uses an algorithm this node does not accept.
    #[error("proof-of-work algorithm 0x{algorithm:02x} is not accepted by this node")]
    UnsupportedPow {
        /// The algorithm byte.
        algorithm: u8,
    },
    /// The proof does not show the work this size and lifetime require.
    #[error("insufficient work: {0}")]
    InsufficientWork(PowError),
}

fn hex4(b: &[u8; 4]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Reject {
    /// The stable snake_case code the HTTP API and metrics use for this reason.
    pub fn code(&self) -> &'static str {
        match self {
            Reject::Malformed(_) => "malformed",
            Reject::PayloadTooLarge { .. } => "too_large",
            Reject::Expired { .. } => "expired",
            Reject::TtlTooFar { .. } => "ttl_too_far",
            Reject::StaleBlockhash { .. } => "stale_blockhash",
            Reject::ChainUnavailable(_) => "chain_unavailable",
            Reject::UnsupportedPow { .. } => "unsupported_pow",
            Reject::InsufficientWork(_) => "insufficient_work",
        }
    }
}

impl From<DecodeError> for Reject {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::PayloadTooLarge { len } | DecodeError::FrameTooLarge { len } => {
                Reject::PayloadTooLarge { len }
            }
            other => Reject::Malformed(other),
        }
    }
}

/// Applies a [`Policy`] to frames.
#[derive(Clone, Debug)]
pub struct Validator {
    policy: Policy,
}

impl Validator {
    /// A validator for `policy`.
    pub fn new(policy: Policy) -> Self {
        Validator { policy }
    }

    /// The policy applied.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decodes and validates wire bytes; returns the message if the node accepts it.
    pub fn validate_bytes(
        &self,
        bytes: &[u8],
        chain: &dyn ChainView,
        now: u64,
        context: Context,
    ) -> Result<Message, Reject> {
        let msg = Message::decode(bytes)?;
        self.validate(&msg, chain, now, context)?;
        Ok(msg)
    }

    /// Validates a decoded message at time `now` (unix seconds).
    pub fn validate(
        &self,
        msg: &Message,
        chain: &dyn ChainView,
        now: u64,
        context: Context,
    ) -> Result<(), Reject> {
        let limits = &self.policy.limits;
        let ttl = u64::from(msg.ttl());
        if ttl.saturating_add(limits.clock_skew) <= now {
            return Err(Reject::Expired {
                ttl: msg.ttl(),
                now,
            });
        }
        let latest = now + limits.max_ttl + limits.clock_skew;
        if ttl > latest {
            return Err(Reject::TtlTooFar {
                ttl: msg.ttl(),
                latest,
            });
        }
        let algorithm = Algorithm::from_id(msg.pow().algorithm)
            .filter(|a| self.policy.accepts(*a))
            .ok_or(Reject::UnsupportedPow {
                algorithm: msg.pow().algorithm,
            })?;
        self.check_blockhash(msg, chain, now, context)?;
        // The receiver gives the sender the benefit of the clock skew: the lifetime it charges
        // for is never longer than the one the sender saw when mining.
        let lifetime = ttl.saturating_sub(now + limits.clock_skew);
        let target = self.policy.target(algorithm, msg.encoded_len(), lifetime);
        ems_pow::verify(algorithm, &msg.digest(), &msg.pow().proof, target)
            .map_err(Reject::InsufficientWork)
    }

    /// Whether `msg`'s BLOCKHASH passes the live rule now (one of the newest `block_depth`
    /// blocks of `chain`), without checking anything else again: a relay gossips on only
    /// history frames that would also be valid live.
    pub fn blockhash_is_live(&self, msg: &Message, chain: &dyn ChainView, now: u64) -> bool {
        self.check_blockhash(msg, chain, now, Context::Live).is_ok()
    }

    fn check_blockhash(
        &self,
        msg: &Message,
        chain: &dyn ChainView,
        now: u64,
        context: Context,
    ) -> Result<(), Reject> {
        let prefix = msg.blockhash();
        let stale = |why| Reject::StaleBlockhash { prefix, why };
        let head = chain.head(now).map_err(Reject::ChainUnavailable)?;
        let block = chain
            .find(prefix, now)
            .map_err(Reject::ChainUnavailable)?
            .ok_or_else(|| stale("the prefix of any recent block"))?;
        let limits = &self.policy.limits;
        match context {
            Context::Live => {
                if head.height.saturating_sub(block.height) >= limits.block_depth {
                    return Err(stale("within block_depth of the chain head"));
                }
            }
            Context::History => {
                let horizon = block.time.saturating_add(limits.max_ttl);
                if horizon.saturating_add(limits.clock_skew) < now {
                    return Err(stale("a block within max_ttl of now"));
                }
                if u64::from(msg.ttl()) > horizon {
                    return Err(stale("a block within max_ttl before the TTL"));
                }
            }
        }
        Ok(())
    }
}
