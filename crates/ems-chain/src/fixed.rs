//! A chain of fixed blocks, for tests and test vectors.

use ems_core::{BlockRef, ChainError, ChainView};

/// A chain that always answers with the same blocks (or always says it is unavailable).
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
mod tests {
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
