//! Player snapshots, written behind the game loop.
//!
//! Rooms capture a player's saved state (the game's
//! [`crate::game::Game::save_player`]) when it changed, at most every
//! `--snapshot-interval-ms`, and when the player leaves if it changed since
//! the last snapshot, and hand it
//! to the [`WriteBehindHandle`] without waiting. One writer thread
//! ([`writer`]) coalesces per player (latest wins), flushes in batches to a
//! [`SnapshotStore`] — the embedded `redb` file ([`embedded`], the default)
//! or ScyllaDB / any CQL database ([`cql`]) — retries with back-off, and at
//! shutdown writes everything within the deadline or spills the rest to a
//! local file ([`spill`]) that the next start replays. A joining player's
//! state is loaded before the room sees the join: from the writer's
//! unwritten snapshots first, then from the store.
//!
//! Guests' snapshots expire `--guest-ttl` after their capture
//! ([`Snapshot::expires_us`]): CQL rows by `USING TTL`, embedded records by
//! the writer's periodic sweep; an expired snapshot is never loaded.
//!
//! | file | owns |
//! |---|---|
//! | [`options`] | `--snapshots` and the pipeline's settings |
//! | [`handle`] | hand-over queue + overflow map, player claims, loads |
//! | [`writer`] | the run loop: coalesce, flush, retry, load, spill |
//! | [`pending`] | unwritten snapshots per player (dirty, in flight) |
//! | [`store`] | the `SnapshotStore` trait and its errors |
//! | [`embedded`], [`cql`] | the two stores |
//! | [`record`], [`spill`] | byte layout, spill file |
//! | [`stats`] | metric handles |

pub mod cql;
pub mod embedded;
pub mod handle;
pub mod options;
mod pending;
pub mod record;
pub mod spill;
pub mod stats;
pub mod store;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use crossbeam::queue::ArrayQueue;
use dashmap::DashMap;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

pub use handle::{LoadError, Loaded, PlayerClaim, WriteBehindHandle};
pub use options::{SnapshotOptions, SnapshotTarget};
pub use store::{SnapshotStore, StoreError};

use cql::CqlStore;
use embedded::EmbeddedStore;
use handle::Shared;
use stats::SnapshotStats;

/// One player's saved state at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Player id from Hello.
    pub player_id: Arc<str>,
    /// Room the player was in.
    pub room_id: Arc<str>,
    /// Counts up with every snapshot of the player.
    pub version: u64,
    /// Capture time, microseconds since the UNIX epoch; strictly increasing
    /// per player. Also the CQL write timestamp: last write wins.
    pub captured_us: u64,
    /// The game's saved player state.
    pub state: Bytes,
    /// When the snapshot expires, microseconds since the UNIX epoch: a
    /// guest's capture time plus `--guest-ttl`; `None` (every other
    /// player) never expires.
    pub expires_us: Option<u64>,
}

impl Snapshot {
    /// Whether the snapshot has expired at `now_us` (a load finds nothing).
    pub fn is_expired(&self, now_us: u64) -> bool {
        self.expires_us.is_some_and(|at| at <= now_us)
    }

    /// Whether `self` supersedes `other` (later capture; then higher version).
    pub fn is_newer_than(&self, other: &Snapshot) -> bool {
        (self.captured_us, self.version) > (other.captured_us, other.version)
    }
}

/// Why the snapshot pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The store could not be opened, reached or migrated.
    #[error("snapshot store ({target}): {source}")]
    Store {
        /// `--snapshots`.
        target: String,
        /// Cause.
        source: StoreError,
    },
    /// Local setup failed (data directory, thread, runtime).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// Cause.
        source: std::io::Error,
    },
}

impl PersistError {
    /// Stable label.
    pub fn label(&self) -> &'static str {
        match self {
            PersistError::Store { source, .. } => source.label(),
            PersistError::Io { .. } => "io",
        }
    }
}

/// The running snapshot pipeline: the handle rooms and sessions use, and
/// the writer thread.
pub struct Persistence {
    handle: WriteBehindHandle,
    thread: Option<JoinHandle<()>>,
    rooms_done: CancellationToken,
}

enum Opened {
    Embedded(EmbeddedStore),
    Cql(Box<CqlStore>),
}

impl Persistence {
    /// Opens the store (creating its schema), replays a spill file left by
    /// the previous run, and starts the writer thread. The writer begins its
    /// final flush when `shutdown` is cancelled and spills what is left
    /// `deadline` later.
    pub fn start(
        options: &SnapshotOptions,
        shutdown: CancellationToken,
        deadline: Duration,
    ) -> Result<Persistence, PersistError> {
        std::fs::create_dir_all(&options.data_dir).map_err(|source| PersistError::Io {
            context: "creating the data directory",
            source,
        })?;
        // Every queued load holds one of `--snapshot-loads-max` permits.
        let (loads, load_rx) = mpsc::channel(options.snapshot_loads_max.max(1));
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(options.snapshot_queue),
            overflow: Mutex::new(HashMap::new()),
            overflowed: AtomicBool::new(false),
            wake: Notify::new(),
            flush_size: options.snapshot_flush_size.min(options.snapshot_queue),
            claims: DashMap::new(),
            loads,
            loads_in_flight: AtomicUsize::new(0),
            loads_max: options.snapshot_loads_max.max(1),
            stats: SnapshotStats::new(),
            interval: options.interval(),
            load_timeout: options.load_timeout(),
            guest_ttl: options.guest_ttl,
        });
        let rooms_done = CancellationToken::new();
        let stop = writer::Stop {
            shutdown,
            rooms_done: rooms_done.clone(),
            deadline,
        };
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let thread_shared = shared.clone();
        let thread_options = options.clone();
        let thread = std::thread::Builder::new()
            .name("tickforge-snapshots".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _sent = opened_tx.send(Err(PersistError::Io {
                            context: "building the snapshot runtime",
                            source: e,
                        }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let opened = match open(&thread_options).await {
                        Ok(store) => store,
                        Err(e) => {
                            let _sent = opened_tx.send(Err(e));
                            return;
                        }
                    };
                    let replay = writer::read_spill(&thread_options, &thread_shared.stats);
                    if opened_tx.send(Ok(())).is_err() {
                        return;
                    }
                    let (s, o) = (thread_shared, thread_options);
                    match opened {
                        Opened::Embedded(store) => {
                            writer::run(store, s, load_rx, o, stop, replay).await
                        }
                        Opened::Cql(store) => {
                            writer::run(*store, s, load_rx, o, stop, replay).await
                        }
                    }
                });
            })
            .map_err(|source| PersistError::Io {
                context: "spawning the snapshot thread",
                source,
            })?;
        let started = opened_rx.recv().unwrap_or_else(|_| {
            Err(PersistError::Io {
                context: "starting the snapshot thread",
                source: std::io::Error::other("the thread ended early"),
            })
        });
        if let Err(e) = started {
            if thread.join().is_err() {
                tracing::error!("the snapshot thread panicked");
            }
            return Err(e);
        }
        tracing::info!(store = %options.snapshots, "snapshot store ready");
        Ok(Persistence {
            handle: WriteBehindHandle { shared },
            thread: Some(thread),
            rooms_done,
        })
    }

    /// The handle rooms and sessions use.
    pub fn handle(&self) -> &WriteBehindHandle {
        &self.handle
    }

    /// Tells the writer that every room has stopped, then waits until it
    /// has written or spilled everything.
    pub fn finish(mut self) {
        self.rooms_done.cancel();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the snapshot thread panicked");
        }
    }
}

async fn open(options: &SnapshotOptions) -> Result<Opened, PersistError> {
    let failed = |source| PersistError::Store {
        target: options.snapshots.to_string(),
        source,
    };
    match &options.snapshots {
        SnapshotTarget::Embedded => {
            let path = options.embedded_path();
            tokio::task::spawn_blocking(move || EmbeddedStore::open(&path))
                .await
                .map_err(|e| failed(StoreError::Io(e.to_string())))?
                .map(Opened::Embedded)
                .map_err(failed)
        }
        SnapshotTarget::Scylla(target) => CqlStore::open(
            target,
            options.connect_timeout(),
            options.write_timeout(),
            options.snapshot_batch_rows,
        )
        .await
        .map(|store| Opened::Cql(Box::new(store)))
        .map_err(failed),
    }
}

/// Creates the store's schema (keyspace and table, or the database file)
/// and returns what was done. Idempotent: `tickforge migrate`.
pub fn migrate(options: &SnapshotOptions) -> Result<String, PersistError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| PersistError::Io {
            context: "building a runtime",
            source,
        })?;
    runtime.block_on(async {
        match &options.snapshots {
            SnapshotTarget::Embedded => {
                open(options).await?;
                Ok(format!(
                    "embedded store ready at {}",
                    options.embedded_path().display()
                ))
            }
            SnapshotTarget::Scylla(target) => {
                let failed = |source| PersistError::Store {
                    target: options.snapshots.to_string(),
                    source,
                };
                let session = cql::connect(target, options.connect_timeout())
                    .await
                    .map_err(failed)?;
                cql::migrate(&session, &target.keyspace)
                    .await
                    .map_err(failed)?;
                Ok(format!(
                    "keyspace {} and table {}.player_snapshots ready",
                    target.keyspace, target.keyspace
                ))
            }
        }
    })
}
