//! Presence: who is online on which node and in which room, and which node
//! owns each room. Rooms report their changes through a [`PresenceHandle`]
//! without ever waiting; a backend carries them to the other nodes.
//!
//! | file | owns |
//! |---|---|
//! | [`options`] | `--presence`, `--public-url`, TTL, queue and timeout settings |
//! | [`change`] | changes of one node's state and the bulletins nodes exchange |
//! | [`access`] | logins, kicks and bans that every node must apply |
//! | [`view`] | the cluster as this node sees it (sharded concurrent maps) |
//! | [`departed`] | snapshot versions players left other nodes with (a join loads at least that) |
//! | [`local`] | the in-process backend (single node, the default) |
//! | [`redis`] | the Redis backend (`fred`): heartbeats, TTL keys, pub/sub, resync, reaping |

pub mod access;
pub mod change;
pub mod departed;
pub mod local;
pub mod options;
pub mod redis;
pub mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use access::{AccessAction, AccessSink};
pub use change::{Change, Stamped};
pub use options::PresenceOptions;
pub use view::{Placement, PresenceView, RoomRecord};

/// How well the backend is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Single node; nothing to reach.
    Local,
    /// Connected and in sync with the cluster.
    Connected,
    /// The backend cannot be reached (or this node's id is held by another
    /// process): the node serves its own rooms and players, other nodes do
    /// not see its changes until it reconnects and republishes.
    Degraded,
}

impl Health {
    /// Stable label (`/readyz`, logs).
    pub fn label(self) -> &'static str {
        match self {
            Health::Local => "local",
            Health::Connected => "connected",
            Health::Degraded => "degraded",
        }
    }
}

/// A presence backend.
pub trait Presence: Send + Sync + 'static {
    /// Backend name (`local`, `redis`).
    fn backend(&self) -> &'static str;
    /// The cluster as this node sees it.
    fn view(&self) -> &PresenceView;
    /// Takes one change of this node's state (already applied to the view)
    /// to the other nodes. Never blocks.
    fn publish(&self, change: Stamped);
    /// Current health.
    fn health(&self) -> Health;
    /// Takes an access-control action (already applied on this node) to
    /// the other nodes. Never blocks.
    fn publish_access(&self, action: AccessAction);
    /// Tells the other nodes that this one drains (already marked in the
    /// view). Never blocks. Default: nothing (a single node).
    fn announce_draining(&self) {}
}

/// Cheap, cloneable handle the node and its rooms report changes through.
#[derive(Clone)]
pub struct PresenceHandle {
    backend: Arc<dyn Presence>,
    seq: Arc<AtomicU64>,
}

impl PresenceHandle {
    /// A handle over `backend`.
    pub fn new(backend: Arc<dyn Presence>) -> PresenceHandle {
        PresenceHandle {
            backend,
            // Sequence numbers start at boot time so a restarted node's
            // changes are newer than its previous life's.
            seq: Arc::new(AtomicU64::new(crate::clock::now_micros())),
        }
    }

    /// An in-process presence for a single node.
    pub fn local(node: &str, url: &str) -> PresenceHandle {
        PresenceHandle::new(Arc::new(local::LocalPresence::new(node, url)))
    }

    /// Tells the other nodes about an access-control action this node
    /// already applied.
    pub fn access(&self, action: AccessAction) {
        self.backend.publish_access(action);
    }

    /// True when other nodes may exist (a shared backend).
    pub fn is_shared(&self) -> bool {
        self.backend.backend() != "local"
    }

    fn record(&self, change: Change) {
        let stamped = Stamped {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            change,
        };
        let view = self.backend.view();
        view.apply(view.own(), &stamped);
        self.backend.publish(stamped);
    }

    /// A room was created on this node.
    pub fn room_opened(&self, room: &Arc<str>, mode: &Arc<str>, capacity: u16, private: bool) {
        self.record(Change::RoomOpened {
            room: room.clone(),
            mode: mode.clone(),
            capacity,
            private,
        });
    }

    /// A room of this node was disposed.
    pub fn room_closed(&self, room: &Arc<str>) {
        self.record(Change::RoomClosed {
            room: room.clone(),
            moved: false,
        });
    }

    /// A room of this node was handed to another node (which owns it now).
    pub fn room_moved(&self, room: &Arc<str>) {
        self.record(Change::RoomClosed {
            room: room.clone(),
            moved: true,
        });
    }

    /// This node drains: tells the other nodes, so they send it neither
    /// players nor rooms.
    pub fn announce_draining(&self) {
        self.backend.view().mark_own_draining();
        self.backend.announce_draining();
    }

    /// A player took a seat; `players` is the room's count after it.
    pub fn player_joined(&self, room: &Arc<str>, player: &Arc<str>, players: u32) {
        self.record(Change::PlayerJoined {
            room: room.clone(),
            player: player.clone(),
            since_ms: crate::clock::now_micros() / 1000,
            players,
        });
    }

    /// A player left; `players` is the room's count after it,
    /// `saved_version` the version of the player's newest snapshot (0: none).
    pub fn player_left(
        &self,
        room: &Arc<str>,
        player: &Arc<str>,
        players: u32,
        saved_version: u64,
    ) {
        self.record(Change::PlayerLeft {
            room: room.clone(),
            player: player.clone(),
            players,
            saved_version,
        });
    }

    /// The cluster as this node sees it.
    pub fn view(&self) -> &PresenceView {
        self.backend.view()
    }

    /// Current health.
    pub fn health(&self) -> Health {
        self.backend.health()
    }

    /// Backend name.
    pub fn backend(&self) -> &'static str {
        self.backend.backend()
    }
}
