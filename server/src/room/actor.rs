//! The room actor: owns the game and the members; ticks, encodes once, fans out.
//! Held seats and resumes are in [`held`]; freezing for a hand-off to
//! another node and taking one over are in [`handed`]; deltas and interest
//! cells for `tickforge.v2` members of replicating games in [`interest`].

mod handed;
mod held;
mod interest;

pub use handed::{Freeze, Frozen, Verdict};

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tickforge_protocol::ServerEncoder;
use tickforge_protocol::encode::{JoinedFields, PlayerEntry, ack};
use tickforge_protocol::replication::Cell;
use tickforge_protocol::wire::{ErrorCode, PlayerAck};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::handle::{
    CLOSED, Control, JoinRequest, MembershipId, RoomHandle, SessionId, count_down,
};
use super::outbox::{OutboxSender, SendError};
use super::snapshot::MemberSnapshot;
use crate::clock;
use crate::game::{EntityId, Game};
use crate::metrics::{self, DeliveryTally, OutKind, ShardMetrics};
use crate::net::close::Disconnect;
use crate::net::kick::Kick;
use crate::net::wire::WireFrame;
use crate::persist::WriteBehindHandle;
use crate::presence::PresenceHandle;
use crate::resume::{ResumeKey, ResumeRegistry};

struct Member {
    membership: MembershipId,
    entity: EntityId,
    player_id: Arc<str>,
    name: Arc<str>,
    outbox: OutboxSender,
    kick: Arc<Kick>,
    inputs_queued: Arc<AtomicU32>,
    last_seq: u32,
    snapshot: MemberSnapshot,
    resume_key: ResumeKey,
    /// Set while the session is gone and the seat is held: the end of the grace.
    away_until: Option<Instant>,
    /// The seat came with a room handed over from another node and its
    /// member has not arrived yet.
    handed_in: bool,
    /// A `tickforge.v2` member of a replicating room: it gets interest
    /// state messages instead of State.
    interest: bool,
    /// With `interest`: the centre of the view its last message showed
    /// (`None` after a Joined: the next message brings keyframes).
    held: Option<Cell>,
}

/// How handing one frame to a member went.
enum Delivery {
    Delivered,
    /// The member's seat is now held (it stays at its index).
    Held,
    /// The member moved to `removed` (the last member took its index).
    Removed,
}

/// Who a broadcast goes to (members whose seat is held get nothing).
#[derive(Clone, Copy)]
enum Audience {
    All,
    /// Members that get the full State (all but interest members).
    FullState,
    Only(SessionId),
    AllBut(SessionId),
}

impl Audience {
    fn includes(self, member: &Member) -> bool {
        let session = member.membership.session;
        match self {
            Audience::All => true,
            Audience::FullState => !member.interest,
            Audience::Only(s) => s == session,
            Audience::AllBut(s) => s != session,
        }
    }
}

/// Per-room settings from configuration.
#[derive(Clone)]
pub struct RoomSettings {
    /// An empty room lives this long before it is disposed.
    pub empty_grace: Duration,
    /// Metrics and load counters of the shard the room runs on.
    pub metrics: Arc<ShardMetrics>,
    /// Where joins and leaves are reported (never waits).
    pub presence: PresenceHandle,
    /// Where player snapshots go; `None`: the room captures none.
    pub snapshots: Option<WriteBehindHandle>,
    /// The node's resume registry (seats held after a drop).
    pub resume: Arc<ResumeRegistry>,
}

/// What happens when a room stops (normally, at shutdown, or by a panic in
/// its game): it is removed from the directories.
pub trait RoomExit: Send + 'static {
    /// Called once, after the room's seats are closed.
    fn disposed(&self, room: &RoomHandle);
}

/// The room actor: owns the game and the members. Dropping it (at the end of
/// [`Room::run`], or when a panic unwinds the task) closes its seats, lets
/// every member and pending joiner go, and calls its [`RoomExit`].
pub struct Room {
    handle: RoomHandle,
    game: Box<dyn Game>,
    members: Vec<Member>,
    removed: Vec<Member>,
    /// Members whose session just dropped: announced as away once settled.
    dropped: Vec<MembershipId>,
    /// Members whose seat is held.
    away: usize,
    acks: Vec<PlayerAck>,
    enc: ServerEncoder,
    /// Present when the game replicates (see [`interest`]).
    replication: Option<interest::Replication>,

    settings: RoomSettings,
    exit: Option<Box<dyn RoomExit>>,
    next_snapshot: Instant,
    /// Frozen for a hand-off: the verdict to wait for before anything else.
    frozen: Option<tokio::sync::oneshot::Receiver<Verdict>>,
    /// Wall-clock time of the last tick, Unix microseconds.
    last_tick_us: u64,
    /// A room taken over from another node: the source's last tick, Unix
    /// microseconds, until the first tick here measures the pause.
    paused_since_us: Option<u64>,
}

impl Room {
    /// A room around `handle` running `game`; counted as live at once.
    pub fn new(handle: RoomHandle, game: Box<dyn Game>, settings: RoomSettings) -> Room {
        let capacity = handle.shared.capacity as usize;
        settings.metrics.add_rooms(1);
        let replication = game.replication().map(interest::Replication::new);
        Room {
            replication,

            handle,
            game,
            members: Vec::with_capacity(capacity),
            removed: Vec::new(),
            dropped: Vec::new(),
            away: 0,
            acks: Vec::with_capacity(capacity),
            enc: ServerEncoder::new(),
            settings,
            exit: None,
            next_snapshot: Instant::now(),
            frozen: None,
            last_tick_us: 0,
            paused_since_us: None,
        }
    }

    /// Runs ticks until shutdown or until the room has been empty for the
    /// grace period; then closes its seats and calls `exit`.
    pub async fn run(mut self, shutdown: CancellationToken, exit: impl RoomExit) {
        self.exit = Some(Box::new(exit));
        let shared = self.handle.shared.clone();
        let period = Duration::from_secs_f64(1.0 / f64::from(shared.tick_rate_hz));
        let mut ticker = tokio::time::interval(period);
        // A tick that comes too late is skipped, not made up in a burst;
        // lateness and overruns are measured and exported.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut empty_since = Some(Instant::now());
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                scheduled = ticker.tick() => self.timed_tick(scheduled, period),
                _ = poll_fn(|cx| {
                    shared.waker.register(cx.waker());
                    if shared.control.is_empty() { Poll::Pending } else { Poll::Ready(()) }
                }) => self.drain_control(),
            }
            if let Some(verdict) = self.frozen.take() {
                let verdict = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => Verdict::Stay,
                    verdict = verdict => verdict.unwrap_or(Verdict::Stay),
                };
                if self.settle_hand_off(verdict) {
                    break;
                }
                continue;
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
        // Drop does the rest.
    }

    /// Disposal: succeeds only if no seat is reserved or occupied.
    fn try_close_seats(&self) -> bool {
        self.handle
            .shared
            .seats
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A tick at its scheduled time, measured: lateness, work, budget, overrun.
    fn timed_tick(&mut self, scheduled: Instant, period: Duration) {
        let started = Instant::now();
        if let Some(since_us) = self.paused_since_us.take() {
            metrics::handoff_pause(clock::now_micros().saturating_sub(since_us));
        }
        self.tick(period.as_secs_f32());
        let work = started.elapsed();
        let lateness = started.saturating_duration_since(scheduled);
        self.settings.metrics.tick(lateness, work, period);
    }

    /// One tick: control, inputs, step, encode once, fan out. The game
    /// always advances by the fixed period (deterministic simulation).
    pub fn tick(&mut self, dt_secs: f32) {
        self.drain_control();
        if self.frozen.is_some() {
            return;
        }
        if self.away > 0 {
            self.expire_held(Instant::now());
        }
        self.apply_inputs();
        let tick = self.handle.shared.tick.fetch_add(1, Ordering::Relaxed) + 1;
        self.game.step(dt_secs);
        if self.members.is_empty() {
            return;
        }
        self.capture_changed();
        let now_us = clock::now_micros();
        self.last_tick_us = now_us;
        if self.members.iter().any(|m| !m.interest) {
            self.acks.clear();
            self.acks
                .extend(self.members.iter().map(|m| ack(m.entity, m.last_seq)));
            let state = self.game.encode_state();
            let frame = self.enc.state(tick, now_us, state, &self.acks);
            self.broadcast(OutKind::State, &frame, Audience::FullState);
        }
        self.fan_out_interest(tick, now_us);
        self.settle_removed();
    }

    fn apply_inputs(&mut self) {
        while let Some(cmd) = self.handle.shared.inputs.pop() {
            let Some(member) = self
                .members
                .iter_mut()
                .find(|m| m.membership.session == cmd.membership.session)
            else {
                self.settings
                    .metrics
                    .input_dropped(metrics::DROP_NOT_IN_ROOM);
                continue;
            };
            if member.membership.generation != cmd.membership.generation {
                // Queued before the session left and rejoined: not this seat's.
                self.settings
                    .metrics
                    .input_dropped(metrics::DROP_STALE_MEMBERSHIP);
                continue;
            }
            count_down(&member.inputs_queued);
            // The game's read is the one verification of a seated member's
            // input (the session forwards it unverified); only a refusal is
            // checked again, to tell a malformed input (the member is
            // closed, 1007 `bad_input`) from one the game declined.
            match self.game.apply_input(member.entity, &cmd.payload) {
                Ok(()) => member.last_seq = cmd.seq,
                Err(_) if self.handle.validate_input(&cmd.payload).is_err() => {
                    member.kick.kick(Disconnect::BadInput);
                }
                Err(_) => self.settings.metrics.input_dropped(metrics::DROP_REFUSED),
            }
        }
    }

    fn drain_control(&mut self) {
        // A freeze stops here: what follows waits for the verdict.
        while self.frozen.is_none() {
            let Some(cmd) = self.handle.shared.control.pop() else {
                break;
            };
            match cmd {
                Control::Join(request) => self.add_member(request),
                Control::Leave(membership) => {
                    if let Some(i) = self.members.iter().position(|m| m.membership == membership) {
                        let member = self.members.swap_remove(i);
                        self.removed.push(member);
                    }
                }
                Control::Resume(request) => self.resume_member(request),
                Control::EndHold(key) => self.end_hold(&key),
                Control::HandOff(freeze) => self.freeze(freeze),
            }
        }
        self.settle_removed();
    }

    fn add_member(&mut self, request: JoinRequest) {
        let saved = request.saved.as_ref().map(|s| &s.state[..]);
        let entity = match self.game.add_player(saved) {
            Ok(entity) => entity,
            Err(e) => {
                tracing::warn!(room = %self.handle.shared.id, error = %e, "player could not be added");
                let refusal = self
                    .enc
                    .error(ErrorCode::InvalidInput, "the game could not add the player");
                if request.outbox.try_send(WireFrame::binary(refusal)).is_err() {
                    tracing::debug!("joiner gone before its refusal");
                }
                self.handle.release_seat();
                return;
            }
        };
        self.count_member(1);
        let member = Member {
            membership: request.membership,
            entity,
            player_id: request.player_id,
            name: request.name,
            outbox: request.outbox,
            kick: request.kick,
            inputs_queued: request.inputs_queued,
            last_seq: 0,
            snapshot: MemberSnapshot::new(request.saved.as_ref(), request.claim, request.guest),
            resume_key: request.resume_key,
            away_until: None,
            handed_in: false,
            interest: request.interest && self.replication.is_some(),
            held: None,
        };

        if self.settings.resume.enabled() {
            self.settings.resume.seat(
                member.resume_key.clone(),
                self.handle.clone(),
                member.player_id.clone(),
                member.kick.clone(),
            );
        }
        let announce = self.enc.player_joined(PlayerEntry {
            entity_id: entity,
            name: &member.name,
        });
        self.broadcast(OutKind::PlayerJoined, &announce, Audience::All);
        let player = member.player_id.clone();
        self.members.push(member);
        self.settings.presence.player_joined(
            &self.handle.shared.id,
            &player,
            self.members.len() as u32,
        );
        self.send_joined(entity, request.membership.session, None);
    }

    /// Sends `session` (the member with `entity`) a Joined with the full
    /// state and every member, away ones marked; `resumed_from`: the last
    /// applied input sequence when the seat was taken back by a resume.
    fn send_joined(&mut self, entity: EntityId, session: SessionId, resumed_from: Option<u32>) {
        let shared = self.handle.shared.clone();
        let interest = self
            .members
            .iter()
            .any(|m| m.entity == entity && m.interest);
        let view_radius_cells = match &self.replication {
            Some(r) if interest => r.view_radius(),
            _ => 0,
        };
        let fields = JoinedFields {
            room_id: &shared.id,
            mode: &shared.mode,
            entity_id: entity,
            tick: shared.tick.load(Ordering::Relaxed),
            tick_rate_hz: shared.tick_rate_hz,
            capacity: shared.capacity,
            // An interest member's first interest state brings keyframes.
            state: if interest {
                &[]
            } else {
                self.game.encode_state()
            },
            view_radius_cells,
        };
        let players = self.members.iter().map(|m| {
            let entry = PlayerEntry {
                entity_id: m.entity,
                name: &m.name,
            };
            (entry, m.away_until.is_some())
        });
        let joined = self.enc.joined_with(&fields, players, resumed_from);
        self.broadcast(OutKind::Joined, &joined, Audience::Only(session));
    }

    /// Hands `frame` to every member (or only to `only`); members whose
    /// seat is held (away) get nothing. Members whose outbox is full are
    /// kicked as slow consumers; closed outboxes mean the session is gone.
    /// With resume on, both keep their seat for the grace (see [`held`]),
    /// unless the session left for good; otherwise they move to `removed`.
    fn broadcast(&mut self, kind: OutKind, frame: &Bytes, to: Audience) {
        // Framed once (header included); each member's copy shares it.
        let wire = WireFrame::binary(frame.clone());
        let thread = std::thread::current().id();
        let mut tally = DeliveryTally::default();
        let mut i = 0;
        let mut delivered = 0;
        while i < self.members.len() {
            let member = &self.members[i];
            if member.away_until.is_some() || !to.includes(member) {
                i += 1;
                continue;
            }
            let sent = member
                .outbox
                .deliver(&wire, thread)
                .map(|path| tally.add(path));
            match self.delivered(i, sent) {
                Delivery::Delivered => {
                    delivered += 1;
                    i += 1;
                }
                Delivery::Held => i += 1,
                Delivery::Removed => {}
            }
        }
        self.settings.metrics.sent(kind, frame.len(), delivered);
        self.settings.metrics.deliveries.record(&tally);
    }

    /// What follows a send to member `i`: nothing when it was queued; a
    /// full outbox kicks the member as a slow consumer; with resume on both
    /// that and a closed outbox keep the seat (see [`held`]) unless the
    /// session left for good; otherwise the member moves to `removed`.
    fn delivered(&mut self, i: usize, sent: Result<(), SendError>) -> Delivery {
        let member = &self.members[i];
        let hold = match sent {
            Ok(()) => return Delivery::Delivered,
            Err(SendError::Full) => {
                member.kick.kick(Disconnect::SlowConsumer);
                self.settings.resume.enabled()
            }
            Err(SendError::Closed) => self.holds_after_close(member),
        };
        if hold {
            self.begin_hold(i);
            Delivery::Held
        } else {
            let member = self.members.swap_remove(i);
            self.removed.push(member);
            Delivery::Removed
        }
    }

    /// Frees the seats of removed members and announces dropped ones as
    /// away, until no announcement removes or drops anyone else.
    fn settle_removed(&mut self) {
        loop {
            if let Some(membership) = self.dropped.pop() {
                self.settle_dropped(membership);
                continue;
            }
            let Some(member) = self.removed.pop() else {
                return;
            };
            self.settle_left(member);
        }
    }

    fn settle_left(&mut self, mut member: Member) {
        if member.away_until.is_some() {
            self.away -= 1;
            crate::metrics::seats_held(-1.0);
        }
        if self.settings.resume.enabled() {
            self.settings.resume.release(&member.resume_key);
        }
        self.capture_final(&mut member);
        self.game.remove_player(member.entity);
        self.count_member(-1);
        self.handle.release_seat();
        self.settings.presence.player_left(
            &self.handle.shared.id,
            &member.player_id,
            self.members.len() as u32,
            member.snapshot.version(),
        );
        if !self.members.is_empty() {
            let left = self.enc.player_left(PlayerEntry {
                entity_id: member.entity,
                name: &member.name,
            });
            self.broadcast(OutKind::PlayerLeft, &left, Audience::All);
        }
    }

    /// Every `--snapshot-interval-ms`: snapshots of the members whose saved
    /// state changed.
    fn capture_changed(&mut self) {
        let Some(sink) = &self.settings.snapshots else {
            return;
        };
        let now = Instant::now();
        if now < self.next_snapshot {
            return;
        }
        self.next_snapshot = now + sink.interval();
        let room_id = &self.handle.shared.id;
        for m in &mut self.members {
            m.snapshot
                .capture(sink, &*self.game, m.entity, &m.player_id, room_id, false);
        }
    }

    /// The last snapshot of a member who leaves; releases its claim.
    fn capture_final(&self, member: &mut Member) {
        if let Some(sink) = &self.settings.snapshots {
            let room_id = &self.handle.shared.id;
            member.snapshot.capture(
                sink,
                &*self.game,
                member.entity,
                &member.player_id,
                room_id,
                true,
            );
        }
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
}

impl Drop for Room {
    fn drop(&mut self) {
        let shared = self.handle.shared.clone();
        shared.seats.store(CLOSED, Ordering::Release);
        // Pending joiners and members are let go: their outboxes close and
        // their sessions become roomless.
        while shared.control.pop().is_some() {}
        while shared.inputs.pop().is_some() {}
        let mut gone = std::mem::take(&mut self.members);
        gone.append(&mut self.removed);
        let mut remaining = gone.len() as u32;
        for mut member in gone {
            if member.away_until.is_some() {
                crate::metrics::seats_held(-1.0);
            }
            if self.settings.resume.enabled() {
                self.settings.resume.release(&member.resume_key);
            }
            // A game that panicked is not asked for state while unwinding.
            if !std::thread::panicking() {
                self.capture_final(&mut member);
            }
            self.game.remove_player(member.entity);
            self.count_member(-1);
            remaining -= 1;
            self.settings.presence.player_left(
                &shared.id,
                &member.player_id,
                remaining,
                member.snapshot.version(),
            );
        }
        self.settings.metrics.add_rooms(-1);
        if let Some(exit) = self.exit.take() {
            exit.disposed(&self.handle);
        }
    }
}
