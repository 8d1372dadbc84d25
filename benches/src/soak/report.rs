//! The soak's result as data (`--json`): the figures of each phase and the
//! checks against issue #12's criteria, each with its verdict and the
//! numbers behind it.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::abuse::AbuseReport;
use super::cli::Options;
use super::watch::{Gauges, Resources};
use crate::capacity::machine::Machine;
use crate::capacity::swarm_report::SwarmReport;

/// Spacing of [`Phase::rss_series`], seconds.
pub const RSS_SERIES_STEP_SECS: f64 = 10.0;

/// A whole soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// `soak`.
    pub tool: &'static str,
    /// UTC start.
    pub started_utc: String,
    /// UTC end.
    pub finished_utc: String,
    /// Ctrl-C ended it early.
    pub interrupted: bool,
    /// The machine and the code.
    pub machine: Machine,
    /// `/proc/loadavg` at the end.
    pub load_average_at_end: String,
    /// Exact command lines.
    pub commands: Commands,
    /// The flags.
    pub options: Options,
    /// The idle server before the first phase.
    pub start: Resources,
    /// Phases in order (baseline, abuse).
    pub phases: Vec<Phase>,
    /// The checks.
    pub checks: Vec<Check>,
}

impl SoakReport {
    /// Every check passed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// Writes it as JSON.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// Command lines, for the record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Commands {
    /// This harness.
    pub harness: String,
    /// The build, unless `--no-build`.
    pub build: Option<String>,
    /// The server.
    pub server: String,
    /// The swarms of the last phase.
    pub swarms: Vec<String>,
}

/// One swarm's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SwarmFigures {
    /// Scenario.
    pub scenario: &'static str,
    /// Bots asked for.
    pub bots: u32,
    /// Exit code (0 or 1 is a finished run).
    pub exit_code: Option<i32>,
    /// Bots started.
    pub started: u32,
    /// Input → ack samples.
    pub ack_count: u64,
    /// Input → ack p50, ms.
    pub ack_p50_ms: f64,
    /// Input → ack p99, ms.
    pub ack_p99_ms: f64,
    /// States per bot per second in the window.
    pub states_per_bot_s: Option<f64>,
    /// Errors.
    pub errors: u64,
    /// `kind×n, …`.
    pub error_detail: String,
    /// Disconnects.
    pub disconnects: u64,
    /// `code reason×n, …`.
    pub disconnect_detail: String,
}

impl SwarmFigures {
    /// From a report (or from nothing, when the swarm left none).
    pub fn of(
        scenario: &'static str,
        bots: u32,
        exit_code: Option<i32>,
        report: Option<&SwarmReport>,
    ) -> SwarmFigures {
        let Some(r) = report else {
            return SwarmFigures {
                scenario,
                bots,
                exit_code,
                ..SwarmFigures::default()
            };
        };
        let window = &r.messages.window;
        SwarmFigures {
            scenario,
            bots,
            exit_code,
            started: r.bots.started,
            ack_count: r.latency.ack.count,
            ack_p50_ms: r.latency.ack.p50_ms,
            ack_p99_ms: r.latency.ack.p99_ms,
            states_per_bot_s: (window.seconds > 0.0 && r.bots.started > 0)
                .then(|| window.states_in as f64 / window.seconds / f64::from(r.bots.started)),
            errors: r.errors.total,
            error_detail: r.error_summary(),
            disconnects: r.disconnects.total,
            disconnect_detail: r.disconnect_summary(),
        }
    }

    /// It ran to its end and wrote a report.
    pub fn finished(&self) -> bool {
        matches!(self.exit_code, Some(0 | 1)) && self.started > 0
    }
}

/// The server once a phase's swarms (and abusers) had left.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Settled {
    /// Gauges at the last look.
    pub gauges: Option<Gauges>,
    /// Memory and descriptors at the last look.
    pub resources: Resources,
    /// Seconds from the last swarm's exit to the last look.
    pub seconds: f64,
    /// Gauges zero and descriptors back within the tolerance.
    pub settled: bool,
}

/// One phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    /// `baseline` or `abuse`.
    pub name: &'static str,
    /// With the slowloris and the flood.
    pub abusers: bool,
    /// The arena swarm's measured window, seconds since the UNIX epoch.
    pub window: (f64, f64),
    /// Honest players (their ack latency is compared).
    pub arena: SwarmFigures,
    /// Join/leave churn.
    pub churn: SwarmFigures,
    /// Invalid frames.
    pub garbage: SwarmFigures,
    /// Server p99 tick work over the window (trimmed 10% each end), ms.
    pub tick_p99_ms: Option<f64>,
    /// Mean RSS over `--rss-window-secs` after `--warmup-secs`, KiB.
    pub rss_after_warmup_kib: Option<f64>,
    /// Mean RSS over the last `--rss-window-secs` of the window, KiB.
    pub rss_end_kib: Option<f64>,
    /// `(end − after warm-up) / after warm-up`, %.
    pub rss_drift_pct: Option<f64>,
    /// Highest RSS in the window, KiB.
    pub rss_peak_kib: Option<u64>,
    /// Most descriptors in the window.
    pub fds_peak: Option<u64>,
    /// RSS over the window, one `(seconds into the window, KiB)` reading
    /// every [`RSS_SERIES_STEP_SECS`]: where a drift came from.
    pub rss_series: Vec<(f64, u64)>,
    /// Refusals, timeouts and disconnects counted by the server during the
    /// phase: `(metric{label}, count)`, non-zero only.
    pub refusals: Vec<(String, f64)>,
    /// What the abusers saw.
    pub abuse: Option<AbuseReport>,
    /// After everyone left.
    pub after: Settled,
}

impl Phase {
    /// The server's count for `series` (as in [`Phase::refusals`]).
    pub fn refused(&self, series: &str) -> f64 {
        self.refusals
            .iter()
            .filter(|(s, _)| s == series)
            .map(|(_, n)| *n)
            .sum()
    }
}

/// One criterion.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable name.
    pub name: String,
    /// Its verdict.
    pub passed: bool,
    /// The numbers.
    pub detail: String,
}

/// The checks of issue #12 item 8 over the phases.
pub fn checks(options: &Options, start: &Resources, phases: &[Phase]) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut check = |name: String, passed: bool, detail: String| {
        checks.push(Check {
            name,
            passed,
            detail,
        });
    };
    for phase in phases {
        let swarms = [&phase.arena, &phase.churn, &phase.garbage];
        check(
            format!("swarms_finished ({})", phase.name),
            swarms.iter().all(|s| s.finished()),
            swarms
                .iter()
                .map(|s| format!("{} exit {:?}, {} bots", s.scenario, s.exit_code, s.started))
                .collect::<Vec<_>>()
                .join("; "),
        );
        check(
            format!("rss_drift ({})", phase.name),
            phase
                .rss_drift_pct
                .is_some_and(|d| d <= options.max_rss_drift_pct),
            format!(
                "{} ≤ {}%",
                phase
                    .rss_drift_pct
                    .map_or("no figure".into(), |d| format!("{d:+.2}%")),
                options.max_rss_drift_pct
            ),
        );
        let g = phase.after.gauges;
        check(
            format!("rooms_and_seats_zero ({})", phase.name),
            g.is_some_and(|g| g.all_zero()),
            g.map_or("no scrape".into(), |g| {
                format!(
                    "rooms {}, seats {}, sessions {}, connections {} (http {}) after {:.1} s",
                    g.rooms,
                    g.seats,
                    g.sessions,
                    g.public_connections,
                    g.http_connections,
                    phase.after.seconds
                )
            }),
        );
        let (before, after) = (start.fds, phase.after.resources.fds);
        check(
            format!("fds_returned ({})", phase.name),
            before
                .zip(after)
                .is_some_and(|(b, a)| a <= b + options.fd_tolerance),
            format!(
                "{} at start, {} after ({} allowed above)",
                show(before),
                show(after),
                options.fd_tolerance
            ),
        );
    }
    let baseline = phases.iter().find(|p| !p.abusers);
    let abuse = phases.iter().find(|p| p.abusers);
    if let (Some(base), Some(abuse)) = (baseline, abuse) {
        let limit = 1.0 + options.max_p99_increase_pct / 100.0;
        let ratio =
            |a: Option<f64>, b: Option<f64>| a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b);
        for (name, with, without) in [
            (
                "ack_p99_ratio",
                (abuse.arena.ack_count > 0).then_some(abuse.arena.ack_p99_ms),
                (base.arena.ack_count > 0).then_some(base.arena.ack_p99_ms),
            ),
            ("tick_p99_ratio", abuse.tick_p99_ms, base.tick_p99_ms),
        ] {
            let r = ratio(with, without);
            check(
                name.into(),
                r.is_some_and(|r| r <= limit),
                format!(
                    "{} with abusers / {} without = {} ≤ {limit:.2}",
                    ms(with),
                    ms(without),
                    r.map_or("–".into(), |r| format!("{r:.3}"))
                ),
            );
        }
        let flood_refused = abuse.refused("tickforge_connections_refused_total{per_ip}")
            + abuse.refused("tickforge_connections_refused_total{handshake_rate}");
        let seen = abuse.abuse.unwrap_or_default();
        check(
            "flood_refused".into(),
            flood_refused > 0.0 && seen.flood_refused_503 > 0,
            format!(
                "server refused {flood_refused} (per_ip + handshake_rate); the flood saw {} × 503 of {} attempts, {} upgrades",
                seen.flood_refused_503, seen.flood_attempts, seen.flood_upgraded
            ),
        );
        let header_timeouts = abuse.refused("tickforge_http_timeouts_total{header}");
        let longest_allowed = options.http_header_timeout_ms + 5_000;
        check(
            "slowloris_closed".into(),
            header_timeouts > 0.0
                && seen.slowloris_closed > 0
                && seen.slowloris_longest_ms <= longest_allowed,
            format!(
                "server timed out {header_timeouts} request heads; {} of {} sockets closed, the longest after {} ms (≤ {longest_allowed})",
                seen.slowloris_closed, seen.slowloris_opened, seen.slowloris_longest_ms
            ),
        );
        let hurt = [&abuse.arena, &abuse.churn]
            .iter()
            .map(|s| s.errors + s.disconnects)
            .sum::<u64>();
        check(
            "honest_unharmed".into(),
            hurt == 0,
            format!(
                "arena: {} errors, {} disconnects; churn: {} errors, {} disconnects (abuse phase)",
                abuse.arena.errors,
                abuse.arena.disconnects,
                abuse.churn.errors,
                abuse.churn.disconnects
            ),
        );
    }
    checks
}

fn show(v: Option<u64>) -> String {
    v.map_or("–".into(), |v| v.to_string())
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3} ms"))
}
