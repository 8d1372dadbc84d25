//! [`WriteBehindHandle`]: the cheap, thread-safe side of the snapshot
//! writer. Rooms hand snapshots over without ever waiting; sessions claim a
//! player and load their saved state before the room sees the join.
//!
//! Hand-over: a bounded lock-free queue (`ArrayQueue`). When it is full the
//! snapshot goes to an overflow map keyed by player, where a newer one
//! replaces an older one (policy: coalesce, counted in
//! `tickforge_snapshot_queue_full_total`): nothing is dropped and memory
//! stays bounded by the number of distinct players. The writer is woken
//! only when the queue reaches the flush size or overflows; otherwise its
//! flush timer picks the snapshots up.
//!
//! Claims: a player id is seated in at most one room of this node at a
//! time. A join claims the player first, waiting (within the load timeout)
//! until a previous room has handed over that player's final snapshot, so
//! the load that follows always sees it. The wait is event-driven: each
//! claim carries a [`Notify`] that wakes its waiters when it is released.
//!
//! Loads: at most `--snapshot-loads-max` loads are in progress on the node
//! (from the claim until the answer); a join that finds that many is
//! refused at once ([`LoadError::Busy`], counted), never queued without
//! bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use dashmap::DashMap;
use tokio::sync::{Notify, mpsc, oneshot};

use super::Snapshot;
use super::stats::{LoadSource, SnapshotStats};

/// How often a load is repeated while the store holds an older snapshot
/// than the one the player left another node with.
pub const NEWER_ELSEWHERE_RETRY: Duration = Duration::from_millis(20);

/// Why a joining player's saved state could not be loaded; the join is
/// refused and the player can try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not within the load timeout (the store is slow or down, or the
    /// player is still seated elsewhere).
    #[error("saved state not loaded in time")]
    Timeout,
    /// `--snapshot-loads-max` loads are in progress (policy: reject).
    #[error("too many saved-state loads at once")]
    Busy,
    /// The store answered with an error.
    #[error("saved state unavailable: {0}")]
    Store(&'static str),
    /// The writer has stopped (shutdown).
    #[error("the snapshot writer has stopped")]
    Stopped,
}

impl LoadError {
    /// Stable label.
    pub fn label(&self) -> &'static str {
        match self {
            LoadError::Timeout => "timeout",
            LoadError::Busy => "busy",
            LoadError::Store(label) => label,
            LoadError::Stopped => "stopped",
        }
    }
}

/// A load the writer answers: from its unwritten snapshots, else the store.
pub(crate) struct LoadRequest {
    pub(crate) player_id: Arc<str>,
    pub(crate) reply: oneshot::Sender<Result<(Option<Snapshot>, LoadSource), LoadError>>,
}

pub(crate) struct Shared {
    pub(crate) queue: ArrayQueue<Snapshot>,
    pub(crate) overflow: Mutex<HashMap<Arc<str>, Snapshot>>,
    pub(crate) overflowed: AtomicBool,
    pub(crate) wake: Notify,
    pub(crate) flush_size: usize,
    /// Claimed players; the [`Notify`] wakes joins waiting for the claim.
    pub(crate) claims: DashMap<Arc<str>, Arc<Notify>>,
    pub(crate) loads: mpsc::Sender<LoadRequest>,
    pub(crate) loads_in_flight: AtomicUsize,
    pub(crate) loads_max: usize,
    pub(crate) stats: SnapshotStats,
    pub(crate) interval: Duration,
    pub(crate) load_timeout: Duration,
    pub(crate) guest_ttl: Duration,
}

/// Cheap, cloneable handle to the snapshot writer.
#[derive(Clone)]
pub struct WriteBehindHandle {
    pub(crate) shared: Arc<Shared>,
}

/// A player seated (or about to be) in a room of this node. Dropping it —
/// after the room handed over the player's final snapshot — lets the
/// player's next join load.
pub struct PlayerClaim {
    shared: Arc<Shared>,
    player_id: Arc<str>,
}

impl Drop for PlayerClaim {
    fn drop(&mut self) {
        if let Some((_, released)) = self.shared.claims.remove(&self.player_id) {
            released.notify_waiters();
        }
    }
}

/// One of the `--snapshot-loads-max` load permits; dropping it gives it back.
struct LoadPermit<'a> {
    shared: &'a Shared,
}

impl<'a> LoadPermit<'a> {
    fn try_acquire(shared: &'a Shared) -> Option<LoadPermit<'a>> {
        let taken = shared
            .loads_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.loads_max).then_some(n + 1)
            });
        match taken {
            Ok(n) => {
                shared.stats.loads_in_flight.set((n + 1) as f64);
                Some(LoadPermit { shared })
            }
            Err(_) => None,
        }
    }
}

impl Drop for LoadPermit<'_> {
    fn drop(&mut self) {
        let before = self.shared.loads_in_flight.fetch_sub(1, Ordering::AcqRel);
        self.shared
            .stats
            .loads_in_flight
            .set(before.saturating_sub(1) as f64);
    }
}

/// A joining player's claim and saved state.
pub struct Loaded {
    /// Held by the room while the player is seated.
    pub claim: PlayerClaim,
    /// The last snapshot, `None` for a new player.
    pub snapshot: Option<Snapshot>,
}

impl WriteBehindHandle {
    /// How often a room snapshots a player whose state changed.
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }

    /// How long after its capture a guest's snapshot expires (`--guest-ttl`).
    pub fn guest_ttl(&self) -> Duration {
        self.shared.guest_ttl
    }

    /// Counts a leave whose saved state was unchanged since its last write
    /// (no snapshot is handed over for it).
    pub fn unchanged_on_leave(&self) {
        self.shared.stats.unchanged_on_leave.increment(1);
    }

    /// Hands a snapshot to the writer. Never blocks and never drops: a full
    /// queue coalesces into the overflow map.
    pub fn offer(&self, snapshot: Snapshot) {
        let shared = &self.shared;
        shared.stats.captured.increment(1);
        match shared.queue.push(snapshot) {
            Ok(()) => {
                if shared.queue.len() == shared.flush_size {
                    shared.wake.notify_one();
                }
            }
            Err(snapshot) => {
                shared.stats.queue_full.increment(1);
                let mut overflow = match shared.overflow.lock() {
                    Ok(guard) => guard,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let newer = overflow
                    .get(&snapshot.player_id)
                    .is_none_or(|held| snapshot.is_newer_than(held));
                if newer {
                    overflow.insert(snapshot.player_id.clone(), snapshot);
                }
                drop(overflow);
                shared.overflowed.store(true, Ordering::Release);
                shared.wake.notify_one();
            }
        }
    }

    /// Claims `player_id` and loads their saved state, within the load
    /// timeout. Never called from a room.
    ///
    /// `at_least`: the version of the player's newest snapshot on another
    /// node they just left (0: none known). While the store holds an older
    /// one, that node's writer has not written it yet: the load is repeated
    /// every [`NEWER_ELSEWHERE_RETRY`] (counted) until it is there, or the
    /// timeout refuses the join — a join never starts from older state.
    pub async fn claim_and_load(
        &self,
        player_id: Arc<str>,
        at_least: u64,
    ) -> Result<Loaded, LoadError> {
        let shared = &self.shared;
        let work = async {
            let claim = self.claim(player_id.clone()).await;
            let Some(_permit) = LoadPermit::try_acquire(shared) else {
                shared.stats.loads_refused.increment(1);
                return Err(LoadError::Busy);
            };
            loop {
                let (snapshot, source) = self.load(player_id.clone()).await?;
                if snapshot.as_ref().map_or(0, |s| s.version) >= at_least {
                    shared.stats.load(source);
                    return Ok(Loaded { claim, snapshot });
                }
                shared.stats.loads_behind.increment(1);
                tokio::time::sleep(NEWER_ELSEWHERE_RETRY).await;
            }
        };
        let result = match tokio::time::timeout(shared.load_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(LoadError::Timeout),
        };
        if result.is_err() {
            shared.stats.load(LoadSource::Failed);
        }
        result
    }

    /// One load from the writer (its pending snapshots, else the store).
    async fn load(&self, player_id: Arc<str>) -> Result<(Option<Snapshot>, LoadSource), LoadError> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .loads
            .try_send(LoadRequest { player_id, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => LoadError::Busy,
                mpsc::error::TrySendError::Closed(_) => LoadError::Stopped,
            })?;
        answer.await.map_err(|_| LoadError::Stopped)?
    }

    /// Claims `player_id`, waiting for the claim of a previous seat to be
    /// released (woken by its release, never polling).
    async fn claim(&self, player_id: Arc<str>) -> PlayerClaim {
        loop {
            let released = match self.shared.claims.entry(player_id.clone()) {
                dashmap::Entry::Vacant(v) => {
                    v.insert(Arc::new(Notify::new()));
                    return PlayerClaim {
                        shared: self.shared.clone(),
                        player_id,
                    };
                }
                dashmap::Entry::Occupied(held) => held.get().clone(),
            };
            let notified = released.notified();
            tokio::pin!(notified);
            // Registered before the entry is looked at again: a release in
            // between is not missed.
            notified.as_mut().enable();
            if self
                .shared
                .claims
                .get(&player_id)
                .is_some_and(|held| Arc::ptr_eq(held.value(), &released))
            {
                notified.await;
            }
        }
    }
}
