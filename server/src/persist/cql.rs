//! The ScyllaDB store (any CQL database: ScyllaDB, Cassandra), through the
//! `scylla` driver.
//!
//! Table `player_snapshots`, partitioned by a bucket of the player id
//! ([`BUCKETS`] buckets) so that one unlogged batch can carry many players
//! of one partition — the only kind of batch this store sends (a batch over
//! several partitions costs a coordinator round per partition). Statements
//! are prepared, marked idempotent and carry `USING TIMESTAMP` = the
//! snapshot's capture time, so a retried or late write never overwrites a
//! newer one. Schema creation is idempotent ([`migrate`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::Snapshot;
use super::options::CqlTarget;
use super::store::{SnapshotStore, StoreError};

/// Partitions of the snapshot table. Fixed: rows are found by it.
pub const BUCKETS: u32 = 128;

/// Snapshots in a CQL keyspace.
pub struct CqlStore {
    session: Session,
    insert: PreparedStatement,
    select: PreparedStatement,
    max_rows: usize,
}

/// The bucket (partition) of a player id: FNV-1a, stable across versions.
pub fn bucket(player_id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in player_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % BUCKETS
}

fn schema(e: impl std::fmt::Display) -> StoreError {
    StoreError::Schema(e.to_string())
}

fn execution(e: ExecutionError) -> StoreError {
    match e {
        ExecutionError::RequestTimeout(_) => StoreError::Timeout,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(_, _)) => {
            StoreError::Rejected(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// Connects to the cluster within `timeout`.
pub async fn connect(target: &CqlTarget, timeout: Duration) -> Result<Session, StoreError> {
    let builder = SessionBuilder::new()
        .known_nodes(&target.nodes)
        .connection_timeout(timeout);
    match tokio::time::timeout(timeout, builder.build()).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(StoreError::Unavailable(e.to_string())),
        Err(_) => Err(StoreError::Timeout),
    }
}

/// Creates the keyspace (replication factor 1 when it does not exist yet:
/// change it with `ALTER KEYSPACE` for a cluster) and the table. Idempotent.
pub async fn migrate(session: &Session, keyspace: &str) -> Result<(), StoreError> {
    let statements = [
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.player_snapshots (\
             bucket int, player_id text, room_id text, version bigint, \
             captured_us bigint, state blob, PRIMARY KEY ((bucket), player_id))"
        ),
    ];
    for cql in statements {
        session.query_unpaged(cql, &[]).await.map_err(schema)?;
    }
    session.await_schema_agreement().await.map_err(schema)?;
    Ok(())
}

impl CqlStore {
    /// Connects, creates the schema and prepares the statements.
    pub async fn open(
        target: &CqlTarget,
        connect_timeout: Duration,
        write_timeout: Duration,
        max_rows: usize,
    ) -> Result<CqlStore, StoreError> {
        let session = connect(target, connect_timeout).await?;
        migrate(&session, &target.keyspace).await?;
        let ks = &target.keyspace;
        let mut insert = session
            .prepare(format!(
                "INSERT INTO {ks}.player_snapshots \
                 (bucket, player_id, room_id, version, captured_us, state) \
                 VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
            ))
            .await
            .map_err(schema)?;
        insert.set_is_idempotent(true);
        insert.set_request_timeout(Some(write_timeout));
        let mut select = session
            .prepare(format!(
                "SELECT room_id, version, captured_us, state FROM {ks}.player_snapshots \
                 WHERE bucket = ? AND player_id = ?"
            ))
            .await
            .map_err(schema)?;
        select.set_is_idempotent(true);
        select.set_request_timeout(Some(write_timeout));
        Ok(CqlStore {
            session,
            insert,
            select,
            max_rows,
        })
    }
}

type Row<'a> = (i32, &'a str, &'a str, i64, i64, &'a [u8], i64);

fn row(s: &Snapshot) -> Row<'_> {
    let captured = i64::try_from(s.captured_us).unwrap_or(i64::MAX);
    (
        bucket(&s.player_id) as i32,
        &s.player_id,
        &s.room_id,
        i64::try_from(s.version).unwrap_or(i64::MAX),
        captured,
        &s.state,
        captured,
    )
}

impl SnapshotStore for CqlStore {
    fn name(&self) -> &'static str {
        "scylla"
    }

    fn partition(&self, player_id: &str) -> u32 {
        bucket(player_id)
    }

    fn max_rows(&self) -> usize {
        self.max_rows
    }

    async fn write(&self, rows: &[Snapshot]) -> Result<(), StoreError> {
        if let [one] = rows {
            self.session
                .execute_unpaged(&self.insert, row(one))
                .await
                .map_err(execution)?;
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in rows {
            batch.append_statement(self.insert.clone());
        }
        batch.set_is_idempotent(true);
        batch.set_request_timeout(self.insert.get_request_timeout());
        let values: Vec<Row<'_>> = rows.iter().map(row).collect();
        self.session
            .batch(&batch, values)
            .await
            .map_err(execution)?;
        Ok(())
    }

    async fn load(&self, player_id: Arc<str>) -> Result<Option<Snapshot>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.select, (bucket(&player_id) as i32, &*player_id))
            .await
            .map_err(execution)?;
        let rows = result
            .into_rows_result()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let found = rows
            .maybe_first_row::<(String, i64, i64, Vec<u8>)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(found.map(|(room, version, captured, state)| Snapshot {
            player_id,
            room_id: Arc::from(room),
            version: u64::try_from(version).unwrap_or(0),
            captured_us: u64::try_from(captured).unwrap_or(0),
            state: Bytes::from(state),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket("alice"), bucket("alice"));
        let used: std::collections::HashSet<u32> =
            (0..10_000).map(|i| bucket(&format!("p{i}"))).collect();
        assert_eq!(used.len(), BUCKETS as usize);
    }
}
