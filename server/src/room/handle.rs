//! The thread-safe side of a room: seats, the control and input queues.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use crossbeam::queue::ArrayQueue;

use crate::game::{GameKind, InputError, Mode};
use crate::net::kick::Kick;
use crate::resume::ResumeKey;

/// A session's id, unique per node.
pub type SessionId = u64;

/// One membership of a session in a room: its session and the session's
/// join count at the time. Inputs and leaves carry it, so an input queued
/// by an earlier membership (the session left and rejoined before the
/// tick) never reaches the later seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipId {
    /// The session.
    pub session: SessionId,
    /// The session's join count: a new value for every join.
    pub generation: u64,
}

/// Seat counter value of a disposed room: no reservation can succeed.
pub(crate) const CLOSED: u32 = u32::MAX;

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
    /// Inputs one member may have queued between two ticks.
    pub inputs_per_seat: u32,
    /// Hidden from the public room list (`/rooms` on the public listener);
    /// operators still see it on the admin listener. Always `false` for now.
    pub private: bool,
    kind: GameKind,
    /// Reserved plus occupied seats; [`CLOSED`] once disposed.
    pub(crate) seats: AtomicU32,
    /// Occupied seats (members the room has accepted).
    pub(crate) members: AtomicU32,
    /// Last tick run.
    pub(crate) tick: AtomicU64,
    pub(crate) control: ArrayQueue<Control>,
    pub(crate) inputs: ArrayQueue<InputCmd>,
    pub(crate) waker: AtomicWaker,
    /// Set when the room was handed to another node (a drain).
    pub(crate) moved: AtomicBool,
}

impl RoomShared {
    /// Whether the room was handed to another node.
    pub fn moved(&self) -> bool {
        self.moved.load(Ordering::Acquire)
    }
}

/// Cheap, cloneable handle to a room.
#[derive(Clone)]
pub struct RoomHandle {
    pub(crate) shared: Arc<RoomShared>,
}

/// A reserved seat. Dropping it unused gives the seat back.
pub struct Seat {
    room: RoomHandle,
    used: bool,
}

/// What a session hands the room to become a member.
pub struct JoinRequest {
    /// The joining session and this join's generation.
    pub membership: MembershipId,
    /// The verified player id (saved state, presence).
    pub player_id: Arc<str>,
    /// Display name shown to the other members.
    pub name: Arc<str>,
    /// The session's outbox; the room never blocks on it.
    pub outbox: super::OutboxSender,
    /// How the room tells the session to close (slow consumer).
    pub kick: Arc<Kick>,
    /// This membership's inputs in the room's queue; the room counts down
    /// (never below zero).
    pub inputs_queued: Arc<AtomicU32>,
    /// The player's last snapshot (restored into the game), `None` for a
    /// new player.
    pub saved: Option<crate::persist::Snapshot>,
    /// The player's claim on this node, held while seated and released
    /// after the final snapshot is handed over.
    pub claim: Option<crate::persist::PlayerClaim>,
    /// A guest session (`IdentityKind::Guest`): the player's snapshots
    /// expire `--guest-ttl` after their capture.
    pub guest: bool,
    /// The key this member's resume token names (see [`crate::resume`]).
    pub resume_key: ResumeKey,
    /// The session speaks `tickforge.v2`: in a room whose game replicates
    /// it gets interest state messages instead of State.
    pub interest: bool,
}

/// What a resuming session hands the room to take over a seat.
pub struct ResumeRequest {
    /// The key of the seat, from the resume token.
    pub key: ResumeKey,
    /// The resuming player (must be the seated one).
    pub player_id: Arc<str>,
    /// The new session and its generation.
    pub membership: MembershipId,
    /// The new session's outbox.
    pub outbox: super::OutboxSender,
    /// How the room tells the new session to close.
    pub kick: Arc<Kick>,
    /// The new membership's queued inputs.
    pub inputs_queued: Arc<AtomicU32>,
    /// The key of the new session (its Welcome's resume token).
    pub new_key: ResumeKey,
    /// The new session speaks `tickforge.v2` (see [`JoinRequest::interest`]).
    pub interest: bool,
}

pub(crate) enum Control {
    Join(JoinRequest),
    Leave(MembershipId),
    Resume(ResumeRequest),
    EndHold(ResumeKey),
    HandOff(super::actor::Freeze),
}

pub(crate) struct InputCmd {
    pub(crate) membership: MembershipId,
    pub(crate) seq: u32,
    pub(crate) payload: Bytes,
}

/// Why a seat could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveError {
    /// Every seat is taken or reserved.
    Full,
    /// The room is being disposed.
    Closed,
}

/// The room could not take a join now (its control queue is full); the seat
/// was given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("room is busy, try again")]
pub struct JoinRefused;

/// Why an input was not queued. Policy: reject (the input is dropped and
/// counted; the client sees no ack for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRefused {
    /// This member already has `inputs_per_seat` inputs waiting for the tick.
    SeatBudget,
    /// The room's whole input queue is full.
    RoomQueueFull,
}

impl InputRefused {
    /// Stable label (`reason` of `tickforge_inputs_dropped_total`).
    pub fn label(self) -> &'static str {
        match self {
            InputRefused::SeatBudget => crate::metrics::DROP_SEAT_BUDGET,
            InputRefused::RoomQueueFull => crate::metrics::DROP_QUEUE_FULL,
        }
    }
}

impl RoomHandle {
    /// A room for `mode` on `shard`; run it with [`super::Room::new`] and
    /// [`super::Room::run`]. Returns the handle and the creator's seat,
    /// reserved before anyone else can see the room.
    pub fn create(
        id: Arc<str>,
        mode: &Mode,
        shard: usize,
        inputs_per_seat: u32,
        private: bool,
    ) -> (RoomHandle, Seat) {
        let handle = RoomHandle::with_seats(id, mode, shard, inputs_per_seat, private, 1, 0);
        let seat = Seat {
            room: handle.clone(),
            used: false,
        };
        (handle, seat)
    }

    /// A room taken over from another node (a hand-off): `seats` seats are
    /// occupied by the members it brings, its ticks continue after `tick`.
    pub fn restored(
        id: Arc<str>,
        mode: &Mode,
        shard: usize,
        inputs_per_seat: u32,
        seats: u32,
        tick: u64,
    ) -> RoomHandle {
        RoomHandle::with_seats(id, mode, shard, inputs_per_seat, false, seats, tick)
    }

    fn with_seats(
        id: Arc<str>,
        mode: &Mode,
        shard: usize,
        inputs_per_seat: u32,
        private: bool,
        taken: u32,
        tick: u64,
    ) -> RoomHandle {
        let capacity = mode.params.capacity;
        let seats = capacity as usize;
        RoomHandle {
            shared: Arc::new(RoomShared {
                id,
                mode: mode.name.clone(),
                shard,
                capacity,
                tick_rate_hz: mode.params.tick_rate_hz,
                inputs_per_seat,
                private,
                kind: mode.kind,
                seats: AtomicU32::new(taken),
                members: AtomicU32::new(0),
                tick: AtomicU64::new(tick),
                // Joins in flight are bounded by the seats; leaves by members
                // plus members just removed; a full queue refuses the join.
                control: ArrayQueue::new(4 * seats + 8),
                inputs: ArrayQueue::new((seats * inputs_per_seat as usize).max(1)),
                waker: AtomicWaker::new(),
                moved: AtomicBool::new(false),
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
        match self
            .shared
            .seats
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then(|| n + 1)
            }) {
            Ok(_) => Ok(Seat {
                room: self.clone(),
                used: false,
            }),
            Err(CLOSED) => Err(ReserveError::Closed),
            Err(_) => Err(ReserveError::Full),
        }
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
    pub fn validate_input(&self, payload: &[u8]) -> Result<(), InputError> {
        (self.shared.kind.validate_input)(payload)
    }

    /// Queues one input for the next tick (no wake-up: ticks drain the
    /// queue). `queued` is the membership's count from its [`JoinRequest`];
    /// it never exceeds the seat budget and never wraps.
    pub fn send_input(
        &self,
        membership: MembershipId,
        seq: u32,
        payload: Bytes,
        queued: &AtomicU32,
    ) -> Result<(), InputRefused> {
        let budget = self.shared.inputs_per_seat;
        if queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < budget).then_some(n + 1)
            })
            .is_err()
        {
            return Err(InputRefused::SeatBudget);
        }
        let cmd = InputCmd {
            membership,
            seq,
            payload,
        };
        self.shared.inputs.push(cmd).map_err(|_| {
            count_down(queued);
            InputRefused::RoomQueueFull
        })
    }

    /// Tells the room that `membership` left. Never blocks. If the queue is
    /// full the room still removes the member when its outbox closes.
    pub fn leave(&self, membership: MembershipId) {
        if self
            .shared
            .control
            .push(Control::Leave(membership))
            .is_err()
        {
            tracing::debug!(room = %self.shared.id, "control queue full; leave seen through the closed outbox");
        }
        self.shared.waker.wake();
    }

    /// Hands a resume to the room (its seat was taken from the resume
    /// registry); the room answers through the request's outbox. Refused
    /// when the room's control queue is full.
    pub fn resume(&self, request: ResumeRequest) -> Result<(), JoinRefused> {
        self.command(Control::Resume(request))
    }

    /// Ends the held seat `key` now (its registry entry was taken): an
    /// ordinary leave. Refused when the room's control queue is full.
    pub fn end_hold(&self, key: ResumeKey) -> Result<(), JoinRefused> {
        self.command(Control::EndHold(key))
    }

    /// Asks the room to freeze for a hand-off: it stops ticking, answers
    /// with its state through `freeze`, and waits for the verdict. Refused
    /// when the room's control queue is full.
    pub fn freeze(&self, freeze: super::actor::Freeze) -> Result<(), JoinRefused> {
        self.command(Control::HandOff(freeze))
    }

    /// Queues a control command and wakes the room; refused (policy:
    /// reject, the caller decides) when the control queue is full.
    fn command(&self, cmd: Control) -> Result<(), JoinRefused> {
        self.shared.control.push(cmd).map_err(|_| JoinRefused)?;
        self.shared.waker.wake();
        Ok(())
    }

    /// Gives one seat back; a disposed room stays disposed.
    pub(crate) fn release_seat(&self) {
        let released = self
            .shared
            .seats
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != CLOSED && n > 0).then(|| n - 1)
            });
        debug_assert!(
            released.is_ok() || released == Err(CLOSED),
            "seat released that was never reserved"
        );
    }
}

/// One queued input of a membership was taken (or given back); saturates
/// at zero, so a stray count-down can never wrap the budget counter.
pub(crate) fn count_down(queued: &AtomicU32) {
    let _never_below_zero =
        queued.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
}

impl Seat {
    /// The room this seat is in.
    pub fn room(&self) -> &RoomHandle {
        &self.room
    }

    /// Uses the seat: the room adds the member at its next wake-up and sends
    /// it Joined through the outbox. If the room cannot take the request the
    /// seat is given back.
    pub fn join(mut self, request: JoinRequest) -> Result<RoomHandle, JoinRefused> {
        if self
            .room
            .shared
            .control
            .push(Control::Join(request))
            .is_err()
        {
            return Err(JoinRefused);
        }
        self.used = true;
        self.room.shared.waker.wake();
        Ok(self.room.clone())
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        if !self.used {
            self.room.release_seat();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{GameParams, arena};

    fn room(capacity: u16, inputs_per_seat: u32) -> (RoomHandle, Seat) {
        let mode = Mode {
            name: Arc::from("arena"),
            kind: arena::KIND,
            params: GameParams {
                capacity,
                tick_rate_hz: 30,
            },
        };
        RoomHandle::create(Arc::from("r"), &mode, 0, inputs_per_seat, false)
    }

    #[test]
    fn concurrent_joiners_never_get_more_seats_than_the_capacity() {
        let (handle, creator) = room(32, 4);
        let seats: Vec<Vec<Seat>> = std::thread::scope(|s| {
            let joiners: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..100).filter_map(|_| handle.try_reserve().ok()).collect()))
                .collect();
            joiners.into_iter().filter_map(|j| j.join().ok()).collect()
        });
        assert_eq!(
            seats.iter().map(Vec::len).sum::<usize>(),
            31,
            "the creator holds the 32nd"
        );
        assert_eq!(handle.try_reserve().err(), Some(ReserveError::Full));
        drop(seats);
        drop(creator);
        assert_eq!(
            handle.shared.seats.load(Ordering::Acquire),
            0,
            "unused seats are given back"
        );
    }

    #[test]
    fn a_disposed_room_stays_closed_even_when_late_seats_are_released() {
        let (handle, seat) = room(2, 4);
        handle.shared.seats.store(CLOSED, Ordering::Release);
        drop(seat);
        assert_eq!(handle.try_reserve().err(), Some(ReserveError::Closed));
    }

    #[test]
    fn one_member_cannot_queue_more_than_its_input_budget() {
        let (handle, _seat) = room(2, 3);
        let queued = AtomicU32::new(0);
        let one = member(1, 1);
        for seq in 0..3 {
            assert!(handle.send_input(one, seq, Bytes::new(), &queued).is_ok());
        }
        assert_eq!(
            handle.send_input(one, 3, Bytes::new(), &queued),
            Err(InputRefused::SeatBudget)
        );
        let other = AtomicU32::new(0);
        assert!(
            handle
                .send_input(member(2, 1), 0, Bytes::new(), &other)
                .is_ok(),
            "others still get in"
        );
    }

    #[test]
    fn a_budget_counter_never_wraps_below_zero() {
        let queued = AtomicU32::new(0);
        count_down(&queued);
        count_down(&queued);
        assert_eq!(queued.load(Ordering::Acquire), 0);
        let (handle, _seat) = room(2, 2);
        assert!(
            handle
                .send_input(member(1, 1), 0, Bytes::new(), &queued)
                .is_ok()
        );
    }

    fn member(session: SessionId, generation: u64) -> MembershipId {
        MembershipId {
            session,
            generation,
        }
    }

    #[test]
    fn a_join_the_room_cannot_take_gives_its_seat_back() {
        let (handle, creator) = room(1, 1);
        drop(creator);
        while handle
            .shared
            .control
            .push(Control::Leave(member(0, 0)))
            .is_ok()
        {}
        let seat = handle.try_reserve().unwrap_or_else(|e| panic!("{e:?}"));
        let (tx, _rx) = super::super::outbox(4);
        let request = JoinRequest {
            membership: member(9, 1),
            player_id: Arc::from("p"),
            name: Arc::from("P"),
            outbox: tx,
            kick: Arc::new(Kick::default()),
            inputs_queued: Arc::new(AtomicU32::new(0)),
            saved: None,
            claim: None,
            guest: false,
            resume_key: ResumeKey {
                node: Arc::from("n"),
                session: 9,
            },
            interest: false,
        };
        assert_eq!(seat.join(request).err(), Some(JoinRefused));
        assert_eq!(handle.shared.seats.load(Ordering::Acquire), 0);
    }
}
