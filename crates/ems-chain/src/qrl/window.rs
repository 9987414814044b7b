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
mod tests;
