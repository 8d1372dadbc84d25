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
//!
//! One insert statement serves every row: `USING TTL ? AND TIMESTAMP ?`,
//! with TTL 0 (none) for a snapshot that never expires and, for a guest's,
//! the seconds left until its expiry (rounded up, 1 s to 20 years), so the
//! database removes it then and a retried write keeps the same expiry.
//! A batch stays one partition whatever its mix of guests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::Snapshot;
use super::options::{CqlTarget, MAX_GUEST_TTL};
use super::store::{SnapshotStore, StoreError};
use crate::clock;

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
                 VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
            ))
            .await
            .map_err(schema)?;
        insert.set_is_idempotent(true);
        insert.set_request_timeout(Some(write_timeout));
        let mut select = session
            .prepare(format!(
                "SELECT room_id, version, captured_us, state, TTL(state) \
                 FROM {ks}.player_snapshots \
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

type Row<'a> = (i32, &'a str, &'a str, i64, i64, &'a [u8], i32, i64);

/// The TTL of a row written at `now_us`, in seconds: 0 (none) when it never
/// expires, `None` when it has expired already (not written).
pub fn ttl_seconds(s: &Snapshot, now_us: u64) -> Option<i32> {
    let Some(at) = s.expires_us else {
        return Some(0);
    };
    let left_us = at.checked_sub(now_us).filter(|left| *left > 0)?;
    let secs = left_us.div_ceil(1_000_000).min(MAX_GUEST_TTL.as_secs());
    Some(i32::try_from(secs).unwrap_or(i32::MAX))
}

fn row(s: &Snapshot, ttl: i32) -> Row<'_> {
    let captured = i64::try_from(s.captured_us).unwrap_or(i64::MAX);
    (
        bucket(&s.player_id) as i32,
        &s.player_id,
        &s.room_id,
        i64::try_from(s.version).unwrap_or(i64::MAX),
        captured,
        &s.state,
        ttl,
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
        let now = clock::now_micros();
        let values: Vec<Row<'_>> = rows
            .iter()
            .filter_map(|s| ttl_seconds(s, now).map(|ttl| row(s, ttl)))
            .collect();
        match values.as_slice() {
            [] => return Ok(()),
            [one] => {
                self.session
                    .execute_unpaged(&self.insert, one)
                    .await
                    .map_err(execution)?;
                return Ok(());
            }
            _ => {}
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in &values {
            batch.append_statement(self.insert.clone());
        }
        batch.set_is_idempotent(true);
        batch.set_request_timeout(self.insert.get_request_timeout());
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
            .maybe_first_row::<(String, i64, i64, Vec<u8>, Option<i32>)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = clock::now_micros();
        Ok(found.map(|(room, version, captured, state, ttl)| Snapshot {
            player_id,
            room_id: Arc::from(room),
            version: u64::try_from(version).unwrap_or(0),
            captured_us: u64::try_from(captured).unwrap_or(0),
            state: Bytes::from(state),
            expires_us: ttl.map(|secs| {
                now.saturating_add(u64::try_from(secs).unwrap_or(0).saturating_mul(1_000_000))
            }),
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

    #[test]
    fn a_guest_row_gets_the_seconds_left_as_its_ttl_and_others_get_none() {
        let now = 1_700_000_000_000_000;
        let snap = |expires_us| Snapshot {
            player_id: Arc::from("g_x"),
            room_id: Arc::from("r"),
            version: 1,
            captured_us: now,
            state: Bytes::new(),
            expires_us,
        };
        assert_eq!(ttl_seconds(&snap(None), now), Some(0), "0: no TTL");
        assert_eq!(
            ttl_seconds(&snap(Some(now + 7_200_000_000)), now),
            Some(7200)
        );
        assert_eq!(
            ttl_seconds(&snap(Some(now + 1)), now),
            Some(1),
            "rounded up"
        );
        assert_eq!(
            ttl_seconds(&snap(Some(now)), now),
            None,
            "expired: not written"
        );
        assert_eq!(
            ttl_seconds(&snap(Some(u64::MAX)), now),
            Some(630_720_000),
            "Cassandra's limit: 20 years"
        );
    }
}
