//! The node: everything the shards share — configuration, modes, the
//! directories, presence, shard handles, the shutdown token — and room
//! creation and placement (here, or on the node that owns the room).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::config::Config;
use crate::directory::{Directory, JoinError};
use crate::game::{GameParams, GameRegistry, Mode};
use crate::net::rate::Bucket;
use crate::observer::Observer;
use crate::persist::WriteBehindHandle;
use crate::presence::PresenceHandle;
use crate::resume::ResumeRegistry;
use crate::room::{Room, RoomExit, RoomHandle, RoomSettings, Seat, SessionId};
use crate::shard::ShardHandle;
use crate::shutdown::Drain;

/// State shared by every shard of this node.
pub struct Node {
    /// Settings.
    pub config: Config,
    /// Node id announced in Welcome.
    pub node_id: String,
    /// Rooms and sessions.
    pub directory: Directory,
    /// Who is where across the cluster; rooms report to it.
    pub presence: PresenceHandle,
    /// The shards, by index.
    pub shards: Vec<ShardHandle>,
    /// Joinable modes by name.
    pub modes: HashMap<String, Mode>,
    /// Cancelled when the node shuts down.
    pub shutdown: CancellationToken,
    /// Set when the node begins draining (before `shutdown`).
    pub drain: Drain,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Samples for the built-in dashboard.
    pub observer: Observer,
    /// Player snapshots: hand-over and loads.
    pub snapshots: WriteBehindHandle,
    /// Identity checks, guest sessions, bans, live sessions per player.
    pub auth: Arc<Auth>,
    /// Room lists shared by every request (`--rooms-refresh-ms`).
    pub room_lists: crate::net::rooms_view::RoomLists,
    /// Resume keys → seats (held after a drop for `--resume-grace`).
    pub resume: Arc<ResumeRegistry>,
    next_session: AtomicU64,
    /// Live rooms plus rooms being created (`--max-rooms`).
    rooms: AtomicUsize,
    ready: AtomicBool,
}

/// A configured mode names a game that is not registered.
#[derive(Debug, thiserror::Error)]
#[error("mode `{mode}` uses unknown game `{game}` (known: {known})")]
pub struct UnknownGame {
    mode: String,
    game: String,
    known: String,
}

/// The services a node is built on, started before it.
pub struct Services {
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Presence backend.
    pub presence: PresenceHandle,
    /// Snapshot write-behind.
    pub snapshots: WriteBehindHandle,
    /// Identity checks.
    pub auth: Arc<Auth>,
}

impl Node {
    /// Builds the node state; shards and the snapshot writer must already
    /// exist, and the writer must stop with `shutdown`.
    pub fn new(
        config: Config,
        games: &GameRegistry,
        shards: Vec<ShardHandle>,
        services: Services,
        shutdown: CancellationToken,
    ) -> Result<Node, UnknownGame> {
        let Services {
            metrics,
            presence,
            snapshots,
            auth,
        } = services;
        let mut modes = HashMap::new();
        for spec in &config.room.modes {
            let kind = games.get(&spec.game).ok_or_else(|| UnknownGame {
                mode: spec.name.clone(),
                game: spec.game.clone(),
                known: games.names().join(", "),
            })?;
            let params = GameParams {
                capacity: spec.capacity.unwrap_or(config.room.room_capacity),
                tick_rate_hz: spec.tick_rate.unwrap_or(config.room.tick_rate),
            };
            modes.insert(
                spec.name.clone(),
                Mode {
                    name: Arc::from(spec.name.as_str()),
                    kind,
                    params,
                },
            );
        }
        let node_id = config.node_id();
        let observer = Observer::new(config.limits.dashboard_streams);
        let room_lists = crate::net::rooms_view::RoomLists::new(config.limits.rooms_refresh());
        let resume = auth.resume.clone();
        Ok(Node {
            resume,
            // Room ids carry the boot time, so a restarted node never reuses
            // an id other nodes may still route to.
            directory: Directory::new(format!(
                "{node_id}-{:x}",
                crate::clock::now_micros() / 1_000_000
            )),
            presence,
            node_id,
            config,
            shards,
            modes,
            shutdown,
            drain: Drain::default(),
            metrics,
            observer,
            room_lists,
            snapshots,
            auth,
            next_session: AtomicU64::new(1),
            rooms: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
        })
    }

    /// A fresh session id.
    pub fn next_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether every shard serves and the node is neither draining nor
    /// shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && !self.drain.is_draining()
            && !self.shutdown.is_cancelled()
    }

    /// Marks the node as serving.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Join by room id: a seat here, or the node that owns the room. A
    /// draining node seats nobody new.
    pub fn join_room(&self, room_id: &str) -> Result<JoinTarget, JoinError> {
        if self.drain.is_draining() {
            return self.owner_elsewhere(room_id).ok_or(JoinError::Draining);
        }
        match self.directory.reserve_in(room_id) {
            Err(JoinError::RoomNotFound) => {
                self.owner_elsewhere(room_id).ok_or(JoinError::RoomNotFound)
            }
            seat => seat.map(JoinTarget::Here),
        }
    }

    /// Join-or-create by mode for a session on `shard`: a free seat in a
    /// room of this node, else in a room of another node (a redirect), else
    /// a new room here, if `creates` (the session's allowance) and
    /// `--max-rooms` permit. A draining node only redirects.
    pub fn join_or_create(
        self: &Arc<Self>,
        mode_name: &str,
        shard: usize,
        creates: &mut Bucket,
    ) -> Result<JoinTarget, JoinError> {
        let mode = self.modes.get(mode_name).ok_or(JoinError::UnknownMode)?;
        let draining = self.drain.is_draining();
        // A seat on the own shard, then a room on another node, then a new
        // room on the own shard: members live on their room's shard.
        if !draining && let Some(seat) = self.directory.reserve_on_shard(mode_name, shard) {
            return Ok(JoinTarget::Here(seat));
        }
        let view = self.presence.view();
        if let Some((room_id, room)) = view.free_room_elsewhere(mode_name)
            && let Some(url) = view.url(&room.node)
        {
            return Ok(JoinTarget::Elsewhere { url, room_id });
        }
        if draining {
            // Any node that takes rooms creates one there: a Redirect with
            // no room id means "join-or-create this mode at `url`".
            return match view.peers_taking_rooms().into_iter().next() {
                Some((_, url)) => Ok(JoinTarget::Elsewhere {
                    url,
                    room_id: Arc::from(""),
                }),
                None => Err(JoinError::Draining),
            };
        }
        self.admit_room(creates)?;
        Ok(JoinTarget::Here(self.create_room(mode, shard, false)))
    }

    /// A new private room of `mode` for a session on `shard`: never listed,
    /// never offered to join-or-create, joined only by its id.
    pub fn create_private(
        self: &Arc<Self>,
        mode_name: &str,
        shard: usize,
        creates: &mut Bucket,
    ) -> Result<JoinTarget, JoinError> {
        let mode = self.modes.get(mode_name).ok_or(JoinError::UnknownMode)?;
        if self.drain.is_draining() {
            return Err(JoinError::Draining);
        }
        self.admit_room(creates)?;
        Ok(JoinTarget::Here(self.create_room(mode, shard, true)))
    }

    /// Reserves one of `--max-rooms` for a new room and takes one token of
    /// the creating session's allowance; both refusals are counted. The
    /// reservation is the room's until it is disposed.
    fn admit_room(&self, creates: &mut Bucket) -> Result<(), JoinError> {
        let max = self.config.session_limits.max_rooms;
        let reserved = self
            .rooms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (max == 0 || n < max).then_some(n + 1)
            });
        if reserved.is_err() {
            crate::metrics::join_refused(JoinError::TooManyRooms.label());
            return Err(JoinError::TooManyRooms);
        }
        if !creates.try_take(tokio::time::Instant::now()) {
            self.rooms.fetch_sub(1, Ordering::AcqRel);
            crate::metrics::join_refused(JoinError::CreateRate.label());
            return Err(JoinError::CreateRate);
        }
        Ok(())
    }

    /// Waits (within the snapshot load timeout) until no other node seats
    /// `player`: after a newer login the node holding the older session
    /// closes it, and its room reports the player gone once it handed the
    /// final snapshot to its writer. Woken by every change of the presence
    /// view, never polling.
    pub async fn seated_elsewhere_released(&self, player: &str) {
        if !self.presence.is_shared() {
            return;
        }
        let deadline = tokio::time::Instant::now() + self.config.snapshots.load_timeout();
        let view = self.presence.view();
        loop {
            let changed = view.changed();
            tokio::pin!(changed);
            // Registered before the check: a change in between is not missed.
            changed.as_mut().enable();
            let own = view.own().clone();
            if view.placements(player).iter().all(|p| p.node == own) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    /// The owner of `room_id`, if another node runs it.
    fn owner_elsewhere(&self, room_id: &str) -> Option<JoinTarget> {
        let view = self.presence.view();
        let room = view.room(room_id)?;
        if room.node == *view.own() {
            return None;
        }
        Some(JoinTarget::Elsewhere {
            url: view.url(&room.node)?,
            room_id: Arc::from(room_id),
        })
    }

    /// Reserves one of `--max-rooms` for a room handed over from another
    /// node; false when the node is full.
    pub fn reserve_room_slot(&self) -> bool {
        let max = self.config.session_limits.max_rooms;
        self.rooms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (max == 0 || n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a slot of [`Node::reserve_room_slot`] that was not used.
    pub fn release_room_slot(&self) {
        self.rooms.fetch_sub(1, Ordering::AcqRel);
    }

    /// Starts room `id` handed over from another node (its slot reserved,
    /// its ownership taken): the restored game, every member in a held
    /// seat, ticks continuing after the source's last.
    pub fn start_restored(
        self: &Arc<Self>,
        id: Arc<str>,
        record: &crate::handoff::HandoffRecord,
        checked: crate::handoff::target::Checked,
    ) {
        let crate::handoff::target::Checked {
            mode,
            game,
            members,
        } = checked;
        // Its members arrive on whichever shard accepts them: the least
        // loaded one is as good a home as any.
        let target = self
            .shards
            .iter()
            .min_by_key(|s| s.metrics.players())
            .map_or(0, |s| s.id);
        let shard = &self.shards[target];
        let seats = u32::try_from(members.len()).unwrap_or(u32::MAX);
        let handle = RoomHandle::restored(
            id,
            &mode,
            target,
            self.config.room.inputs_per_seat,
            seats,
            record.tick,
        );
        self.directory.insert(handle.clone());
        let info = handle.info();
        self.presence
            .room_opened(&info.id, &info.mode, info.capacity, false);
        let mut room = Room::new(handle.clone(), game, self.room_settings(target));
        room.adopt(members, record.last_tick_us);
        let exit = Disposal { node: self.clone() };
        shard
            .tasks
            .spawn_on(room.run(self.shutdown.clone(), exit), &shard.runtime);
        tracing::info!(room = %handle.info().id, source = %record.source, seats, "room taken over");
    }

    fn room_settings(&self, shard: usize) -> RoomSettings {
        RoomSettings {
            empty_grace: Duration::from_millis(self.config.room.empty_room_grace_ms),
            metrics: self.shards[shard].metrics.clone(),
            presence: self.presence.clone(),
            snapshots: Some(self.snapshots.clone()),
            resume: self.resume.clone(),
        }
    }

    /// Creates a room of `mode` on shard `target`, starts its actor there and
    /// returns the creator's seat (reserved before the room is visible).
    fn create_room(self: &Arc<Self>, mode: &Mode, target: usize, private: bool) -> Seat {
        let shard = &self.shards[target];
        let (handle, seat) = RoomHandle::create(
            self.directory.next_room_id(),
            mode,
            target,
            self.config.room.inputs_per_seat,
            private,
        );
        self.directory.insert(handle.clone());
        let info = handle.info();
        self.presence
            .room_opened(&info.id, &info.mode, info.capacity, private);
        let settings = self.room_settings(target);
        let room = Room::new(handle.clone(), (mode.kind.create)(mode.params), settings);
        let exit = Disposal { node: self.clone() };
        shard
            .tasks
            .spawn_on(room.run(self.shutdown.clone(), exit), &shard.runtime);
        seat
    }
}

/// Where a join goes.
pub enum JoinTarget {
    /// A seat reserved in a room of this node.
    Here(Seat),
    /// The room lives on another node: the client reconnects to `url`.
    Elsewhere {
        /// Public WebSocket URL of the owning node.
        url: Arc<str>,
        /// The room to join there.
        room_id: Arc<str>,
    },
}

/// Removes a disposed room from the directory and from presence.
struct Disposal {
    node: Arc<Node>,
}

impl RoomExit for Disposal {
    fn disposed(&self, room: &RoomHandle) {
        let id = &room.info().id;
        self.node.directory.remove(id);
        if room.info().moved() {
            self.node.presence.room_moved(id);
        } else {
            self.node.presence.room_closed(id);
        }
        self.node.rooms.fetch_sub(1, Ordering::AcqRel);
    }
}
