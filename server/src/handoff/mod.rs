//! Live room hand-off: a draining node moves each room, with its whole game
//! state, to another node, and sends every member a Redirect with a resume
//! token that the other node accepts.
//!
//! | file | owns |
//! |---|---|
//! | [`record`] | the hand-off record (room blob, tick, members) and its size limit |
//! | [`link`] | the Redis transport: record key, claim script, reply list, per-node channel |
//! | [`source`] | the draining node's side: target choice, freeze, offer, verdict |
//! | [`target`] | the receiving node's side: verify, claim, restore the room with held seats |
//!
//! # Transport
//!
//! Through the Redis the nodes already share for presence (`--presence
//! redis://…`), on connections of its own:
//!
//! 1. The source freezes the room (it stops ticking; its game state and
//!    members are captured, every member's snapshot handed to the writer),
//!    writes the record to `tf:handoff:{room}` with a TTL of
//!    `--handoff-timeout`, and publishes the room id on the target's channel
//!    `tf:handoff:to:{target}` (no subscriber: the target is gone; the next
//!    candidate is tried).
//! 2. The target reads the record, checks it (version, size, deadline,
//!    mode, capacity, `--max-rooms`, resume on) and restores the game into a
//!    scratch instance (a bad blob is refused here). Then one Lua script
//!    takes the record and moves the room's ownership key `tf:room:{room}`
//!    from the source to the target atomically; only after it succeeded the
//!    target starts the room, with every member in a held seat registered
//!    under the member's existing resume key (issuing node and session id,
//!    see [`crate::resume`]), and pushes `ok` on `tf:handoff:reply:{room}`.
//!    The room exists before the first member can arrive.
//! 3. The source waits for the reply (`BLPOP`, within `--handoff-timeout`).
//!    On `ok` it sends every member a Redirect with the target's URL, the
//!    room id and a resume token for the member's key, signed with the
//!    cluster's session key, and the room ends here without a leave being
//!    written (the target owns it and its ownership key).
//!
//! # Size limit
//!
//! `--handoff-max-bytes`, default 1 MiB: a 32-player arena room's record is
//! about 8 KiB, so the default leaves two orders of magnitude for games with
//! more state, while a record still moves through Redis in about a
//! millisecond on a LAN and a drain of a node's rooms (sequential, one
//! record in Redis at a time) holds at most that much memory there. A
//! larger room fails its hand-off (`too_large`) and closes as without a peer.
//!
//! # Failure
//!
//! No node to take the room, a room whose game cannot save itself, a
//! record over the limit, a transport error, a refusal, or no reply in time
//! (the source then deletes the record; if the target had already claimed
//! it, the source waits one more timeout for its answer; a target that
//! timed out or failed in transport is not asked again in the same drain,
//! so a dead peer costs one wait, not one per room): the room resumes
//! ticking and closes at shutdown as on a single node — every player's
//! snapshot written, then 1001. A member that does not arrive on the target
//! within `--resume-grace` is an ordinary leave there (snapshot written).

pub mod link;
pub mod record;
pub mod source;
pub mod target;

pub use record::{HandedMember, HandoffRecord};

/// Why a hand-off did not happen (`result` of
/// `tickforge_handoff_rooms_total`; also the target's refusal reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    /// No other node that is not draining.
    #[error("no node can take the room")]
    NoTarget,
    /// The room's game cannot save its state.
    #[error("the game cannot save a room")]
    Unsupported,
    /// The record is larger than `--handoff-max-bytes`.
    #[error("the hand-off record is too large")]
    TooLarge,
    /// The record does not decode, has another version, or a blob is bad.
    #[error("the hand-off record is invalid")]
    BadRecord,
    /// Redis could not be reached or answered with an error.
    #[error("the hand-off transport failed")]
    Transport,
    /// The target refused the room (capacity, mode, resume off, ownership).
    #[error("the target refused the room")]
    Refused,
    /// No answer within `--handoff-timeout` (or the room did not freeze).
    #[error("the hand-off timed out")]
    Timeout,
}

impl HandoffError {
    /// Every label, for registering series at zero.
    pub const LABELS: [&'static str; 7] = [
        "no_target",
        "unsupported",
        "too_large",
        "bad_record",
        "transport",
        "refused",
        "timeout",
    ];

    /// Stable label.
    pub fn label(self) -> &'static str {
        match self {
            HandoffError::NoTarget => "no_target",
            HandoffError::Unsupported => "unsupported",
            HandoffError::TooLarge => "too_large",
            HandoffError::BadRecord => "bad_record",
            HandoffError::Transport => "transport",
            HandoffError::Refused => "refused",
            HandoffError::Timeout => "timeout",
        }
    }

    /// The error a refusal label names (`Refused` for unknown ones).
    pub fn from_label(label: &str) -> HandoffError {
        match label {
            "too_large" => HandoffError::TooLarge,
            "bad_record" => HandoffError::BadRecord,
            _ => HandoffError::Refused,
        }
    }
}
