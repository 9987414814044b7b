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
//! (docs/performance.md, "the sweep without per-message removals"). A *compaction* walks both
//! orders in key order and drops the dead entries; only then are their records' handles
//! reused. One starts once the dead entries are more than the live ones (after a sweep), or
//! once the orders hold an eighth more entries than the most messages stored since they were
//! last compacted (while messages come and go), and never for fewer than [`STALE_FLOOR`] dead
//! entries.
//!
//! # A compaction in steps
//! A whole walk of a million entries of each order holds the index's write lock for about
//! 0.2 s, during which no insert can commit and no reader can look anything up. So a
//! compaction is done in steps ([`Index::step`]), each visiting at most [`STEP`] entries of
//! each order (a few milliseconds), and the lock is released between them:
//!
//! - It takes the handles dead when it starts as its own set (a bitmap) and walks each order
//!   from a cursor, the key after the last one it visited, dropping the entries whose handle is
//!   in that set. Keys inserted behind a cursor are live; keys ahead of it are visited like the
//!   others. A message deleted during the compaction joins the next one's dead list: its
//!   entries are kept by this walk, and its handle is not freed by it. The compaction's handles
//!   become free only once both walks have reached the end, when no entry names them.
//! - Readers skip dead entries by their record whatever the compaction has reached, and an
//!   insert takes only a handle freed by an earlier compaction, so an entry is listed if and
//!   only if its message is stored.
//! - Who drives it: every commit applied to the index ([`Index::apply`]) takes one step, of at
//!   least 32 entries of each order per entry the commit added, so inserts and sweep chunks
//!   carry it along; and the sweeper, when nothing is due, takes a step instead and reports
//!   more work (`Swept::more`), so the writer task comes back for the next step after serving
//!   the inserts that wait, as it does between sweep chunks. A node that stops receiving
//!   finishes its compaction at its next sweeper tick, one step after another.
//!
//! So the orders hold at most 9/8 of the most messages stored since the last compaction (and
//! one commit) when a compaction starts, and, since each commit's step visits 32 times what it
//! adds, grow by at most 1/31 of that while it walks; a sweep of N messages visits about 2N
//! entries of each order in all, and a node that stores and deletes at the same pace visits
//! about nine per deletion.

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

/// Most entries of each order one compaction step visits (unless its commit added more than
/// a 32nd of that): a few milliseconds under the index's write lock.
pub(super) const STEP: usize = 16_384;

/// Entries of each order a commit's compaction step visits per entry the commit added.
const STEP_PER_ADD: usize = 32;

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

/// A compaction under way: the handles it drops and how far each walk has reached.
#[derive(Debug)]
struct Compaction {
    /// Its handles, dead when it started.
    handles: Vec<u32>,
    /// The same as a bitmap (a bit per record, which the processor's cache holds where the
    /// records would not: the rate order names them in random order).
    doomed: Vec<u64>,
    /// Where the walk of the rate order goes on (`None`: it has reached the end).
    rate_from: Option<Bound<(u64, u32)>>,
    /// Where the walk of the tag order goes on.
    tag_from: Option<Bound<(u32, u64, u64, u32)>>,
    /// Steps taken.
    steps: usize,
    /// Entries visited, of both orders.
    visited: usize,
}

impl Compaction {
    fn new(handles: Vec<u32>, records: usize) -> Compaction {
        let mut doomed = vec![0u64; records.div_ceil(64)];
        for &h in &handles {
            doomed[h as usize / 64] |= 1 << (h % 64);
        }
        Compaction {
            handles,
            doomed,
            rate_from: Some(Bound::Unbounded),
            tag_from: Some(Bound::Unbounded),
            steps: 0,
            visited: 0,
        }
    }

    fn drops(&self, h: u32) -> bool {
        self.doomed
            .get(h as usize / 64)
            .is_some_and(|w| w & (1 << (h % 64)) != 0)
    }

    fn done(&self) -> bool {
        self.rate_from.is_none() && self.tag_from.is_none()
    }
}

/// Visits up to `budget` keys of `set` from `from` on, drops those `drop` names, and moves
/// `from` past them (to `None` at the end). Returns the keys visited.
fn walk<K: Ord + Copy>(
    set: &mut BTreeSet<K>,
    from: &mut Option<Bound<K>>,
    budget: usize,
    drop: impl Fn(&K) -> bool,
) -> usize {
    let Some(lower) = *from else {
        return 0;
    };
    let (mut visited, mut last, mut gone) = (0, None, Vec::new());
    for key in set.range((lower, Bound::Unbounded)).take(budget) {
        visited += 1;
        last = Some(*key);
        if drop(key) {
            gone.push(*key);
        }
    }
    for key in &gone {
        set.remove(key);
    }
    *from = match last {
        Some(key) if visited == budget => Some(Bound::Excluded(key)),
        _ => None,
    };
    visited
}

/// The in-memory indexes.
#[derive(Debug, Default)]
pub(super) struct Index {
    hasher: RandomState,
    recs: Vec<Rec>,
    /// Handles free to reuse: no entry of any order names them.
    free: Vec<u32>,
    /// Handles of deleted messages whose entries are still in the rate and tag orders (and
    /// which the compaction under way, if any, does not drop).
    dead: Vec<u32>,
    /// The compaction under way.
    compaction: Option<Compaction>,
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

    /// Applies the changes of a committed transaction, in order, then takes a step of the
    /// compaction under way, or starts one if there are too many dead entries.
    pub(super) fn apply(&mut self, changes: &[Change]) {
        let mut added = 0;
        for change in changes {
            match change {
                Change::Add(digest, ttl, entry) => {
                    self.insert(digest, *ttl, entry);
                    added += 1;
                }
                Change::Remove(digest) => {
                    self.remove(digest);
                }
            }
        }
        let (live, dead) = (self.len(), self.dead.len());
        if self.compaction.is_none()
            && dead > STALE_FLOOR
            && (dead > live || live + dead > self.peak + self.peak / 8)
        {
            self.start();
        }
        self.step(STEP.max(added * STEP_PER_ADD));
    }

    /// Starts a compaction of the entries dead now.
    fn start(&mut self) {
        let handles = std::mem::take(&mut self.dead);
        self.compaction = Some(Compaction::new(handles, self.recs.len()));
    }

    /// Whether a compaction is under way ([`Index::step`] has work to do).
    pub(super) fn compacting(&self) -> bool {
        self.compaction.is_some()
    }

    /// Entries in the rate and tag orders, dead ones included.
    #[cfg(test)]
    pub(super) fn entries(&self) -> (usize, usize) {
        (self.by_rate.len(), self.by_tag.len())
    }

    /// Takes one step of the compaction under way, if any: visits up to `budget` entries of
    /// each order, dropping those of its handles; once both walks have reached the end, frees
    /// its handles. Returns whether it is still under way.
    pub(super) fn step(&mut self, budget: usize) -> bool {
        let Some(c) = self.compaction.as_mut() else {
            return false;
        };
        let budget = budget.max(1);
        let mut rate_from = c.rate_from;
        let rate = walk(&mut self.by_rate, &mut rate_from, budget, |&(_, h)| {
            c.drops(h)
        });
        let mut tag_from = c.tag_from;
        let tag = walk(&mut self.by_tag, &mut tag_from, budget, |&(_, _, _, h)| {
            c.drops(h)
        });
        (c.rate_from, c.tag_from) = (rate_from, tag_from);
        c.steps += 1;
        c.visited += rate + tag;
        if !c.done() {
            return true;
        }
        if let Some(mut c) = self.compaction.take() {
            tracing::debug!(
                freed = c.handles.len(),
                steps = c.steps,
                visited = c.visited,
                "index compaction done"
            );
            self.free.append(&mut c.handles);
        }
        self.peak = self.len();
        false
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
    /// tag orders stay, dead, until a compaction that starts after this drops them.
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
    use super::super::field;
    use super::*;
    use std::collections::BTreeSet as Set;

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

    fn digest(i: u64) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&i.to_be_bytes());
        d
    }

    /// The number a test message's digest was made from.
    fn number(rec: &Rec) -> u64 {
        u64::from_be_bytes(field(&rec.digest, 0))
    }

    /// Message `i`: one of three tags, a rate spread over the order.
    fn add(i: u64) -> Change {
        Change::Add(
            digest(i),
            100,
            entry(i, (i % 3) as u8, i.wrapping_mul(7_919) % 1_000),
        )
    }

    fn removals(r: impl Iterator<Item = u64>) -> Vec<Change> {
        r.map(|i| Change::Remove(digest(i))).collect()
    }

    /// Entries in the larger order (the two hold the same messages between compactions).
    fn entries(idx: &Index) -> usize {
        if !idx.compacting() {
            assert_eq!(idx.by_rate.len(), idx.by_tag.len());
        }
        idx.by_rate.len().max(idx.by_tag.len())
    }

    /// Asserts that each order lists exactly the messages numbered in `stored`, the rate
    /// order from the lowest rate.
    fn lists_exactly(idx: &Index, stored: &Set<u64>) {
        let cheap: Vec<&Rec> = idx.cheapest(u64::MAX).collect();
        assert!(cheap.windows(2).all(|w| w[0].rate <= w[1].rate));
        let mut by_rate: Vec<u64> = cheap.iter().map(|r| number(r)).collect();
        by_rate.sort_unstable();
        assert_eq!(by_rate, stored.iter().copied().collect::<Vec<_>>());
        let mut by_tag: Vec<u64> = (0..3u8)
            .flat_map(|t| idx.tagged(&[t; 32], 0, None).map(number))
            .collect();
        by_tag.sort_unstable();
        assert_eq!(by_tag, by_rate);
        for &i in stored {
            assert_eq!(number(idx.find(&digest(i)).unwrap()), i);
        }
    }

    /// Starts a compaction and steps it to the end with no commit; returns its steps.
    fn compact(idx: &mut Index) -> usize {
        assert!(!idx.compacting());
        idx.start();
        let mut steps = 1;
        while idx.step(STEP) {
            steps += 1;
        }
        steps
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
        assert_eq!(compact(&mut idx), 1);
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
        let listed = |idx: &Index| {
            let by_tag: usize = (0..3u8)
                .map(|t| idx.tagged(&[t; 32], 0, None).count())
                .sum();
            (idx.cheapest(u64::MAX).count(), by_tag)
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
        assert!(!idx.compacting());
        // One more dead than live: a compaction starts, and ends after walking both orders
        // once, without further commits; then the handles are free.
        idx.apply(&removals(first..first + 20));
        assert!(idx.compacting());
        let mut steps = 2;
        while idx.step(STEP) {
            steps += 1;
        }
        assert_eq!(steps, (n as usize + 1).div_ceil(STEP));
        let live = idx.len();
        assert_eq!(entries(&idx), live);
        assert_eq!(listed(&idx), (live, live));
        assert_eq!(idx.free.len() as u64, first + 20);
        idx.apply(&[add(n + 1)]);
        assert_eq!(idx.recs.len() as u64, n + 1, "a freed handle is reused");

        // Churn: one stored and one deleted by each transaction. The orders grow by an eighth
        // of the most messages held (one more than between transactions) at most before a
        // compaction starts, and by a 31st of that at most while it walks; then shrink back.
        let peak = idx.len();
        let most = peak + 1 + (peak + 1) / 8;
        let mut began = Vec::new();
        for i in 0..(peak as u64 / 4) {
            let was = idx.compacting();
            idx.apply(&[add(n + 2 + i), Change::Remove(digest(first + 20 + i))]);
            assert_eq!(idx.len(), peak);
            assert!(entries(&idx) <= most + most / 31, "bounded");
            if !was && idx.compacting() {
                began.push(i);
            }
            if was && !idx.compacting() {
                // Only the deaths since it began are left.
                let since = i - began.last().unwrap();
                assert_eq!(entries(&idx) as u64, peak as u64 + since);
            }
        }
        // Transaction i leaves i + 1 dead; the most held was peak + 1.
        let eighth = (peak as u64 + 1) / 8;
        assert_eq!(began, vec![eighth + 1], "once an eighth has been replaced");
        assert_eq!(listed(&idx), (peak, peak));
    }

    #[test]
    fn a_compaction_in_steps_frees_only_what_was_dead_when_it_began_and_lists_no_dead_entry() {
        let mut idx = Index::default();
        let n = 5 * STEP as u64;
        idx.apply(&(0..n).map(add).collect::<Vec<_>>());
        let mut stored: Set<u64> = (0..n).collect();
        let mut next = n;

        // A sweep: more than half die at once; a compaction begins and takes one full step.
        let swept = n / 2 + 100;
        let doomed: Set<u32> = (0..swept)
            .map(|i| idx.handle(&digest(i)).unwrap())
            .collect();
        idx.apply(&removals(0..swept));
        stored.retain(|&i| i >= swept);
        let progress = |idx: &Index| {
            let c = idx.compaction.as_ref().unwrap();
            (c.steps, c.visited)
        };
        assert_eq!(progress(&idx), (1, 2 * STEP));
        lists_exactly(&idx, &stored);

        // Commits during it: each deletes ten stored messages and stores ten new ones, and
        // takes one step of at most `STEP` entries of each order. Every step, readers list
        // exactly what is stored.
        let mut died = Set::new();
        let mut steps = 1;
        while idx.compacting() {
            let gone: Vec<u64> = stored.iter().copied().step_by(97).take(10).collect();
            for &i in &gone {
                died.insert(idx.handle(&digest(i)).unwrap());
                stored.remove(&i);
            }
            let mut changes = removals(gone.into_iter());
            changes.extend((next..next + 10).map(add));
            stored.extend(next..next + 10);
            next += 10;
            idx.apply(&changes);
            steps += 1;
            if idx.compacting() {
                assert_eq!(progress(&idx), (steps, 2 * STEP * steps));
            }
            lists_exactly(&idx, &stored);
        }
        assert!(steps >= n as usize / STEP, "{steps} steps");
        // Its handles are free and no entry names them; those that died during it wait.
        let named: Set<u32> = idx.by_rate.iter().map(|&(_, h)| h).collect();
        let tagged: Set<u32> = idx.by_tag.iter().map(|&(_, _, _, h)| h).collect();
        assert_eq!(named, tagged);
        assert!(named.is_disjoint(&doomed));
        assert_eq!(idx.free.iter().copied().collect::<Set<u32>>(), doomed);
        assert_eq!(idx.dead.iter().copied().collect::<Set<u32>>(), died);
        assert!(died.is_subset(&named));
        assert_eq!(entries(&idx), stored.len() + died.len());

        // A second sweep starts the next compaction; the messages stored during it take the
        // handles the first one freed, and are listed correctly at every step.
        let old: Vec<u64> = stored.iter().copied().take(stored.len() - 1_000).collect();
        let doomed_now: Set<u32> = died
            .iter()
            .copied()
            .chain(old.iter().map(|&i| idx.handle(&digest(i)).unwrap()))
            .collect();
        idx.apply(&removals(old.iter().copied()));
        for i in &old {
            stored.remove(i);
        }
        assert!(idx.compacting());
        idx.apply(&(next..next + 100).map(add).collect::<Vec<_>>());
        for i in next..next + 100 {
            assert!(doomed.contains(&idx.handle(&digest(i)).unwrap()));
        }
        stored.extend(next..next + 100);
        lists_exactly(&idx, &stored);
        // It finishes with no further commit, one step at a time.
        assert!(idx.compacting());
        while idx.step(STEP) {
            lists_exactly(&idx, &stored);
        }
        assert_eq!(entries(&idx), stored.len());
        assert!(idx
            .free
            .iter()
            .all(|h| doomed_now.contains(h) || doomed.contains(h)));
        assert_eq!(idx.free.len(), doomed_now.len() + doomed.len() - 100);
        lists_exactly(&idx, &stored);
    }

    #[test]
    fn a_commit_that_adds_much_walks_32_times_as_far_so_the_orders_stay_bounded() {
        let mut idx = Index::default();
        let n = 4 * STEP as u64;
        idx.apply(&(0..n).map(add).collect::<Vec<_>>());
        idx.apply(&removals(0..n / 2 + 1));
        assert!(idx.compacting());
        // One commit adding 2 × STEP entries walks 64 × STEP of each order: to the end.
        let added = 2 * STEP as u64;
        idx.apply(&(n..n + added).map(add).collect::<Vec<_>>());
        assert!(!idx.compacting());
        assert_eq!(entries(&idx), idx.len());
        let stored: Set<u64> = (n / 2 + 1..n + added).collect();
        lists_exactly(&idx, &stored);
    }
}
