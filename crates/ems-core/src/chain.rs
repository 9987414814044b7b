//! What validation asks of the chain: the head, and which block a 4-byte prefix names.
//!
//! [`StaticChain`], a chain of given blocks for tests, vectors and examples, lives here; the
//! backends with a source (a real `qrl-node`, the deterministic devnet) live in `ems-chain`.
//! Every method answers from memory: backends refresh in the background so that validation
//! never waits on the network.

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

/// A chain that always answers with the same blocks (or always says it is unavailable): the
/// `static` chain source, for tests, test vectors and examples.
#[derive(Clone, Debug)]
pub struct StaticChain {
    blocks: Result<Vec<BlockRef>, ChainError>,
}

impl StaticChain {
    /// A chain whose head is one block.
    pub fn new(height: u64, prefix: [u8; 4], time: u64) -> Self {
        Self::from_blocks(vec![BlockRef {
            height,
            prefix,
            time,
        }])
    }

    /// A chain of these blocks; the head is the highest.
    pub fn from_blocks(blocks: Vec<BlockRef>) -> Self {
        StaticChain { blocks: Ok(blocks) }
    }

    /// A chain that answers every question with [`ChainError::Unavailable`].
    pub fn unavailable(reason: &str) -> Self {
        StaticChain {
            blocks: Err(ChainError::Unavailable(reason.to_string())),
        }
    }

    fn blocks(&self) -> Result<&[BlockRef], ChainError> {
        self.blocks.as_deref().map_err(Clone::clone)
    }
}

impl ChainView for StaticChain {
    fn source(&self) -> String {
        "static".into()
    }

    fn head(&self, _now: u64) -> Result<BlockRef, ChainError> {
        self.blocks()?
            .iter()
            .max_by_key(|b| b.height)
            .copied()
            .ok_or_else(|| ChainError::Unavailable("the static chain has no blocks".into()))
    }

    fn find(&self, prefix: [u8; 4], _now: u64) -> Result<Option<BlockRef>, ChainError> {
        Ok(self
            .blocks()?
            .iter()
            .filter(|b| b.prefix == prefix)
            .max_by_key(|b| b.height)
            .copied())
    }
}

#[cfg(test)]
mod static_chain_tests {
    use super::*;

    fn block(height: u64, prefix: u8) -> BlockRef {
        BlockRef {
            height,
            prefix: [prefix; 4],
            time: 1000 + height,
        }
    }

    #[test]
    fn head_is_the_highest_block_and_find_the_newest_match() {
        let c = StaticChain::from_blocks(vec![block(5, 1), block(9, 2), block(7, 1)]);
        assert_eq!(c.head(0).unwrap(), block(9, 2));
        assert_eq!(c.find([1; 4], 0).unwrap(), Some(block(7, 1)));
        assert_eq!(c.find([3; 4], 0).unwrap(), None);
    }

    #[test]
    fn unavailable_chain_says_why() {
        let c = StaticChain::unavailable("test");
        assert_eq!(c.head(0), Err(ChainError::Unavailable("test".into())));
        assert!(c.find([0; 4], 0).is_err());
        assert!(StaticChain::from_blocks(vec![]).head(0).is_err());
    }
}
