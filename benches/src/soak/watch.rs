//! Watching the server for the whole soak: a thread reads its resident
//! memory and open descriptors from `/proc` (through the `procfs` crate) and
//! scrapes `/metrics` on its admin listener every `--sample-secs`, keeping
//! the gauges that must return to zero (rooms, seats, sessions,
//! connections) and the tick-duration buckets (for tick p99 over any
//! window), each reading stamped with the wall clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tickforge_server::metrics::{
    CONNECTIONS, HTTP_CONNECTIONS, PLAYERS, PUBLIC_CONNECTIONS, ROOMS, TICK_DURATION,
};

use crate::capacity::http;
use crate::capacity::prometheus_text::{Buckets, Scrape};
use crate::capacity::sampler::unix_now;

/// Timeout of one scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// The gauges that must be back to zero once everyone has left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Gauges {
    /// Live rooms (`tickforge_rooms`).
    pub rooms: f64,
    /// Seated players (`tickforge_players`).
    pub seats: f64,
    /// WebSocket sessions (`tickforge_connections`).
    pub sessions: f64,
    /// Open public-listener connections (`tickforge_public_connections`).
    pub public_connections: f64,
    /// Of which plain HTTP (`tickforge_http_connections`).
    pub http_connections: f64,
}

impl Gauges {
    /// The gauges of one scrape, summed over shards.
    pub fn of(scrape: &Scrape) -> Gauges {
        Gauges {
            rooms: scrape.sum(ROOMS),
            seats: scrape.sum(PLAYERS),
            sessions: scrape.sum(CONNECTIONS),
            public_connections: scrape.sum(PUBLIC_CONNECTIONS),
            http_connections: scrape.sum(HTTP_CONNECTIONS),
        }
    }

    /// Every one is zero.
    pub fn all_zero(&self) -> bool {
        [
            self.rooms,
            self.seats,
            self.sessions,
            self.public_connections,
            self.http_connections,
        ]
        .iter()
        .all(|v| *v == 0.0)
    }
}

/// Resident memory and open descriptors of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// `VmRSS`, KiB.
    pub rss_kib: Option<u64>,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: Option<u64>,
}

impl Resources {
    /// Reads them now (`None` for what cannot be read).
    pub fn of(pid: u32) -> Resources {
        let Ok(process) = i32::try_from(pid).map(procfs::process::Process::new) else {
            return Resources::default();
        };
        let Ok(process) = process else {
            return Resources::default();
        };
        Resources {
            rss_kib: process.status().ok().and_then(|s| s.vmrss),
            fds: process.fd_count().ok().map(|n| n as u64),
        }
    }
}

/// One reading.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Seconds since the UNIX epoch.
    pub at: f64,
    /// The server's memory and descriptors.
    pub resources: Resources,
    /// Gauges (`None`: the scrape failed).
    pub gauges: Option<Gauges>,
    /// Cumulative tick-duration buckets.
    pub ticks: Option<Buckets>,
}

/// Scrapes `/metrics` once.
pub fn scrape(admin: SocketAddr) -> anyhow::Result<Scrape> {
    http::get(admin, "/metrics", SCRAPE_TIMEOUT).and_then(|text| Scrape::parse(&text))
}

/// The watching thread; [`Watcher::finish`] stops it.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Reading>>,
}

impl Watcher {
    /// Starts watching process `pid` and its admin listener `admin`.
    pub fn start(pid: u32, admin: SocketAddr, every: Duration) -> anyhow::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::Builder::new()
            .name("soak-watch".into())
            .spawn(move || {
                let mut readings = Vec::new();
                let mut next = Instant::now();
                while !stopped.load(Ordering::SeqCst) {
                    if Instant::now() >= next {
                        readings.push(read(pid, admin));
                        next += every;
                    }
                    std::thread::sleep(
                        next.saturating_duration_since(Instant::now())
                            .min(Duration::from_millis(50)),
                    );
                }
                readings
            })
            .context("starting the watcher thread")?;
        Ok(Watcher { stop, handle })
    }

    /// Stops the thread; every reading, in time order.
    pub fn finish(self) -> anyhow::Result<Vec<Reading>> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the watcher thread panicked"))
    }
}

/// One reading now.
pub fn read(pid: u32, admin: SocketAddr) -> Reading {
    let resources = Resources::of(pid);
    let scrape = scrape(admin).ok();
    Reading {
        at: unix_now(),
        resources,
        gauges: scrape.as_ref().map(Gauges::of),
        ticks: scrape.and_then(|s| s.buckets(TICK_DURATION).ok()),
    }
}

/// Mean RSS (KiB) of the readings in `[from, to]`; `None` without any.
pub fn mean_rss(readings: &[Reading], from: f64, to: f64) -> Option<f64> {
    let values: Vec<f64> = readings
        .iter()
        .filter(|r| r.at >= from && r.at <= to)
        .filter_map(|r| r.resources.rss_kib)
        .map(|kib| kib as f64)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Largest value of `of` among the readings in `[from, to]`.
pub fn peak(
    readings: &[Reading],
    from: f64,
    to: f64,
    of: impl Fn(&Reading) -> Option<u64>,
) -> Option<u64> {
    readings
        .iter()
        .filter(|r| r.at >= from && r.at <= to)
        .filter_map(of)
        .max()
}

/// Tick p99 (ms) between the first and the last reading with buckets in
/// `[from, to]`.
pub fn tick_p99_ms(readings: &[Reading], from: f64, to: f64) -> Option<f64> {
    let mut inside = readings
        .iter()
        .filter(|r| r.at >= from && r.at <= to)
        .filter_map(|r| r.ticks.as_ref());
    let first = inside.next()?;
    let last = inside.next_back()?;
    last.since(first).ok()?.quantile(0.99).map(|s| s * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at: f64, rss: u64, ticks: [f64; 3]) -> Reading {
        Reading {
            at,
            resources: Resources {
                rss_kib: Some(rss),
                fds: Some(rss / 100),
            },
            gauges: None,
            ticks: Some(Buckets {
                bounds: vec![
                    (0.0001, ticks[0]),
                    (0.001, ticks[1]),
                    (f64::INFINITY, ticks[2]),
                ],
            }),
        }
    }

    #[test]
    fn rss_is_averaged_and_ticks_differenced_inside_the_window() {
        let readings = vec![
            reading(0.0, 1000, [0.0, 0.0, 0.0]),
            reading(1.0, 1100, [100.0, 100.0, 100.0]),
            reading(2.0, 1300, [100.0, 200.0, 200.0]),
            reading(3.0, 9000, [100.0, 200.0, 300.0]),
        ];
        assert_eq!(mean_rss(&readings, 0.5, 2.5), Some(1200.0));
        assert_eq!(mean_rss(&readings, 5.0, 6.0), None);
        assert_eq!(peak(&readings, 0.0, 2.0, |r| r.resources.fds), Some(13));
        // Between t=1 and t=2: 100 ticks, all in (0.1 ms, 1 ms].
        let p99 = tick_p99_ms(&readings, 1.0, 2.0).unwrap_or(f64::NAN);
        assert!((p99 - 0.991).abs() < 1e-9, "{p99}");
    }

    #[test]
    fn this_process_has_memory_and_descriptors() {
        let r = Resources::of(std::process::id());
        assert!(r.rss_kib.is_some_and(|k| k > 0), "{r:?}");
        assert!(r.fds.is_some_and(|n| n >= 3), "{r:?}");
    }

    #[test]
    fn gauges_are_zero_only_when_all_are() {
        assert!(Gauges::default().all_zero());
        let seated = Gauges {
            seats: 1.0,
            ..Gauges::default()
        };
        assert!(!seated.all_zero());
    }
}
