//! The report of a run: built from the merged histograms and counters,
//! printed as a table on stdout ([`crate::table`]), written as JSON (`--json`) and HTML
//! (`--html`, see [`crate::html`]), and judged against `--slo`.
//!
//! Latencies are in milliseconds. Each latency has its count, min, mean,
//! standard deviation, max, a fixed list of percentiles, and its
//! *percentile spectrum*: values at percentiles evenly spaced on a log
//! scale of 1/(1−p) (50, 90, 99, 99.9 … at equal distances), the shape
//! HdrHistogram plots.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::errors::CreationError;
use serde::Serialize;

use crate::garbage::GarbageKind;
use crate::slo::{self, Actual, Metric, SloKey, Verdict};
use crate::stats::{Counts, ErrorKind, Histograms};
use crate::swarm::Shared;

mod resume;
pub use resume::{ResumeReport, TickGap};

/// Percentiles listed for every latency.
pub const PERCENTILES: [f64; 10] = [
    50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 99.999, 100.0,
];
/// Spectrum resolution: points per decade of 1/(1−p).
pub const SPECTRUM_STEPS_PER_DECADE: u32 = 10;
/// Spectrum extent: at most this many nines (99.9999%).
pub const SPECTRUM_MAX_NINES: f64 = 6.0;

/// How the window was timed.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Wall-clock start of the run.
    pub started_at: SystemTime,
    /// From the start until every bot had joined (or failed to).
    pub ramp: Duration,
    /// The measurement window.
    pub measured: Duration,
    /// Start to finish, goodbyes included.
    pub total: Duration,
    /// Ctrl-C ended the run early.
    pub interrupted: bool,
}

/// One point of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Percentile, 0–100.
    pub percentile: f64,
    /// Value at that percentile, in milliseconds.
    pub ms: f64,
}

/// A latency distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Smallest, ms.
    pub min_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Standard deviation, ms.
    pub stdev_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// 99.99th percentile, ms.
    pub p9999_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// [`PERCENTILES`].
    pub percentiles: Vec<Point>,
    /// The percentile spectrum (see the module docs).
    pub spectrum: Vec<Point>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Summary {
    /// Extracts the summary of `h` (values in µs). An empty histogram
    /// gives zeros and no points.
    pub fn from_histogram(h: &Histogram<u64>) -> Summary {
        let count = h.len();
        let at = |p: f64| {
            if count == 0 {
                0.0
            } else {
                ms(h.value_at_percentile(p))
            }
        };
        Summary {
            count,
            min_ms: if count == 0 { 0.0 } else { ms(h.min()) },
            mean_ms: h.mean() / 1000.0,
            stdev_ms: h.stdev() / 1000.0,
            p50_ms: at(50.0),
            p90_ms: at(90.0),
            p99_ms: at(99.0),
            p999_ms: at(99.9),
            p9999_ms: at(99.99),
            max_ms: if count == 0 { 0.0 } else { ms(h.max()) },
            percentiles: if count == 0 {
                Vec::new()
            } else {
                PERCENTILES
                    .iter()
                    .map(|&p| Point {
                        percentile: p,
                        ms: at(p),
                    })
                    .collect()
            },
            spectrum: spectrum(h),
        }
    }
}

/// Percentile `p` (0–100) at `nines` = log10(1/(1−p)).
pub fn percentile_at_nines(nines: f64) -> f64 {
    100.0 * (1.0 - 10f64.powf(-nines))
}

/// The percentile spectrum of `h`: from p0 to as many nines as the
/// sample count supports (at most [`SPECTRUM_MAX_NINES`]), then the max.
pub fn spectrum(h: &Histogram<u64>) -> Vec<Point> {
    let count = h.len();
    if count == 0 {
        return Vec::new();
    }
    let top = ((count as f64).log10() + 0.5).min(SPECTRUM_MAX_NINES);
    let steps = (top * f64::from(SPECTRUM_STEPS_PER_DECADE)).floor() as u32;
    let mut points: Vec<Point> = (0..=steps)
        .map(|i| {
            let nines = f64::from(i) / f64::from(SPECTRUM_STEPS_PER_DECADE);
            let percentile = percentile_at_nines(nines);
            Point {
                percentile,
                ms: ms(h.value_at_percentile(percentile)),
            }
        })
        .collect();
    points.push(Point {
        percentile: 100.0,
        ms: ms(h.max()),
    });
    points
}

/// The settings of the run, echoed.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigEcho {
    /// `--url`.
    pub url: String,
    /// `--bots`.
    pub bots: u32,
    /// Bots that measured (from `--sample`).
    pub measuring_bots: u32,
    /// `--sample` as given.
    pub sample: String,
    /// `--ramp`, bots per second (0: all at once).
    pub ramp_per_sec: f64,
    /// `--mode`.
    pub mode: String,
    /// `--input-hz`.
    pub input_hz: u32,
    /// `--duration`, ms.
    pub duration_ms: u64,
    /// `--scenario`.
    pub scenario: &'static str,
    /// `--threads`.
    pub threads: u16,
    /// `--seed`.
    pub seed: u64,
    /// SO_RCVBUF per bot (0: kernel default).
    pub recv_buffer: u32,
    /// `--slo` checks, as parsed.
    pub slo: Vec<String>,
    /// `--drop-every`, ms (absent: no provoked drops).
    pub drop_every_ms: Option<u64>,
}

/// Durations of the run.
#[derive(Debug, Clone, Serialize)]
pub struct TimingReport {
    /// Start, ms since the UNIX epoch.
    pub started_at_unix_ms: u64,
    /// Start until every bot had joined (or failed to), s.
    pub ramp_secs: f64,
    /// The measurement window, s.
    pub measured_secs: f64,
    /// Start to finish, s.
    pub total_secs: f64,
    /// Ctrl-C ended the run early.
    pub interrupted: bool,
    /// What the window covers.
    pub window: &'static str,
}

/// Bot and session counts.
#[derive(Debug, Clone, Serialize)]
pub struct BotsReport {
    /// Bots started.
    pub started: u32,
    /// Of which measuring.
    pub measuring: u32,
    /// Sessions opened (Welcome received), over the run, pre-flight included.
    pub sessions_opened: u64,
    /// Joins completed, over the run.
    pub joins: u64,
    /// Inputs never acked (measuring bots: left the room, queue overflow).
    pub inputs_unacked: u64,
    /// Slow bots still connected at the end (slow scenario).
    pub slow_still_open: u64,
}

/// Traffic over a span.
#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    /// Length of the span, s.
    pub seconds: f64,
    /// Data messages received.
    pub messages_in: u64,
    /// Data messages sent.
    pub messages_out: u64,
    /// Bytes received (framing included).
    pub bytes_in: u64,
    /// Bytes sent (framing included).
    pub bytes_out: u64,
    /// State messages received.
    pub states_in: u64,
    /// Inputs sent.
    pub inputs_sent: u64,
    /// Messages received per second.
    pub messages_in_per_sec: f64,
    /// Messages sent per second.
    pub messages_out_per_sec: f64,
    /// Bytes received per bot per second (framing included): what one
    /// player's downlink costs.
    pub bytes_in_per_bot_per_sec: f64,
}

impl Traffic {
    fn new(c: Counts, span: Duration, bots: u32) -> Traffic {
        let seconds = span.as_secs_f64();
        let per_sec = |n: u64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        Traffic {
            seconds,
            messages_in: c.messages_in,
            messages_out: c.messages_out,
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            states_in: c.states_in,
            inputs_sent: c.inputs_sent,
            messages_in_per_sec: per_sec(c.messages_in),
            messages_out_per_sec: per_sec(c.messages_out),
            bytes_in_per_bot_per_sec: per_sec(c.bytes_in) / f64::from(bots.max(1)),
        }
    }
}

/// Latency distributions.
#[derive(Debug, Clone, Serialize)]
pub struct Latencies {
    /// Input → ack (measuring bots, window).
    pub ack: Summary,
    /// State jitter (measuring bots, window).
    pub jitter: Summary,
    /// Connect: TCP + upgrade + Welcome (every bot, whole run).
    pub connect: Summary,
    /// Join: JoinRoom → Joined (every bot, whole run).
    pub join: Summary,
}

/// Messages and bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Messages {
    /// The measurement window.
    pub window: Traffic,
    /// The whole run.
    pub total: Traffic,
}

/// Errors by kind.
#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    /// All kinds.
    pub total: u64,
    /// Every kind, zeros included.
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// One (code, reason) of disconnects.
#[derive(Debug, Clone, Serialize)]
pub struct CloseCount {
    /// Close code (1006: no close frame).
    pub code: u16,
    /// Close reason.
    pub reason: String,
    /// Connections.
    pub count: u64,
}

/// Connections ended by the server or the network.
#[derive(Debug, Clone, Serialize)]
pub struct Disconnects {
    /// All codes.
    pub total: u64,
    /// By code.
    pub by_code: BTreeMap<u16, u64>,
    /// By code and reason.
    pub by_reason: Vec<CloseCount>,
}

/// One garbage kind: what the server answered.
#[derive(Debug, Clone, Serialize)]
pub struct GarbageOutcome {
    /// Garbage kind.
    pub kind: &'static str,
    /// Frames sent.
    pub sent: u64,
    /// The close code the server documents for it.
    pub expected_code: u16,
    /// Close codes received, by code.
    pub closes: BTreeMap<u16, u64>,
}

/// The SLO verdict.
#[derive(Debug, Clone, Serialize)]
pub struct SloReport {
    /// Whether every check passed (true when there were none).
    pub passed: bool,
    /// Each check.
    pub checks: Vec<Verdict>,
}

/// The full report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `tickforge-swarm`.
    pub tool: &'static str,
    /// Its version.
    pub version: &'static str,
    /// Settings.
    pub config: ConfigEcho,
    /// Durations.
    pub timing: TimingReport,
    /// Bots and sessions.
    pub bots: BotsReport,
    /// Latency distributions.
    pub latency: Latencies,
    /// Drops and resumes.
    pub resume: ResumeReport,
    /// Traffic.
    pub messages: Messages,
    /// Errors.
    pub errors: Errors,
    /// Disconnects.
    pub disconnects: Disconnects,
    /// Garbage outcomes (garbage scenario; empty otherwise).
    pub garbage: Vec<GarbageOutcome>,
    /// SLO verdict.
    pub slo: SloReport,
    /// The merged histograms (µs), for exact SLO percentiles and plots.
    #[serde(skip)]
    pub histograms: Histograms,
}

/// What the window covers, stated in every report.
pub const WINDOW_NOTE: &str = "ack latency, jitter and the window traffic cover the measured \
    duration, which starts once every bot has joined (or failed to); connect and join times, \
    errors and disconnects cover the whole run";

impl Report {
    /// Builds the report of a finished run.
    pub fn build(shared: &Shared, timing: Timing, window: Counts) -> Result<Report, CreationError> {
        let config = &shared.config;
        let stats = &shared.stats;
        let h = stats.merged()?;
        let latency = Latencies {
            ack: Summary::from_histogram(&h.ack),
            jitter: Summary::from_histogram(&h.jitter),
            connect: Summary::from_histogram(&h.connect),
            join: Summary::from_histogram(&h.join),
        };
        let errors: BTreeMap<&'static str, u64> = stats.errors().into_iter().collect();
        let errors = Errors {
            total: errors.values().sum(),
            by_kind: errors,
        };
        let closes = stats.disconnects();
        let mut by_code = BTreeMap::new();
        for ((code, _), n) in &closes {
            *by_code.entry(*code).or_default() += n;
        }
        let disconnects = Disconnects {
            total: closes.values().sum(),
            by_code,
            by_reason: closes
                .into_iter()
                .map(|((code, reason), count)| CloseCount {
                    code,
                    reason,
                    count,
                })
                .collect(),
        };
        let (garbage_sent, garbage_closes) = stats.garbage();
        let garbage = GarbageKind::ALL
            .iter()
            .filter(|k| garbage_sent.contains_key(k.label()))
            .map(|k| GarbageOutcome {
                kind: k.label(),
                sent: garbage_sent.get(k.label()).copied().unwrap_or(0),
                expected_code: k.expected_code(),
                closes: garbage_closes
                    .iter()
                    .filter(|((kind, _), _)| *kind == k.label())
                    .map(|((_, code), n)| (*code, *n))
                    .collect(),
            })
            .collect();
        let mut report = Report {
            tool: "tickforge-swarm",
            version: env!("CARGO_PKG_VERSION"),
            config: ConfigEcho {
                url: config.url.clone(),
                bots: config.bots,
                measuring_bots: config.measuring(),
                sample: config.sample.to_string(),
                ramp_per_sec: config.ramp,
                mode: config.mode.clone(),
                input_hz: config.input_hz,
                drop_every_ms: config.drop_every.map(|d| d.as_millis() as u64),
                duration_ms: config.duration.as_millis() as u64,
                scenario: config.scenario.label(),
                threads: config.threads,
                seed: config.seed,
                recv_buffer: config.effective_recv_buffer(),
                slo: config
                    .slo
                    .iter()
                    .flat_map(|s| s.checks.iter().map(|c| c.name.clone()))
                    .collect(),
            },
            timing: TimingReport {
                started_at_unix_ms: timing
                    .started_at
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                ramp_secs: timing.ramp.as_secs_f64(),
                measured_secs: timing.measured.as_secs_f64(),
                total_secs: timing.total.as_secs_f64(),
                interrupted: timing.interrupted,
                window: WINDOW_NOTE,
            },
            bots: BotsReport {
                started: config.bots,
                measuring: config.measuring(),
                sessions_opened: stats.sessions.load(Ordering::Relaxed),
                joins: stats.joins.load(Ordering::Relaxed),
                inputs_unacked: stats.inputs_unacked.load(Ordering::Relaxed),
                slow_still_open: stats.slow_still_open.load(Ordering::Relaxed),
            },
            latency,
            resume: ResumeReport {
                drops: stats.drops.load(Ordering::Relaxed),
                resumes: stats.resumes.load(Ordering::Relaxed),
                redirects_followed: stats.redirects_followed.load(Ordering::Relaxed),
                failed: stats
                    .errors()
                    .into_iter()
                    .find(|(k, _)| *k == ErrorKind::ResumeFailed.label())
                    .map_or(0, |(_, n)| n),
                gap_ticks: TickGap::from_histogram(&h.resume_gap),
            },
            messages: Messages {
                window: Traffic::new(window, timing.measured, config.bots),
                total: Traffic::new(stats.counts(), timing.total, config.bots),
            },
            errors,
            disconnects,
            garbage,
            slo: SloReport {
                passed: true,
                checks: Vec::new(),
            },
            histograms: h,
        };
        if let Some(spec) = &config.slo {
            let checks = slo::evaluate(spec, |key| report.actual(key));
            report.slo = SloReport {
                passed: checks.iter().all(|c| c.ok),
                checks,
            };
        }
        Ok(report)
    }

    /// The measured value of an SLO key.
    pub fn actual(&self, key: &SloKey) -> Option<Actual> {
        let histogram = |m: &Metric| {
            let h = match m {
                Metric::Ack => &self.histograms.ack,
                Metric::Jitter => &self.histograms.jitter,
                Metric::Connect => &self.histograms.connect,
                Metric::Join => &self.histograms.join,
            };
            (!h.is_empty()).then_some(h)
        };
        match key {
            SloKey::Errors => Some(Actual::Count(self.errors.total)),
            SloKey::Disconnects => Some(Actual::Count(self.disconnects.total)),
            SloKey::Percentile(m, p) => {
                histogram(m).map(|h| Actual::Ms(ms(h.value_at_percentile(*p))))
            }
            SloKey::Max(m) => histogram(m).map(|h| Actual::Ms(ms(h.max()))),
        }
    }

    /// Exit status: 0 when every SLO check passed, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.slo.passed { 0 } else { 1 }
    }

    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform_1_to_1000_ms() -> Histogram<u64> {
        let mut h = match Histogram::<u64>::new_with_bounds(1, 60_000_000, 3) {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        };
        for v in 1..=1000u64 {
            h.saturating_record(v * 1000);
        }
        h
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 0.002 + 1e-9
    }

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let s = Summary::from_histogram(&uniform_1_to_1000_ms());
        assert_eq!(s.count, 1000);
        assert!(close(s.min_ms, 1.0), "{}", s.min_ms);
        assert!(close(s.p50_ms, 500.0), "{}", s.p50_ms);
        assert!(close(s.p90_ms, 900.0), "{}", s.p90_ms);
        assert!(close(s.p99_ms, 990.0), "{}", s.p99_ms);
        assert!(close(s.p999_ms, 999.0), "{}", s.p999_ms);
        assert!(close(s.max_ms, 1000.0), "{}", s.max_ms);
        assert!(close(s.mean_ms, 500.5), "{}", s.mean_ms);
        let listed: Vec<f64> = s.percentiles.iter().map(|p| p.percentile).collect();
        assert_eq!(listed, PERCENTILES.to_vec());
    }

    #[test]
    fn the_spectrum_is_evenly_spaced_in_nines_monotonic_and_ends_at_the_max() {
        let s = spectrum(&uniform_1_to_1000_ms());
        // 1000 samples support log10(1000) + 0.5 = 3.5 nines at 10 points each, plus the max.
        assert_eq!(s.len(), 36 + 1);
        assert_eq!(s[0].percentile, 0.0);
        assert!(close(s[10].percentile, 90.0));
        assert!(close(s[20].percentile, 99.0));
        assert!(close(s[30].percentile, 99.9));
        assert!(
            s.windows(2)
                .all(|w| w[0].ms <= w[1].ms && w[0].percentile <= w[1].percentile)
        );
        assert_eq!(s.last().map(|p| p.percentile), Some(100.0));
        assert!(s.last().is_some_and(|p| close(p.ms, 1000.0)));
    }

    #[test]
    fn an_empty_histogram_gives_zeros_and_no_points() {
        let h = match Histogram::<u64>::new_with_bounds(1, 60_000_000, 3) {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        };
        let s = Summary::from_histogram(&h);
        assert_eq!((s.count, s.p99_ms, s.max_ms), (0, 0.0, 0.0));
        assert!(s.spectrum.is_empty() && s.percentiles.is_empty());
    }
}
