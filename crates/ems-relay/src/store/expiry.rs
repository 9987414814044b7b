//! Deleting messages: at their TTL (the sweeper, start-up, an insert into a full store) and
//! when evicted. Everything needed comes from the expiry index; no frame is read.

use super::index::{Change, STEP};
use super::{Entry, Store, EXPIRY, FRAMES, META, META_BYTES, META_MESSAGES};
use crate::error::StoreError;
use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};
use std::collections::HashSet;

/// Expired messages deleted per write transaction: small enough that the writer commits
/// waiting inserts between chunks, large enough that one fsync deletes many.
pub const PURGE_CHUNK: usize = 8_192;

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Messages deleted.
    pub deleted: u64,
    /// More work waits: more messages were due than one chunk, or the in-memory index has
    /// compaction steps to take (module `index`). Sweep again soon, after serving the inserts
    /// that wait.
    pub more: bool,
}

/// Every table of one write transaction, the running figures, and the changes the in-memory
/// indexes take once it commits.
pub(super) struct Tables<'t> {
    pub(super) frames: Table<'t, (u64, u64), &'static [u8]>,
    pub(super) expiry: Table<'t, (u32, u64), [u8; Entry::LEN]>,
    meta: Table<'t, &'static str, u64>,
    pub(super) count: u64,
    pub(super) size: u64,
    changes: Vec<Change>,
    /// Digests deleted in this transaction (the indexes still hold them until it commits).
    pub(super) removed: HashSet<[u8; 32]>,
}

impl<'t> Tables<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let meta = txn.open_table(META)?;
        let count = meta.get(META_MESSAGES)?.map_or(0, |v| v.value());
        let size = meta.get(META_BYTES)?.map_or(0, |v| v.value());
        Ok(Tables {
            frames: txn.open_table(FRAMES)?,
            expiry: txn.open_table(EXPIRY)?,
            meta,
            count,
            size,
            changes: Vec::new(),
            removed: HashSet::new(),
        })
    }

    /// Writes the figures back; returns them and the changes for the indexes.
    pub(super) fn finish(mut self) -> Result<((u64, u64), Vec<Change>), StoreError> {
        self.meta.insert(META_MESSAGES, self.count)?;
        self.meta.insert(META_BYTES, self.size)?;
        Ok(((self.count, self.size), self.changes))
    }

    /// Stores one message whose digest is not stored.
    pub(super) fn add(
        &mut self,
        digest: &[u8; 32],
        ttl: u32,
        entry: &Entry,
        wire: &[u8],
    ) -> Result<(), StoreError> {
        let mut value = Vec::with_capacity(32 + wire.len());
        value.extend_from_slice(digest);
        value.extend_from_slice(wire);
        self.frames
            .insert((entry.received_at, entry.seq), value.as_slice())?;
        self.expiry.insert((ttl, entry.seq), entry.to_bytes())?;
        self.count += 1;
        self.size += u64::from(entry.len);
        self.removed.remove(digest);
        self.changes.push(Change::Add(*digest, ttl, *entry));
        Ok(())
    }

    /// Deletes one message from every table.
    pub(super) fn remove(
        &mut self,
        ttl: u32,
        digest: &[u8; 32],
        entry: &Entry,
    ) -> Result<(), StoreError> {
        self.expiry.remove((ttl, entry.seq))?;
        self.forget(digest, entry)
    }

    /// Deletes one message, already gone from the expiry index, from `frames`.
    fn forget(&mut self, digest: &[u8; 32], entry: &Entry) -> Result<(), StoreError> {
        if self
            .frames
            .remove((entry.received_at, entry.seq))?
            .is_some()
        {
            self.count = self.count.saturating_sub(1);
            self.size = self.size.saturating_sub(u64::from(entry.len));
        }
        self.removed.insert(*digest);
        self.changes.push(Change::Remove(*digest));
        Ok(())
    }

    /// Deletes messages already gone from the expiry index from `frames`, when their sequence
    /// numbers follow each other (and they were received in that order): their frames are then
    /// one contiguous range, deleted in one pass. A frame in that range that is not one of
    /// them (received while the clock was stepped back) is kept.
    fn forget_run(&mut self, run: &[Entry]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            return Ok(());
        };
        let (mut gone, mut bytes) = (0u64, 0u64);
        self.frames.retain_in(
            (first.received_at, first.seq)..=(last.received_at, last.seq),
            |(at, seq), _| {
                let ours = usize::try_from(seq.wrapping_sub(first.seq))
                    .ok()
                    .and_then(|i| run.get(i))
                    .filter(|e| (e.received_at, e.seq) == (at, seq));
                if let Some(e) = ours {
                    gone += 1;
                    bytes += u64::from(e.len);
                }
                ours.is_none()
            },
        )?;
        self.count = self.count.saturating_sub(gone);
        self.size = self.size.saturating_sub(bytes);
        for e in run {
            self.removed.insert(e.digest);
            self.changes.push(Change::Remove(e.digest));
        }
        Ok(())
    }

    /// Deletes up to `limit` messages whose TTL is at or before `now`: a contiguous range of
    /// the expiry index, then their frames in arrival order.
    pub(super) fn purge_due(&mut self, now: u64, limit: usize) -> Result<Swept, StoreError> {
        let cutoff = u32::try_from(now).unwrap_or(u32::MAX);
        // The key of the last row of this chunk, then the chunk's rows deleted in one pass.
        let mut end = None;
        for row in self.expiry.range(..=(cutoff, u64::MAX))?.take(limit) {
            end = Some(row?.0.value());
        }
        let mut due: Vec<Entry> = Vec::with_capacity(limit.min(PURGE_CHUNK));
        if let Some(end) = end {
            self.expiry.retain_in(..=end, |_, value| {
                due.push(Entry::from_bytes(&value));
                false
            })?;
        }
        let more = match self.expiry.first()? {
            Some((key, _)) => key.value().0 <= cutoff,
            None => false,
        };
        due.sort_unstable_by_key(|e| (e.received_at, e.seq));
        for run in due.chunk_by(|a, b| b.seq == a.seq + 1 && b.received_at >= a.received_at) {
            self.forget_run(run)?;
        }
        Ok(Swept {
            deleted: due.len() as u64,
            more,
        })
    }
}

impl Store {
    /// Deletes up to one chunk ([`PURGE_CHUNK`]) of messages whose TTL is at or before `now`,
    /// in one durable transaction, and says whether more work waits. When nothing is due, takes
    /// a step of the in-memory index's compaction instead, if one is under way, so that it
    /// finishes whether or not anything else is committed.
    pub fn purge_expired(&self, now: u64) -> Result<Swept, StoreError> {
        let _writing = self.write_lock();
        let txn = self.db.begin_write()?;
        let (swept, finished) = {
            let mut tables = Tables::open(&txn)?;
            let swept = tables.purge_due(now, PURGE_CHUNK)?;
            if swept.deleted == 0 {
                drop(tables);
                txn.abort()?;
                let more = self.index_mut().step(STEP);
                return Ok(Swept { more, ..swept });
            }
            (swept, tables.finish()?)
        };
        txn.commit()?;
        let (figures, changes) = finished;
        let compacting = self.committed(&changes, figures);
        Ok(Swept {
            more: swept.more || compacting,
            ..swept
        })
    }

    /// (TTL, digest) of every stored message whose TTL is after `after` (unix seconds), in
    /// (TTL, digest) order: the items history sync reconciles. Reads only the expiry index.
    pub fn items_after(&self, after: u64) -> Result<Vec<(u32, [u8; 32])>, StoreError> {
        let Ok(first) = u32::try_from(after.saturating_add(1)) else {
            return Ok(Vec::new());
        };
        let txn = self.db.begin_read()?;
        let expiry = txn.open_table(EXPIRY)?;
        let mut out = Vec::new();
        for row in expiry.range((first, 0)..)? {
            let (key, value) = row?;
            out.push((key.value().0, Entry::from_bytes(&value.value()).digest));
        }
        // The index orders one TTL second by arrival; sync wants it by digest.
        for run in out.chunk_by_mut(|a, b| a.0 == b.0) {
            run.sort_unstable();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::index::STEP;
    use super::*;
    use ems_core::Message;

    /// Message `i`, of one of five tags, with this TTL.
    fn message(i: u64, ttl: u64) -> Message {
        let mut id = [0u8; 64];
        id[..8].copy_from_slice(&(i % 5).to_be_bytes());
        id[32..40].copy_from_slice(&i.to_be_bytes());
        Message::new(id, vec![1; 16], ttl as u32, [0; 4]).unwrap()
    }

    /// Messages each order of the index lists (the tag order over all five tags).
    fn listed(store: &Store) -> (usize, usize) {
        let index = store.index();
        let tagged = (0..5u64)
            .map(|t| {
                let mut tag = [0u8; 32];
                tag[..8].copy_from_slice(&t.to_be_bytes());
                index.tagged(&tag, 0, None).count()
            })
            .sum();
        (index.cheapest(u64::MAX).count(), tagged)
    }

    #[test]
    fn the_sweeper_finishes_the_index_compaction_with_nothing_else_committed() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_000_000;
        let (store, _) = Store::open(&dir.path().join("store.redb"), now).unwrap();
        let (keep, due) = (STEP, 2 * STEP + 1_000);
        let msgs: Vec<Message> = (0..(keep + due) as u64)
            .map(|i| message(i, now + if i < due as u64 { 10 } else { 1_000 }))
            .collect();
        for batch in msgs.chunks(4_096) {
            let items: Vec<(&Message, u64)> = batch.iter().map(|m| (m, now)).collect();
            store.insert_batch(&items, u64::MAX, now).unwrap();
        }
        let later = now + 10;
        // Chunks until nothing is due; the last ones start a compaction and take its first
        // steps, and more work is reported while it is under way.
        let (mut deleted, mut late) = (0, 0);
        let mut swept = store.purge_expired(later).unwrap();
        while swept.deleted > 0 {
            let compacting = store.index().compacting();
            deleted += swept.deleted;
            assert!(swept.more);
            swept = store.purge_expired(later).unwrap();
            if compacting {
                // Deleted during the compaction: left for the next one.
                late += swept.deleted as usize;
            }
        }
        assert_eq!(deleted, due as u64);
        assert!(late > 0);
        // With nothing due and nothing committed, each call takes one step.
        let mut idle = 0;
        while swept.more {
            assert_eq!(swept.deleted, 0);
            assert!(store.index().compacting());
            assert_eq!(listed(&store), (keep, keep), "no dead entry is listed");
            idle += 1;
            assert!(idle <= (keep + due).div_ceil(STEP), "bounded steps");
            swept = store.purge_expired(later).unwrap();
        }
        assert!(idle >= 1);
        assert!(!store.index().compacting());
        assert_eq!(store.index().entries(), (keep + late, keep + late));
        assert_eq!(listed(&store), (keep, keep));
        assert_eq!(store.purge_expired(later).unwrap(), Swept::default());
    }
}
