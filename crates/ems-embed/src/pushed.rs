//! [`PushedChain`]: a chain view the host feeds with the blocks it already has.
//!
//! A node that embeds EMS knows its chain better than any client of it could: it pushes each
//! block as it is added (height, header hash, time) and validation answers from memory, never
//! calling back into the host. Pushing a height again with a different hash is a reorg: every
//! block above it is dropped until the host pushes the new branch.

use ems_core::{BlockRef, ChainError, ChainView};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

/// Most blocks kept, whatever their times, so a host that pushes absurd times cannot make the
/// view grow without bound (a day of one-second blocks fits).
pub const MAX_BLOCKS: usize = 1 << 17;

/// How a [`PushedChain`] decides what to keep and when to stop trusting itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedConfig {
    /// The source name shown in status (`qrl-node (embedded)`, `host`).
    pub source: String,
    /// Seconds of block time kept below the newest block: at least the policy's
    /// `max_ttl + clock_skew`, so history sync can be validated.
    pub window: u64,
    /// The view reports the chain unavailable when nothing was pushed for this many seconds
    /// (0: never), so a stalled host makes the relay refuse messages instead of accepting
    /// prefixes of a chain that has moved on.
    pub stale_after: u64,
}

impl Default for PushedConfig {
    fn default() -> Self {
        PushedConfig {
            source: "host".into(),
            window: 86_400 + 60,
            stale_after: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Blocks {
    by_height: BTreeMap<u64, BlockRef>,
    by_prefix: HashMap<[u8; 4], BTreeSet<u64>>,
    /// Host wall-clock time of the last push, unix seconds.
    last_push: u64,
}

impl Blocks {
    fn remove(&mut self, height: u64) {
        if let Some(b) = self.by_height.remove(&height) {
            if let Some(set) = self.by_prefix.get_mut(&b.prefix) {
                set.remove(&height);
                if set.is_empty() {
                    self.by_prefix.remove(&b.prefix);
                }
            }
        }
    }
}

/// A chain view fed by the host (see the module docs).
#[derive(Debug)]
pub struct PushedChain {
    config: PushedConfig,
    blocks: RwLock<Blocks>,
}

/// What one [`PushedChain::push`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// The block was not known before (false when the same block was pushed again).
    pub added: bool,
    /// Blocks dropped because this one replaced their branch (a reorg).
    pub dropped: usize,
}

impl PushedChain {
    /// An empty view: it says the chain is unavailable until the first block is pushed.
    pub fn new(config: PushedConfig) -> Self {
        PushedChain {
            config,
            blocks: RwLock::new(Blocks::default()),
        }
    }

    /// Records block `height` with header hash `hash` (at least its first 4 bytes) and block
    /// time `time`, at host time `now`. Pushing a known block again is a no-op; pushing a
    /// height with a different hash drops every block above it (a reorg).
    pub fn push(
        &self,
        height: u64,
        hash: &[u8],
        time: u64,
        now: u64,
    ) -> Result<PushOutcome, crate::Error> {
        let prefix: [u8; 4] = hash
            .get(..4)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| {
                crate::Error::invalid(format!(
                    "block hash of {} bytes: at least 4 are needed",
                    hash.len()
                ))
            })?;
        let block = BlockRef {
            height,
            prefix,
            time,
        };
        let mut b = self.blocks.write().unwrap_or_else(|e| e.into_inner());
        b.last_push = now;
        let mut out = PushOutcome::default();
        match b.by_height.get(&height) {
            Some(known) if *known == block => return Ok(out),
            Some(_) => {
                let above: Vec<u64> = b.by_height.range(height..).map(|(h, _)| *h).collect();
                out.dropped = above.len().saturating_sub(1);
                for h in above {
                    b.remove(h);
                }
            }
            None => {}
        }
        b.by_height.insert(height, block);
        b.by_prefix.entry(prefix).or_default().insert(height);
        out.added = true;
        // Keep the window below the newest block, and never more than MAX_BLOCKS.
        let newest = b.by_height.values().next_back().map_or(0, |b| b.time);
        let keep_from = newest.saturating_sub(self.config.window);
        while let Some((&h, oldest)) = b.by_height.iter().next() {
            if oldest.time >= keep_from && b.by_height.len() <= MAX_BLOCKS {
                break;
            }
            b.remove(h);
        }
        Ok(out)
    }

    /// Number of blocks kept.
    pub fn len(&self) -> usize {
        self.read().by_height.len()
    }

    /// Whether no block is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Blocks> {
        self.blocks.read().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, b: &Blocks, now: u64) -> Result<(), ChainError> {
        let stale = self.config.stale_after;
        if stale > 0 && now.saturating_sub(b.last_push) > stale {
            return Err(ChainError::Unavailable(format!(
                "the host has pushed no block for {} s (stale_after = {stale} s)",
                now.saturating_sub(b.last_push)
            )));
        }
        Ok(())
    }
}

impl ChainView for PushedChain {
    fn source(&self) -> String {
        self.config.source.clone()
    }

    fn head(&self, now: u64) -> Result<BlockRef, ChainError> {
        let b = self.read();
        let head =
            b.by_height.values().next_back().copied().ok_or_else(|| {
                ChainError::Unavailable("the host has pushed no block yet".into())
            })?;
        self.check(&b, now)?;
        Ok(head)
    }

    fn find(&self, prefix: [u8; 4], now: u64) -> Result<Option<BlockRef>, ChainError> {
        let b = self.read();
        self.check(&b, now)?;
        Ok(b.by_prefix
            .get(&prefix)
            .and_then(|set| set.iter().next_back())
            .and_then(|h| b.by_height.get(h))
            .copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(window: u64, stale_after: u64) -> PushedChain {
        PushedChain::new(PushedConfig {
            source: "test".into(),
            window,
            stale_after,
        })
    }

    #[test]
    fn empty_view_is_unavailable_until_a_block_is_pushed() {
        let c = chain(100, 0);
        assert!(c.head(0).is_err());
        c.push(1, &[1, 2, 3, 4, 5], 10, 10).unwrap();
        assert_eq!(c.head(10).unwrap().prefix, [1, 2, 3, 4]);
        assert_eq!(c.find([1, 2, 3, 4], 10).unwrap().unwrap().height, 1);
        assert_eq!(c.find([9; 4], 10).unwrap(), None);
    }

    #[test]
    fn a_hash_shorter_than_the_prefix_is_refused() {
        let e = chain(100, 0).push(1, &[1, 2, 3], 10, 10).unwrap_err();
        assert_eq!(e.code, crate::Code::InvalidArgument);
    }

    #[test]
    fn pushing_the_same_block_again_changes_nothing() {
        let c = chain(100, 0);
        c.push(1, &[1; 4], 10, 10).unwrap();
        c.push(2, &[2; 4], 20, 20).unwrap();
        let again = c.push(1, &[1; 4], 10, 21).unwrap();
        assert_eq!(again, PushOutcome::default());
        assert_eq!(c.head(21).unwrap().height, 2);
    }

    #[test]
    fn a_different_hash_at_a_known_height_drops_the_old_branch() {
        let c = chain(1000, 0);
        for h in 1..=5u8 {
            c.push(u64::from(h), &[h; 4], u64::from(h) * 10, 50)
                .unwrap();
        }
        let out = c.push(3, &[33; 4], 30, 60).unwrap();
        assert_eq!(
            out,
            PushOutcome {
                added: true,
                dropped: 2
            }
        );
        assert_eq!(c.head(60).unwrap().height, 3);
        assert_eq!(c.find([4; 4], 60).unwrap(), None);
        assert_eq!(c.find([3; 4], 60).unwrap(), None);
        assert_eq!(c.find([33; 4], 60).unwrap().unwrap().height, 3);
    }

    #[test]
    fn blocks_older_than_the_window_are_forgotten() {
        let c = chain(100, 0);
        c.push(1, &[1; 4], 1000, 1000).unwrap();
        c.push(2, &[2; 4], 1050, 1050).unwrap();
        c.push(3, &[3; 4], 1101, 1101).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.find([1; 4], 1101).unwrap(), None);
        assert!(c.find([2; 4], 1101).unwrap().is_some());
    }

    #[test]
    fn the_newest_block_with_a_prefix_wins() {
        let c = chain(1000, 0);
        c.push(1, &[7; 4], 10, 10).unwrap();
        c.push(2, &[8; 4], 20, 20).unwrap();
        c.push(3, &[7; 4], 30, 30).unwrap();
        assert_eq!(c.find([7; 4], 30).unwrap().unwrap().height, 3);
    }

    #[test]
    fn a_host_that_stops_pushing_makes_the_view_unavailable() {
        let c = chain(1000, 30);
        c.push(1, &[1; 4], 100, 100).unwrap();
        assert!(c.head(130).is_ok());
        assert!(c.head(131).is_err());
        assert!(c.find([1; 4], 131).is_err());
        assert!(!c.healthy(131));
        c.push(2, &[2; 4], 131, 131).unwrap();
        assert!(c.healthy(131));
    }

    #[test]
    fn the_view_never_holds_more_than_max_blocks() {
        let c = chain(u64::MAX, 0);
        for h in 0..(MAX_BLOCKS as u64 + 10) {
            c.push(h, &h.to_be_bytes()[4..], 5, 5).unwrap();
        }
        assert_eq!(c.len(), MAX_BLOCKS);
        assert_eq!(c.head(5).unwrap().height, MAX_BLOCKS as u64 + 9);
    }
}
