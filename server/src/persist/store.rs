//! The [`SnapshotStore`] trait that the write-behind writer drives, and the
//! errors a store reports (with stable labels for metrics).

use std::future::Future;
use std::sync::Arc;

use super::Snapshot;

/// Durable storage of player snapshots, last write wins by capture time.
///
/// The writer groups rows by [`SnapshotStore::partition`] and never puts
/// rows of two partitions into one [`SnapshotStore::write`]; it bounds rows
/// and bytes per write by the store's limits and the configuration.
pub trait SnapshotStore: Send + Sync + 'static {
    /// Stable name (`embedded`, `scylla`) for logs.
    fn name(&self) -> &'static str;
    /// The partition a player's row lives in.
    fn partition(&self, player_id: &str) -> u32;
    /// Most rows one write may carry.
    fn max_rows(&self) -> usize;
    /// Writes rows of one partition. Writing a row older than the stored
    /// one (by capture time) leaves the stored one; repeating a write is
    /// harmless. A row with [`Snapshot::expires_us`] expires then; a row
    /// already expired is not written.
    fn write(&self, rows: &[Snapshot]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The stored snapshot of a player, if any and not expired.
    fn load(
        &self,
        player_id: Arc<str>,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;
    /// Removes up to `limit` snapshots expired at `now_us` and returns how
    /// many it removed. The default does nothing, for databases that expire
    /// rows themselves (CQL `USING TTL`).
    fn sweep_expired(
        &self,
        now_us: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let _ = (now_us, limit);
        async { Ok(0) }
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// No connection to the database.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// No answer in time.
    #[error("store timed out")]
    Timeout,
    /// The database answered with an error.
    #[error("store refused the request: {0}")]
    Rejected(String),
    /// A stored row could not be read back.
    #[error("stored row unreadable: {0}")]
    Corrupt(String),
    /// The local disk failed (embedded store, spill file).
    #[error("local storage: {0}")]
    Io(String),
    /// Creating the keyspace, table or statements failed.
    #[error("schema: {0}")]
    Schema(String),
}

impl StoreError {
    /// Every label, in order (series that exist at zero from the start).
    pub const LABELS: [&'static str; 6] = [
        "unavailable",
        "timeout",
        "rejected",
        "corrupt",
        "io",
        "schema",
    ];

    /// Stable label (`error` of `tickforge_snapshot_write_errors_total`).
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => Self::LABELS[0],
            StoreError::Timeout => Self::LABELS[1],
            StoreError::Rejected(_) => Self::LABELS[2],
            StoreError::Corrupt(_) => Self::LABELS[3],
            StoreError::Io(_) => Self::LABELS[4],
            StoreError::Schema(_) => Self::LABELS[5],
        }
    }
}
