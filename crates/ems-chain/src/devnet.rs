//! The embedded devnet chain: block hashes computed from a genesis seed, no coordination.
//!
//! Block `h` has header hash `SHA2-256("ems-devnet-v1" ‖ seed ‖ h as u64 big-endian)` and time
//! `genesis_time + h × block_interval`; the head at time `now` is
//! `floor((now − genesis_time) / block_interval)`. Nodes that share the three parameters agree
//! on every block.

use ems_core::{BlockRef, ChainError, ChainView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Domain separation for devnet header hashes.
const DOMAIN: &[u8] = b"ems-devnet-v1";

/// The parameters every node of one devnet shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevnetConfig {
    /// Genesis seed, any string (hashed to 32 bytes).
    pub genesis_seed: String,
    /// Unix time of block 0.
    pub genesis_time: u64,
    /// Seconds between blocks (at least 1).
    pub block_interval: u64,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        DevnetConfig {
            genesis_seed: "ems devnet".into(),
            // 2026-01-01T00:00:00Z
            genesis_time: 1_767_225_600,
            block_interval: 10,
        }
    }
}

/// A deterministic chain. Lookups of a prefix are answered from a sliding index of the blocks
/// within the window given at construction, extended as time advances.
#[derive(Debug)]
pub struct DevnetChain {
    seed: [u8; 32],
    genesis_time: u64,
    interval: u64,
    window_blocks: u64,
    index: Mutex<PrefixIndex>,
}

/// The newest height for each prefix among the last `window_blocks` blocks.
#[derive(Debug, Default)]
struct PrefixIndex {
    /// Heights in the index, oldest first, with their prefixes.
    blocks: VecDeque<(u64, [u8; 4])>,
    newest: HashMap<[u8; 4], u64>,
}

impl DevnetChain {
    /// A devnet that can answer for blocks up to `window_secs` old (use the policy's
    /// `max_ttl` plus `clock_skew`, so history validation finds every block it needs).
    pub fn new(config: &DevnetConfig, window_secs: u64) -> Self {
        let interval = config.block_interval.max(1);
        DevnetChain {
            seed: Sha256::digest(config.genesis_seed.as_bytes()).into(),
            genesis_time: config.genesis_time,
            interval,
            window_blocks: window_secs / interval + 2,
            index: Mutex::default(),
        }
    }

    /// The full 32-byte header hash of block `height`.
    pub fn header_hash(&self, height: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(self.seed);
        h.update(height.to_be_bytes());
        h.finalize().into()
    }

    /// Block `height` as validation sees it.
    pub fn block(&self, height: u64) -> BlockRef {
        let hash = self.header_hash(height);
        BlockRef {
            height,
            prefix: [hash[0], hash[1], hash[2], hash[3]],
            time: self.genesis_time + height * self.interval,
        }
    }

    fn height_at(&self, now: u64) -> u64 {
        now.saturating_sub(self.genesis_time) / self.interval
    }
}

impl ChainView for DevnetChain {
    fn source(&self) -> String {
        "devnet".into()
    }

    fn head(&self, now: u64) -> Result<BlockRef, ChainError> {
        Ok(self.block(self.height_at(now)))
    }

    fn find(&self, prefix: [u8; 4], now: u64) -> Result<Option<BlockRef>, ChainError> {
        let head = self.height_at(now);
        let oldest = head.saturating_sub(self.window_blocks - 1);
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let next = index
            .blocks
            .back()
            .map_or(oldest, |(h, _)| h + 1)
            .max(oldest);
        for height in next..=head {
            let block = self.block(height);
            index.blocks.push_back((height, block.prefix));
            index.newest.insert(block.prefix, height);
        }
        while let Some(&(height, p)) = index.blocks.front() {
            if height >= oldest {
                break;
            }
            index.blocks.pop_front();
            if index.newest.get(&p) == Some(&height) {
                index.newest.remove(&p);
            }
        }
        Ok(index
            .newest
            .get(&prefix)
            .filter(|&&h| h <= head)
            .map(|&h| self.block(h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> DevnetChain {
        DevnetChain::new(&DevnetConfig::default(), 3_600)
    }

    #[test]
    fn two_nodes_with_the_same_genesis_agree() {
        let (a, b) = (chain(), chain());
        for h in [0, 1, 1000, 123_456] {
            assert_eq!(a.block(h), b.block(h));
        }
        let other = DevnetChain::new(
            &DevnetConfig {
                genesis_seed: "other".into(),
                ..DevnetConfig::default()
            },
            3_600,
        );
        assert_ne!(a.block(5).prefix, other.block(5).prefix);
    }

    #[test]
    fn head_follows_the_clock() {
        let c = chain();
        let g = DevnetConfig::default().genesis_time;
        assert_eq!(c.head(g).unwrap().height, 0);
        assert_eq!(c.head(g + 95).unwrap().height, 9);
        assert_eq!(c.head(g + 95).unwrap().time, g + 90);
        assert_eq!(c.head(g - 5).unwrap().height, 0);
    }

    #[test]
    fn find_returns_blocks_in_the_window_and_forgets_older_ones() {
        let c = chain();
        let g = DevnetConfig::default().genesis_time;
        let now = g + 100_000;
        let head = c.head(now).unwrap();
        assert_eq!(c.find(head.prefix, now).unwrap(), Some(head));
        let hour_ago = c.block(head.height - 350);
        assert_eq!(c.find(hour_ago.prefix, now).unwrap(), Some(hour_ago));
        let too_old = c.block(head.height - 400);
        assert_eq!(c.find(too_old.prefix, now).unwrap(), None);
        // As time moves on the index slides: the hour-old block falls out.
        assert_eq!(c.find(hour_ago.prefix, now + 1_000).unwrap(), None);
        assert_eq!(c.find([0xde, 0xad, 0xbe, 0xef], now).unwrap(), None);
    }

    #[test]
    fn find_does_not_answer_with_future_blocks_when_asked_about_an_earlier_time() {
        let c = chain();
        let g = DevnetConfig::default().genesis_time;
        let later = c.head(g + 10_000).unwrap();
        c.find(later.prefix, g + 10_000).unwrap();
        assert_eq!(c.find(later.prefix, g + 9_000).unwrap(), None);
    }
}
