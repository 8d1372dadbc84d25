//! The default store: one `redb` database file on local disk (crash-safe:
//! copy-on-write B-trees, every commit durable). Writes run on tokio's
//! blocking pool, one transaction per write; a row older than the stored
//! one by capture time is skipped, like `USING TIMESTAMP` in CQL.
//!
//! Guests' snapshots expire (`--guest-ttl`). Their records carry the expiry
//! ([`super::record`] format 2), and a second table indexes them by expiry
//! time, `(expires_us, player_id)`, updated in the same transaction as the
//! record. A load of an expired record finds nothing at once; the writer
//! removes expired records with [`SnapshotStore::sweep_expired`], the
//! oldest first, a bounded number per transaction. Databases written
//! before expiry existed open unchanged: their records never expire and
//! the index table is created empty.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::Snapshot;
use super::record::{decode_value, encode_value, head_of};
use super::store::{SnapshotStore, StoreError};
use crate::clock;

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("player_snapshots");
/// Expiring records by expiry time: `(expires_us, player_id)`.
const EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("snapshot_expiry");

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
    /// Opens (or creates) the database file and its tables. Idempotent.
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Schema(e.to_string()))?;
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(TABLE)
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        txn.open_table(EXPIRY)
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        txn.commit().map_err(io)?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }
}

/// Writes `rows` (newer than what is stored, not yet expired at `now_us`)
/// and keeps the expiry index in step.
fn write_rows(db: &Database, rows: &[Snapshot], now_us: u64) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(io)?;
    {
        let mut table = txn.open_table(TABLE).map_err(io)?;
        let mut expiry = txn.open_table(EXPIRY).map_err(io)?;
        let mut value = Vec::with_capacity(128);
        for row in rows.iter().filter(|r| !r.is_expired(now_us)) {
            let stored = table
                .get(&*row.player_id)
                .map_err(io)?
                .and_then(|v| head_of(v.value()).ok());
            if stored.is_some_and(|head| head.stamp() >= (row.captured_us, row.version)) {
                continue;
            }
            if let Some(old) = stored.and_then(|head| head.expires_us) {
                expiry.remove((old, &*row.player_id)).map_err(io)?;
            }
            value.clear();
            encode_value(row, &mut value);
            table
                .insert(&*row.player_id, value.as_slice())
                .map_err(io)?;
            if let Some(at) = row.expires_us {
                expiry.insert((at, &*row.player_id), ()).map_err(io)?;
            }
        }
    }
    txn.commit().map_err(io)
}

/// Removes up to `limit` records expired at `now_us`, oldest expiry first.
fn sweep(db: &Database, now_us: u64, limit: usize) -> Result<usize, StoreError> {
    let txn = db.begin_write().map_err(io)?;
    let mut removed = 0;
    {
        let mut table = txn.open_table(TABLE).map_err(io)?;
        let mut expiry = txn.open_table(EXPIRY).map_err(io)?;
        let mut due: Vec<(u64, String)> = Vec::new();
        for entry in expiry
            .range(..(now_us.saturating_add(1), ""))
            .map_err(io)?
            .take(limit)
        {
            let (key, _) = entry.map_err(io)?;
            let (at, player) = key.value();
            due.push((at, player.to_string()));
        }
        for (at, player) in &due {
            expiry.remove((*at, player.as_str())).map_err(io)?;
            // The index follows every write, but check the record itself:
            // only a record with this very expiry goes.
            let expires = table
                .get(player.as_str())
                .map_err(io)?
                .and_then(|v| head_of(v.value()).ok())
                .and_then(|head| head.expires_us);
            if expires == Some(*at) {
                table.remove(player.as_str()).map_err(io)?;
                removed += 1;
            }
        }
    }
    txn.commit().map_err(io)?;
    Ok(removed)
}

fn load(db: &Database, player_id: Arc<str>, now_us: u64) -> Result<Option<Snapshot>, StoreError> {
    let txn = db.begin_read().map_err(io)?;
    let table = txn.open_table(TABLE).map_err(io)?;
    let Some(value) = table.get(&*player_id).map_err(io)? else {
        return Ok(None);
    };
    let snapshot = decode_value(player_id.clone(), value.value())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // Expired but not swept yet: as good as gone.
    Ok((!snapshot.is_expired(now_us)).then_some(snapshot))
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
        tokio::task::spawn_blocking(move || write_rows(&db, &rows, clock::now_micros()))
            .await
            .map_err(io)?
    }

    async fn load(&self, player_id: Arc<str>) -> Result<Option<Snapshot>, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || load(&db, player_id, clock::now_micros()))
            .await
            .map_err(io)?
    }

    async fn sweep_expired(&self, now_us: u64, limit: usize) -> Result<usize, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || sweep(&db, now_us, limit))
            .await
            .map_err(io)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const NOW: u64 = 1_700_000_000_000_000;

    fn snap(player: &str, version: u64, expires_us: Option<u64>) -> Snapshot {
        Snapshot {
            player_id: Arc::from(player),
            room_id: Arc::from("r"),
            version,
            captured_us: NOW - 10_000_000 + version,
            state: Bytes::from(vec![version as u8; 8]),
            expires_us,
        }
    }

    fn temp_db(name: &str) -> (std::path::PathBuf, Database) {
        let dir =
            std::env::temp_dir().join(format!("tickforge-embedded-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("snapshots.redb");
        let store = EmbeddedStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        let db = Database::create(&path).unwrap_or_else(|e| panic!("{e}"));
        (dir, db)
    }

    fn indexed(db: &Database) -> Vec<(u64, String)> {
        let txn = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
        let expiry = txn.open_table(EXPIRY).unwrap_or_else(|e| panic!("{e}"));
        expiry
            .iter()
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|entry| {
                let (key, _) = entry.unwrap_or_else(|e| panic!("{e}"));
                let (at, player) = key.value();
                (at, player.to_string())
            })
            .collect()
    }

    #[test]
    fn an_expired_guest_record_loads_as_nothing_before_and_after_its_sweep() {
        let (dir, db) = temp_db("expiry");
        let rows = [
            snap("g_old", 1, Some(NOW + 1_000)),
            snap("g_fresh", 1, Some(NOW + 60_000_000)),
            snap("player", 1, None),
        ];
        write_rows(&db, &rows, NOW).unwrap_or_else(|e| panic!("{e}"));
        let load_at = |player: &str, at: u64| {
            load(&db, Arc::from(player), at)
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|s| s.version)
        };
        assert_eq!(load_at("g_old", NOW), Some(1), "fresh: restored");
        let later = NOW + 2_000;
        assert_eq!(load_at("g_old", later), None, "expired, not yet swept");
        assert_eq!(load_at("g_fresh", later), Some(1));
        assert_eq!(load_at("player", u64::MAX), Some(1), "never expires");

        assert_eq!(sweep(&db, later, 10).ok(), Some(1));
        assert_eq!(load_at("g_old", NOW), None, "removed");
        assert_eq!(
            indexed(&db),
            vec![(NOW + 60_000_000, "g_fresh".to_string())]
        );
        assert_eq!(sweep(&db, later, 10).ok(), Some(0), "nothing else is due");
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_rewritten_guest_record_moves_its_index_entry_and_a_sweep_is_bounded() {
        let (dir, db) = temp_db("rewrite");
        write_rows(&db, &[snap("g_a", 1, Some(NOW + 5))], NOW).unwrap_or_else(|e| panic!("{e}"));
        write_rows(&db, &[snap("g_a", 2, Some(NOW + 50))], NOW).unwrap_or_else(|e| panic!("{e}"));
        write_rows(&db, &[snap("g_a", 1, Some(NOW + 5))], NOW).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            indexed(&db),
            vec![(NOW + 50, "g_a".to_string())],
            "one entry per record; an older write is skipped"
        );
        assert_eq!(sweep(&db, NOW + 10, 10).ok(), Some(0), "not due yet");

        let many: Vec<Snapshot> = (0..25)
            .map(|i| snap(&format!("g_{i}"), 1, Some(NOW + 1)))
            .collect();
        write_rows(&db, &many, NOW).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            write_rows(&db, &[snap("g_late", 1, Some(NOW))], NOW).ok(),
            Some(()),
            "a row already expired is not written"
        );
        let sweeps: Vec<usize> = (0..4)
            .map(|_| sweep(&db, NOW + 100, 10).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(sweeps, vec![10, 10, 6, 0], "at most 10 per sweep");
        assert!(indexed(&db).is_empty());
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }
}
