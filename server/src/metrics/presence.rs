//! Presence metrics: Redis traffic, resynchronisations, the cluster view.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Presence changes of this node written to Redis and published (counter; label `kind`).
pub const PRESENCE_EVENTS_OUT: &str = "tickforge_presence_events_out_total";
/// Presence changes of other nodes applied to this node's view (counter; label `kind`).
pub const PRESENCE_EVENTS_IN: &str = "tickforge_presence_events_in_total";
/// Full resynchronisations of the view from Redis (counter; label `reason`).
pub const PRESENCE_RESYNCS: &str = "tickforge_presence_resyncs_total";
/// Rewrites of this node's whole state in Redis (counter; label `reason`).
pub const PRESENCE_REPUBLISHES: &str = "tickforge_presence_republishes_total";
/// Changes that found the presence queue full and were coalesced into a republish (counter).
pub const PRESENCE_QUEUE_FULL: &str = "tickforge_presence_queue_full_total";
/// Failed Redis operations (counter; label `op`).
pub const PRESENCE_REDIS_ERRORS: &str = "tickforge_presence_redis_errors_total";
/// Publish → receive latency of presence bulletins, seconds (histogram).
pub const PRESENCE_LATENCY: &str = "tickforge_presence_latency_seconds";
/// 1 while the presence backend is connected and in sync (always 1 in-process), else 0 (gauge).
pub const PRESENCE_CONNECTED: &str = "tickforge_presence_connected";
/// Nodes in this node's view of the cluster, itself included (gauge).
pub const PRESENCE_NODES: &str = "tickforge_presence_nodes";
/// Nodes whose heartbeat expired and whose rooms and players this node removed (counter).
pub const PRESENCE_REAPED: &str = "tickforge_presence_nodes_reaped_total";

/// `reason` of a resync: first snapshot after start.
pub const RESYNC_STARTUP: &str = "startup";
/// `reason` of a resync: the connection to Redis was re-established.
pub const RESYNC_RECONNECT: &str = "reconnect";
/// `reason` of a resync: the subscription lagged and bulletins were lost.
pub const RESYNC_LAGGED: &str = "lagged";
const RESYNC_REASONS: [&str; 3] = [RESYNC_STARTUP, RESYNC_RECONNECT, RESYNC_LAGGED];

/// `reason` of a republish: (re)connected to Redis.
pub const REPUBLISH_CONNECT: &str = "connect";
/// `reason` of a republish: the presence queue was full.
pub const REPUBLISH_COALESCED: &str = "coalesced";
/// `reason` of a republish: this node's keys were found missing (reaped, or Redis lost its data).
pub const REPUBLISH_LOST: &str = "keys_lost";
/// `reason` of a republish: the node began draining (its heartbeat now says so).
pub const REPUBLISH_DRAIN: &str = "drain";
const REPUBLISH_REASONS: [&str; 4] = [
    REPUBLISH_CONNECT,
    REPUBLISH_COALESCED,
    REPUBLISH_LOST,
    REPUBLISH_DRAIN,
];

/// Histogram bounds of presence latency, seconds: 50 µs … 1 s.
pub const PRESENCE_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// Access-control actions of this node published to the others (counter; label `action`).
pub const PRESENCE_ACCESS_OUT: &str = "tickforge_presence_access_out_total";
/// Access-control actions of other nodes applied here (counter; label `action`).
pub const PRESENCE_ACCESS_IN: &str = "tickforge_presence_access_in_total";
/// Access-control actions not sent to other nodes: the queue was full or
/// Redis failed the publish (counter).
pub const PRESENCE_ACCESS_DROPPED: &str = "tickforge_presence_access_dropped_total";

/// Registers the access-control series at zero, with their help texts.
pub fn register_access(actions: &[&'static str]) {
    describe_counter!(
        PRESENCE_ACCESS_OUT,
        "Access-control actions (replace, kick, ban, unban) published to other nodes."
    );
    describe_counter!(
        PRESENCE_ACCESS_IN,
        "Access-control actions of other nodes applied here."
    );
    describe_counter!(
        PRESENCE_ACCESS_DROPPED,
        "Access-control actions not sent to other nodes (queue full or Redis failed)."
    );
    for action in actions {
        counter!(PRESENCE_ACCESS_OUT, "action" => *action).absolute(0);
        counter!(PRESENCE_ACCESS_IN, "action" => *action).absolute(0);
    }
    counter!(PRESENCE_ACCESS_DROPPED).absolute(0);
}

/// Registers the presence series at zero, with their help texts. The
/// in-process backend is always in sync with itself: `connected` starts at 1.
pub fn register_presence(change_kinds: &[&'static str], redis_ops: &[&'static str], local: bool) {
    describe_counter!(
        PRESENCE_EVENTS_OUT,
        "Presence changes of this node published, by kind."
    );
    describe_counter!(
        PRESENCE_EVENTS_IN,
        "Presence changes of other nodes applied, by kind."
    );
    describe_counter!(
        PRESENCE_RESYNCS,
        "Full presence resyncs from Redis, by reason."
    );
    describe_counter!(
        PRESENCE_REPUBLISHES,
        "Rewrites of this node's whole presence state, by reason."
    );
    describe_counter!(
        PRESENCE_QUEUE_FULL,
        "Presence changes coalesced because the queue was full."
    );
    describe_counter!(
        PRESENCE_REDIS_ERRORS,
        "Failed Redis operations of the presence backend, by op."
    );
    describe_histogram!(
        PRESENCE_LATENCY,
        "Presence bulletin publish to receive latency, seconds."
    );
    describe_gauge!(
        PRESENCE_CONNECTED,
        "1 while presence is connected and in sync, else 0."
    );
    describe_gauge!(PRESENCE_NODES, "Nodes in this node's view of the cluster.");
    describe_counter!(PRESENCE_REAPED, "Expired nodes removed by this node.");
    for kind in change_kinds {
        counter!(PRESENCE_EVENTS_OUT, "kind" => *kind).absolute(0);
        counter!(PRESENCE_EVENTS_IN, "kind" => *kind).absolute(0);
    }
    for reason in RESYNC_REASONS {
        counter!(PRESENCE_RESYNCS, "reason" => reason).absolute(0);
    }
    for reason in REPUBLISH_REASONS {
        counter!(PRESENCE_REPUBLISHES, "reason" => reason).absolute(0);
    }
    for op in redis_ops {
        counter!(PRESENCE_REDIS_ERRORS, "op" => *op).absolute(0);
    }
    counter!(PRESENCE_QUEUE_FULL).absolute(0);
    counter!(PRESENCE_REAPED).absolute(0);
    gauge!(PRESENCE_CONNECTED).set(if local { 1.0 } else { 0.0 });
    gauge!(PRESENCE_NODES).set(1.0);
    // Registered (empty) so dashboards and alerts find the series at once.
    let _latency = histogram!(PRESENCE_LATENCY);
}
