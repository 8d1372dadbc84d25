//! Drains (SIGTERM, SIGINT, `POST /admin/drain`): whether the node is
//! draining and how often drains began, by cause. The series exist (at
//! zero) on every node so dashboards and alerts need no special case.

use metrics::{counter, describe_counter, describe_gauge, gauge};

use crate::shutdown::DrainCause;

/// 1 while the node drains (not ready, no new joins), else 0 (gauge).
pub const DRAINING: &str = "tickforge_draining";
/// Drains begun, by `cause` (`signal`, `admin`) (counter).
pub const DRAINS: &str = "tickforge_drains_total";

/// Registers the drain series at zero, with their help texts.
pub fn register_drain() {
    describe_gauge!(
        DRAINING,
        "1 while the node drains: /readyz answers 503 and new joins go elsewhere."
    );
    describe_counter!(DRAINS, "Drains begun, by cause (signal, admin).");
    gauge!(DRAINING).set(0.0);
    for cause in DrainCause::LABELS {
        counter!(DRAINS, "cause" => cause).absolute(0);
    }
}

/// Counts a drain that began.
pub fn drain_begun(cause: DrainCause) {
    gauge!(DRAINING).set(1.0);
    counter!(DRAINS, "cause" => cause.label()).increment(1);
}
