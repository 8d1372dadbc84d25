//! Guest sessions: `POST /auth/guest` signs a token for a fresh random
//! player id with the node's session key. Each client IP gets a token
//! bucket of `--guest-logins-per-minute` (burst: the same number); past it
//! the answer is 429 with `Retry-After`.

use std::net::IpAddr;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use rand_core::{OsRng, RngCore};

/// Most client IPs tracked at once. Past it, IPs whose bucket has refilled
/// are forgotten; if none has, new IPs are refused (`busy`) until one does.
pub const MAX_TRACKED_IPS: usize = 65_536;

/// Why a guest session was not issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRefusal {
    /// This IP is over its rate; retry after this many seconds.
    Rate(u64),
    /// Too many IPs are being tracked right now.
    Busy,
}

impl GuestRefusal {
    /// Stable label (metric `reason`).
    pub fn label(self) -> &'static str {
        match self {
            GuestRefusal::Rate(_) => "rate",
            GuestRefusal::Busy => "busy",
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-IP token buckets for guest logins.
pub struct GuestLimiter {
    per_minute: f64,
    buckets: DashMap<IpAddr, Bucket>,
}

impl GuestLimiter {
    /// A limiter allowing `per_minute` logins per IP (burst: the same).
    pub fn new(per_minute: u32) -> GuestLimiter {
        GuestLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: DashMap::new(),
        }
    }

    /// Takes one login for `ip`, or says why not.
    pub fn take(&self, ip: IpAddr) -> Result<(), GuestRefusal> {
        self.take_at(ip, Instant::now())
    }

    fn take_at(&self, ip: IpAddr, now: Instant) -> Result<(), GuestRefusal> {
        let rate = self.per_minute / 60.0;
        if self.buckets.len() >= MAX_TRACKED_IPS && !self.buckets.contains_key(&ip) {
            let full = self.per_minute;
            self.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < full
            });
            if self.buckets.len() >= MAX_TRACKED_IPS {
                return Err(GuestRefusal::Busy);
            }
        }
        let mut bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: self.per_minute,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(self.per_minute);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil().max(1.0);
            Err(GuestRefusal::Rate(wait as u64))
        }
    }
}

/// A fresh guest player id: `g_` and 128 random bits.
pub fn new_player_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("g_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A name for a guest who chose none: `Guest-` and four random hex digits.
pub fn default_name() -> String {
    format!("Guest-{:04X}", OsRng.next_u32() & 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_ip_gets_its_burst_then_waits_while_others_are_unaffected() {
        let limiter = GuestLimiter::new(3);
        let (a, b) = (
            "10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])),
            IpAddr::from([10, 0, 0, 2]),
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take_at(a, t0), Ok(()));
        }
        assert_eq!(limiter.take_at(a, t0), Err(GuestRefusal::Rate(20)));
        assert_eq!(limiter.take_at(b, t0), Ok(()));
        assert_eq!(limiter.take_at(a, t0 + Duration::from_secs(20)), Ok(()));
    }

    #[test]
    fn guest_ids_are_random_and_unguessable() {
        let (x, y) = (new_player_id(), new_player_id());
        assert_ne!(x, y);
        assert!(x.starts_with("g_") && x.len() == 24, "{x}");
    }
}
