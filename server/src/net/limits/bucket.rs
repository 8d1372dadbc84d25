//! Per-IP token buckets: each client IP gets `burst` tokens, refilled at
//! `per_second`; taking one when none is left is refused with the time
//! until the next token. Used for WebSocket handshakes
//! (`--handshakes-per-ip-per-s`) and guest logins
//! (`--guest-logins-per-minute`).
//!
//! The table is bounded: past [`MAX_TRACKED_IPS`] IPs, the ones whose
//! bucket has refilled completely (they would start full anyway) are
//! forgotten; when none has, a new IP is refused (`busy`) until one does.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Most client IPs one table tracks at once.
pub const MAX_TRACKED_IPS: usize = 65_536;

/// Why a token was not handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BucketRefusal {
    /// This IP spent its tokens; the next one comes after this many seconds
    /// (rounded up, at least 1).
    #[error("over the rate; retry in {0} s")]
    Rate(u64),
    /// The table tracks [`MAX_TRACKED_IPS`] IPs and none can be forgotten.
    #[error("too many client addresses tracked")]
    Busy,
}

impl BucketRefusal {
    /// Stable label (metric `reason`).
    pub fn label(self) -> &'static str {
        match self {
            BucketRefusal::Rate(_) => "rate",
            BucketRefusal::Busy => "busy",
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by client IP (see the module docs).
pub struct IpBuckets {
    per_second: f64,
    burst: f64,
    buckets: DashMap<IpAddr, Bucket>,
}

impl IpBuckets {
    /// `burst` tokens per IP, refilled at `per_second` (both at least a
    /// tiny positive amount, so a zero never divides).
    pub fn new(per_second: f64, burst: u32) -> IpBuckets {
        IpBuckets {
            per_second: per_second.max(1e-6),
            burst: f64::from(burst.max(1)),
            buckets: DashMap::new(),
        }
    }

    /// Takes one token for `ip`, or says why not.
    pub fn take(&self, ip: IpAddr) -> Result<(), BucketRefusal> {
        self.take_at(ip, Instant::now())
    }

    /// IPs tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// [`IpBuckets::take`] at a given time (tests).
    pub fn take_at(&self, ip: IpAddr, now: Instant) -> Result<(), BucketRefusal> {
        let (rate, full) = (self.per_second, self.burst);
        if self.buckets.len() >= MAX_TRACKED_IPS && !self.buckets.contains_key(&ip) {
            self.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < full
            });
            if self.buckets.len() >= MAX_TRACKED_IPS {
                return Err(BucketRefusal::Busy);
            }
        }
        let mut bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: full,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(full);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
            Err(BucketRefusal::Rate(
                wait.as_secs_f64().ceil().max(1.0) as u64
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_gets_its_burst_then_waits_while_others_are_unaffected() {
        let buckets = IpBuckets::new(0.5, 3);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(buckets.take_at(a, t0), Ok(()));
        }
        assert_eq!(buckets.take_at(a, t0), Err(BucketRefusal::Rate(2)));
        assert_eq!(buckets.take_at(b, t0), Ok(()));
        assert_eq!(buckets.take_at(a, t0 + Duration::from_secs(2)), Ok(()));
        assert_eq!(buckets.tracked(), 2);
    }
}
