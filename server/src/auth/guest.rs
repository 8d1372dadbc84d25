//! Guest sessions: `POST /auth/guest` signs a token for a fresh random
//! player id with the node's session key. Each client IP gets a token
//! bucket of `--guest-logins-per-minute` (burst: the same number); past it
//! the answer is 429 with `Retry-After`.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};

/// Why a guest session was not issued: the IP is over its rate
/// (`Rate(seconds)` until the next login), or too many IPs are tracked
/// (`Busy`). Labels: `rate`, `busy`.
pub use crate::net::limits::bucket::BucketRefusal as GuestRefusal;
use crate::net::limits::bucket::IpBuckets;
pub use crate::net::limits::bucket::MAX_TRACKED_IPS;

/// Per-IP token buckets for guest logins (the node's shared
/// [`IpBuckets`], per minute).
pub struct GuestLimiter {
    buckets: IpBuckets,
}

impl GuestLimiter {
    /// A limiter allowing `per_minute` logins per IP (burst: the same).
    pub fn new(per_minute: u32) -> GuestLimiter {
        let per_minute = per_minute.max(1);
        GuestLimiter {
            buckets: IpBuckets::new(f64::from(per_minute) / 60.0, per_minute),
        }
    }

    /// Takes one login for `ip`, or says why not.
    pub fn take(&self, ip: IpAddr) -> Result<(), GuestRefusal> {
        self.buckets.take(ip)
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
    use std::time::{Duration, Instant};

    #[test]
    fn an_ip_gets_its_burst_per_minute_then_waits() {
        let limiter = GuestLimiter::new(3);
        let t0 = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            assert_eq!(limiter.buckets.take_at(a, t0), Ok(()));
        }
        assert_eq!(limiter.buckets.take_at(a, t0), Err(GuestRefusal::Rate(20)));
        assert_eq!(
            limiter.buckets.take_at(a, t0 + Duration::from_secs(20)),
            Ok(())
        );
    }

    #[test]
    fn guest_ids_are_random_and_unguessable() {
        let (x, y) = (new_player_id(), new_player_id());
        assert_ne!(x, y);
        assert!(x.starts_with("g_") && x.len() == 24, "{x}");
    }
}
