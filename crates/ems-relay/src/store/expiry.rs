//! Deleting messages: at their TTL (the sweeper, start-up, an insert into a full store) and
//! when evicted. Everything needed comes from the expiry index; no frame is read.

use super::{
    Entry, Store, BY_ARRIVAL, BY_RATE, BY_TAG, DIGESTS, EXPIRY, FRAMES, META, META_BYTES,
    META_MESSAGES,
};
use crate::error::StoreError;
use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};

/// Expired messages deleted per write transaction: small enough that the writer commits
/// waiting inserts between chunks, large enough that one fsync deletes many.
pub(crate) const PURGE_CHUNK: usize = 4_096;

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Messages deleted.
    pub deleted: u64,
    /// More messages were due than one chunk: sweep again soon.
    pub more: bool,
}

/// Every table of one write transaction, with the running figures.
pub(super) struct Tables<'t> {
    pub(super) frames: Table<'t, (u64, [u8; 32]), &'static [u8]>,
    pub(super) digests: Table<'t, [u8; 32], u64>,
    pub(super) expiry: Table<'t, (u32, [u8; 32]), [u8; Entry::LEN]>,
    pub(super) by_rate: Table<'t, (u64, [u8; 32]), u32>,
    pub(super) by_tag: Table<'t, ([u8; 32], u64, [u8; 32]), u32>,
    pub(super) by_arrival: Table<'t, (u64, [u8; 32]), u32>,
    meta: Table<'t, &'static str, u64>,
    pub(super) count: u64,
    pub(super) size: u64,
}

impl<'t> Tables<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let meta = txn.open_table(META)?;
        let count = meta.get(META_MESSAGES)?.map_or(0, |v| v.value());
        let size = meta.get(META_BYTES)?.map_or(0, |v| v.value());
        Ok(Tables {
            frames: txn.open_table(FRAMES)?,
            digests: txn.open_table(DIGESTS)?,
            expiry: txn.open_table(EXPIRY)?,
            by_rate: txn.open_table(BY_RATE)?,
            by_tag: txn.open_table(BY_TAG)?,
            by_arrival: txn.open_table(BY_ARRIVAL)?,
            meta,
            count,
            size,
        })
    }

    /// Writes the figures back; returns them.
    pub(super) fn finish(mut self) -> Result<(u64, u64), StoreError> {
        self.meta.insert(META_MESSAGES, self.count)?;
        self.meta.insert(META_BYTES, self.size)?;
        Ok((self.count, self.size))
    }

    /// Deletes one message from every table.
    pub(super) fn remove(
        &mut self,
        ttl: u32,
        digest: &[u8; 32],
        entry: &Entry,
    ) -> Result<(), StoreError> {
        self.expiry.remove((ttl, *digest))?;
        self.by_rate.remove((entry.rate, *digest))?;
        self.by_tag
            .remove((entry.id0, entry.received_at, *digest))?;
        self.by_arrival.remove((entry.received_at, *digest))?;
        self.digests.remove(digest)?;
        if self.frames.remove((entry.received_at, *digest))?.is_some() {
            self.count = self.count.saturating_sub(1);
            self.size = self.size.saturating_sub(u64::from(entry.len));
        }
        Ok(())
    }

    /// Deletes up to `limit` messages whose TTL is at or before `now`.
    pub(super) fn purge_due(&mut self, now: u64, limit: usize) -> Result<Swept, StoreError> {
        let cutoff = u32::try_from(now).unwrap_or(u32::MAX);
        let due: Vec<((u32, [u8; 32]), Entry)> = self
            .expiry
            .range(..=(cutoff, [0xff; 32]))?
            .take(limit + 1)
            .map(|e| e.map(|(k, v)| (k.value(), Entry::from_bytes(&v.value()))))
            .collect::<Result<_, _>>()?;
        let more = due.len() > limit;
        let mut deleted = 0;
        for ((ttl, digest), entry) in due.iter().take(limit) {
            self.remove(*ttl, digest, entry)?;
            deleted += 1;
        }
        Ok(Swept { deleted, more })
    }
}

impl Store {
    /// Deletes up to one chunk of messages whose TTL is at or before `now`, in one durable
    /// transaction, and says whether more are due.
    pub fn purge_expired(&self, now: u64) -> Result<Swept, StoreError> {
        let txn = self.db.begin_write()?;
        let (swept, figures) = {
            let mut tables = Tables::open(&txn)?;
            let swept = tables.purge_due(now, PURGE_CHUNK)?;
            if swept.deleted == 0 {
                return Ok(swept);
            }
            (swept, tables.finish()?)
        };
        txn.commit()?;
        self.set_stats(figures.0, figures.1);
        Ok(swept)
    }
}

impl Store {
    /// (TTL, digest) of every stored message whose TTL is after `after` (unix seconds), in
    /// (TTL, digest) order: the items history sync reconciles. Reads only the expiry index.
    pub fn items_after(&self, after: u64) -> Result<Vec<(u32, [u8; 32])>, StoreError> {
        let Ok(first) = u32::try_from(after.saturating_add(1)) else {
            return Ok(Vec::new());
        };
        let txn = self.db.begin_read()?;
        let expiry = txn.open_table(EXPIRY)?;
        let mut out = Vec::new();
        for entry in expiry.range((first, [0; 32])..)? {
            out.push(entry?.0.value());
        }
        Ok(out)
    }
}
