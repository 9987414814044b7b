//! The seen-set: digests of the valid messages this node accepted, for as long as a copy could
//! still pass live validation, so that no message is accepted (forwarded, announced) twice.
//!
//! Gossipsub's own duplicate cache forgets an id after a minute; a frame's live window lasts
//! until its block is `block_depth` blocks deep (about 30 minutes on mainnet) or its TTL
//! passes, whichever is first. An entry is dropped once either has happened. The set is
//! bounded: when full, the oldest entry goes first (O(1)); a replay of a message evicted that
//! way is still caught by the store when the node keeps it.

use hashlink::LinkedHashMap;

#[derive(Clone, Copy, Debug)]
struct Until {
    /// Unix time after which the TTL check refuses the frame.
    time: u64,
    /// Chain height at which its block is too deep for live validation.
    height: u64,
}

/// Digests seen, oldest first.
#[derive(Debug)]
pub(crate) struct Seen {
    capacity: usize,
    entries: LinkedHashMap<[u8; 32], Until>,
}

impl Seen {
    pub(crate) fn new(capacity: usize) -> Self {
        Seen {
            capacity: capacity.max(1),
            entries: LinkedHashMap::new(),
        }
    }

    /// Whether `digest` was accepted and could still be live.
    pub(crate) fn contains(&self, digest: &[u8; 32]) -> bool {
        self.entries.contains_key(digest)
    }

    /// Remembers `digest` until unix time `time` or chain height `height`, whichever is first.
    /// Returns false if it was already there.
    pub(crate) fn insert(&mut self, digest: [u8; 32], time: u64, height: u64) -> bool {
        if self.entries.contains_key(&digest) {
            return false;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.insert(digest, Until { time, height });
        true
    }

    /// Drops entries from the oldest while they are past their window at `now` and chain
    /// height `head`. Entries arrive roughly in window order, so this stops at the first one
    /// still live; an older-window entry behind it waits for the next call or for eviction.
    pub(crate) fn prune(&mut self, now: u64, head: u64) {
        while let Some((_, until)) = self.entries.front() {
            if until.time > now && until.height > head {
                break;
            }
            self.entries.pop_front();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_seen_until_its_ttl_or_its_block_depth() {
        let mut seen = Seen::new(16);
        assert!(seen.insert([1; 32], 1_000, 50));
        assert!(!seen.insert([1; 32], 1_000, 50), "already there");
        assert!(seen.insert([2; 32], 2_000, 60));
        seen.prune(999, 49);
        assert!(seen.contains(&[1; 32]) && seen.contains(&[2; 32]));
        seen.prune(1_000, 49);
        assert!(!seen.contains(&[1; 32]), "TTL passed");
        assert!(seen.contains(&[2; 32]));
        seen.prune(1_500, 60);
        assert!(!seen.contains(&[2; 32]), "block too deep");
        assert_eq!(seen.len(), 0);
    }

    #[test]
    fn a_full_set_forgets_the_oldest_first() {
        let mut seen = Seen::new(2);
        seen.insert([1; 32], u64::MAX, u64::MAX);
        seen.insert([2; 32], u64::MAX, u64::MAX);
        seen.insert([3; 32], u64::MAX, u64::MAX);
        assert_eq!(seen.len(), 2);
        assert!(!seen.contains(&[1; 32]));
        assert!(seen.contains(&[2; 32]) && seen.contains(&[3; 32]));
    }
}
