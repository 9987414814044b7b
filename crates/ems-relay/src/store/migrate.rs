//! Rewriting the frames and expiry index of a layout-3, 4 or 5 store as layout 6 wants them:
//! each message numbered in the store's arrival sequence, in the order it was received.

use super::{field, Entry, EXPIRY, FRAMES};
use crate::error::StoreError;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use std::collections::HashMap;

/// Layouts 3–5's frames, keyed by (received-at, digest).
const OLD_FRAMES: TableDefinition<(u64, [u8; 32]), &[u8]> = TableDefinition::new("frames");
/// Layouts 3–5's expiry index, whose entries had no sequence number.
const OLD_EXPIRY: TableDefinition<(u32, [u8; 32]), [u8; OLD_ENTRY]> =
    TableDefinition::new("expiry");
/// Where the old tables are moved while they are copied (within the migrating transaction).
const MOVED_FRAMES: TableDefinition<(u64, [u8; 32]), &[u8]> =
    TableDefinition::new("frames_layout5");
const MOVED_EXPIRY: TableDefinition<(u32, [u8; 32]), [u8; OLD_ENTRY]> =
    TableDefinition::new("expiry_layout5");
/// received-at ‖ `ID0` ‖ length ‖ rate.
const OLD_ENTRY: usize = 52;

/// Copies every message into layout 6's `frames` and `expiry`, numbering them in the order of
/// the old frame keys, and drops the old tables; all in `txn`, so that a crash leaves the old
/// layout whole. A frame without an expiry entry (which no layout ever wrote) is not copied.
pub(super) fn rewrite(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.rename_table(OLD_FRAMES, MOVED_FRAMES)?;
    txn.rename_table(OLD_EXPIRY, MOVED_EXPIRY)?;
    let mut copied = 0;
    {
        let old_frames = txn.open_table(MOVED_FRAMES)?;
        let old_expiry = txn.open_table(MOVED_EXPIRY)?;
        let mut expiry = txn.open_table(EXPIRY)?;
        // Numbered in the frames' order first, written once their expiry entries are found.
        let mut numbered: HashMap<[u8; 32], (u64, u64)> = HashMap::new();
        for (seq, row) in old_frames.iter()?.enumerate() {
            let (at, digest) = row?.0.value();
            numbered.insert(digest, (at, seq as u64));
        }
        let mut frames = txn.open_table(FRAMES)?;
        let mut value = Vec::new();
        for row in old_expiry.iter()? {
            let (key, old) = row?;
            let (ttl, digest) = key.value();
            let Some((at, seq)) = numbered.remove(&digest) else {
                continue;
            };
            let Some(wire) = old_frames.get((at, digest))? else {
                continue;
            };
            value.clear();
            value.extend_from_slice(&digest);
            value.extend_from_slice(wire.value());
            frames.insert((at, seq), value.as_slice())?;
            let entry = upgraded(&old.value(), digest, seq);
            expiry.insert((ttl, seq), entry.to_bytes())?;
            copied += 1;
        }
    }
    txn.delete_table(MOVED_FRAMES)?;
    txn.delete_table(MOVED_EXPIRY)?;
    Ok(copied)
}

/// A layout-5 expiry entry with its digest and sequence number added.
fn upgraded(old: &[u8; OLD_ENTRY], digest: [u8; 32], seq: u64) -> Entry {
    Entry {
        digest,
        received_at: u64::from_be_bytes(field(old, 0)),
        seq,
        id0: field(old, 8),
        len: u32::from_be_bytes(field(old, 40)),
        rate: u64::from_be_bytes(field(old, 44)),
    }
}
