//! The blocks the backend keeps: a contiguous run of checked headers ending at the head, with an
//! index from 4-byte prefix to height, spanning the history window.
//!
//! The window is pure data: the refresh task feeds it pages of headers fetched from the node and
//! it decides whether they extend, replace (reorg) or precede what it holds.

use ems_core::BlockRef;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Most blocks kept whatever the window's span, so a node that reports absurd block times cannot
/// make the cache grow without bound (a day of one-second blocks fits).
pub(crate) const MAX_BLOCKS: usize = 1 << 17;

/// A block header as fetched and checked: the full hashes are kept to link pages and detect
/// reorgs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Block number.
    pub height: u64,
    /// Header hash.
    pub hash: [u8; 32],
    /// Header hash of the parent block.
    pub prev: [u8; 32],
    /// Block time, unix seconds.
    pub time: u64,
}

impl Header {
    /// The block as validation sees it.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef {
            height: self.height,
            prefix: [self.hash[0], self.hash[1], self.hash[2], self.hash[3]],
            time: self.time,
        }
    }
}

/// Where a run of newer headers (oldest first, linked among themselves) fits the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fit {
    /// Its first header's parent is in the window: splice it on there.
    Links,
    /// It reaches genesis, lies wholly below the window, or the window is empty: it replaces the
    /// window.
    Replaces,
    /// Its first header's parent is missing from the window or differs from it (a gap or a reorg
    /// deeper than the run): fetch the headers below it first.
    NeedsOlder,
}

/// What a splice changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Spliced {
    /// Headers that were not in the window before.
    pub added: usize,
    /// Headers dropped because the chain replaced them (a reorg).
    pub reorged: usize,
}

/// The kept headers, oldest first, heights contiguous.
#[derive(Debug, Default)]
pub(crate) struct Window {
    blocks: VecDeque<Header>,
    by_prefix: HashMap<[u8; 4], BTreeSet<u64>>,
}

impl Window {
    /// The newest header.
    pub fn tip(&self) -> Option<&Header> {
        self.blocks.back()
    }

    /// The oldest header kept.
    pub fn oldest(&self) -> Option<&Header> {
        self.blocks.front()
    }

    /// Number of headers kept.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// The header at `height`, if kept.
    pub fn get(&self, height: u64) -> Option<&Header> {
        let oldest = self.oldest()?.height;
        let index = usize::try_from(height.checked_sub(oldest)?).ok()?;
        self.blocks.get(index)
    }

    /// The newest kept block whose hash begins with `prefix`.
    pub fn find(&self, prefix: [u8; 4]) -> Option<BlockRef> {
        let height = *self.by_prefix.get(&prefix)?.last()?;
        self.get(height).map(Header::block_ref)
    }

    /// The median of the seconds between consecutive blocks among the newest (up to) 100 kept,
    /// if two or more are kept. The median, not the mean: mining is bursty, and genesis often
    /// carries a time far older than the block after it.
    pub fn block_interval(&self) -> Option<u64> {
        let newest: Vec<u64> = self.blocks.iter().rev().take(101).map(|h| h.time).collect();
        let mut gaps: Vec<u64> = newest
            .windows(2)
            .map(|pair| pair[0].saturating_sub(pair[1]))
            .collect();
        if gaps.is_empty() {
            return None;
        }
        let middle = gaps.len() / 2;
        Some(*gaps.select_nth_unstable(middle).1)
    }

    /// Where `run` (non-empty, oldest first, linked) fits.
    pub fn fit(&self, run: &[Header]) -> Fit {
        let Some(first) = run.first() else {
            return Fit::Links;
        };
        let Some(oldest) = self.oldest() else {
            return Fit::Replaces;
        };
        if first.height == 0 || first.height <= oldest.height {
            return Fit::Replaces;
        }
        match self.get(first.height - 1) {
            Some(parent) if parent.hash == first.prev => Fit::Links,
            _ => Fit::NeedsOlder,
        }
    }

    /// Puts `run` (oldest first, linked) in the window: after its parent when [`Window::fit`]
    /// says it links, dropping whatever the window held from that height up; otherwise in place of
    /// everything.
    pub fn splice(&mut self, run: Vec<Header>) -> Spliced {
        let Some(first) = run.first() else {
            return Spliced::default();
        };
        let keep = match self.fit(&run) {
            Fit::Links => first.height - self.oldest().map_or(0, |o| o.height),
            Fit::Replaces | Fit::NeedsOlder => 0,
        };
        let dropped: Vec<Header> = self
            .blocks
            .drain(
                usize::try_from(keep)
                    .unwrap_or(usize::MAX)
                    .min(self.blocks.len())..,
            )
            .collect();
        let mut unchanged = 0;
        let mut reorged = 0;
        for old in &dropped {
            self.unindex(old);
            if run.iter().any(|h| h == old) {
                unchanged += 1;
            } else {
                reorged += 1;
            }
        }
        let added = run.len() - unchanged;
        for header in run {
            self.push_back(header);
        }
        self.trim_count();
        Spliced { added, reorged }
    }

    /// Puts `older` (oldest first, linked) before the oldest kept header, provided its last
    /// header is that header's parent; returns whether it did.
    pub fn prepend(&mut self, older: Vec<Header>) -> bool {
        let (Some(last), Some(oldest)) = (older.last(), self.oldest()) else {
            return false;
        };
        if last.height.checked_add(1) != Some(oldest.height) || last.hash != oldest.prev {
            return false;
        }
        for header in older.into_iter().rev() {
            self.index(&header);
            self.blocks.push_front(header);
        }
        self.trim_count();
        true
    }

    /// The height below which headers are still wanted: `Some(oldest height)` while the oldest
    /// kept block is not genesis and is not older than `keep_from` (unix seconds).
    pub fn wants_older(&self, keep_from: u64) -> Option<u64> {
        let oldest = self.oldest()?;
        (oldest.height > 0 && oldest.time >= keep_from && self.len() < MAX_BLOCKS)
            .then_some(oldest.height)
    }

    /// Drops headers older than `keep_from` (unix seconds), keeping the newest of those as the
    /// boundary so [`Window::wants_older`] stops asking for them, and always keeping the tip.
    pub fn trim(&mut self, keep_from: u64) {
        while self.blocks.len() > 1 && self.blocks.get(1).is_some_and(|h| h.time < keep_from) {
            self.pop_front();
        }
        self.trim_count();
    }

    /// What is wrong with the window, if anything: heights not contiguous, a header not linked
    /// to its parent, more than [`MAX_BLOCKS`] kept, or a prefix index that disagrees with the
    /// headers (for the fuzz targets, which feed it hostile answers).
    #[cfg(fuzzing)]
    pub(crate) fn invariant_violation(&self) -> Option<String> {
        if self.blocks.len() > MAX_BLOCKS {
            return Some(format!("{} blocks kept", self.blocks.len()));
        }
        for (parent, child) in self.blocks.iter().zip(self.blocks.iter().skip(1)) {
            if parent.height.checked_add(1) != Some(child.height) || parent.hash != child.prev {
                return Some(format!(
                    "block {} does not follow {}",
                    child.height, parent.height
                ));
            }
        }
        let indexed: usize = self.by_prefix.values().map(BTreeSet::len).sum();
        if indexed != self.blocks.len() {
            return Some(format!(
                "{indexed} index entries for {} blocks",
                self.blocks.len()
            ));
        }
        for header in &self.blocks {
            let prefix = header.block_ref().prefix;
            let newest = self.by_prefix.get(&prefix).and_then(|h| h.last().copied());
            if newest.is_none_or(|h| h < header.height) || self.find(prefix).is_none() {
                return Some(format!("block {} is not indexed", header.height));
            }
        }
        None
    }

    fn trim_count(&mut self) {
        while self.blocks.len() > MAX_BLOCKS {
            self.pop_front();
        }
    }

    fn push_back(&mut self, header: Header) {
        self.index(&header);
        self.blocks.push_back(header);
    }

    fn index(&mut self, header: &Header) {
        self.by_prefix
            .entry(header.block_ref().prefix)
            .or_default()
            .insert(header.height);
    }

    fn pop_front(&mut self) {
        if let Some(old) = self.blocks.pop_front() {
            self.unindex(&old);
        }
    }

    fn unindex(&mut self, header: &Header) {
        let prefix = header.block_ref().prefix;
        if let Some(heights) = self.by_prefix.get_mut(&prefix) {
            heights.remove(&header.height);
            if heights.is_empty() {
                self.by_prefix.remove(&prefix);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header hash of block `height` on fork `fork`: distinct per fork and height.
    fn hash(fork: u8, height: u64) -> [u8; 32] {
        let mut h = [fork; 32];
        h[1..4].copy_from_slice(&height.to_be_bytes()[5..]);
        h[4..12].copy_from_slice(&height.to_be_bytes());
        h
    }

    /// Blocks `from..=to` of `fork`, whose block `from` has the parent on `parent_fork`.
    fn run(fork: u8, parent_fork: u8, from: u64, to: u64) -> Vec<Header> {
        (from..=to)
            .map(|height| Header {
                height,
                hash: hash(fork, height),
                prev: match height {
                    0 => [0; 32],
                    h if h == from => hash(parent_fork, h - 1),
                    h => hash(fork, h - 1),
                },
                time: 1_000 + 10 * height,
            })
            .collect()
    }

    fn filled(from: u64, to: u64) -> Window {
        let mut w = Window::default();
        assert_eq!(w.fit(&run(1, 1, from, to)), Fit::Replaces);
        w.splice(run(1, 1, from, to));
        w
    }

    fn prefix(fork: u8, height: u64) -> [u8; 4] {
        let h = hash(fork, height);
        [h[0], h[1], h[2], h[3]]
    }

    #[test]
    fn newer_blocks_that_link_extend_the_window() {
        let mut w = filled(0, 10);
        let next = run(1, 1, 8, 15);
        assert_eq!(w.fit(&next), Fit::Links);
        assert_eq!(
            w.splice(next),
            Spliced {
                added: 5,
                reorged: 0
            }
        );
        assert_eq!(w.tip().unwrap().height, 15);
        assert_eq!(w.len(), 16);
        let b = w.find(prefix(1, 12)).unwrap();
        assert_eq!((b.height, b.time), (12, 1_120));
        assert_eq!(w.block_interval(), Some(10));
    }

    #[test]
    fn the_block_interval_is_the_median_gap_so_an_old_genesis_does_not_skew_it() {
        let mut blocks = run(1, 1, 0, 6);
        blocks[0].time = 0;
        for (b, time) in blocks[1..]
            .iter_mut()
            .zip([5_000, 5_001, 5_003, 5_004, 5_023, 5_025])
        {
            b.time = time;
        }
        let mut w = Window::default();
        assert_eq!(w.block_interval(), None);
        w.splice(blocks[..1].to_vec());
        assert_eq!(w.block_interval(), None);
        w.splice(blocks);
        // Gaps 5000, 1, 2, 1, 19, 2: the median is 2.
        assert_eq!(w.block_interval(), Some(2));
    }

    #[test]
    fn a_reorg_replaces_the_blocks_above_the_common_parent() {
        let mut w = filled(0, 15);
        let fork = run(2, 1, 13, 16);
        assert_eq!(w.fit(&fork), Fit::Links);
        assert_eq!(
            w.splice(fork),
            Spliced {
                added: 4,
                reorged: 3
            }
        );
        assert_eq!(w.tip().unwrap().hash, hash(2, 16));
        assert_eq!(
            w.find(prefix(1, 14)),
            None,
            "the orphaned block is forgotten"
        );
        assert_eq!(w.find(prefix(2, 14)).unwrap().height, 14);
        assert_eq!(w.find(prefix(1, 12)).unwrap().height, 12);
    }

    #[test]
    fn a_chain_that_got_shorter_drops_the_blocks_above_its_head() {
        let mut w = filled(0, 15);
        assert_eq!(
            w.splice(run(2, 1, 11, 12)),
            Spliced {
                added: 2,
                reorged: 5
            }
        );
        assert_eq!(w.tip().unwrap().height, 12);
        assert_eq!(w.find(prefix(1, 15)), None);
    }

    #[test]
    fn a_reorg_deeper_than_the_run_or_a_gap_asks_for_older_blocks() {
        let w = filled(0, 15);
        // Block 14 of fork 2 has its parent on fork 2, which the window does not hold.
        assert_eq!(w.fit(&run(2, 2, 14, 16)), Fit::NeedsOlder);
        assert_eq!(w.fit(&run(1, 1, 20, 25)), Fit::NeedsOlder);
        // Reaching genesis or the bottom of the window replaces it.
        assert_eq!(w.fit(&run(2, 2, 0, 16)), Fit::Replaces);
        let mut high = filled(50, 60);
        assert_eq!(high.fit(&run(2, 2, 50, 70)), Fit::Replaces);
        high.splice(run(2, 2, 50, 70));
        assert_eq!(high.oldest().unwrap().hash, hash(2, 50));
        assert_eq!(high.find(prefix(1, 55)), None);
    }

    #[test]
    fn older_blocks_are_prepended_only_below_the_oldest_and_linked_to_it() {
        let mut w = filled(50, 60);
        assert!(
            !w.prepend(run(2, 2, 40, 49)),
            "not the oldest block's parent"
        );
        assert!(
            !w.prepend(run(1, 1, 40, 48)),
            "a gap below the oldest block"
        );
        assert!(w.prepend(run(1, 1, 40, 49)));
        assert_eq!(w.oldest().unwrap().height, 40);
        assert_eq!(w.len(), 21);
        assert_eq!(w.find(prefix(1, 45)).unwrap().height, 45);
        assert_eq!(w.get(60).unwrap().hash, hash(1, 60));
        assert_eq!(w.get(61), None);
        assert_eq!(w.get(39), None);
    }

    #[test]
    fn trimming_keeps_one_block_older_than_the_window_so_filling_stops() {
        let mut w = filled(0, 60);
        // Window from time 1_305: block 30 (time 1_300) stays as the boundary.
        assert_eq!(w.wants_older(1_305), None, "genesis is held");
        w.trim(1_305);
        assert_eq!(w.oldest().unwrap().height, 30);
        assert_eq!(w.find(prefix(1, 29)), None);
        assert_eq!(w.find(prefix(1, 30)).unwrap().height, 30);
        assert_eq!(w.wants_older(1_305), None);
        assert_eq!(
            w.wants_older(1_300),
            Some(30),
            "block 30 is inside a wider window"
        );
        // The tip is kept however far the window moves.
        w.trim(u64::MAX);
        assert_eq!(w.len(), 1);
        assert_eq!(w.tip().unwrap().height, 60);
    }

    #[test]
    fn find_answers_with_the_newest_block_sharing_a_prefix() {
        let mut w = Window::default();
        let mut blocks = run(1, 1, 0, 5);
        // Give blocks 2 and 4 the same prefix (a 1 in 2^32 event on a real chain).
        let shared = blocks[2].hash;
        blocks[4].hash[..4].copy_from_slice(&shared[..4]);
        blocks[5].prev = blocks[4].hash;
        w.splice(blocks);
        assert_eq!(w.find(prefix(1, 2)).unwrap().height, 4);
        // Once block 4 is reorged away, block 2 answers again.
        w.splice(run(2, 1, 4, 4));
        assert_eq!(w.find(prefix(1, 2)).unwrap().height, 2);
    }

    #[test]
    fn the_window_never_holds_more_than_its_cap() {
        let mut w = Window::default();
        let top = MAX_BLOCKS as u64 + 10;
        w.splice(run(1, 1, 1, top));
        assert_eq!(w.len(), MAX_BLOCKS);
        assert_eq!(w.oldest().unwrap().height, 11);
        assert_eq!(w.wants_older(0), None);
    }
}
