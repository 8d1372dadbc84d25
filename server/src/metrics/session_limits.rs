//! Abuse-limit metrics: frames refused by a session's rate limits and joins
//! refused by a node-wide bound (rooms, room creation, store loads). The
//! sessions closed for exceeding a limit are counted in
//! [`super::DISCONNECTS`] under their own causes.

use metrics::{Counter, counter, describe_counter};

/// Frames refused by a session's rate limits (counter; labels `shard`,
/// `reason` = one of [`FRAME_REFUSALS`]).
pub const FRAMES_REFUSED: &str = "tickforge_frames_refused_total";
/// Joins refused by a node-wide bound (counter; label `reason` = one of
/// [`JOIN_REFUSALS`]).
pub const JOINS_REFUSED: &str = "tickforge_joins_refused_total";

/// Reason label: over `--frames-per-second` (any frame).
pub const REFUSED_FRAME_RATE: &str = "frame_rate";
/// Reason label: a Ping over `--pings-per-second`.
pub const REFUSED_PING_RATE: &str = "ping_rate";
/// Reason label: a JoinRoom or LeaveRoom over `--joins-per-second`.
pub const REFUSED_JOIN_RATE: &str = "join_rate";
/// Every `reason` of [`FRAMES_REFUSED`].
pub const FRAME_REFUSALS: [&str; 3] = [REFUSED_FRAME_RATE, REFUSED_PING_RATE, REFUSED_JOIN_RATE];

/// Reason label: the session created rooms faster than `--room-creates-per-minute`.
pub const JOIN_REFUSED_CREATE_RATE: &str = "room_create_rate";
/// Reason label: the node already runs `--max-rooms` rooms.
pub const JOIN_REFUSED_MAX_ROOMS: &str = "max_rooms";
/// Reason label: `--snapshot-loads-max` saved-state loads were in progress.
pub const JOIN_REFUSED_STORE_LOADS: &str = "store_loads";
/// Every `reason` of [`JOINS_REFUSED`].
pub const JOIN_REFUSALS: [&str; 3] = [
    JOIN_REFUSED_CREATE_RATE,
    JOIN_REFUSED_MAX_ROOMS,
    JOIN_REFUSED_STORE_LOADS,
];

/// `# HELP` text of the limit metrics; node-wide series at zero.
pub fn register_session_limits() {
    describe_counter!(
        FRAMES_REFUSED,
        "Frames refused by a session's rate limits, by reason."
    );
    describe_counter!(
        JOINS_REFUSED,
        "Joins refused by a node-wide bound, by reason."
    );
    for reason in JOIN_REFUSALS {
        counter!(JOINS_REFUSED, "reason" => reason).absolute(0);
    }
}

/// Counts one join refused for `reason` (one of [`JOIN_REFUSALS`]).
pub fn join_refused(reason: &'static str) {
    counter!(JOINS_REFUSED, "reason" => reason).increment(1);
}

/// One shard's handles of [`FRAMES_REFUSED`].
pub struct FrameRefusals {
    counters: [Counter; FRAME_REFUSALS.len()],
}

impl FrameRefusals {
    /// Resolves (and zeroes) shard `label`'s series.
    pub fn new(label: &'static str) -> FrameRefusals {
        let counters = FRAME_REFUSALS.map(|reason| {
            let c = counter!(FRAMES_REFUSED, "shard" => label, "reason" => reason);
            c.absolute(0);
            c
        });
        FrameRefusals { counters }
    }

    /// Counts one refused frame; `reason` is one of [`FRAME_REFUSALS`].
    pub fn refused(&self, reason: &'static str) {
        if let Some(i) = FRAME_REFUSALS.iter().position(|r| *r == reason) {
            self.counters[i].increment(1);
        }
    }
}
