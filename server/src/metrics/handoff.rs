//! Live room hand-off in a drain ([`crate::handoff`]): rooms handed off by
//! result (source side), rooms taken over by result (target side), members
//! redirected and members arrived, and the pause — how long a room does
//! not tick between the source's last tick and the target's first. The
//! series exist (at zero) on every node.

use metrics::{counter, describe_counter, describe_histogram, histogram};

use crate::handoff::HandoffError;

/// Rooms a draining node tried to hand off, by `result` (`moved` or a
/// [`HandoffError`] label) (counter).
pub const HANDOFF_ROOMS: &str = "tickforge_handoff_rooms_total";
/// Rooms offered to this node, by `result` (`restored` or a refusal label) (counter).
pub const HANDOFF_RECEIVED: &str = "tickforge_handoff_rooms_received_total";
/// Members sent a Redirect to the node their room moved to (counter).
pub const HANDOFF_REDIRECTED: &str = "tickforge_handoff_members_redirected_total";
/// Members of a room taken over here that arrived (resumed) (counter).
pub const HANDOFF_ARRIVED: &str = "tickforge_handoff_members_arrived_total";
/// Source's last tick to the target's first tick of a handed-off room,
/// seconds (histogram, on the target).
pub const HANDOFF_PAUSE: &str = "tickforge_handoff_pause_seconds";
/// `result` of a room that moved.
pub const HANDOFF_MOVED: &str = "moved";
/// `result` of a room restored on this node.
pub const HANDOFF_RESTORED: &str = "restored";

/// Buckets of [`HANDOFF_PAUSE`]: 5 ms to 10 s (the goal is p99 ≤ 250 ms).
pub const HANDOFF_PAUSE_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Registers the hand-off series at zero, with their help texts.
pub fn register_handoff() {
    describe_counter!(
        HANDOFF_ROOMS,
        "Rooms a draining node tried to hand off, by result (moved, no_target, unsupported, too_large, bad_record, transport, refused, timeout)."
    );
    describe_counter!(
        HANDOFF_RECEIVED,
        "Rooms offered to this node in a hand-off, by result (restored or the refusal)."
    );
    describe_counter!(
        HANDOFF_REDIRECTED,
        "Members redirected to the node their room was handed to."
    );
    describe_counter!(
        HANDOFF_ARRIVED,
        "Members of a room handed to this node that arrived (resumed) within the grace."
    );
    describe_histogram!(
        HANDOFF_PAUSE,
        "Time a handed-off room did not tick: source's last tick to the target's first, seconds."
    );
    for result in std::iter::once(HANDOFF_MOVED).chain(HandoffError::LABELS) {
        counter!(HANDOFF_ROOMS, "result" => result).absolute(0);
    }
    for result in std::iter::once(HANDOFF_RESTORED).chain(HandoffError::LABELS) {
        counter!(HANDOFF_RECEIVED, "result" => result).absolute(0);
    }
    counter!(HANDOFF_REDIRECTED).absolute(0);
    counter!(HANDOFF_ARRIVED).absolute(0);
    // Exported (empty) before the first hand-off, for dashboards.
    let _pause = histogram!(HANDOFF_PAUSE);
}

/// Counts a hand-off attempt of the source.
pub fn handoff_room(result: &'static str) {
    counter!(HANDOFF_ROOMS, "result" => result).increment(1);
}

/// Counts a room offered to this node.
pub fn handoff_received(result: &'static str) {
    counter!(HANDOFF_RECEIVED, "result" => result).increment(1);
}

/// Counts members sent a Redirect after their room moved.
pub fn handoff_members_redirected(n: u64) {
    counter!(HANDOFF_REDIRECTED).increment(n);
}

/// Counts a member of a handed-over room that arrived.
pub fn handoff_member_arrived() {
    counter!(HANDOFF_ARRIVED).increment(1);
}

/// Records a handed-off room's pause, in microseconds.
pub fn handoff_pause(micros: u64) {
    histogram!(HANDOFF_PAUSE).record(micros as f64 / 1e6);
}
