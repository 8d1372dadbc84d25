//! Rooms: one actor per room on its shard's thread.
//!
//! [`RoomHandle`] ([`handle`]) is the cheap, thread-safe side: seat
//! reservation (one atomic counter that enforces capacity exactly) and two
//! bounded lock-free queues (`crossbeam` `ArrayQueue`) — control (join,
//! leave; wakes the room through an `AtomicWaker`) and inputs (drained at
//! each tick, never woken for). [`Room`] ([`actor`]) owns the game and the
//! members: at every tick it drains inputs, steps the game, encodes the
//! state **once** and hands the same bytes to every member's bounded
//! outbox. A member whose outbox is full is a slow consumer: it is removed
//! and its session is told to close; the room never waits for anyone.

pub mod actor;
pub mod handle;
pub mod outbox;
mod snapshot;

pub use actor::{Freeze, Frozen, Room, RoomExit, RoomSettings, Verdict};
pub use handle::{
    InputRefused, JoinRefused, JoinRequest, MembershipId, ReserveError, ResumeRequest, RoomHandle,
    Seat, SessionId,
};
pub use outbox::{OutboxReceiver, OutboxSender, outbox};
