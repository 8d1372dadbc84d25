//! Rooms: one actor per room on its shard's thread.
//!
//! A [`RoomHandle`] is the cheap, thread-safe side: seat reservation (an
//! atomic counter that enforces capacity exactly), and two bounded lock-free
//! queues (`crossbeam` `ArrayQueue`) — control (join, leave; wakes the room
//! through an `AtomicWaker`) and inputs (drained at each tick, never woken
//! for). [`Room::run`] owns the game and the members: at every tick it
//! drains inputs, steps the game, encodes the state **once** and hands the
//! same bytes to every member's bounded outbox. A member whose outbox is full
//! is a slow consumer: it is removed and its session is told to close; the
//! room never waits for anyone.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use crossbeam::queue::ArrayQueue;
use tickforge_protocol::ServerEncoder;
use tickforge_protocol::encode::{JoinedFields, PlayerEntry, ack};
use tickforge_protocol::wire::PlayerAck;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::game::{EntityId, Game, GameKind, Mode};
use crate::net::close::Disconnect;
use crate::net::kick::Kick;
use crate::metrics::{OutKind, ShardMetrics};
use crate::{clock, metrics};
use tokio::time::Instant as TickInstant;

/// A session's id, unique per node.
pub type SessionId = u64;

/// Seat counter value of a disposed room: no reservation can succeed.
const CLOSED: u32 = u32::MAX;

/// Shared, thread-safe side of a room.
pub struct RoomShared {
    /// Room id, unique per node.
    pub id: Arc<str>,
    /// Mode the room was created for.
    pub mode: Arc<str>,
    /// Shard that runs the room.
    pub shard: usize,
    /// Seats.
    pub capacity: u16,
    /// Tick rate in Hz.
    pub tick_rate_hz: u16,
    kind: GameKind,
    /// Reserved plus occupied seats; [`CLOSED`] once disposed.
    seats: AtomicU32,
    /// Occupied seats (members the room has accepted).
    members: AtomicU32,
    /// Last tick run.
    tick: AtomicU64,
    control: ArrayQueue<Control>,
    inputs: ArrayQueue<InputCmd>,
    waker: AtomicWaker,
}

/// Cheap, cloneable handle to a room.
#[derive(Clone)]
pub struct RoomHandle {
    shared: Arc<RoomShared>,
}

/// A reserved seat. Dropping it unused gives the seat back.
pub struct Seat {
    room: Option<RoomHandle>,
}

/// What a session hands the room to become a member.
pub struct JoinRequest {
    /// The joining session.
    pub session: SessionId,
    /// Player id from Hello.
    pub player_id: Arc<str>,
    /// The session's outbox; the room never blocks on it.
    pub outbox: mpsc::Sender<Bytes>,
    /// How the room tells the session to close (slow consumer).
    pub kick: Arc<Kick>,
}

enum Control {
    Join(JoinRequest),
    Leave(SessionId),
}

struct InputCmd {
    session: SessionId,
    seq: u32,
    payload: Bytes,
}

/// Why a seat could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveError {
    /// Every seat is taken or reserved.
    Full,
    /// The room is being disposed.
    Closed,
}

/// Why an input did not enter the room's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputQueueFull;

impl RoomHandle {
    /// A room for `mode` on `shard`; run it with [`Room::new`] + [`Room::run`].
    pub fn new(id: Arc<str>, mode: &Mode, shard: usize, inputs_per_seat: usize) -> RoomHandle {
        let capacity = mode.params.capacity;
        RoomHandle {
            shared: Arc::new(RoomShared {
                id,
                mode: mode.name.clone(),
                shard,
                capacity,
                tick_rate_hz: mode.params.tick_rate_hz,
                kind: mode.kind,
                seats: AtomicU32::new(0),
                members: AtomicU32::new(0),
                tick: AtomicU64::new(0),
                // Each seat contributes at most one join and one leave in flight.
                control: ArrayQueue::new(2 * capacity as usize + 2),
                inputs: ArrayQueue::new((capacity as usize * inputs_per_seat).max(1)),
                waker: AtomicWaker::new(),
            }),
        }
    }

    /// The room's shared fields.
    pub fn info(&self) -> &RoomShared {
        &self.shared
    }

    /// Reserves one seat, atomically with respect to every other joiner.
    pub fn try_reserve(&self) -> Result<Seat, ReserveError> {
        let cap = u32::from(self.shared.capacity);
        self.shared
            .seats
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .map(|_| Seat {
                room: Some(self.clone()),
            })
            .map_err(|n| {
                if n == CLOSED {
                    ReserveError::Closed
                } else {
                    ReserveError::Full
                }
            })
    }

    /// Occupied seats.
    pub fn members(&self) -> u32 {
        self.shared.members.load(Ordering::Relaxed)
    }

    /// Last tick run.
    pub fn tick(&self) -> u64 {
        self.shared.tick.load(Ordering::Relaxed)
    }

    /// Checks an input payload with the room's game before it is queued.
    pub fn validate_input(&self, payload: &[u8]) -> Result<(), crate::game::InputError> {
        (self.shared.kind.validate_input)(payload)
    }

    /// Queues one input for the next tick (no wake-up: ticks drain the queue).
    pub fn send_input(
        &self,
        session: SessionId,
        seq: u32,
        payload: Bytes,
    ) -> Result<(), InputQueueFull> {
        self.shared
            .inputs
            .push(InputCmd {
                session,
                seq,
                payload,
            })
            .map_err(|_| InputQueueFull)
    }

    /// Tells the room that `session` left. Never blocks.
    pub fn leave(&self, session: SessionId) {
        self.push_control(Control::Leave(session));
    }

    fn push_control(&self, cmd: Control) {
        if self.shared.control.push(cmd).is_err() {
            // Bounded by construction (one join and one leave per seat); if it
            // ever fills, the member is still removed when its outbox closes.
            tracing::error!(room = %self.shared.id, "room control queue full");
        }
        self.shared.waker.wake();
    }

    fn release_seat(&self) {
        let _prev = self.shared.seats.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Seat {
    /// The room this seat is in.
    pub fn room(&self) -> Option<&RoomHandle> {
        self.room.as_ref()
    }

    /// Uses the seat: the room adds the member at once and sends it Joined.
    pub fn join(mut self, request: JoinRequest) -> RoomHandle {
        let room = self.room.take();
        match room {
            Some(room) => {
                room.push_control(Control::Join(request));
                room
            }
            None => unreachable!("a seat is used at most once"),
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Some(room) = self.room.take() {
            room.release_seat();
        }
    }
}

struct Member {
    session: SessionId,
    entity: EntityId,
    player_id: Arc<str>,
    outbox: mpsc::Sender<Bytes>,
    kick: Arc<Kick>,
    last_seq: u32,
}

/// Per-room settings from configuration.
#[derive(Clone)]
pub struct RoomSettings {
    /// An empty room lives this long before it is disposed.
    pub empty_grace: Duration,
    /// Metrics and load counters of the shard the room runs on.
    pub metrics: Arc<ShardMetrics>,
}

/// The room actor: owns the game and the members.
pub struct Room {
    handle: RoomHandle,
    game: Box<dyn Game>,
    members: Vec<Member>,
    removed: Vec<Member>,
    acks: Vec<PlayerAck>,
    enc: ServerEncoder,
    settings: RoomSettings,
}

/// What the room does when it stops.
pub trait RoomExit: Send + 'static {
    /// Called once the room's seats are closed, to remove it from directories.
    fn disposed(&self, room: &RoomHandle);
}

impl Room {
    /// A room around `handle` running `game`.
    pub fn new(handle: RoomHandle, game: Box<dyn Game>, settings: RoomSettings) -> Room {
        let capacity = handle.shared.capacity as usize;
        Room {
            handle,
            game,
            members: Vec::with_capacity(capacity),
            removed: Vec::new(),
            acks: Vec::with_capacity(capacity),
            enc: ServerEncoder::new(),
            settings,
        }
    }

    /// Runs ticks until shutdown or until the room has been empty for the
    /// grace period; then closes its seats and calls `exit`.
    pub async fn run(mut self, shutdown: CancellationToken, exit: impl RoomExit) {
        let shared = self.handle.shared.clone();
        let period = Duration::from_secs_f64(1.0 / f64::from(shared.tick_rate_hz));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut empty_since = Some(Instant::now());
        self.count_room(1);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = poll_fn(|cx| {
                    shared.waker.register(cx.waker());
                    if shared.control.is_empty() { Poll::Pending } else { Poll::Ready(()) }
                }) => self.drain_control(),
                scheduled = ticker.tick() => self.timed_tick(scheduled, period),
            }
            if !self.members.is_empty() {
                empty_since = None;
                continue;
            }
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.settings.empty_grace && self.try_close_seats() {
                break;
            }
        }
        self.handle.shared.seats.store(CLOSED, Ordering::Release);
        self.drain_control();
        for m in std::mem::take(&mut self.members) {
            self.count_member(-1);
            self.game.remove_player(m.entity);
        }
        self.count_room(-1);
        exit.disposed(&self.handle);
    }

    fn count_member(&self, delta: i32) {
        let members = &self.handle.shared.members;
        if delta > 0 {
            members.fetch_add(1, Ordering::Relaxed);
        } else {
            members.fetch_sub(1, Ordering::Relaxed);
        }
        self.settings.metrics.add_players(i64::from(delta));
    }

    fn count_room(&self, delta: i32) {
        self.settings.metrics.add_rooms(i64::from(delta));
    }

    /// A tick at its scheduled time, measured: lateness, work, budget, overrun.
    fn timed_tick(&mut self, scheduled: TickInstant, period: Duration) {
        let started = TickInstant::now();
        self.tick(period.as_secs_f32());
        let work = started.elapsed();
        let lateness = started.saturating_duration_since(scheduled);
        self.settings.metrics.tick(lateness, work, period);
    }

    /// Disposal: succeeds only if no seat is reserved or occupied.
    fn try_close_seats(&self) -> bool {
        self.handle
            .shared
            .seats
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// One tick: control, inputs, step, encode once, fan out.
    pub fn tick(&mut self, dt_secs: f32) {
        self.drain_control();
        self.apply_inputs();
        let tick = self.handle.shared.tick.fetch_add(1, Ordering::Relaxed) + 1;
        self.game.step(dt_secs);
        if self.members.is_empty() {
            return;
        }
        self.acks.clear();
        self.acks
            .extend(self.members.iter().map(|m| ack(m.entity, m.last_seq)));
        let state = self.game.encode_state();
        let frame = self.enc.state(tick, clock::now_micros(), state, &self.acks);
        self.broadcast(OutKind::State, &frame, None);
        self.settle_removed();
    }

    fn apply_inputs(&mut self) {
        while let Some(cmd) = self.handle.shared.inputs.pop() {
            let Some(member) = self.members.iter_mut().find(|m| m.session == cmd.session) else {
                metrics::input_dropped(metrics::DROP_NOT_IN_ROOM);
                continue;
            };
            match self.game.apply_input(member.entity, &cmd.payload) {
                Ok(()) => member.last_seq = cmd.seq,
                Err(_) => metrics::input_dropped(metrics::DROP_REFUSED),
            }
        }
    }

    fn drain_control(&mut self) {
        while let Some(cmd) = self.handle.shared.control.pop() {
            match cmd {
                Control::Join(request) => self.add_member(request),
                Control::Leave(session) => {
                    if let Some(i) = self.members.iter().position(|m| m.session == session) {
                        let member = self.members.swap_remove(i);
                        self.removed.push(member);
                    }
                }
            }
        }
        self.settle_removed();
    }

    fn add_member(&mut self, request: JoinRequest) {
        let entity = match self.game.add_player(None) {
            Ok(entity) => entity,
            Err(e) => {
                tracing::warn!(room = %self.handle.shared.id, error = %e, "player could not be added");
                self.handle.release_seat();
                return;
            }
        };
        self.count_member(1);
        let member = Member {
            session: request.session,
            entity,
            player_id: request.player_id,
            outbox: request.outbox,
            kick: request.kick,
            last_seq: 0,
        };
        let announce = self.enc.player_joined(PlayerEntry {
            entity_id: entity,
            player_id: &member.player_id,
        });
        self.broadcast(OutKind::PlayerJoined, &announce, None);
        self.members.push(member);
        let shared = self.handle.shared.clone();
        let fields = JoinedFields {
            room_id: &shared.id,
            mode: &shared.mode,
            entity_id: entity,
            tick: shared.tick.load(Ordering::Relaxed),
            tick_rate_hz: shared.tick_rate_hz,
            capacity: shared.capacity,
            state: self.game.encode_state(),
        };
        let players = self.members.iter().map(|m| PlayerEntry {
            entity_id: m.entity,
            player_id: &m.player_id,
        });
        let joined = self.enc.joined(&fields, players);
        self.broadcast(OutKind::Joined, &joined, Some(request.session));
    }

    /// Hands `frame` to every member (or only to `only`). Members whose
    /// outbox is full are kicked as slow consumers; closed outboxes mean the
    /// session is gone. Both are moved to `removed`.
    fn broadcast(&mut self, kind: OutKind, frame: &Bytes, only: Option<SessionId>) {
        let mut i = 0;
        let mut delivered = 0;
        while i < self.members.len() {
            let member = &self.members[i];
            if only.is_some_and(|s| s != member.session) {
                i += 1;
                continue;
            }
            match member.outbox.try_send(frame.clone()) {
                Ok(()) => {
                    delivered += 1;
                    i += 1;
                }
                Err(TrySendError::Full(_)) => {
                    member.kick.kick(Disconnect::SlowConsumer);
                    let member = self.members.swap_remove(i);
                    self.removed.push(member);
                }
                Err(TrySendError::Closed(_)) => {
                    let member = self.members.swap_remove(i);
                    self.removed.push(member);
                }
            }
        }
        self.settings.metrics.sent(kind, frame.len(), delivered);
    }

    /// Frees the seats of removed members and tells the others, until no
    /// announcement removes anyone else.
    fn settle_removed(&mut self) {
        while let Some(member) = self.removed.pop() {
            self.game.remove_player(member.entity);
            self.count_member(-1);
            self.handle.release_seat();
            if !self.members.is_empty() {
                let left = self.enc.player_left(PlayerEntry {
                    entity_id: member.entity,
                    player_id: &member.player_id,
                });
                self.broadcast(OutKind::PlayerLeft, &left, None);
            }
        }
    }
}
