//! The store's in-memory indexes: stored messages by digest, by rate and by tag.
//!
//! These three orders have random keys. In redb's copy-on-write B-trees each random-keyed row
//! costs its transaction a 4 KiB leaf and the branch path above it, whatever the row's size,
//! which made them most of what an insert or a delete wrote (docs/performance.md, layout 3).
//! They are therefore held here instead: rebuilt when the store opens from the durable expiry
//! index (which holds every field they need), and changed only after the transaction that
//! made the change has committed, so they always describe committed state and a crash loses
//! nothing that was acknowledged.
//!
//! Each message is one 72-byte record in a slab, named by a `u32` handle. The digest table
//! and the tag table are hash tables of handles (5 bytes a slot), the rate and tag orders
//! B-tree sets of small tuples of numbers; a tag (`ID0`) is stored once however many messages
//! carry it.
//!
//! A deleted message leaves the digest table at once, but its entries in the rate and tag
//! orders stay behind, marked dead by its record, which is kept and not reused: readers step
//! over them. Removing one random key from each of those B-trees per deleted message (a
//! processor cache miss at most levels of both) was the largest single cost of a sweep
//! (docs/performance.md, "the sweep without per-message removals"). [`Index::compact`] walks
//! both orders once, in key order, and drops the dead entries; only then are their records'
//! handles reused. It runs once the dead entries are more than the live ones (after a sweep),
//! or once the orders hold an eighth more entries than the most messages stored since they
//! were last compacted (while messages come and go), and never for fewer than
//! [`STALE_FLOOR`] dead entries. So the orders never take more than 9/8 of the memory they
//! needed at their fullest, a sweep of N messages visits about 2N entries of each order in
//! all, and a node that stores and deletes at the same pace visits about nine per deletion.

use super::Entry;
use hashbrown::HashTable;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};
use std::ops::Bound;

/// Most messages the indexes can name (handles are `u32`); the store refuses beyond it.
pub(super) const MAX_MESSAGES: usize = u32::MAX as usize - 1;

/// Dead entries the rate and tag orders may hold whatever their size (a small store is not
/// walked after every deletion).
const STALE_FLOOR: usize = 4_096;

/// What the indexes keep of one stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rec {
    /// The message's digest.
    pub(super) digest: [u8; 32],
    /// When this node received it (the frame's key is `(received_at, seq)`).
    pub(super) received_at: u64,
    /// Its place in the store's arrival sequence.
    pub(super) seq: u64,
    /// What it paid ([`super::rate`]).
    pub(super) rate: u64,
    /// Its TTL (the expiry index's key is `(ttl, seq)`).
    pub(super) ttl: u32,
    /// Its encoded length.
    pub(super) len: u32,
    /// Its `ID0`, as a handle into the tag table.
    tag: u32,
    /// Still stored: false once deleted, until its entries leave the rate and tag orders.
    live: bool,
}

/// One change to the indexes, recorded during a write transaction and applied after it
/// commits.
#[derive(Clone, Copy, Debug)]
pub(super) enum Change {
    /// A message was stored with this TTL and expiry entry.
    Add([u8; 32], u32, Entry),
    /// A message was deleted.
    Remove([u8; 32]),
}

#[derive(Debug)]
struct Tag {
    id0: [u8; 32],
    refs: u32,
}

/// Puts `item` in a freed slot of `slab` if there is one, else at its end; returns its handle.
fn place<T>(slab: &mut Vec<T>, free: &mut Vec<u32>, item: T) -> u32 {
    match free.pop() {
        Some(h) => {
            slab[h as usize] = item;
            h
        }
        None => {
            slab.push(item);
            (slab.len() - 1) as u32
        }
    }
}

/// The in-memory indexes.
#[derive(Debug, Default)]
pub(super) struct Index {
    hasher: RandomState,
    recs: Vec<Rec>,
    /// Handles free to reuse: no entry of any order names them.
    free: Vec<u32>,
    /// Handles of deleted messages whose entries are still in the rate and tag orders.
    dead: Vec<u32>,
    /// The most messages indexed at once since the orders were last compacted.
    peak: usize,
    by_digest: HashTable<u32>,
    /// (rate, handle): eviction takes the lowest first. Holds the dead entries too.
    by_rate: BTreeSet<(u64, u32)>,
    tags: Vec<Tag>,
    free_tags: Vec<u32>,
    tag_ids: HashTable<u32>,
    /// (tag, received at, arrival sequence, handle): queries by tag, in arrival order (the
    /// sequence is durable, so the order survives a reopening). Holds the dead entries too.
    by_tag: BTreeSet<(u32, u64, u64, u32)>,
}

impl Index {
    /// Messages indexed.
    pub(super) fn len(&self) -> usize {
        self.by_digest.len()
    }

    fn handle(&self, digest: &[u8; 32]) -> Option<u32> {
        let recs = &self.recs;
        self.by_digest
            .find(self.hasher.hash_one(digest), |&h| {
                recs[h as usize].digest == *digest
            })
            .copied()
    }

    /// The stored message with this digest.
    pub(super) fn find(&self, digest: &[u8; 32]) -> Option<&Rec> {
        self.handle(digest).map(|h| &self.recs[h as usize])
    }

    /// The `ID0` of an indexed message.
    pub(super) fn id0(&self, rec: &Rec) -> [u8; 32] {
        self.tags[rec.tag as usize].id0
    }

    /// Applies the changes of a committed transaction, in order, then drops the dead entries
    /// of the rate and tag orders if there are too many ([`Index::compact`]).
    pub(super) fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Add(digest, ttl, entry) => self.insert(digest, *ttl, entry),
                Change::Remove(digest) => {
                    self.remove(digest);
                }
            }
        }
        let (live, dead) = (self.len(), self.dead.len());
        if dead > STALE_FLOOR && (dead > live || live + dead > self.peak + self.peak / 8) {
            self.compact();
        }
    }

    /// Indexes a stored message (nothing if its digest is already indexed).
    pub(super) fn insert(&mut self, digest: &[u8; 32], ttl: u32, entry: &Entry) {
        if self.handle(digest).is_some() || self.len() >= MAX_MESSAGES {
            return;
        }
        let tag = self.intern(&entry.id0);
        let rec = Rec {
            digest: *digest,
            received_at: entry.received_at,
            seq: entry.seq,
            rate: entry.rate,
            ttl,
            len: entry.len,
            tag,
            live: true,
        };
        let h = place(&mut self.recs, &mut self.free, rec);
        let (recs, hasher) = (&self.recs, &self.hasher);
        self.by_digest
            .insert_unique(hasher.hash_one(digest), h, |&x| {
                hasher.hash_one(recs[x as usize].digest)
            });
        self.by_rate.insert((rec.rate, h));
        self.by_tag.insert((tag, rec.received_at, rec.seq, h));
        self.peak = self.peak.max(self.len());
    }

    /// Forgets a deleted message; returns what was kept of it. Its entries in the rate and
    /// tag orders stay, dead, until [`Index::compact`].
    pub(super) fn remove(&mut self, digest: &[u8; 32]) -> Option<Rec> {
        let recs = &self.recs;
        let found = self
            .by_digest
            .find_entry(self.hasher.hash_one(digest), |&h| {
                recs[h as usize].digest == *digest
            })
            .ok()?;
        let (h, _) = found.remove();
        let rec = &mut self.recs[h as usize];
        rec.live = false;
        let rec = *rec;
        self.release(rec.tag);
        self.dead.push(h);
        Some(rec)
    }

    /// Drops the dead entries from the rate and tag orders, one walk of each in key order,
    /// and makes their handles free to reuse.
    pub(super) fn compact(&mut self) {
        // The dead handles as a bitmap (a bit per record, which the processor's cache holds
        // where the records would not: the rate order names them in random order).
        let mut dead = vec![0u64; self.recs.len().div_ceil(64)];
        for &h in &self.dead {
            dead[h as usize / 64] |= 1 << (h % 64);
        }
        let live = |h: u32| dead[h as usize / 64] & (1 << (h % 64)) == 0;
        self.by_rate.retain(|&(_, h)| live(h));
        self.by_tag.retain(|&(_, _, _, h)| live(h));
        self.free.append(&mut self.dead);
        self.peak = self.len();
    }

    /// The record of a live entry of the rate or tag order.
    fn live(&self, h: u32) -> Option<&Rec> {
        Some(&self.recs[h as usize]).filter(|rec| rec.live)
    }

    /// Indexed messages that paid at most `max_rate`, the lowest first.
    pub(super) fn cheapest(&self, max_rate: u64) -> impl Iterator<Item = &Rec> + '_ {
        self.by_rate
            .range(..=(max_rate, u32::MAX))
            .filter_map(|&(_, h)| self.live(h))
    }

    /// Indexed messages with `ID0` = `tag` received at or after `since`, in (arrival,
    /// sequence) order, starting after the message (received at, sequence) `after` if given
    /// (or where it would sort, if it is gone).
    pub(super) fn tagged(
        &self,
        tag: &[u8; 32],
        since: u64,
        after: Option<(u64, u64)>,
    ) -> impl Iterator<Item = &Rec> + '_ {
        let id = self.tag_id(tag);
        let range = id.map(|id| {
            let lower = match after {
                Some((at, seq)) => Bound::Excluded((id, at, seq, u32::MAX)),
                None => Bound::Included((id, since, 0, 0)),
            };
            let upper = Bound::Included((id, u64::MAX, u64::MAX, u32::MAX));
            self.by_tag.range((lower, upper))
        });
        range
            .into_iter()
            .flatten()
            .filter_map(|&(_, _, _, h)| self.live(h))
    }

    fn tag_id(&self, id0: &[u8; 32]) -> Option<u32> {
        let tags = &self.tags;
        self.tag_ids
            .find(self.hasher.hash_one(id0), |&t| tags[t as usize].id0 == *id0)
            .copied()
    }

    fn intern(&mut self, id0: &[u8; 32]) -> u32 {
        if let Some(t) = self.tag_id(id0) {
            self.tags[t as usize].refs += 1;
            return t;
        }
        let tag = Tag { id0: *id0, refs: 1 };
        let t = place(&mut self.tags, &mut self.free_tags, tag);
        let (tags, hasher) = (&self.tags, &self.hasher);
        self.tag_ids.insert_unique(hasher.hash_one(id0), t, |&x| {
            hasher.hash_one(tags[x as usize].id0)
        });
        t
    }

    fn release(&mut self, t: u32) {
        let tag = &mut self.tags[t as usize];
        tag.refs -= 1;
        if tag.refs > 0 {
            return;
        }
        let id0 = tag.id0;
        let tags = &self.tags;
        if let Ok(found) = self
            .tag_ids
            .find_entry(self.hasher.hash_one(id0), |&x| tags[x as usize].id0 == id0)
        {
            found.remove();
        }
        self.free_tags.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: u64, tag: u8, rate: u64) -> Entry {
        Entry {
            digest: [0; 32],
            received_at: at,
            seq: at,
            id0: [tag; 32],
            len: 100,
            rate,
        }
    }

    #[test]
    fn handles_and_tags_are_reused_and_every_order_forgets_a_removed_message() {
        let mut idx = Index::default();
        for i in 0..10u8 {
            idx.insert(
                &[i; 32],
                100 + u32::from(i),
                &entry(u64::from(i), i % 2, 10 - u64::from(i)),
            );
        }
        // Indexing a digest twice changes nothing.
        idx.insert(&[3; 32], 999, &entry(999, 9, 0));
        assert_eq!(idx.len(), 10);
        assert_eq!(idx.find(&[3; 32]).unwrap().ttl, 103);
        let cheap: Vec<u8> = idx.cheapest(3).map(|r| r.digest[0]).collect();
        assert_eq!(cheap, vec![9, 8, 7]);
        let odd: Vec<u8> = idx.tagged(&[1; 32], 0, None).map(|r| r.digest[0]).collect();
        assert_eq!(odd, vec![1, 3, 5, 7, 9]);
        let after: Vec<u8> = idx
            .tagged(&[1; 32], 0, Some((3, 3)))
            .map(|r| r.digest[0])
            .collect();
        assert_eq!(after, vec![5, 7, 9]);
        for i in (1..10u8).step_by(2) {
            assert_eq!(idx.remove(&[i; 32]).unwrap().digest, [i; 32]);
        }
        assert!(idx.remove(&[1; 32]).is_none());
        assert_eq!(idx.tagged(&[1; 32], 0, None).count(), 0);
        assert_eq!(idx.tag_ids.len(), 1, "an unused tag is forgotten");
        assert_eq!(idx.cheapest(u64::MAX).count(), 5);
        // The removed messages' entries are still in both orders, dead; compacting drops them.
        assert_eq!((idx.by_rate.len(), idx.by_tag.len()), (10, 10));
        idx.compact();
        assert_eq!((idx.by_rate.len(), idx.by_tag.len()), (5, 5));
        assert_eq!(idx.cheapest(u64::MAX).count(), 5);
        // Freed handles and tag slots are reused, not grown.
        for i in 20..25u8 {
            idx.insert(&[i; 32], 1, &entry(1, 7, 1));
        }
        assert_eq!((idx.recs.len(), idx.tags.len()), (10, 2));
        assert_eq!(idx.tagged(&[7; 32], 0, None).count(), 5);
        assert_eq!(idx.id0(idx.find(&[22; 32]).unwrap()), [7; 32]);
    }

    #[test]
    fn dead_entries_are_never_listed_and_are_dropped_after_a_sweep_or_a_churn_of_an_eighth() {
        let mut idx = Index::default();
        let n = 32 * STALE_FLOOR as u64;
        let digest = |i: u64| {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&i.to_be_bytes());
            d
        };
        let add = |i: u64| Change::Add(digest(i), 100, entry(i, (i % 3) as u8, i % 1_000));
        let removals =
            |r: std::ops::Range<u64>| r.map(|i| Change::Remove(digest(i))).collect::<Vec<_>>();
        let listed = |idx: &Index| {
            let by_tag: usize = (0..3u8)
                .map(|t| idx.tagged(&[t; 32], 0, None).count())
                .sum();
            (idx.cheapest(u64::MAX).count(), by_tag)
        };
        let entries = |idx: &Index| {
            assert_eq!(idx.by_rate.len(), idx.by_tag.len());
            idx.by_rate.len()
        };
        idx.apply(&(0..n).map(add).collect::<Vec<_>>());

        // A sweep: up to as many dead as live entries wait, unlisted.
        let first = n / 2 - 10;
        idx.apply(&removals(0..first));
        let live = idx.len();
        assert_eq!((live as u64, entries(&idx) as u64), (n - first, n));
        assert_eq!(listed(&idx), (live, live));
        assert!(idx
            .cheapest(u64::MAX)
            .all(|r| r.live && idx.find(&r.digest).is_some()));
        // A handle is not reused while an entry names it.
        idx.apply(&[add(n)]);
        assert_eq!(idx.recs.len() as u64, n + 1);
        // One more dead than live: both orders are walked once, and the handles freed.
        idx.apply(&removals(first..first + 20));
        let live = idx.len();
        assert_eq!(entries(&idx), live);
        assert_eq!(listed(&idx), (live, live));
        assert_eq!(idx.free.len() as u64, first + 20);
        idx.apply(&[add(n + 1)]);
        assert_eq!(idx.recs.len() as u64, n + 1, "a freed handle is reused");

        // Churn: one stored and one deleted by each transaction. The orders grow by an eighth
        // of the most messages held (one more than between transactions) at most, then
        // shrink back.
        let peak = idx.len();
        let mut compacted = 0;
        for i in 0..(peak as u64 / 4) {
            let before = entries(&idx);
            idx.apply(&[add(n + 2 + i), Change::Remove(digest(first + 20 + i))]);
            assert_eq!(idx.len(), peak);
            assert!(entries(&idx) <= peak + 1 + (peak + 1) / 8, "bounded");
            if entries(&idx) < before {
                assert_eq!(entries(&idx), peak);
                compacted += 1;
            }
        }
        assert_eq!(compacted, 1, "once an eighth has been replaced, no earlier");
        assert_eq!(listed(&idx), (peak, peak));
    }
}
