//! Sampling a step while it runs: a thread reads the server's and the
//! swarm's CPU time and the server's RSS from `/proc` (every
//! [`Intervals::process`]) and scrapes the server's `/metrics` (every
//! [`Intervals::metrics`], tickforge only, on its admin listener), each
//! reading stamped with the wall clock.
//!
//! The measurement window is only known afterwards, from the swarm's
//! report (it starts when every bot has joined), so the thread samples the
//! whole step and [`Samples::proc_span`] (and `metrics_span`) picks the first and last readings inside
//! the window: CPU rates are exact differences between two readings over
//! the time between them, not interpolations.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::http;
use super::procstat::{self, MachineCpu};
use super::prometheus_text::Scrape;

/// Timeout of one `/metrics` scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Seconds since the UNIX epoch, as a float.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One reading of `/proc`.
#[derive(Debug, Clone)]
pub struct ProcReading {
    /// When, seconds since the UNIX epoch.
    pub at: f64,
    /// Server `utime + stime`, clock ticks.
    pub server_ticks: Option<u64>,
    /// Swarm `utime + stime`, clock ticks (`None` once it has exited).
    pub swarm_ticks: Option<u64>,
    /// Server `VmRSS`, KiB.
    pub server_rss_kib: Option<u64>,
    /// The whole machine.
    pub machine: Option<MachineCpu>,
}

/// One scrape of `/metrics`.
#[derive(Debug, Clone)]
pub struct MetricsReading {
    /// When the answer arrived, seconds since the UNIX epoch.
    pub at: f64,
    /// The parsed exposition.
    pub scrape: Scrape,
}

/// How often to sample.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    /// `/proc` readings.
    pub process: Duration,
    /// `/metrics` scrapes.
    pub metrics: Duration,
}

impl Intervals {
    /// Intervals for a measured window of `window`: at least eight of each
    /// inside it, at most 4 `/proc` readings and 1 scrape a second.
    pub fn for_window(window: Duration) -> Intervals {
        let eighth = window / 8;
        Intervals {
            process: eighth.clamp(Duration::from_millis(50), Duration::from_millis(250)),
            metrics: eighth.clamp(Duration::from_millis(100), Duration::from_secs(1)),
        }
    }
}

/// Everything sampled during one step.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// `/proc` readings in time order.
    pub proc: Vec<ProcReading>,
    /// `/metrics` scrapes in time order.
    pub metrics: Vec<MetricsReading>,
    /// Scrapes that failed (the first error is kept).
    pub metrics_failures: u32,
    /// The first scrape error.
    pub first_metrics_error: Option<String>,
}

/// The first and the last reading inside a span.
#[derive(Debug)]
pub struct Span<'a, T> {
    /// First reading at or after the start.
    pub first: &'a T,
    /// Last reading at or before the end.
    pub last: &'a T,
}

// Two references: copyable whatever `T` is (a derive would ask `T: Copy`).
impl<T> Clone for Span<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Span<'_, T> {}

impl Samples {
    /// The first and last `/proc` readings in `[from, to]` for which `has`
    /// holds; `None` unless there are two distinct ones.
    pub fn proc_span(
        &self,
        from: f64,
        to: f64,
        has: impl Fn(&ProcReading) -> bool,
    ) -> Option<Span<'_, ProcReading>> {
        let inside = || {
            self.proc
                .iter()
                .filter(|r| r.at >= from && r.at <= to && has(r))
        };
        let first = inside().next()?;
        let last = inside().next_back()?;
        (last.at > first.at).then_some(Span { first, last })
    }

    /// The first and last scrapes in `[from, to]`; `None` unless two.
    pub fn metrics_span(&self, from: f64, to: f64) -> Option<Span<'_, MetricsReading>> {
        let inside = || self.metrics.iter().filter(|r| r.at >= from && r.at <= to);
        let first = inside().next()?;
        let last = inside().next_back()?;
        (last.at > first.at).then_some(Span { first, last })
    }
}

/// The sampling thread of one step; [`Sampler::finish`] stops it.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Samples>,
}

impl Sampler {
    /// Starts sampling `server_pid` and `swarm_pid`, and scraping `/metrics`
    /// at `metrics` (tickforge's admin listener) if given.
    pub fn start(
        server_pid: u32,
        swarm_pid: u32,
        metrics: Option<SocketAddr>,
        intervals: Intervals,
    ) -> anyhow::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::Builder::new()
            .name("capacity-sampler".into())
            .spawn(move || sample(server_pid, swarm_pid, metrics, intervals, &stopped))
            .context("starting the sampler thread")?;
        Ok(Sampler { stop, handle })
    }

    /// Stops the thread and returns what it sampled.
    pub fn finish(self) -> anyhow::Result<Samples> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the sampler thread panicked"))
    }
}

fn sample(
    server_pid: u32,
    swarm_pid: u32,
    metrics: Option<SocketAddr>,
    intervals: Intervals,
    stop: &AtomicBool,
) -> Samples {
    let mut samples = Samples::default();
    let mut next_proc = Instant::now();
    let mut next_scrape = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= next_proc {
            samples.proc.push(ProcReading {
                at: unix_now(),
                server_ticks: procstat::cpu_ticks(server_pid).ok(),
                swarm_ticks: procstat::cpu_ticks(swarm_pid).ok(),
                server_rss_kib: procstat::rss_kib(server_pid).ok(),
                machine: MachineCpu::read().ok(),
            });
            next_proc += intervals.process;
        }
        if let Some(addr) = metrics
            && now >= next_scrape
        {
            match http::get(addr, "/metrics", SCRAPE_TIMEOUT).and_then(|t| Scrape::parse(&t)) {
                Ok(scrape) => samples.metrics.push(MetricsReading {
                    at: unix_now(),
                    scrape,
                }),
                Err(e) => {
                    samples.metrics_failures += 1;
                    samples.first_metrics_error.get_or_insert(format!("{e:#}"));
                }
            }
            next_scrape += intervals.metrics;
        }
        let next = if metrics.is_some() {
            next_proc.min(next_scrape)
        } else {
            next_proc
        };
        let wait = next.saturating_duration_since(Instant::now());
        std::thread::sleep(wait.min(Duration::from_millis(20)));
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at: f64, swarm: Option<u64>) -> ProcReading {
        ProcReading {
            at,
            server_ticks: Some(at as u64 * 10),
            swarm_ticks: swarm,
            server_rss_kib: Some(1000),
            machine: None,
        }
    }

    #[test]
    fn a_span_is_the_first_and_last_reading_inside_the_window() {
        let samples = Samples {
            proc: (0..10).map(|i| reading(f64::from(i), Some(1))).collect(),
            ..Samples::default()
        };
        let span = samples.proc_span(2.5, 7.0, |_| true);
        assert_eq!(span.map(|s| (s.first.at, s.last.at)), Some((3.0, 7.0)));
        assert!(samples.proc_span(2.5, 3.5, |_| true).is_none());
    }

    #[test]
    fn readings_without_the_swarm_are_skipped_when_asked() {
        let samples = Samples {
            proc: vec![
                reading(1.0, Some(5)),
                reading(2.0, Some(6)),
                reading(3.0, None),
            ],
            ..Samples::default()
        };
        let span = samples.proc_span(0.0, 10.0, |r| r.swarm_ticks.is_some());
        assert_eq!(span.map(|s| s.last.at), Some(2.0));
    }

    #[test]
    fn intervals_scale_with_short_windows_and_cap_for_long_ones() {
        let short = Intervals::for_window(Duration::from_secs(2));
        assert_eq!(short.process, Duration::from_millis(250));
        assert_eq!(short.metrics, Duration::from_millis(250));
        let long = Intervals::for_window(Duration::from_secs(20));
        assert_eq!(long.metrics, Duration::from_secs(1));
        let tiny = Intervals::for_window(Duration::from_millis(200));
        assert_eq!(tiny.process, Duration::from_millis(50));
    }
}
