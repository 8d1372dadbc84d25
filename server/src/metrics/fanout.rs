//! Fan-out metrics: how each room frame reached its member — written
//! directly to the socket by the room's shard, queued for the member's
//! session (no direct path, or a backlog), partly written then queued, or
//! queued because the member's connection lives on another shard.

use metrics::{Counter, counter, describe_counter};

use crate::room::outbox::Delivered;

/// Room frames delivered to members (counter; labels `shard` = the room's
/// shard, `path` = one of [`DELIVERY_PATHS`]). The share of cross-shard
/// deliveries is `path="cross_shard"` over the sum.
pub const DELIVERIES: &str = "tickforge_deliveries_total";

/// Path label: written whole by the room's shard, no task woken.
pub const PATH_DIRECT: &str = "direct";
/// Path label: queued for the session (TLS, a backlog, a busy writer).
pub const PATH_QUEUED: &str = "queued";
/// Path label: partly written directly, the rest queued (socket full).
pub const PATH_PARTIAL: &str = "partial";
/// Path label: queued because the member's connection is on another shard.
pub const PATH_CROSS_SHARD: &str = "cross_shard";
/// Every `path` of [`DELIVERIES`], in [`Delivered`] order.
pub const DELIVERY_PATHS: [&str; 4] = [PATH_DIRECT, PATH_QUEUED, PATH_PARTIAL, PATH_CROSS_SHARD];

/// `# HELP` text of the fan-out metrics.
pub fn register_fanout() {
    describe_counter!(
        DELIVERIES,
        "Room frames delivered to members, by the room's shard and path (direct, queued, partial, cross_shard)."
    );
}

/// Per-broadcast tallies, counted once per broadcast (not per member).
#[derive(Debug, Default, Clone, Copy)]
pub struct DeliveryTally([u64; DELIVERY_PATHS.len()]);

impl DeliveryTally {
    /// Counts one delivery.
    pub fn add(&mut self, delivered: Delivered) {
        self.0[delivered as usize] += 1;
    }
}

/// One shard's handles of [`DELIVERIES`].
pub struct Deliveries {
    counters: [Counter; DELIVERY_PATHS.len()],
}

impl Deliveries {
    /// The series of shard `shard`, at zero.
    pub fn new(shard: &'static str) -> Deliveries {
        let counters =
            DELIVERY_PATHS.map(|path| counter!(DELIVERIES, "shard" => shard, "path" => path));
        for c in &counters {
            c.absolute(0);
        }
        Deliveries { counters }
    }

    /// Adds a broadcast's tallies.
    pub fn record(&self, tally: &DeliveryTally) {
        for (c, n) in self.counters.iter().zip(tally.0) {
            if n > 0 {
                c.increment(n);
            }
        }
    }
}
