//! Player snapshot metrics: the write-behind pipeline and the store.

use metrics::{describe_counter, describe_gauge, describe_histogram};

/// Snapshots rooms captured (counter).
pub const SNAPSHOTS_CAPTURED: &str = "tickforge_snapshots_captured_total";
/// Snapshot hand-overs that found the writer's queue full and were
/// coalesced into the overflow map, latest per player (counter).
pub const SNAPSHOT_QUEUE_FULL: &str = "tickforge_snapshot_queue_full_total";
/// Distinct players with a snapshot not yet durable (gauge).
pub const SNAPSHOT_DIRTY_PLAYERS: &str = "tickforge_snapshot_dirty_players";
/// Age of the oldest snapshot not yet durable, seconds (gauge).
pub const SNAPSHOT_OLDEST_UNFLUSHED: &str = "tickforge_snapshot_oldest_unflushed_seconds";
/// Rows per snapshot write request (histogram).
pub const SNAPSHOT_FLUSH_BATCH: &str = "tickforge_snapshot_flush_batch_size";
/// Duration of snapshot write requests, seconds (histogram).
pub const SNAPSHOT_FLUSH_DURATION: &str = "tickforge_snapshot_flush_duration_seconds";
/// Snapshots durable in the store (counter).
pub const SNAPSHOTS_WRITTEN: &str = "tickforge_snapshots_written_total";
/// Failed snapshot write requests (counter; label `error`).
pub const SNAPSHOT_WRITE_ERRORS: &str = "tickforge_snapshot_write_errors_total";
/// Snapshots sent again after a failed write (counter).
pub const SNAPSHOT_RETRIES: &str = "tickforge_snapshot_retries_total";
/// Snapshots saved to the spill file at shutdown (counter).
pub const SNAPSHOTS_SPILLED: &str = "tickforge_snapshots_spilled_total";
/// Snapshots replayed from the spill file at start (counter).
pub const SNAPSHOTS_REPLAYED: &str = "tickforge_snapshots_replayed_total";
/// Saved-state loads for joining players (counter; label `source`).
pub const SNAPSHOT_LOADS: &str = "tickforge_snapshot_loads_total";
/// Expired guest snapshots removed by the embedded store's sweep
/// (`--guest-ttl`; the CQL store's rows expire by TTL, uncounted) (counter).
pub const GUEST_SNAPSHOTS_EXPIRED: &str = "tickforge_guest_snapshots_expired_total";

/// Saved-state loads in progress (claimed and waiting for the store or the
/// writer), bounded by `--snapshot-loads-max` (gauge).
pub const SNAPSHOT_LOADS_IN_FLIGHT: &str = "tickforge_snapshot_loads_in_flight";
/// Joins whose load found `--snapshot-loads-max` loads in progress and was
/// refused with `ServerBusy` (counter).
pub const SNAPSHOT_LOADS_REFUSED: &str = "tickforge_snapshot_loads_refused_total";
/// Loads repeated because the store held an older snapshot of the player
/// than the one they just left another node with (that node's writer had
/// not written it yet) (counter).
pub const SNAPSHOT_LOADS_BEHIND: &str = "tickforge_snapshot_loads_behind_total";
/// Players who left with saved state unchanged since its last write: no
/// snapshot was written for the leave (counter).
pub const SNAPSHOTS_UNCHANGED_ON_LEAVE: &str = "tickforge_snapshots_unchanged_on_leave_total";

/// Bucket bounds of [`SNAPSHOT_FLUSH_DURATION`], seconds (100 µs … 10 s).
pub const SNAPSHOT_FLUSH_BUCKETS: [f64; 14] = [
    100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1.0, 2.5, 10.0,
];
/// Bucket bounds of [`SNAPSHOT_FLUSH_BATCH`], rows.
pub const SNAPSHOT_BATCH_BUCKETS: [f64; 10] =
    [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 512.0, 4096.0];

/// `# HELP` text of the snapshot metrics.
pub fn describe_snapshots() {
    describe_counter!(SNAPSHOTS_CAPTURED, "Player snapshots captured by rooms.");
    describe_counter!(
        SNAPSHOT_QUEUE_FULL,
        "Snapshot hand-overs that found the writer queue full (coalesced, latest per player)."
    );
    describe_gauge!(
        SNAPSHOT_DIRTY_PLAYERS,
        "Distinct players with a snapshot not yet durable."
    );
    describe_gauge!(
        SNAPSHOT_OLDEST_UNFLUSHED,
        "Age of the oldest snapshot not yet durable, seconds."
    );
    describe_histogram!(SNAPSHOT_FLUSH_BATCH, "Rows per snapshot write request.");
    describe_histogram!(
        SNAPSHOT_FLUSH_DURATION,
        "Duration of snapshot write requests, seconds."
    );
    describe_counter!(SNAPSHOTS_WRITTEN, "Snapshots durable in the store.");
    describe_counter!(
        SNAPSHOT_WRITE_ERRORS,
        "Failed snapshot write requests, by error."
    );
    describe_counter!(
        SNAPSHOT_RETRIES,
        "Snapshots sent again after a failed write."
    );
    describe_counter!(
        SNAPSHOTS_SPILLED,
        "Snapshots saved to the local spill file at shutdown."
    );
    describe_counter!(
        SNAPSHOTS_REPLAYED,
        "Snapshots replayed from the spill file at start."
    );
    describe_counter!(
        SNAPSHOT_LOADS,
        "Saved-state loads for joining players, by source."
    );
    describe_gauge!(
        SNAPSHOT_LOADS_IN_FLIGHT,
        "Saved-state loads in progress (bounded by --snapshot-loads-max)."
    );
    describe_counter!(
        SNAPSHOT_LOADS_REFUSED,
        "Joins refused with ServerBusy because --snapshot-loads-max loads were in progress."
    );
    describe_counter!(
        SNAPSHOT_LOADS_BEHIND,
        "Loads repeated until the store held the snapshot a player left another node with."
    );
    describe_counter!(
        SNAPSHOTS_UNCHANGED_ON_LEAVE,
        "Leaves that wrote no snapshot: the saved state was unchanged since its last write."
    );
    describe_counter!(
        GUEST_SNAPSHOTS_EXPIRED,
        "Expired guest snapshots removed by the embedded store's sweep (--guest-ttl)."
    );
}
