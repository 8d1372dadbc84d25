//! The parts of `tickforge-swarm --json` the harness reads. The format is
//! defined by `Report` in `sim-clients/src/report.rs` (serialize-only
//! there); this mirror names only the fields used, and serde ignores the
//! rest, so fields added to the report do not break the harness.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// A swarm report (subset).
#[derive(Debug, Clone, Deserialize)]
pub struct SwarmReport {
    /// Durations.
    pub timing: Timing,
    /// Bots.
    pub bots: Bots,
    /// Latencies.
    pub latency: Latencies,
    /// Traffic.
    pub messages: Messages,
    /// Errors over the whole run.
    pub errors: Errors,
    /// Disconnects over the whole run.
    pub disconnects: Disconnects,
}

/// `timing`.
#[derive(Debug, Clone, Deserialize)]
pub struct Timing {
    /// Start of the run, ms since the UNIX epoch.
    pub started_at_unix_ms: u64,
    /// Start until every bot had joined, s.
    pub ramp_secs: f64,
    /// The measurement window, s (it follows the ramp).
    pub measured_secs: f64,
    /// Ctrl-C ended the run early.
    pub interrupted: bool,
}

impl Timing {
    /// The measurement window, seconds since the UNIX epoch.
    pub fn window(&self) -> (f64, f64) {
        let start = self.started_at_unix_ms as f64 / 1000.0 + self.ramp_secs;
        (start, start + self.measured_secs)
    }
}

/// `bots`.
#[derive(Debug, Clone, Deserialize)]
pub struct Bots {
    /// Bots started.
    pub started: u32,
    /// Of which measuring (their acks make the latency figures).
    pub measuring: u32,
}

/// `latency`.
#[derive(Debug, Clone, Deserialize)]
pub struct Latencies {
    /// Input → ack, measuring bots, over the window.
    pub ack: Summary,
}

/// A latency summary, ms.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
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

/// `messages`.
#[derive(Debug, Clone, Deserialize)]
pub struct Messages {
    /// The measurement window.
    pub window: Traffic,
}

/// Traffic over a span.
#[derive(Debug, Clone, Deserialize)]
pub struct Traffic {
    /// Length, s.
    pub seconds: f64,
    /// Data messages received.
    pub messages_in: u64,
    /// Bytes received, WebSocket framing included.
    pub bytes_in: u64,
    /// State messages received.
    pub states_in: u64,
}

/// `errors`.
#[derive(Debug, Clone, Deserialize)]
pub struct Errors {
    /// All kinds.
    pub total: u64,
    /// By kind (zeros included).
    pub by_kind: BTreeMap<String, u64>,
}

/// `disconnects`.
#[derive(Debug, Clone, Deserialize)]
pub struct Disconnects {
    /// All codes.
    pub total: u64,
    /// By code and reason.
    pub by_reason: Vec<CloseCount>,
}

/// One (code, reason) of disconnects.
#[derive(Debug, Clone, Deserialize)]
pub struct CloseCount {
    /// Close code (1006: none received).
    pub code: u16,
    /// Reason.
    pub reason: String,
    /// Connections.
    pub count: u64,
}

impl SwarmReport {
    /// Reads a report file.
    pub fn read(path: &Path) -> anyhow::Result<SwarmReport> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Errors as `kind×n, …` (non-zero kinds only).
    pub fn error_summary(&self) -> String {
        self.errors
            .by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Disconnects as `code reason×n, …`.
    pub fn disconnect_summary(&self) -> String {
        self.disconnects
            .by_reason
            .iter()
            .map(|c| format!("{} {}×{}", c.code, c.reason, c.count))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as `tickforge-swarm --json` writes it, trimmed.
    const REPORT: &str = r#"{
      "tool": "tickforge-swarm", "version": "0.1.0",
      "config": {"url": "ws://127.0.0.1:1/ws", "bots": 40},
      "timing": {"started_at_unix_ms": 1800000000000, "ramp_secs": 0.5, "measured_secs": 2.0,
                 "total_secs": 3.0, "interrupted": false, "window": "..."},
      "bots": {"started": 40, "measuring": 10, "sessions_opened": 41, "joins": 40,
               "inputs_unacked": 0, "slow_still_open": 0},
      "latency": {
        "ack": {"count": 200, "min_ms": 1.0, "mean_ms": 17.0, "stdev_ms": 9.0, "p50_ms": 16.5,
                "p90_ms": 30.0, "p99_ms": 33.9, "p999_ms": 34.5, "p9999_ms": 34.5, "max_ms": 34.5,
                "percentiles": [], "spectrum": []},
        "jitter": {"count": 0}, "connect": {}, "join": {}
      },
      "messages": {
        "window": {"seconds": 2.0, "messages_in": 2400, "messages_out": 800, "bytes_in": 2760000,
                   "bytes_out": 80000, "states_in": 2398, "inputs_sent": 800,
                   "messages_in_per_sec": 1200.0, "messages_out_per_sec": 400.0},
        "total": {}
      },
      "errors": {"total": 1, "by_kind": {"connect_refused": 0, "timeout": 1}},
      "disconnects": {"total": 2, "by_code": {"1006": 2},
                      "by_reason": [{"code": 1006, "reason": "", "count": 2}]},
      "garbage": [], "slo": {"passed": true, "checks": []}
    }"#;

    #[test]
    fn the_fields_the_harness_uses_are_read_and_the_rest_ignored() {
        let r: SwarmReport = match serde_json::from_str(REPORT) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(r.bots.started, 40);
        assert_eq!(r.bots.measuring, 10);
        assert_eq!(r.latency.ack.p99_ms, 33.9);
        assert_eq!(r.messages.window.states_in, 2398);
        assert_eq!(r.timing.window(), (1_800_000_000.5, 1_800_000_002.5));
        assert_eq!(r.error_summary(), "timeout×1");
        assert_eq!(r.disconnect_summary(), "1006 ×2");
    }
}
