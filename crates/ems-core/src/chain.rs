//! What validation asks of the chain: the head, and which block a 4-byte prefix names.
//!
//! Backends live in `ems-chain` (a real `qrl-node`, the deterministic devnet, a static chain
//! for tests). Every method answers from memory: backends refresh in the background so that
//! validation never waits on the network.

/// A block as validation needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Block number.
    pub height: u64,
    /// First four bytes of the block's header hash.
    pub prefix: [u8; 4],
    /// Block time, unix seconds.
    pub time: u64,
}

/// The chain cannot answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// No chain source is reachable, or what is cached is too old to trust.
    #[error("chain unavailable: {0}")]
    Unavailable(String),
}

/// A view of the chain a node validates against.
pub trait ChainView: Send + Sync {
    /// A short description of the source (`devnet`, `static`, `qrl://host:port`).
    fn source(&self) -> String;

    /// The newest block as of `now` (unix seconds), or why the chain cannot be trusted.
    fn head(&self, now: u64) -> Result<BlockRef, ChainError>;

    /// The newest known block whose header hash begins with `prefix`, among the blocks the
    /// backend keeps (at least those whose time is within `policy.max_ttl` of `now`).
    fn find(&self, prefix: [u8; 4], now: u64) -> Result<Option<BlockRef>, ChainError>;

    /// Whether the source is healthy at `now`, for status and metrics. By default, whether it
    /// can name a head; a backend that keeps serving cached blocks for a grace period after its
    /// source fails says `false` during that period while `head` still answers.
    fn healthy(&self, now: u64) -> bool {
        self.head(now).is_ok()
    }
}

impl<T: ChainView + ?Sized> ChainView for std::sync::Arc<T> {
    fn source(&self) -> String {
        (**self).source()
    }
    fn head(&self, now: u64) -> Result<BlockRef, ChainError> {
        (**self).head(now)
    }
    fn find(&self, prefix: [u8; 4], now: u64) -> Result<Option<BlockRef>, ChainError> {
        (**self).find(prefix, now)
    }
    fn healthy(&self, now: u64) -> bool {
        (**self).healthy(now)
    }
}
