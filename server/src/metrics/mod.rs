//! Every metric name and label value, defined once; the Prometheus exporter
//! behind `/metrics`; and [`ShardMetrics`], the pre-registered handles each
//! shard records into. Handles are resolved once at start, so recording on
//! the hot path is an atomic add on a series owned by that shard (no
//! registry lookup, no sharing between cores). Series whose labels are known
//! at start (every shard, cause, reason and message type) exist at zero
//! before the first event. README's metric table mirrors this file.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::net::close::Disconnect;
use crate::window::LatencyWindow;

mod auth;
mod connection_limits;
mod drain;
mod fanout;
mod handoff;
mod presence;
mod resume;
mod session_limits;
mod snapshots;
mod tls;

pub use auth::*;
pub use connection_limits::*;
pub use drain::*;
pub use fanout::*;
pub use handoff::*;
pub use presence::*;
pub use resume::*;
pub use session_limits::*;
pub use snapshots::*;
pub use tls::*;

/// Work per room tick, seconds (histogram; label `shard`).
pub const TICK_DURATION: &str = "tickforge_tick_duration_seconds";
/// Actual tick start minus scheduled start, seconds (histogram; label `shard`).
pub const TICK_LATENESS: &str = "tickforge_tick_lateness_seconds";
/// The configured tick budget: work allowed per room tick, seconds (gauge).
pub const TICK_BUDGET: &str = "tickforge_tick_budget_seconds";
/// Room ticks whose work exceeded the budget (counter; label `shard`).
pub const TICKS_OVER_BUDGET: &str = "tickforge_ticks_over_budget_total";
/// Room ticks whose work exceeded the tick period (counter; label `shard`).
pub const TICK_OVERRUNS: &str = "tickforge_tick_overruns_total";
/// Room ticks run (counter; label `shard`).
pub const TICKS: &str = "tickforge_ticks_total";
/// Open WebSocket sessions (gauge; label `shard`).
pub const CONNECTIONS: &str = "tickforge_connections";
/// Live rooms (gauge; label `shard`).
pub const ROOMS: &str = "tickforge_rooms";
/// Players seated in rooms (gauge; label `shard`).
pub const PLAYERS: &str = "tickforge_players";
/// Frames received (counter; labels `shard`, `type` = [`InKind::label`]).
pub const MESSAGES_IN: &str = "tickforge_messages_in_total";
/// Bytes of frames received (counter; labels `shard`, `type`).
pub const BYTES_IN: &str = "tickforge_bytes_in_total";
/// Frames sent, one per recipient (counter; labels `shard`, `type` = [`OutKind::label`]).
pub const MESSAGES_OUT: &str = "tickforge_messages_out_total";
/// Bytes of frames sent, per recipient (counter; labels `shard`, `type`).
pub const BYTES_OUT: &str = "tickforge_bytes_out_total";
/// Sessions ended (counter; label `cause` = [`Disconnect::label`]).
pub const DISCONNECTS: &str = "tickforge_disconnects_total";
/// Inputs dropped before reaching a game (counter; labels `shard`, `reason`).
pub const INPUTS_DROPPED: &str = "tickforge_inputs_dropped_total";

/// Reason label: the room's input queue was full.
pub const DROP_QUEUE_FULL: &str = "room_queue_full";
/// Reason label: the session was not in a room.
pub const DROP_NOT_IN_ROOM: &str = "not_in_room";
/// Reason label: the member already had `--inputs-per-seat` inputs queued.
pub const DROP_SEAT_BUDGET: &str = "seat_budget";
/// Reason label: the game refused an input that passed validation.
pub const DROP_REFUSED: &str = "refused_by_game";
/// Reason label: queued by an earlier membership of the session (it left
/// before the tick); never applied to a later seat.
pub const DROP_STALE_MEMBERSHIP: &str = "stale_membership";
const DROP_REASONS: [&str; 5] = [
    DROP_QUEUE_FULL,
    DROP_SEAT_BUDGET,
    DROP_NOT_IN_ROOM,
    DROP_REFUSED,
    DROP_STALE_MEMBERSHIP,
];

/// Histogram bucket bounds for tick duration and lateness, in seconds:
/// 10 µs … 100 ms, fine enough to see 10 µs and to place 33 ms (30 Hz).
pub const TICK_BUCKETS: [f64; 16] = [
    10e-6, 25e-6, 50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3,
    33e-3, 50e-3, 100e-3,
];

/// Kinds of inbound frames (`type` label of [`MESSAGES_IN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InKind {
    /// Hello.
    Hello,
    /// JoinRoom.
    JoinRoom,
    /// LeaveRoom.
    LeaveRoom,
    /// Input.
    Input,
    /// Ping.
    Ping,
    /// Anything that did not verify as a client message (text, bad frames).
    Invalid,
}

impl InKind {
    /// Every kind, in label order.
    pub const ALL: [InKind; 6] = [
        InKind::Hello,
        InKind::JoinRoom,
        InKind::LeaveRoom,
        InKind::Input,
        InKind::Ping,
        InKind::Invalid,
    ];

    /// Stable label value.
    pub fn label(self) -> &'static str {
        match self {
            InKind::Hello => "hello",
            InKind::JoinRoom => "join_room",
            InKind::LeaveRoom => "leave_room",
            InKind::Input => "input",
            InKind::Ping => "ping",
            InKind::Invalid => "invalid",
        }
    }
}

/// Kinds of outbound frames (`type` label of [`MESSAGES_OUT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// Welcome.
    Welcome,
    /// Joined.
    Joined,
    /// State.
    State,
    /// PlayerJoined.
    PlayerJoined,
    /// PlayerLeft.
    PlayerLeft,
    /// Left.
    Left,
    /// Pong.
    Pong,
    /// Error.
    Error,
    /// Redirect.
    Redirect,
    /// PlayerAway.
    PlayerAway,
}

impl OutKind {
    /// Every kind, in label order.
    pub const ALL: [OutKind; 10] = [
        OutKind::Welcome,
        OutKind::Joined,
        OutKind::State,
        OutKind::PlayerJoined,
        OutKind::PlayerLeft,
        OutKind::Left,
        OutKind::Pong,
        OutKind::Error,
        OutKind::Redirect,
        OutKind::PlayerAway,
    ];

    /// Stable label value.
    pub fn label(self) -> &'static str {
        match self {
            OutKind::Welcome => "welcome",
            OutKind::Joined => "joined",
            OutKind::State => "state",
            OutKind::PlayerJoined => "player_joined",
            OutKind::PlayerLeft => "player_left",
            OutKind::Left => "left",
            OutKind::Pong => "pong",
            OutKind::Error => "error",
            OutKind::Redirect => "redirect",
            OutKind::PlayerAway => "player_away",
        }
    }
}

/// Installs the process-wide recorder once and returns the handle that
/// renders `/metrics`. Several servers in one process (tests) share it.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets: [(&str, &[f64]); 6] = [
                (HANDOFF_PAUSE, &HANDOFF_PAUSE_BUCKETS),
                (TICK_DURATION, &TICK_BUCKETS),
                (TICK_LATENESS, &TICK_BUCKETS),
                (SNAPSHOT_FLUSH_DURATION, &SNAPSHOT_FLUSH_BUCKETS),
                (SNAPSHOT_FLUSH_BATCH, &SNAPSHOT_BATCH_BUCKETS),
                (PRESENCE_LATENCY, &PRESENCE_BUCKETS),
            ];
            let builder = buckets
                .iter()
                .fold(PrometheusBuilder::new(), |b, (name, bounds)| {
                    b.set_buckets_for_metric(Matcher::Full((*name).to_string()), bounds)
                        .unwrap_or_else(|e| unreachable!("bucket list is not empty: {e}"))
                });
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// `# HELP` text of every metric (one place, next to the names).
fn describe() {
    describe_histogram!(TICK_DURATION, "Work per room tick, seconds.");
    describe_histogram!(
        TICK_LATENESS,
        "Room tick start minus its scheduled start, seconds."
    );
    describe_gauge!(
        TICK_BUDGET,
        "Configured tick budget: work allowed per room tick, seconds."
    );
    describe_counter!(
        TICKS_OVER_BUDGET,
        "Room ticks whose work exceeded the tick budget."
    );
    describe_counter!(
        TICK_OVERRUNS,
        "Room ticks whose work exceeded the tick period."
    );
    describe_counter!(TICKS, "Room ticks run.");
    describe_gauge!(CONNECTIONS, "Open WebSocket sessions.");
    describe_gauge!(ROOMS, "Live rooms.");
    describe_gauge!(PLAYERS, "Players seated in rooms.");
    describe_counter!(MESSAGES_IN, "Frames received, by message type.");
    describe_counter!(BYTES_IN, "Bytes of frames received, by message type.");
    describe_counter!(
        MESSAGES_OUT,
        "Frames sent, one per recipient, by message type."
    );
    describe_counter!(
        BYTES_OUT,
        "Bytes of frames sent, per recipient, by message type."
    );
    describe_counter!(DISCONNECTS, "Sessions ended, by cause.");
    describe_counter!(
        INPUTS_DROPPED,
        "Inputs dropped before reaching a game, by reason."
    );
}

/// Registers the node-wide series at zero and publishes the tick budget.
pub fn register_node(tick_budget: Duration) {
    describe();
    for cause in Disconnect::ALL {
        counter!(DISCONNECTS, "cause" => cause.label()).absolute(0);
    }
    gauge!(TICK_BUDGET).set(tick_budget.as_secs_f64());
    register_session_limits();
    register_fanout();
}

/// Node-wide disconnect totals by cause, for the built-in dashboard.
pub fn disconnect_totals() -> &'static [AtomicU64; Disconnect::ALL.len()] {
    static TOTALS: OnceLock<[AtomicU64; Disconnect::ALL.len()]> = OnceLock::new();
    TOTALS.get_or_init(|| std::array::from_fn(|_| AtomicU64::new(0)))
}

/// Counts one ended session.
pub fn disconnected(cause: Disconnect) {
    counter!(DISCONNECTS, "cause" => cause.label()).increment(1);
    disconnect_totals()[cause.index() as usize].fetch_add(1, Ordering::Relaxed);
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

struct Traffic {
    messages: Counter,
    bytes: Counter,
}

impl Traffic {
    fn new(
        messages: &'static str,
        bytes: &'static str,
        shard: &'static str,
        kind: &'static str,
    ) -> Traffic {
        let t = Traffic {
            messages: counter!(messages, "shard" => shard, "type" => kind),
            bytes: counter!(bytes, "shard" => shard, "type" => kind),
        };
        t.messages.absolute(0);
        t.bytes.absolute(0);
        t
    }
}

/// Totals the dashboard turns into rates (the Prometheus counters cannot be read back).
#[derive(Debug, Default)]
pub struct TrafficTotals {
    /// Frames received.
    pub messages_in: AtomicU64,
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Frames sent (per recipient).
    pub messages_out: AtomicU64,
    /// Bytes sent (per recipient).
    pub bytes_out: AtomicU64,
    /// Ticks over budget.
    pub over_budget: AtomicU64,
    /// Ticks over the tick period.
    pub overruns: AtomicU64,
}

/// One shard's metric handles, load counters and dashboard windows.
pub struct ShardMetrics {
    /// The shard's label value.
    pub label: &'static str,
    budget: Duration,
    inbound: Vec<Traffic>,
    outbound: Vec<Traffic>,
    dropped: Vec<Counter>,
    /// Frames refused by the shard's sessions' rate limits.
    pub refusals: FrameRefusals,
    /// Room frames delivered by the shard's rooms, by path.
    pub deliveries: Deliveries,
    tick_duration: Histogram,
    tick_lateness: Histogram,
    ticks: Counter,
    over_budget: Counter,
    overruns: Counter,
    connections_gauge: Gauge,
    rooms_gauge: Gauge,
    players_gauge: Gauge,
    connections: AtomicI64,
    rooms: AtomicI64,
    players: AtomicI64,
    /// Tick work durations since the dashboard's last sample.
    pub tick_window: LatencyWindow,
    /// Tick lateness since the dashboard's last sample.
    pub lateness_window: LatencyWindow,
    /// Running totals for dashboard rates.
    pub totals: TrafficTotals,
}

impl ShardMetrics {
    /// Resolves (and zeroes) every series of shard `shard`.
    pub fn new(shard: usize, budget: Duration) -> ShardMetrics {
        let label = shard_label(shard);
        let m = ShardMetrics {
            label,
            budget,
            inbound: InKind::ALL
                .iter()
                .map(|k| Traffic::new(MESSAGES_IN, BYTES_IN, label, k.label()))
                .collect(),
            outbound: OutKind::ALL
                .iter()
                .map(|k| Traffic::new(MESSAGES_OUT, BYTES_OUT, label, k.label()))
                .collect(),
            dropped: DROP_REASONS
                .iter()
                .map(|reason| counter!(INPUTS_DROPPED, "shard" => label, "reason" => *reason))
                .collect(),
            refusals: FrameRefusals::new(label),
            deliveries: Deliveries::new(label),
            tick_duration: histogram!(TICK_DURATION, "shard" => label),
            tick_lateness: histogram!(TICK_LATENESS, "shard" => label),
            ticks: counter!(TICKS, "shard" => label),
            over_budget: counter!(TICKS_OVER_BUDGET, "shard" => label),
            overruns: counter!(TICK_OVERRUNS, "shard" => label),
            connections_gauge: gauge!(CONNECTIONS, "shard" => label),
            rooms_gauge: gauge!(ROOMS, "shard" => label),
            players_gauge: gauge!(PLAYERS, "shard" => label),
            connections: AtomicI64::new(0),
            rooms: AtomicI64::new(0),
            players: AtomicI64::new(0),
            tick_window: LatencyWindow::default(),
            lateness_window: LatencyWindow::default(),
            totals: TrafficTotals::default(),
        };
        for c in m
            .dropped
            .iter()
            .chain([&m.ticks, &m.over_budget, &m.overruns])
        {
            c.absolute(0);
        }
        for g in [&m.connections_gauge, &m.rooms_gauge, &m.players_gauge] {
            g.set(0.0);
        }
        m
    }

    /// The tick budget (work allowed per room tick).
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Counts one received frame of `bytes` bytes.
    pub fn received(&self, kind: InKind, bytes: usize) {
        if let Some(t) = self.inbound.get(kind as usize) {
            t.messages.increment(1);
            t.bytes.increment(bytes as u64);
        }
        self.totals.messages_in.fetch_add(1, Ordering::Relaxed);
        self.totals
            .bytes_in
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts one frame of `bytes` bytes sent to `recipients` members.
    pub fn sent(&self, kind: OutKind, bytes: usize, recipients: u64) {
        self.sent_total(kind, bytes as u64 * recipients, recipients);
    }

    /// Counts `recipients` messages of `kind` of `total` bytes together
    /// (messages of different lengths: interest state).
    pub fn sent_total(&self, kind: OutKind, total: u64, recipients: u64) {
        if let Some(t) = self.outbound.get(kind as usize) {
            t.messages.increment(recipients);
            t.bytes.increment(total);
        }
        self.totals
            .messages_out
            .fetch_add(recipients, Ordering::Relaxed);
        self.totals.bytes_out.fetch_add(total, Ordering::Relaxed);
    }

    /// Counts one dropped input; `reason` is one of the `DROP_*` labels.
    pub fn input_dropped(&self, reason: &'static str) {
        if let Some(i) = DROP_REASONS.iter().position(|r| *r == reason) {
            self.dropped[i].increment(1);
        }
    }

    /// Records one room tick: how late it started and how long its work took.
    pub fn tick(&self, lateness: Duration, work: Duration, period: Duration) {
        self.ticks.increment(1);
        self.tick_duration.record(work.as_secs_f64());
        self.tick_lateness.record(lateness.as_secs_f64());
        self.tick_window.record(work);
        self.lateness_window.record(lateness);
        if work > self.budget {
            self.over_budget.increment(1);
            self.totals.over_budget.fetch_add(1, Ordering::Relaxed);
        }
        if work > period {
            self.overruns.increment(1);
            self.totals.overruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Open sessions.
    pub fn connections(&self) -> i64 {
        self.connections.load(Ordering::Relaxed)
    }
    /// Seated players.
    pub fn players(&self) -> i64 {
        self.players.load(Ordering::Relaxed)
    }
    /// Live rooms.
    pub fn rooms(&self) -> i64 {
        self.rooms.load(Ordering::Relaxed)
    }
    /// Adds `delta` sessions.
    pub fn add_connections(&self, delta: i64) {
        let now = self.connections.fetch_add(delta, Ordering::Relaxed) + delta;
        self.connections_gauge.set(now as f64);
    }
    /// Adds `delta` players.
    pub fn add_players(&self, delta: i64) {
        let now = self.players.fetch_add(delta, Ordering::Relaxed) + delta;
        self.players_gauge.set(now as f64);
    }
    /// Adds `delta` rooms.
    pub fn add_rooms(&self, delta: i64) {
        let now = self.rooms.fetch_add(delta, Ordering::Relaxed) + delta;
        self.rooms_gauge.set(now as f64);
    }
}
