//! Every metric name and label value, defined once, and the Prometheus
//! exporter behind `/metrics`. Series whose labels are known at start (each
//! shard, each disconnect cause) are registered at zero.

use std::sync::OnceLock;

use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::net::close::Disconnect;

/// Open WebSocket sessions, per shard (gauge).
pub const CONNECTIONS: &str = "tickforge_connections";
/// Live rooms, per shard (gauge).
pub const ROOMS: &str = "tickforge_rooms";
/// Players seated in rooms, per shard (gauge).
pub const PLAYERS: &str = "tickforge_players";
/// Sessions ended, by cause (counter; label `cause` = [`Disconnect::label`]).
pub const DISCONNECTS: &str = "tickforge_disconnects_total";
/// Inputs dropped before reaching a game, by reason (counter).
pub const INPUTS_DROPPED: &str = "tickforge_inputs_dropped_total";
/// Ticks run, per shard (counter).
pub const TICKS: &str = "tickforge_ticks_total";

/// Reason label: the room's input queue was full.
pub const DROP_QUEUE_FULL: &str = "room_queue_full";
/// Reason label: the session was not in a room.
pub const DROP_NOT_IN_ROOM: &str = "not_in_room";
/// Reason label: the game refused an input that passed validation.
pub const DROP_REFUSED: &str = "refused_by_game";

/// Installs the process-wide recorder once and returns the handle that
/// renders `/metrics`. Several servers in one process (tests) share it.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Registers every series with known labels at zero.
pub fn register(shards: usize) {
    for cause in Disconnect::ALL {
        counter!(DISCONNECTS, "cause" => cause.label()).absolute(0);
    }
    for reason in [DROP_QUEUE_FULL, DROP_NOT_IN_ROOM, DROP_REFUSED] {
        counter!(INPUTS_DROPPED, "reason" => reason).absolute(0);
    }
    for shard in 0..shards {
        let shard = shard_label(shard);
        gauge!(CONNECTIONS, "shard" => shard).set(0.0);
        gauge!(ROOMS, "shard" => shard).set(0.0);
        gauge!(PLAYERS, "shard" => shard).set(0.0);
        counter!(TICKS, "shard" => shard).absolute(0);
    }
}

/// The `shard` label value for shard `i` (static strings, no allocation).
pub fn shard_label(i: usize) -> &'static str {
    const LABELS: [&str; 64] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
        "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46",
        "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61",
        "62", "63",
    ];
    LABELS.get(i).copied().unwrap_or("64+")
}

/// Counts one ended session.
pub fn disconnected(cause: Disconnect) {
    counter!(DISCONNECTS, "cause" => cause.label()).increment(1);
}

/// Counts one dropped input.
pub fn input_dropped(reason: &'static str) {
    counter!(INPUTS_DROPPED, "reason" => reason).increment(1);
}
