//! # tickforge-swarm
//!
//! A bot swarm for tickforge: thousands of WebSocket bots in one process,
//! on one core, driving a server on an open-loop schedule and recording
//! latency with coordinated-omission correction.
//!
//! Layout, from the wire up:
//!
//! | module | owns |
//! |---|---|
//! | [`frame`] | WebSocket framing: a streaming parser for server frames, masked client frames |
//! | [`handshake`] | the HTTP/1.1 upgrade by hand: URL target, request, 101 checks |
//! | [`ws`] | one raw client connection: `try_read` into a per-thread buffer, `try_write` from a small queue |
//! | [`outbound`] | client messages as frames, from per-thread FlatBuffers encoders |
//! | [`peek`] | a server message's type from its first bytes (ballast bots) |
//! | [`bot`] | one bot's session steps: connect, join, leave, send, read, goodbye; resume a dropped seat; follow a Redirect to another node |
//! | [`measure`] | ack latency from scheduled send times, State jitter |
//! | [`scenario`] | what bots do: arena, idle, churn, slow, garbage; resume after a drop, `--drop-every`; follow a room that moved |
//! | [`garbage`] | the invalid frames and their documented close codes |
//! | [`swarm`] | a run: pre-flight, ramp, measurement window, stop |
//! | [`stats`] | shared counters and histogram shards |
//! | [`report`] | the report: percentiles, spectrum, JSON, SLO verdicts |
//! | [`table`] | the final table on stdout |
//! | [`html`] | the self-contained HTML report with inline SVG plots |
//! | [`slo`] | `--slo` parsing and verdicts |
//! | [`config`] | flags and `TICKFORGE_SWARM_*` variables |
//! | [`duration`] | the `30s` / `500ms` / `2m` parser |
//! | [`progress`] | the live progress bar |
//! | [`rng`] | the seeded per-bot random generator |
//!
//! **Why so cheap per bot.** No thread per bot: every bot is a small tokio
//! task on a runtime of `--threads` threads (default 1). No read buffer per
//! bot: reads go into one scratch buffer per thread, and most bots
//! ("ballast") read only on their input timer, many frames per syscall,
//! skipping payloads. No encoder per bot either. A sample of bots
//! ("measuring") reads eagerly and decodes every State for ack latency
//! and jitter.
//!
//! Embedding: build a [`SwarmConfig`] (e.g. [`SwarmConfig::for_url`]),
//! then `run(config).await` on a tokio runtime; it returns the [`Report`].

pub mod bot;
pub mod config;
pub mod duration;
pub mod frame;
pub mod garbage;
pub mod handshake;
pub mod html;
pub mod measure;
pub mod outbound;
pub mod peek;
pub mod progress;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod slo;
pub mod stats;
pub mod swarm;
pub mod table;
pub mod ws;

pub use config::{Sample, Scenario, SwarmConfig};
pub use report::Report;
pub use swarm::{RunError, run};
