//! The report's resume section: provoked drops, resumes, Redirects
//! followed, failures and the gap in ticks between the drop (or the
//! Redirect) and the resumed Joined.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Session resume over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeReport {
    /// Connections the bots dropped on purpose (`--drop-every`).
    pub drops: u64,
    /// Seats taken back after a drop or a hand-off.
    pub resumes: u64,
    /// Redirects followed to another node: rooms that moved in a drain
    /// (each also a resume) and joins sent elsewhere.
    pub redirects_followed: u64,
    /// Drops whose seat could not be taken back (also an error).
    pub failed: u64,
    /// Gap in ticks: the resumed Joined's tick minus the tick at the drop.
    pub gap_ticks: TickGap,
}

/// A distribution of gaps, in ticks.
#[derive(Debug, Clone, Serialize)]
pub struct TickGap {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl TickGap {
    /// p50, p99 and max of `h` (all 0 without samples).
    pub fn from_histogram(h: &Histogram<u64>) -> TickGap {
        if h.is_empty() {
            return TickGap {
                p50: 0,
                p99: 0,
                max: 0,
            };
        }
        TickGap {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}
