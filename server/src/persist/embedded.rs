//! The default store: one `redb` database file on local disk (crash-safe:
//! copy-on-write B-trees, every commit durable). Writes run on tokio's
//! blocking pool, one transaction per write; a row older than the stored
//! one by capture time is skipped, like `USING TIMESTAMP` in CQL.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::Snapshot;
use super::record::{decode_value, encode_value, stamp_of};
use super::store::{SnapshotStore, StoreError};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("player_snapshots");

/// Most rows per transaction.
const MAX_ROWS: usize = 4096;

/// Snapshots in a local `redb` file.
pub struct EmbeddedStore {
    db: Arc<Database>,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

impl EmbeddedStore {
    /// Opens (or creates) the database file and its table. Idempotent.
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Schema(e.to_string()))?;
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(TABLE)
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        txn.commit().map_err(io)?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }
}

fn write_rows(db: &Database, rows: &[Snapshot]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(io)?;
    {
        let mut table = txn.open_table(TABLE).map_err(io)?;
        let mut value = Vec::with_capacity(128);
        for row in rows {
            let stored = table
                .get(&*row.player_id)
                .map_err(io)?
                .and_then(|v| stamp_of(v.value()).ok());
            if stored.is_some_and(|stamp| stamp >= (row.captured_us, row.version)) {
                continue;
            }
            value.clear();
            encode_value(row, &mut value);
            table
                .insert(&*row.player_id, value.as_slice())
                .map_err(io)?;
        }
    }
    txn.commit().map_err(io)
}

impl SnapshotStore for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn partition(&self, _player_id: &str) -> u32 {
        0
    }

    fn max_rows(&self) -> usize {
        MAX_ROWS
    }

    async fn write(&self, rows: &[Snapshot]) -> Result<(), StoreError> {
        let db = self.db.clone();
        let rows = rows.to_vec();
        tokio::task::spawn_blocking(move || write_rows(&db, &rows))
            .await
            .map_err(io)?
    }

    async fn load(&self, player_id: Arc<str>) -> Result<Option<Snapshot>, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(io)?;
            let table = txn.open_table(TABLE).map_err(io)?;
            let Some(value) = table.get(&*player_id).map_err(io)? else {
                return Ok(None);
            };
            decode_value(player_id.clone(), value.value())
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .await
        .map_err(io)?
    }
}
