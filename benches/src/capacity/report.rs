//! The result of a run as data: one [`StepResult`] per (kind, bot count),
//! one [`RawRun`] per bot count, and the [`CapacityReport`] that holds them
//! with the machine, the commands and the summary. `--json` writes it as
//! is; [`crate::capacity::tables`] renders it as Markdown.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::cli::ServerKind;
use super::machine::Machine;
use super::slo::{Breach, Limits, Verdict};
use super::summary::Summary;

/// Input → ack latency of a step, ms (measuring bots, the swarm's window).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ack {
    /// Bots that measured.
    pub measuring_bots: u32,
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// Tick figures from the delta of two `/metrics` scrapes (tickforge only).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ticks {
    /// Seconds between the two scrapes.
    pub seconds: f64,
    /// Room ticks between them (all shards).
    pub ticks: f64,
    /// p99 work per room tick, ms (`histogram_quantile` over the delta).
    pub p99_ms: Option<f64>,
    /// p99 lateness of tick starts, ms.
    pub lateness_p99_ms: Option<f64>,
    /// Room ticks whose work exceeded the budget.
    pub over_budget: f64,
}

/// CPU over the measured span, % of one core.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cpu {
    /// Seconds between the two `/proc` readings used.
    pub seconds: f64,
    /// The server process (every thread): `utime + stime`.
    pub server_pct: f64,
    /// The swarm process.
    pub swarm_pct: f64,
    /// The server's core: wall time − idle − iowait − steal, so also the
    /// interrupt work that lands there (loopback TCP receive for the bots'
    /// sockets runs on the sending core), ksoftirqd, and any other process.
    pub server_core_pct: Option<f64>,
    /// The swarm's core, the same way.
    pub swarm_core_pct: Option<f64>,
    /// irq + softirq time of the whole machine (both cores).
    pub interrupts_pct: Option<f64>,
    /// Time stolen by the hypervisor (both cores).
    pub steal_pct: Option<f64>,
}

/// Everything measured in one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// Server kind.
    pub kind: ServerKind,
    /// Bots.
    pub bots: u32,
    /// The verdict.
    pub verdict: Verdict,
    /// Every limit missed.
    pub breaches: Vec<Breach>,
    /// The breaches in words.
    pub breach_text: String,
    /// CPU, when the span had two readings.
    pub cpu: Option<Cpu>,
    /// Server process CPU per bot, µs of CPU per bot per second.
    pub server_us_per_bot_s: Option<f64>,
    /// Server core busy time per bot, µs per bot per second.
    pub server_core_us_per_bot_s: Option<f64>,
    /// Server RSS before the swarm started, KiB.
    pub idle_rss_kib: Option<u64>,
    /// Server RSS at the end of the measured span, KiB.
    pub rss_kib: Option<u64>,
    /// (RSS − idle RSS) / bots, KiB.
    pub rss_per_bot_kib: Option<f64>,
    /// States received by all bots per second (= server State writes per second).
    pub deliveries_per_s: Option<f64>,
    /// States received per bot per second.
    pub states_per_bot_s: Option<f64>,
    /// Deliveries per second per server process CPU-second.
    pub deliveries_per_cpu_s: Option<f64>,
    /// Deliveries per second per busy second of the server's core.
    pub deliveries_per_core_s: Option<f64>,
    /// Mean bytes per message received (≈ a State frame, framing included).
    pub frame_bytes: Option<f64>,
    /// Input → ack.
    pub ack: Option<Ack>,
    /// Swarm errors (whole run).
    pub errors: u64,
    /// Swarm errors by kind.
    pub error_detail: String,
    /// Disconnects (whole run).
    pub disconnects: u64,
    /// Disconnects by code and reason.
    pub disconnect_detail: String,
    /// Tick figures (tickforge).
    pub ticks: Option<Ticks>,
    /// Load average when the step ended (`/proc/loadavg`, first three).
    pub load_average: String,
    /// The server's command line.
    pub server_command: String,
    /// The swarm's command line.
    pub swarm_command: String,
    /// The swarm's JSON report.
    pub swarm_report: PathBuf,
}

/// One raw_writer reference run.
#[derive(Debug, Clone, Serialize)]
pub struct RawRun {
    /// Connections (= the step's bot count).
    pub connections: u32,
    /// Bytes per write (the State frame size of that step).
    pub frame_bytes: u32,
    /// Writes per second, one writer thread on the server's core.
    pub writes_per_s: Option<f64>,
    /// Writes that found a full socket buffer.
    pub would_block: Option<u64>,
    /// Why it has no figure.
    pub error: Option<String>,
    /// Its command line.
    pub command: String,
}

/// Command lines of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Commands {
    /// The harness as invoked.
    pub harness: String,
    /// The build (`None` with `--no-build`).
    pub build: Option<String>,
    /// First server command per kind.
    pub servers: Vec<(ServerKind, String)>,
    /// First swarm command.
    pub swarm: Option<String>,
    /// First raw_writer command.
    pub raw_writer: Option<String>,
}

/// Settings of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Bot counts asked for.
    pub steps: Vec<u32>,
    /// Measured seconds per step.
    pub step_secs: f64,
    /// Bots per second of ramp.
    pub ramp: u32,
    /// Inputs per second per bot.
    pub input_hz: u32,
    /// Seats per room.
    pub room_capacity: u16,
    /// Tick rate, Hz.
    pub tick_hz: u16,
    /// Server CPU.
    pub server_cpu: usize,
    /// Swarm CPU.
    pub swarm_cpu: usize,
    /// raw_writer seconds.
    pub raw_secs: f64,
    /// Fraction of the window left out at each end for CPU, RSS and ticks.
    pub trim_fraction: f64,
    /// Kept stepping after breaches.
    pub keep_going: bool,
    /// How bots proved who they were to tickforge.
    pub identity: super::cli::Identity,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// `capacity`.
    pub tool: &'static str,
    /// UTC start, `YYYY-MM-DD HH:MM`.
    pub started_utc: String,
    /// UTC end.
    pub finished_utc: String,
    /// The run ended early on Ctrl-C.
    pub interrupted: bool,
    /// Machine.
    pub machine: Machine,
    /// Settings.
    pub settings: Settings,
    /// The SLO.
    pub limits: Limits,
    /// Commands.
    pub commands: Commands,
    /// Every step, in run order.
    pub steps: Vec<StepResult>,
    /// Raw writer runs, by bot count.
    pub raw: Vec<RawRun>,
    /// Maxima, ratios and targets.
    pub summary: Summary,
}

impl CapacityReport {
    /// The steps of one kind.
    pub fn steps_of(&self, kind: ServerKind) -> impl Iterator<Item = &StepResult> {
        self.steps.iter().filter(move |s| s.kind == kind)
    }

    /// Writes pretty JSON.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
pub use test_support::test_step;

#[cfg(test)]
mod test_support {
    use std::path::PathBuf;

    use super::*;

    /// A step with round figures, for tests elsewhere.
    pub fn test_step(kind: ServerKind, bots: u32, verdict: Verdict, core_us: f64) -> StepResult {
        let breaches = match verdict {
            Verdict::Pass => vec![],
            Verdict::SwarmSaturated => vec![Breach::SwarmSaturated { cpu_pct: 95.0 }],
            _ => vec![Breach::AckP99 { ms: 60.0 }],
        };
        StepResult {
            kind,
            bots,
            verdict,
            breach_text: if breaches.is_empty() {
                String::new()
            } else {
                "x".into()
            },
            breaches,
            cpu: None,
            server_us_per_bot_s: Some(core_us * 0.8),
            server_core_us_per_bot_s: Some(core_us),
            idle_rss_kib: Some(5000),
            rss_kib: Some(5000 + u64::from(bots) * 10),
            rss_per_bot_kib: Some(10.0),
            deliveries_per_s: Some(f64::from(bots) * 30.0),
            states_per_bot_s: Some(30.0),
            deliveries_per_cpu_s: Some(1e6 / (core_us * 0.8) * 30.0),
            deliveries_per_core_s: Some(1e6 / core_us * 30.0),
            frame_bytes: Some(1150.0),
            ack: None,
            errors: 0,
            error_detail: String::new(),
            disconnects: 0,
            disconnect_detail: String::new(),
            ticks: None,
            load_average: String::new(),
            server_command: String::new(),
            swarm_command: String::new(),
            swarm_report: PathBuf::new(),
        }
    }
}
