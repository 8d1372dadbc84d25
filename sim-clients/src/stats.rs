//! Everything the swarm measures, shared by all bots.
//!
//! Counters are relaxed atomics, added to once per read or write rather
//! than once per message. Latencies go into HdrHistograms (microseconds,
//! three significant digits, 1 µs to 60 s): one set per *histogram shard*
//! behind an uncontended mutex; bot *i* records into shard *i* mod shards
//! (shards = runtime threads) and the shards are merged for the report.
//! Only measuring bots record acks and jitter, and only while the
//! measurement window is open; connect and join times are recorded by
//! every bot, always. Errors and disconnects are rare and counted over
//! the whole run.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::errors::CreationError;

/// Highest latency a histogram tracks (larger values are clamped), µs.
pub const MAX_TRACKABLE_US: u64 = 60_000_000;

/// Everything that counts as an error of the run. Disconnects are counted
/// separately, by close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// TCP connect failed.
    Connect,
    /// The WebSocket upgrade failed (status, subprotocol, accept).
    Upgrade,
    /// No Welcome, Joined or Left within the timeout.
    Timeout,
    /// JoinRoom was answered with an Error.
    JoinRefused,
    /// The server sent an Error message outside a join.
    ServerError,
    /// A server frame failed FlatBuffers verification, or a message that
    /// made no sense at that point.
    BadServerFrame,
    /// The server broke WebSocket framing.
    Protocol,
    /// The server sent a text frame.
    TextFrame,
    /// The socket did not take our inputs and the send queue overflowed.
    SendBacklog,
    /// A garbage frame that the server did not close the connection for.
    GarbageIgnored,
    /// A dropped connection whose seat could not be taken back within the
    /// server's resume grace.
    ResumeFailed,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Connect,
        ErrorKind::Upgrade,
        ErrorKind::Timeout,
        ErrorKind::JoinRefused,
        ErrorKind::ServerError,
        ErrorKind::BadServerFrame,
        ErrorKind::Protocol,
        ErrorKind::TextFrame,
        ErrorKind::SendBacklog,
        ErrorKind::GarbageIgnored,
        ErrorKind::ResumeFailed,
    ];

    /// Stable label (reports, JSON keys).
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Upgrade => "upgrade",
            ErrorKind::Timeout => "timeout",
            ErrorKind::JoinRefused => "join_refused",
            ErrorKind::ServerError => "server_error",
            ErrorKind::BadServerFrame => "bad_server_frame",
            ErrorKind::Protocol => "protocol",
            ErrorKind::TextFrame => "text_frame",
            ErrorKind::SendBacklog => "send_backlog",
            ErrorKind::GarbageIgnored => "garbage_ignored",
            ErrorKind::ResumeFailed => "resume_failed",
        }
    }

    fn index(self) -> usize {
        ErrorKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// The latency histograms of one shard (values in µs).
#[derive(Debug, Clone)]
pub struct Histograms {
    /// Input → ack, from each input's scheduled send time.
    pub ack: Histogram<u64>,
    /// |State inter-arrival − tick period|.
    pub jitter: Histogram<u64>,
    /// TCP connect + WebSocket upgrade + Hello → Welcome.
    pub connect: Histogram<u64>,
    /// JoinRoom → Joined.
    pub join: Histogram<u64>,
    /// Resume gap, in ticks: the resumed Joined's tick minus the last tick
    /// the bot saw before the drop.
    pub resume_gap: Histogram<u64>,
}

impl Histograms {
    /// Empty histograms.
    pub fn new() -> Result<Histograms, CreationError> {
        let new = || Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3);
        Ok(Histograms {
            ack: new()?,
            jitter: new()?,
            connect: new()?,
            join: new()?,
            resume_gap: new()?,
        })
    }

    fn add(&mut self, other: &Histograms) {
        // Same bounds on both sides, so adding cannot fail; values beyond
        // them were already clamped when recorded.
        for (into, from) in [
            (&mut self.ack, &other.ack),
            (&mut self.jitter, &other.jitter),
            (&mut self.connect, &other.connect),
            (&mut self.join, &other.join),
            (&mut self.resume_gap, &other.resume_gap),
        ] {
            if let Err(e) = into.add(from) {
                eprintln!("tickforge-swarm: histogram merge failed: {e}");
            }
        }
    }
}

/// A histogram value for `d`, in µs, at least 1.
pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// Garbage frames sent, by kind.
pub type GarbageSent = BTreeMap<&'static str, u64>;
/// Close codes received after garbage, by (kind, code).
pub type GarbageCloses = BTreeMap<(&'static str, u16), u64>;

/// Message and byte counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Data messages received.
    pub messages_in: u64,
    /// Bytes received (WebSocket framing included).
    pub bytes_in: u64,
    /// State messages received.
    pub states_in: u64,
    /// Data messages sent.
    pub messages_out: u64,
    /// Bytes sent (framing included).
    pub bytes_out: u64,
    /// Inputs sent.
    pub inputs_sent: u64,
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            messages_in: self.messages_in.saturating_sub(earlier.messages_in),
            bytes_in: self.bytes_in.saturating_sub(earlier.bytes_in),
            states_in: self.states_in.saturating_sub(earlier.states_in),
            messages_out: self.messages_out.saturating_sub(earlier.messages_out),
            bytes_out: self.bytes_out.saturating_sub(earlier.bytes_out),
            inputs_sent: self.inputs_sent.saturating_sub(earlier.inputs_sent),
        }
    }
}

/// The swarm's shared measurements.
#[derive(Debug)]
pub struct Stats {
    /// Open WebSocket sessions (after Welcome).
    pub connected: AtomicI64,
    /// Sessions in a room.
    pub in_room: AtomicI64,
    /// Sessions opened (Welcome received), over the run.
    pub sessions: AtomicU64,
    /// Joins completed, over the run.
    pub joins: AtomicU64,
    /// Connections the bots dropped on purpose (`--drop-every`).
    pub drops: AtomicU64,
    /// Seats taken back after a drop (Joined with `resumed`), hand-offs
    /// included.
    pub resumes: AtomicU64,
    /// Redirects followed to another node: rooms that moved (each also a
    /// resume) and joins sent elsewhere.
    pub redirects_followed: AtomicU64,
    /// Inputs whose ack never came (the bot left or the queue overflowed).
    pub inputs_unacked: AtomicU64,
    /// Slow bots whose connection the server had not closed by the end.
    pub slow_still_open: AtomicU64,
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    states_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    inputs_sent: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    disconnects: Mutex<BTreeMap<(u16, String), u64>>,
    garbage_sent: Mutex<GarbageSent>,
    garbage_closes: Mutex<GarbageCloses>,
    histograms: Box<[Mutex<Histograms>]>,
    recording: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave a counter
    // half-updated in a way that matters for a report.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Stats {
    /// Stats with `shards` histogram shards (at least one).
    pub fn new(shards: usize) -> Result<Stats, CreationError> {
        let histograms = (0..shards.max(1))
            .map(|_| Histograms::new().map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Stats {
            connected: AtomicI64::new(0),
            in_room: AtomicI64::new(0),
            sessions: AtomicU64::new(0),
            joins: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            redirects_followed: AtomicU64::new(0),
            inputs_unacked: AtomicU64::new(0),
            slow_still_open: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            states_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            inputs_sent: AtomicU64::new(0),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            disconnects: Mutex::new(BTreeMap::new()),
            garbage_sent: Mutex::new(BTreeMap::new()),
            garbage_closes: Mutex::new(BTreeMap::new()),
            histograms: histograms.into_boxed_slice(),
            recording: AtomicBool::new(false),
        })
    }

    /// Histogram shard for bot `index`.
    pub fn shard_of(&self, index: usize) -> usize {
        index % self.histograms.len()
    }

    /// Opens or closes the measurement window (ack and jitter samples).
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// Whether the measurement window is open.
    pub fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// Runs `f` on shard `shard`'s histograms.
    pub fn with_histograms<R>(&self, shard: usize, f: impl FnOnce(&mut Histograms) -> R) -> R {
        let slot = &self.histograms[shard % self.histograms.len()];
        f(&mut lock(slot))
    }

    /// Records a connect time.
    pub fn record_connect(&self, shard: usize, d: Duration) {
        self.with_histograms(shard, |h| h.connect.saturating_record(micros(d)));
    }

    /// Records a join time.
    pub fn record_join(&self, shard: usize, d: Duration) {
        self.with_histograms(shard, |h| h.join.saturating_record(micros(d)));
    }

    /// Counts one resume and records its gap in ticks.
    pub fn record_resume(&self, shard: usize, gap_ticks: u64) {
        self.resumes.fetch_add(1, Ordering::Relaxed);
        self.with_histograms(shard, |h| h.resume_gap.saturating_record(gap_ticks));
    }

    /// Counts what one read brought in.
    pub fn received(&self, messages: u64, bytes: u64, states: u64) {
        if messages > 0 {
            self.messages_in.fetch_add(messages, Ordering::Relaxed);
        }
        if bytes > 0 {
            self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        }
        if states > 0 {
            self.states_in.fetch_add(states, Ordering::Relaxed);
        }
    }

    /// Counts one message sent (`input`: it was an Input).
    pub fn sent(&self, bytes: usize, input: bool) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        if input {
            self.inputs_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one error.
    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one connection ended by the server or the network.
    pub fn disconnect(&self, code: u16, reason: &str) {
        *lock(&self.disconnects)
            .entry((code, reason.to_string()))
            .or_default() += 1;
    }

    /// Counts one garbage frame of `kind` sent.
    pub fn garbage_sent(&self, kind: &'static str) {
        *lock(&self.garbage_sent).entry(kind).or_default() += 1;
    }

    /// Counts the close code the server answered a garbage frame with.
    pub fn garbage_closed(&self, kind: &'static str, code: u16) {
        *lock(&self.garbage_closes).entry((kind, code)).or_default() += 1;
    }

    /// Current message and byte counters.
    pub fn counts(&self) -> Counts {
        Counts {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            states_in: self.states_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            inputs_sent: self.inputs_sent.load(Ordering::Relaxed),
        }
    }

    /// Errors by kind (every kind, zeros included).
    pub fn errors(&self) -> Vec<(&'static str, u64)> {
        ErrorKind::ALL
            .iter()
            .map(|k| (k.label(), self.errors[k.index()].load(Ordering::Relaxed)))
            .collect()
    }

    /// Disconnects by (code, reason).
    pub fn disconnects(&self) -> BTreeMap<(u16, String), u64> {
        lock(&self.disconnects).clone()
    }

    /// Garbage frames sent by kind, and close codes by (kind, code).
    pub fn garbage(&self) -> (GarbageSent, GarbageCloses) {
        (
            lock(&self.garbage_sent).clone(),
            lock(&self.garbage_closes).clone(),
        )
    }

    /// Every shard's histograms merged.
    pub fn merged(&self) -> Result<Histograms, CreationError> {
        let mut all = Histograms::new()?;
        for shard in self.histograms.iter() {
            all.add(&lock(shard));
        }
        Ok(all)
    }

    /// The ack latency at `quantile` so far, in µs (largest over shards:
    /// cheap enough for a progress bar).
    pub fn ack_quantile_so_far(&self, quantile: f64) -> Option<u64> {
        self.histograms
            .iter()
            .filter_map(|shard| {
                let h = lock(shard);
                (!h.ack.is_empty()).then(|| h.ack.value_at_quantile(quantile))
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_into_one_histogram_and_counts_subtract() -> Result<(), CreationError> {
        let stats = Stats::new(3)?;
        for i in 0..30usize {
            stats.with_histograms(stats.shard_of(i), |h| {
                h.ack.saturating_record(1000 + i as u64)
            });
        }
        stats.record_connect(1, Duration::from_millis(2));
        let merged = stats.merged()?;
        assert_eq!(merged.ack.len(), 30);
        assert_eq!(merged.connect.len(), 1);
        let before = stats.counts();
        stats.received(3, 300, 2);
        stats.sent(100, true);
        let delta = stats.counts().since(&before);
        assert_eq!(
            delta,
            Counts {
                messages_in: 3,
                bytes_in: 300,
                states_in: 2,
                messages_out: 1,
                bytes_out: 100,
                inputs_sent: 1
            }
        );
        Ok(())
    }
}
