//! A lock-free latency histogram for short windows: the shard's thread
//! records, a sampler takes (and clears) the window once a second and reads
//! quantiles from it. Buckets are eight per power of two (about 9% wide),
//! from 1 µs to about 1 s; values outside are clamped into the end buckets.
//! The built-in dashboard reads these; Prometheus gets its own histograms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB_BUCKETS: u32 = 8;
const OCTAVES: u32 = 20;
const BUCKETS: usize = (SUB_BUCKETS * OCTAVES) as usize;

/// Records durations; [`LatencyWindow::take`] returns and clears them.
pub struct LatencyWindow {
    buckets: [AtomicU64; BUCKETS],
    max_ns: AtomicU64,
}

impl Default for LatencyWindow {
    fn default() -> Self {
        LatencyWindow {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            max_ns: AtomicU64::new(0),
        }
    }
}

/// Quantiles of one window, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct WindowSummary {
    /// Samples in the window.
    pub count: u64,
    /// Median (upper edge of its bucket).
    pub p50_us: f64,
    /// 99th percentile (upper edge of its bucket).
    pub p99_us: f64,
    /// Largest sample, exact.
    pub max_us: f64,
}

fn bucket_of(ns: u64) -> usize {
    let us_x8 = (ns / 125).max(SUB_BUCKETS as u64); // in 1/8 µs units, at least 1 µs
    let octave = 63 - us_x8.leading_zeros() - SUB_BUCKETS.trailing_zeros(); // 0 for [1 µs, 2 µs)
    let sub = (us_x8 >> octave) as u32 - SUB_BUCKETS; // 0..8 within the octave
    ((octave * SUB_BUCKETS + sub) as usize).min(BUCKETS - 1)
}

fn upper_edge_us(bucket: usize) -> f64 {
    let octave = bucket as u32 / SUB_BUCKETS;
    let sub = bucket as u32 % SUB_BUCKETS;
    f64::from(SUB_BUCKETS + sub + 1) / f64::from(SUB_BUCKETS) * f64::from(1u32 << octave)
}

impl LatencyWindow {
    /// Records one duration (relaxed atomics: one writer thread, one reader).
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Summarises and clears the window.
    pub fn take(&self) -> WindowSummary {
        let mut counts = [0u64; BUCKETS];
        for (c, b) in counts.iter_mut().zip(&self.buckets) {
            *c = b.swap(0, Ordering::Relaxed);
        }
        let max_ns = self.max_ns.swap(0, Ordering::Relaxed);
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return WindowSummary::default();
        }
        let max_us = max_ns as f64 / 1000.0;
        let quantile = |q: f64| {
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper_edge_us(i).min(max_us);
                }
            }
            max_us
        };
        WindowSummary {
            count,
            p50_us: quantile(0.50),
            p99_us: quantile(0.99),
            max_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_bucket_of_the_truth() {
        let w = LatencyWindow::default();
        for us in 1..=1000u64 {
            w.record(Duration::from_micros(us));
        }
        let s = w.take();
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() / 500.0 < 0.13, "{s:?}");
        assert!((s.p99_us - 990.0).abs() / 990.0 < 0.13, "{s:?}");
        assert_eq!(s.max_us, 1000.0);
        assert_eq!(w.take(), WindowSummary::default(), "take clears the window");
    }

    #[test]
    fn extremes_are_clamped_not_lost() {
        let w = LatencyWindow::default();
        w.record(Duration::from_nanos(10));
        w.record(Duration::from_secs(100));
        let s = w.take();
        assert_eq!(s.count, 2);
        assert_eq!(s.max_us, 100e6);
        assert!(s.p50_us <= 1.2);
    }

    #[test]
    fn bucket_edges_grow_by_an_eighth_of_an_octave() {
        assert_eq!(bucket_of(1_000), 0);
        assert_eq!(bucket_of(1_999), 7);
        assert_eq!(bucket_of(2_000), 8);
        assert!((upper_edge_us(8) - 2.25).abs() < 1e-9);
    }
}
