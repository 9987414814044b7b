//! The table layout a store file holds: checked at open, layout 3 migrated to 4.

use super::{BY_ARRIVAL, EXPIRY, FRAMES, META, META_MESSAGES, META_SCHEMA, SCHEMA};
use crate::error::StoreError;
use redb::{Database, ReadableTable, TableDefinition};
use std::path::Path;

/// Layout 3's random-keyed tables, which layout 4 holds in memory instead. Its `frames`,
/// `expiry`, `by_arrival` and `meta` are layout 4's unchanged.
const LAYOUT3_DIGESTS: TableDefinition<[u8; 32], u64> = TableDefinition::new("digests");
const LAYOUT3_BY_RATE: TableDefinition<(u64, [u8; 32]), u32> = TableDefinition::new("by_rate");
const LAYOUT3_BY_TAG: TableDefinition<([u8; 32], u64, [u8; 32]), u32> =
    TableDefinition::new("by_tag");

/// Makes sure `db` holds layout [`SCHEMA`], in one transaction: records it in a new store,
/// migrates a layout-3 store (drops the tables layout 4 no longer keeps) and refuses any
/// other layout without changing the file.
pub(super) fn prepare(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let schema = meta.get(META_SCHEMA)?.map(|v| v.value());
        let count = meta.get(META_MESSAGES)?.map_or(0, |v| v.value());
        match schema {
            Some(SCHEMA) => {}
            Some(3) => {
                txn.delete_table(LAYOUT3_DIGESTS)?;
                txn.delete_table(LAYOUT3_BY_RATE)?;
                txn.delete_table(LAYOUT3_BY_TAG)?;
                meta.insert(META_SCHEMA, SCHEMA)?;
                tracing::info!(
                    path = %path.display(),
                    messages = count,
                    "store migrated from table layout 3 to {SCHEMA}"
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
        txn.open_table(BY_ARRIVAL)?;
    }
    txn.commit()?;
    Ok(())
}
