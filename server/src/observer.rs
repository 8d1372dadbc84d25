//! The observer: once a second it takes every shard's tick windows and
//! traffic totals, builds one [`Sample`] for the built-in dashboard, keeps
//! the last minutes of them and broadcasts each new one to the dashboard's
//! live streams (each event encoded once, shared by every stream). It also runs the Prometheus exporter's upkeep. It runs on
//! its own small thread, off the shards.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use metrics::gauge;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock;
use crate::metrics::{ShardMetrics, disconnect_totals};
use crate::net::close::Disconnect;
use crate::node::Node;
use crate::window::WindowSummary;

/// Samples kept for a dashboard that connects: five minutes at one per second.
pub const HISTORY: usize = 300;
/// Time between samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Exporter upkeep (drains histogram samples even when nobody scrapes).
const UPKEEP_EVERY: u32 = 5;

/// One shard over one sample interval.
#[derive(Debug, Clone, Serialize)]
pub struct ShardSample {
    /// Shard index.
    pub shard: usize,
    /// Room tick work in this interval (µs).
    pub tick: WindowSummary,
    /// Room tick lateness in this interval (µs).
    pub lateness: WindowSummary,
    /// Ticks over the tick budget in this interval.
    pub over_budget: u64,
    /// Ticks longer than their period in this interval.
    pub overruns: u64,
    /// Open sessions now.
    pub connections: i64,
    /// Live rooms now.
    pub rooms: i64,
    /// Seated players now.
    pub players: i64,
    /// Frames received per second.
    pub messages_in_per_s: f64,
    /// Frames sent per second (per recipient).
    pub messages_out_per_s: f64,
    /// Bytes received per second.
    pub bytes_in_per_s: f64,
    /// Bytes sent per second.
    pub bytes_out_per_s: f64,
}

/// What the dashboard receives every second.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Wall-clock time of the sample, ms since the UNIX epoch.
    pub t_ms: u64,
    /// Node id.
    pub node: String,
    /// Tick budget (µs).
    pub tick_budget_us: f64,
    /// Per shard.
    pub shards: Vec<ShardSample>,
    /// Sessions ended since start, by cause (every cause present).
    pub disconnects: BTreeMap<&'static str, u64>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    messages_in: u64,
    messages_out: u64,
    bytes_in: u64,
    bytes_out: u64,
    over_budget: u64,
    overruns: u64,
}

impl Totals {
    fn read(m: &ShardMetrics) -> Totals {
        let t = &m.totals;
        Totals {
            messages_in: t.messages_in.load(Ordering::Relaxed),
            messages_out: t.messages_out.load(Ordering::Relaxed),
            bytes_in: t.bytes_in.load(Ordering::Relaxed),
            bytes_out: t.bytes_out.load(Ordering::Relaxed),
            over_budget: t.over_budget.load(Ordering::Relaxed),
            overruns: t.overruns.load(Ordering::Relaxed),
        }
    }
}

/// Recent samples and the live feed of new ones, pre-encoded as
/// server-sent events: the `history` event is built once per sample and
/// every stream that starts sends that same buffer; each `sample` event is
/// encoded once and shared by every stream. At most `--dashboard-streams`
/// streams at once.
pub struct Observer {
    history: Mutex<VecDeque<Arc<str>>>,
    history_event: Mutex<Bytes>,
    feed: broadcast::Sender<Bytes>,
    max_streams: u32,
    streams: AtomicU32,
}

/// A dashboard stream's start: the history event, the live feed, and its
/// place among the streams (given back on drop).
pub struct Subscription {
    /// `event: history` with the kept samples (shared, not copied).
    pub history: Bytes,
    /// `event: sample` frames as they are taken.
    pub feed: broadcast::Receiver<Bytes>,
    /// The stream's place.
    pub slot: StreamSlot,
}

/// A place among the dashboard streams.
pub struct StreamSlot(Arc<Node>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.observer.streams.fetch_sub(1, Ordering::AcqRel);
        gauge!(crate::metrics::DASHBOARD_STREAMS).decrement(1.0);
    }
}

/// One server-sent event frame: `event: NAME`, `data: JSON`, blank line.
fn sse_frame(name: &str, json: &str) -> Bytes {
    let mut frame = String::with_capacity(name.len() + json.len() + 16);
    frame.push_str("event: ");
    frame.push_str(name);
    frame.push_str("\ndata: ");
    frame.push_str(json);
    frame.push_str("\n\n");
    Bytes::from(frame)
}

impl Observer {
    /// An observer allowing `max_streams` dashboard streams at once.
    pub fn new(max_streams: u32) -> Observer {
        Observer {
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            history_event: Mutex::new(sse_frame("history", "[]")),
            feed: broadcast::channel(16).0,
            max_streams,
            streams: AtomicU32::new(0),
        }
    }

    /// The kept samples, oldest first, as JSON objects.
    pub fn history(&self) -> Vec<Arc<str>> {
        match self.history.lock() {
            Ok(h) => h.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        }
    }

    /// A new dashboard stream of `node`'s observer, or `None` when
    /// `--dashboard-streams` are live.
    pub fn subscribe(node: &Arc<Node>) -> Option<Subscription> {
        let observer = &node.observer;
        let max = observer.max_streams;
        observer
            .streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        gauge!(crate::metrics::DASHBOARD_STREAMS).increment(1.0);
        let slot = StreamSlot(node.clone());
        let history = match observer.history_event.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Some(Subscription {
            history,
            feed: observer.feed.subscribe(),
            slot,
        })
    }

    fn publish(&self, json: Arc<str>) {
        let encoded = {
            let mut history = match self.history.lock() {
                Ok(h) => h,
                Err(poisoned) => poisoned.into_inner(),
            };
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(json.clone());
            let mut joined =
                String::with_capacity(history.iter().map(|h| h.len() + 1).sum::<usize>() + 2);
            joined.push('[');
            for (i, sample) in history.iter().enumerate() {
                if i > 0 {
                    joined.push(',');
                }
                joined.push_str(sample);
            }
            joined.push(']');
            sse_frame("history", &joined)
        };
        match self.history_event.lock() {
            Ok(mut h) => *h = encoded,
            Err(poisoned) => *poisoned.into_inner() = encoded,
        }
        // No live dashboard is a normal state, not an error.
        if self.feed.receiver_count() > 0 && self.feed.send(sse_frame("sample", &json)).is_err() {
            tracing::debug!("dashboard feed closed");
        }
    }
}

/// Starts the observer thread; it stops when the node shuts down.
pub fn spawn(node: Arc<Node>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tickforge-observer".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "observer runtime");
                    return;
                }
            };
            runtime.block_on(run(node));
        })
}

async fn run(node: Arc<Node>) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Vec<Totals> = node
        .shards
        .iter()
        .map(|s| Totals::read(&s.metrics))
        .collect();
    let mut last = Instant::now();
    let mut n = 0u32;
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let elapsed = last.elapsed().as_secs_f64().max(1e-3);
        last = Instant::now();
        let sample = take_sample(&node, &mut previous, elapsed);
        match serde_json::to_string(&sample) {
            Ok(json) => node.observer.publish(Arc::from(json)),
            Err(e) => tracing::error!(error = %e, "dashboard sample"),
        }
        n = n.wrapping_add(1);
        if n.is_multiple_of(UPKEEP_EVERY) {
            node.metrics.run_upkeep();
        }
    }
}

fn take_sample(node: &Node, previous: &mut [Totals], elapsed: f64) -> Sample {
    let shards = node
        .shards
        .iter()
        .zip(previous.iter_mut())
        .map(|(shard, prev)| {
            let m = &shard.metrics;
            let now = Totals::read(m);
            let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / elapsed;
            let sample = ShardSample {
                shard: shard.id,
                tick: m.tick_window.take(),
                lateness: m.lateness_window.take(),
                over_budget: now.over_budget.saturating_sub(prev.over_budget),
                overruns: now.overruns.saturating_sub(prev.overruns),
                connections: m.connections(),
                rooms: m.rooms(),
                players: m.players(),
                messages_in_per_s: rate(now.messages_in, prev.messages_in),
                messages_out_per_s: rate(now.messages_out, prev.messages_out),
                bytes_in_per_s: rate(now.bytes_in, prev.bytes_in),
                bytes_out_per_s: rate(now.bytes_out, prev.bytes_out),
            };
            *prev = now;
            sample
        })
        .collect();
    let totals = disconnect_totals();
    Sample {
        t_ms: clock::now_micros() / 1000,
        node: node.node_id.clone(),
        tick_budget_us: node.config.room.tick_budget().as_secs_f64() * 1e6,
        shards,
        disconnects: Disconnect::ALL
            .iter()
            .map(|d| {
                (
                    d.label(),
                    totals[d.index() as usize].load(Ordering::Relaxed),
                )
            })
            .collect(),
    }
}
