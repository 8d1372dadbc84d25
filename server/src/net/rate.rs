//! Rate-limiting primitives for one connection: a token bucket and the
//! strike count that decides when a client "keeps" exceeding one.
//!
//! [`Bucket`] is a token bucket written as a generic cell rate algorithm: a
//! single instant (the theoretical arrival time of the next token) instead
//! of a token count and a refill timestamp, so a check is two comparisons
//! and an add, with no allocation and no floating point. A bucket with a
//! rate of 0 is off and admits everything.
//!
//! [`Limiter`] pairs a bucket with strikes: every refusal is a strike, and
//! a client that collects `strikes` refusals within one `window` (counted
//! from the first strike of the window) is told to close.

use std::time::Duration;

use tokio::time::Instant;

/// A rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per `per`; 0 turns the bucket off.
    pub amount: u32,
    /// The period `amount` is counted over.
    pub per: Duration,
    /// Tokens a full bucket holds (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `amount` per second with `burst`.
    pub fn per_second(amount: u32, burst: u32) -> Rate {
        Rate {
            amount,
            per: Duration::from_secs(1),
            burst,
        }
    }

    /// `amount` per minute with `burst`.
    pub fn per_minute(amount: u32, burst: u32) -> Rate {
        Rate {
            amount,
            per: Duration::from_secs(60),
            burst,
        }
    }
}

/// A token bucket (see the module docs).
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Time to earn one token; `None`: the bucket is off.
    interval: Option<Duration>,
    /// How far ahead of now the next token's time may run (burst − 1 tokens).
    tolerance: Duration,
    /// When the bucket is full again once the taken tokens are paid back.
    next: Instant,
}

impl Bucket {
    /// A full bucket for `rate`, as of `now`.
    pub fn new(rate: Rate, now: Instant) -> Bucket {
        let interval = (rate.amount > 0).then(|| rate.per / rate.amount);
        let tolerance = interval
            .map(|i| i.saturating_mul(rate.burst.max(1) - 1))
            .unwrap_or_default();
        Bucket {
            interval,
            tolerance,
            next: now,
        }
    }

    /// Takes one token at `now`; `false` when the bucket is empty (nothing
    /// is taken then).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let next = self.next.max(now);
        if next.saturating_duration_since(now) > self.tolerance {
            return false;
        }
        self.next = next + interval;
        true
    }
}

/// What a [`Limiter`] decided about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate.
    Allow,
    /// Over the rate: refuse this one (a strike).
    Refuse,
    /// Over the rate once too often within the window: close the client.
    Close,
}

/// How many refusals within how long make a client one that keeps
/// exceeding its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrikePolicy {
    /// Refusals that close the client (at least 1).
    pub strikes: u32,
    /// The window they are counted in, from the first strike of the window.
    pub window: Duration,
}

/// A bucket with strikes.
#[derive(Debug, Clone)]
pub struct Limiter {
    bucket: Bucket,
    strikes: u32,
    window_start: Instant,
}

impl Limiter {
    /// A limiter for `rate`, full as of `now`.
    pub fn new(rate: Rate, now: Instant) -> Limiter {
        Limiter {
            bucket: Bucket::new(rate, now),
            strikes: 0,
            window_start: now,
        }
    }

    /// Checks one event at `now`.
    pub fn check(&mut self, now: Instant, policy: StrikePolicy) -> Verdict {
        if self.bucket.try_take(now) {
            return Verdict::Allow;
        }
        if self.strikes == 0 || now.saturating_duration_since(self.window_start) > policy.window {
            self.strikes = 0;
            self.window_start = now;
        }
        self.strikes += 1;
        if self.strikes >= policy.strikes.max(1) {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: StrikePolicy = StrikePolicy {
        strikes: 3,
        window: Duration::from_secs(1),
    };

    // Instants are passed in, so the tests step time by hand.

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(Rate::per_second(10, 5), start);
        assert_eq!((0..20).filter(|_| bucket.try_take(start)).count(), 5);
        let later = start + Duration::from_millis(100);
        assert!(bucket.try_take(later), "one token per 100 ms");
        assert!(!bucket.try_take(later));
        let much_later = later + Duration::from_secs(10);
        assert_eq!(
            (0..20).filter(|_| bucket.try_take(much_later)).count(),
            5,
            "a long pause refills to the burst, never beyond"
        );
    }

    #[test]
    fn a_bucket_with_rate_zero_is_off() {
        let now = Instant::now();
        let mut bucket = Bucket::new(Rate::per_second(0, 1), now);
        assert!((0..10_000).all(|_| bucket.try_take(now)));
    }

    #[test]
    fn a_limiter_closes_only_after_enough_strikes_within_the_window() {
        let now = Instant::now();
        let mut limiter = Limiter::new(Rate::per_second(1, 1), now);
        assert_eq!(limiter.check(now, POLICY), Verdict::Allow);
        assert_eq!(limiter.check(now, POLICY), Verdict::Refuse);
        assert_eq!(limiter.check(now, POLICY), Verdict::Refuse);
        assert_eq!(limiter.check(now, POLICY), Verdict::Close);

        let mut limiter = Limiter::new(Rate::per_second(1, 1), now);
        let mut at = now;
        for _ in 0..5 {
            assert_eq!(limiter.check(at, POLICY), Verdict::Allow);
            assert_eq!(limiter.check(at, POLICY), Verdict::Refuse);
            at += Duration::from_millis(1100);
        }
    }
}
