//! The table layout a store file holds: checked at open, layouts 3 to 5 migrated to 6.

use super::{migrate, EXPIRY, FRAMES, META, META_MESSAGES, META_SCHEMA, SCHEMA};
use crate::error::StoreError;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use std::path::Path;

/// Layout 3's random-keyed tables, which later layouts hold in memory instead.
const LAYOUT3_DIGESTS: TableDefinition<[u8; 32], u64> = TableDefinition::new("digests");
const LAYOUT3_BY_RATE: TableDefinition<(u64, [u8; 32]), u32> = TableDefinition::new("by_rate");
const LAYOUT3_BY_TAG: TableDefinition<([u8; 32], u64, [u8; 32]), u32> =
    TableDefinition::new("by_tag");
/// Layouts 3 and 4's arrival index, which repeated the keys of `frames` (later layouts read
/// the arrival order from `frames` itself).
const LAYOUT4_BY_ARRIVAL: TableDefinition<(u64, [u8; 32]), u32> =
    TableDefinition::new("by_arrival");

/// Makes sure `db` holds layout [`SCHEMA`], in one transaction: records it in a new store,
/// migrates a layout-3, 4 or 5 store (drops the tables layout 6 no longer keeps, and rewrites
/// `frames` and `expiry` with arrival sequence numbers) and refuses any other layout without
/// changing the file.
pub(super) fn prepare(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let schema = meta.get(META_SCHEMA)?.map(|v| v.value());
        let count = meta.get(META_MESSAGES)?.map_or(0, |v| v.value());
        match schema {
            Some(SCHEMA) => {}
            Some(old @ 3..=5) => {
                drop_old_tables(&txn, old)?;
                let copied = migrate::rewrite(&txn)?;
                meta.insert(META_SCHEMA, SCHEMA)?;
                tracing::info!(
                    path = %path.display(),
                    messages = count,
                    copied,
                    "store migrated from table layout {old} to {SCHEMA}"
                );
            }
            None if count == 0 => {
                meta.insert(META_SCHEMA, SCHEMA)?;
            }
            found => {
                return Err(StoreError::Schema {
                    path: path.display().to_string(),
                    found: found.unwrap_or(1),
                    expected: SCHEMA,
                })
            }
        }
        txn.open_table(FRAMES)?;
        txn.open_table(EXPIRY)?;
    }
    txn.commit()?;
    Ok(())
}

/// Drops the tables that layout `old` kept and layout [`SCHEMA`] does not.
fn drop_old_tables(txn: &WriteTransaction, old: u64) -> Result<(), StoreError> {
    if old == 3 {
        txn.delete_table(LAYOUT3_DIGESTS)?;
        txn.delete_table(LAYOUT3_BY_RATE)?;
        txn.delete_table(LAYOUT3_BY_TAG)?;
    }
    if old <= 4 {
        txn.delete_table(LAYOUT4_BY_ARRIVAL)?;
    }
    Ok(())
}
