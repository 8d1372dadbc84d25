//! The write-behind pipeline's metric handles, resolved once (names in
//! [`crate::metrics`]).

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use super::store::StoreError;
use crate::metrics as m;

/// Where a joining player's saved state came from (`source` of
/// `tickforge_snapshot_loads_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Unwritten snapshot held by the writer.
    Pending,
    /// The store.
    Store,
    /// No snapshot anywhere: a new player.
    None,
    /// Not in time, or the store failed: the join was refused.
    Failed,
}

impl LoadSource {
    /// Every source, in label order.
    pub const ALL: [LoadSource; 4] = [
        LoadSource::Pending,
        LoadSource::Store,
        LoadSource::None,
        LoadSource::Failed,
    ];

    /// Stable label.
    pub fn label(self) -> &'static str {
        match self {
            LoadSource::Pending => "pending",
            LoadSource::Store => "store",
            LoadSource::None => "none",
            LoadSource::Failed => "failed",
        }
    }
}

/// Metric handles of the snapshot pipeline.
pub struct SnapshotStats {
    /// Snapshots rooms captured.
    pub captured: Counter,
    /// Hand-overs that found the queue full (coalesced into the overflow map).
    pub queue_full: Counter,
    /// Distinct players with an unwritten snapshot.
    pub dirty: Gauge,
    /// Age of the oldest unwritten snapshot, seconds.
    pub oldest: Gauge,
    /// Rows per write request.
    pub batch_rows: Histogram,
    /// Duration of write requests, seconds.
    pub flush_seconds: Histogram,
    /// Snapshots durable in the store.
    pub written: Counter,
    /// Snapshots sent again after a failed write.
    pub retries: Counter,
    /// Snapshots saved to the spill file at shutdown.
    pub spilled: Counter,
    /// Snapshots read back from the spill file at start.
    pub replayed: Counter,
    /// Expired guest snapshots the store's sweep removed.
    pub expired: Counter,
    /// Saved-state loads in progress.
    pub loads_in_flight: Gauge,
    /// Loads refused at `--snapshot-loads-max`.
    pub loads_refused: Counter,
    /// Leaves with unchanged saved state (no snapshot written).
    pub unchanged_on_leave: Counter,
    /// Loads repeated because the store held an older snapshot than the
    /// one the player left another node with.
    pub loads_behind: Counter,
    errors: Vec<Counter>,
    loads: Vec<Counter>,
}

impl SnapshotStats {
    /// Resolves (and zeroes) every series.
    pub fn new() -> SnapshotStats {
        m::describe_snapshots();
        let s = SnapshotStats {
            captured: counter!(m::SNAPSHOTS_CAPTURED),
            queue_full: counter!(m::SNAPSHOT_QUEUE_FULL),
            dirty: gauge!(m::SNAPSHOT_DIRTY_PLAYERS),
            oldest: gauge!(m::SNAPSHOT_OLDEST_UNFLUSHED),
            batch_rows: histogram!(m::SNAPSHOT_FLUSH_BATCH),
            flush_seconds: histogram!(m::SNAPSHOT_FLUSH_DURATION),
            written: counter!(m::SNAPSHOTS_WRITTEN),
            retries: counter!(m::SNAPSHOT_RETRIES),
            spilled: counter!(m::SNAPSHOTS_SPILLED),
            replayed: counter!(m::SNAPSHOTS_REPLAYED),
            expired: counter!(m::GUEST_SNAPSHOTS_EXPIRED),
            loads_in_flight: gauge!(m::SNAPSHOT_LOADS_IN_FLIGHT),
            loads_refused: counter!(m::SNAPSHOT_LOADS_REFUSED),
            unchanged_on_leave: counter!(m::SNAPSHOTS_UNCHANGED_ON_LEAVE),
            loads_behind: counter!(m::SNAPSHOT_LOADS_BEHIND),
            errors: StoreError::LABELS
                .iter()
                .map(|l| counter!(m::SNAPSHOT_WRITE_ERRORS, "error" => *l))
                .collect(),
            loads: LoadSource::ALL
                .iter()
                .map(|s| counter!(m::SNAPSHOT_LOADS, "source" => s.label()))
                .collect(),
        };
        for c in [
            &s.captured,
            &s.queue_full,
            &s.written,
            &s.retries,
            &s.spilled,
            &s.replayed,
            &s.expired,
            &s.loads_refused,
            &s.unchanged_on_leave,
            &s.loads_behind,
        ]
        .into_iter()
        .chain(&s.errors)
        .chain(&s.loads)
        {
            c.absolute(0);
        }
        s.dirty.set(0.0);
        s.oldest.set(0.0);
        s.loads_in_flight.set(0.0);
        s
    }

    /// Counts one failed write request.
    pub fn write_error(&self, e: &StoreError) {
        if let Some(i) = StoreError::LABELS.iter().position(|l| *l == e.label()) {
            self.errors[i].increment(1);
        }
    }

    /// Counts one join's load.
    pub fn load(&self, source: LoadSource) {
        self.loads[source as usize].increment(1);
    }
}

impl Default for SnapshotStats {
    fn default() -> Self {
        Self::new()
    }
}
