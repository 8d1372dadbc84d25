//! The write-behind writer's run loop: the one owner of the unwritten
//! snapshots ([`Pending`]).
//!
//! Each turn takes what rooms handed over (queue, then overflow map), and
//! flushes on the timer or once `--snapshot-flush-size` snapshots wait:
//! dirty players are grouped by partition into write requests, at most
//! `--snapshot-in-flight` at once. A failed request puts its rows back
//! (unless newer ones arrived) and pauses flushing for an exponential
//! back-off with jitter. Loads are answered from the unwritten snapshots
//! first, then from the store; an expired guest snapshot is not found.
//! Every `--guest-sweep-ms` (and once at start) it asks the store to
//! remove expired guest snapshots, at most [`SWEEP_LIMIT`] at a time on the
//! store's own task, so the loop never waits for it; a full sweep is
//! followed by another at once. At shutdown it keeps flushing until every
//! room has stopped and nothing is left, or until the deadline; then, once
//! every room has stopped, the rest goes to the spill file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::handle::{LoadError, LoadRequest, Shared};
use super::options::SnapshotOptions;
use super::pending::{Group, Pending};
use super::spill;
use super::stats::LoadSource;
use super::store::{SnapshotStore, StoreError};
use super::{Snapshot, stats::SnapshotStats};
use crate::clock;

/// How often the dirty-players and oldest-age gauges are refreshed.
const GAUGE_PERIOD: Duration = Duration::from_millis(500);
/// Most expired snapshots one sweep removes (one store transaction).
pub(crate) const SWEEP_LIMIT: usize = 1000;

/// When the writer stops.
pub(crate) struct Stop {
    /// Cancelled when the node begins shutting down.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled once every room has stopped (no more snapshots come).
    pub(crate) rooms_done: CancellationToken,
    /// Time from the start of shutdown to the spill.
    pub(crate) deadline: Duration,
}

struct Writer<S> {
    store: Arc<S>,
    shared: Arc<Shared>,
    options: SnapshotOptions,
    pending: Pending,
    flights: HashMap<tokio::task::Id, Group>,
    flushing: bool,
    failures: u32,
    retry_at: Option<Instant>,
    spill_path: PathBuf,
    spill_exists: bool,
    seed: u64,
}

type Outcome = (Result<(), StoreError>, Duration);

/// Runs the writer until shutdown completes.
pub(crate) async fn run<S: SnapshotStore>(
    store: S,
    shared: Arc<Shared>,
    mut loads: mpsc::Receiver<LoadRequest>,
    options: SnapshotOptions,
    stop: Stop,
    replay: Vec<Snapshot>,
) {
    let mut w = Writer {
        store: Arc::new(store),
        shared,
        spill_path: options.spill_path(),
        options,
        pending: Pending::default(),
        flights: HashMap::new(),
        flushing: false,
        failures: 0,
        retry_at: None,
        spill_exists: false,
        seed: seed(),
    };
    w.replay(replay);
    let mut flush_timer = tokio::time::interval(w.options.flush_period());
    flush_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut gauge_timer = tokio::time::interval(GAUGE_PERIOD);
    gauge_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweep_timer = tokio::time::interval(w.options.guest_sweep_period());
    sweep_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweeps: JoinSet<Result<usize, StoreError>> = JoinSet::new();
    let mut writes: JoinSet<Outcome> = JoinSet::new();
    let mut deadline: Option<Instant> = None;
    let mut rooms_done = false;
    loop {
        let mut flush_due = false;
        let retry_at = w.retry_at;
        tokio::select! {
            biased;
            _ = stop.shutdown.cancelled(), if deadline.is_none() => {
                deadline = Some(Instant::now() + stop.deadline);
            }
            _ = sleep_until(deadline), if deadline.is_some() => break,
            Some(done) = writes.join_next_with_id(), if !writes.is_empty() => w.finished(done),
            Some(request) = loads.recv() => w.answer(request),
            _ = w.shared.wake.notified() => {}
            _ = flush_timer.tick() => flush_due = true,
            _ = sleep_until(retry_at), if retry_at.is_some() => {
                w.retry_at = None;
                flush_due = true;
            }
            _ = stop.rooms_done.cancelled(), if deadline.is_some() && !rooms_done => {
                rooms_done = true;
                flush_due = true;
            }
            _ = gauge_timer.tick() => w.update_gauges(),
            _ = sweep_timer.tick(), if sweeps.is_empty() && deadline.is_none() => {
                w.sweep(&mut sweeps);
            }
            Some(swept) = sweeps.join_next(), if !sweeps.is_empty() => {
                if w.swept(swept) {
                    sweep_timer.reset_immediately();
                }
            }
        }
        w.take_handover();
        let stopping = deadline.is_some();
        // A flush round, once started, goes on as request slots free up
        // until no player is dirty.
        w.flushing |=
            flush_due || stopping || w.pending.dirty_len() >= w.options.snapshot_flush_size;
        if w.flushing {
            w.launch(&mut writes);
            w.flushing = w.pending.dirty_len() > 0;
        }
        if rooms_done && w.pending.is_empty() {
            break;
        }
    }
    // Rooms hand over their members' final snapshots as they stop; the
    // node tells us when the last one has (shard threads joined).
    stop.rooms_done.cancelled().await;
    w.take_handover();
    w.finish();
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ u64::from(std::process::id())) | 1
}

impl<S: SnapshotStore> Writer<S> {
    /// Snapshots left in the spill file by the previous run go first.
    fn replay(&mut self, rows: Vec<Snapshot>) {
        if rows.is_empty() {
            return;
        }
        let now = Instant::now();
        for row in rows {
            self.pending.offer(row, now);
        }
        self.spill_exists = true;
    }

    /// Moves everything rooms handed over into the pending map.
    fn take_handover(&mut self) {
        let now = Instant::now();
        while let Some(snapshot) = self.shared.queue.pop() {
            self.pending.offer(snapshot, now);
        }
        if self.shared.overflowed.swap(false, Ordering::AcqRel) {
            let taken = match self.shared.overflow.lock() {
                Ok(mut map) => std::mem::take(&mut *map),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            for snapshot in taken.into_values() {
                self.pending.offer(snapshot, now);
            }
        }
    }

    /// Starts write requests for dirty players, within the in-flight bound,
    /// unless backing off after a failure.
    fn launch(&mut self, writes: &mut JoinSet<Outcome>) {
        if self.retry_at.is_some() || self.pending.dirty_len() == 0 {
            return;
        }
        let slots = self.options.snapshot_in_flight.saturating_sub(writes.len());
        if slots == 0 {
            return;
        }
        let rows = self.options.snapshot_batch_rows.min(self.store.max_rows());
        let store = self.store.clone();
        let groups = self
            .pending
            .take(slots, rows, self.options.snapshot_batch_bytes, |player| {
                store.partition(player)
            });
        let timeout = self.options.write_timeout();
        for group in groups {
            let store = self.store.clone();
            let rows = group.clone();
            let handle = writes.spawn(async move {
                let started = Instant::now();
                let result = match tokio::time::timeout(timeout, store.write(&rows)).await {
                    Ok(result) => result,
                    Err(_) => Err(StoreError::Timeout),
                };
                (result, started.elapsed())
            });
            self.flights.insert(handle.id(), group);
        }
    }

    /// A write request ended.
    fn finished(&mut self, done: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>) {
        let (id, result, took) = match done {
            Ok((id, (result, took))) => (id, result, took),
            Err(e) => (
                e.id(),
                Err(StoreError::Io(format!("write task failed: {e}"))),
                Duration::ZERO,
            ),
        };
        let Some(rows) = self.flights.remove(&id) else {
            return;
        };
        let stats = &self.shared.stats;
        let count = rows.len() as u64;
        match result {
            Ok(()) => {
                stats.written.increment(count);
                stats.batch_rows.record(count as f64);
                stats.flush_seconds.record(took.as_secs_f64());
                if self.failures > 0 {
                    tracing::info!(
                        after_failures = self.failures,
                        "snapshot writes succeed again"
                    );
                }
                self.failures = 0;
                self.pending.written(&rows);
                if self.spill_exists && self.pending.is_empty() {
                    match spill::remove(&self.spill_path) {
                        Ok(()) => self.spill_exists = false,
                        Err(e) => tracing::warn!(error = %e, "spill file not removed"),
                    }
                }
            }
            Err(e) => {
                stats.write_error(&e);
                stats.retries.increment(count);
                self.pending.failed(rows);
                self.failures = self.failures.saturating_add(1);
                let delay = self.backoff();
                if self.failures == 1 {
                    tracing::warn!(store = self.store.name(), error = %e, "snapshot write failed; retrying with back-off");
                } else {
                    tracing::debug!(error = %e, failures = self.failures, ?delay, "snapshot write failed again");
                }
                let at = Instant::now() + delay;
                self.retry_at = Some(self.retry_at.map_or(at, |t| t.max(at)));
            }
        }
    }

    /// Exponential back-off with "equal jitter": half fixed, half random.
    fn backoff(&mut self) -> Duration {
        let base = self.options.snapshot_retry_base_ms;
        let max = self.options.snapshot_retry_max_ms;
        let exp = base.saturating_mul(1u64 << self.failures.saturating_sub(1).min(20));
        let delay = exp.min(max);
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = delay / 2;
        Duration::from_millis(half + self.seed % (delay - half + 1))
    }

    /// Starts a sweep of expired snapshots on its own task.
    fn sweep(&self, sweeps: &mut JoinSet<Result<usize, StoreError>>) {
        let store = self.store.clone();
        let timeout = self.options.write_timeout();
        sweeps.spawn(async move {
            let sweep = store.sweep_expired(clock::now_micros(), SWEEP_LIMIT);
            match tokio::time::timeout(timeout, sweep).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Timeout),
            }
        });
    }

    /// A sweep ended; returns whether it was full (more may be due).
    fn swept(&self, done: Result<Result<usize, StoreError>, tokio::task::JoinError>) -> bool {
        match done {
            Ok(Ok(removed)) => {
                self.shared.stats.expired.increment(removed as u64);
                if removed > 0 {
                    tracing::debug!(removed, "expired guest snapshots removed");
                }
                removed >= SWEEP_LIMIT
            }
            Ok(Err(e)) => {
                tracing::warn!(store = self.store.name(), error = %e, "sweep of expired snapshots failed; trying again at the next one");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweep of expired snapshots failed");
                false
            }
        }
    }

    /// A joining player's load: unwritten snapshots first, then the store.
    /// An expired snapshot is as good as none.
    fn answer(&mut self, request: LoadRequest) {
        self.take_handover();
        if let Some(snapshot) = self.pending.latest(&request.player_id) {
            let found = if snapshot.is_expired(clock::now_micros()) {
                (None, LoadSource::None)
            } else {
                (Some(snapshot), LoadSource::Pending)
            };
            let _sent = request.reply.send(Ok(found));
            return;
        }
        let store = self.store.clone();
        let timeout = self.options.load_timeout();
        tokio::spawn(async move {
            let answer = match tokio::time::timeout(timeout, store.load(request.player_id)).await {
                Ok(Ok(Some(snapshot))) => Ok((Some(snapshot), LoadSource::Store)),
                Ok(Ok(None)) => Ok((None, LoadSource::None)),
                Ok(Err(e)) => Err(LoadError::Store(e.label())),
                Err(_) => Err(LoadError::Timeout),
            };
            // The joiner may have given up (its own timeout); nothing to do then.
            let _sent = request.reply.send(answer);
        });
    }

    fn update_gauges(&self) {
        let stats = &self.shared.stats;
        stats.dirty.set(self.pending.players() as f64);
        let age = self
            .pending
            .oldest()
            .map_or(0.0, |since| since.elapsed().as_secs_f64());
        stats.oldest.set(age);
    }

    /// End of the run: spill what is still unwritten, or remove an old spill.
    fn finish(&mut self) {
        let rest = self.pending.drain_all();
        if rest.is_empty() {
            if let Err(e) = spill::remove(&self.spill_path) {
                tracing::warn!(error = %e, "old spill file not removed");
            }
            tracing::info!("every snapshot written");
        } else {
            match spill::write(&self.spill_path, &rest) {
                Ok(()) => {
                    self.shared.stats.spilled.increment(rest.len() as u64);
                    tracing::warn!(count = rest.len(), path = %self.spill_path.display(), "snapshots not written by the deadline were spilled; the next start replays them");
                }
                Err(e) => {
                    tracing::error!(count = rest.len(), error = %e, "snapshots could not be spilled and are lost");
                }
            }
        }
        self.shared.stats.dirty.set(0.0);
        self.shared.stats.oldest.set(0.0);
    }
}

/// Reads the spill file left by the previous run (counted as replayed).
/// An unreadable file is left in place and reported.
pub(crate) fn read_spill(options: &SnapshotOptions, stats: &SnapshotStats) -> Vec<Snapshot> {
    let path = options.spill_path();
    match spill::read(&path) {
        Ok(None) => Vec::new(),
        Ok(Some(rows)) => {
            stats.replayed.increment(rows.len() as u64);
            tracing::info!(count = rows.len(), path = %path.display(), "replaying spilled snapshots");
            rows
        }
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "spill file unreadable; left in place");
            Vec::new()
        }
    }
}
