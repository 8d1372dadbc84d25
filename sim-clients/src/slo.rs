//! Service-level objectives: `--slo ack-p99=38ms,errors=0`.
//!
//! Each check is `KEY=LIMIT` and passes when the measured value is at most
//! the limit. Keys:
//!
//! | key | limit | measured |
//! |---|---|---|
//! | `ack-p50`, `ack-p90`, `ack-p99`, `ack-p999`, `ack-p9999`, `ack-max` | duration | input → ack latency |
//! | `jitter-…`, `connect-…`, `join-…` (same suffixes) | duration | State jitter, connect, join time |
//! | `errors` | count | errors of every kind |
//! | `disconnects` | count | connections closed by the server or the network |
//!
//! Percentile suffixes: `p50` = 50th, `p999` = 99.9th, `p9999` = 99.99th
//! (the first two digits are the integer part); `p99.5` also works. A
//! latency check with no samples fails: nothing was shown to meet it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::duration::{format_ms, parse_duration};

/// A latency measured by the swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Input → ack.
    Ack,
    /// State inter-arrival jitter.
    Jitter,
    /// Connect (TCP + upgrade + Welcome).
    Connect,
    /// JoinRoom → Joined.
    Join,
}

impl Metric {
    /// The key prefix.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Ack => "ack",
            Metric::Jitter => "jitter",
            Metric::Connect => "connect",
            Metric::Join => "join",
        }
    }
}

/// What an SLO key measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SloKey {
    /// A percentile (0–100) of a latency.
    Percentile(Metric, f64),
    /// The largest value of a latency.
    Max(Metric),
    /// Errors of every kind.
    Errors,
    /// Disconnects of every code.
    Disconnects,
}

/// A limit: a duration for latencies, a count otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// Latency limit.
    Duration(Duration),
    /// Count limit.
    Count(u64),
}

/// A measured value to compare with a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Actual {
    /// Milliseconds.
    Ms(f64),
    /// A count.
    Count(u64),
}

/// One `KEY=LIMIT` check.
#[derive(Debug, Clone, PartialEq)]
pub struct SloCheck {
    /// The key as written.
    pub name: String,
    /// What it measures.
    pub key: SloKey,
    /// Its limit.
    pub limit: Limit,
}

/// Every check of `--slo`.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSpec {
    /// The checks, in the order given.
    pub checks: Vec<SloCheck>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The key.
    pub check: String,
    /// The limit, formatted.
    pub limit: String,
    /// The measured value, formatted (`no samples` when there were none).
    pub actual: String,
    /// Whether the check passed.
    pub ok: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = if self.ok { "ok" } else { "BREACHED" };
        write!(
            f,
            "{} <= {}: {} ({outcome})",
            self.check, self.limit, self.actual
        )
    }
}

/// Why `--slo` did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SloError {
    /// A part without `=`.
    #[error("`{0}`: expected KEY=LIMIT")]
    NotKeyValue(String),
    /// An unknown key.
    #[error(
        "`{0}`: unknown key (ack|jitter|connect|join)-(p50|p90|p99|p999|p9999|max), errors, disconnects"
    )]
    UnknownKey(String),
    /// A limit that is not a duration (latencies) or a count.
    #[error("`{0}`: {1}")]
    BadLimit(String, String),
}

fn parse_percentile(digits: &str) -> Option<f64> {
    if digits.contains('.') {
        return digits.parse().ok();
    }
    // `p100` is not the 10th percentile: it is the maximum (`-max`).
    if digits.is_empty() || digits.starts_with("100") || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (int, frac) = digits.split_at(digits.len().min(2));
    let p: f64 = if frac.is_empty() {
        int.parse().ok()?
    } else {
        format!("{int}.{frac}").parse().ok()?
    };
    (p > 0.0 && p < 100.0).then_some(p)
}

fn parse_key(key: &str) -> Option<SloKey> {
    match key {
        "errors" => return Some(SloKey::Errors),
        "disconnects" => return Some(SloKey::Disconnects),
        _ => {}
    }
    let (metric, stat) = key.split_once('-')?;
    let metric = match metric {
        "ack" => Metric::Ack,
        "jitter" => Metric::Jitter,
        "connect" => Metric::Connect,
        "join" => Metric::Join,
        _ => return None,
    };
    if stat == "max" {
        return Some(SloKey::Max(metric));
    }
    let p = parse_percentile(stat.strip_prefix('p')?)?;
    Some(SloKey::Percentile(metric, p))
}

impl FromStr for SloSpec {
    type Err = SloError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut checks = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, limit) = part
                .split_once('=')
                .ok_or_else(|| SloError::NotKeyValue(part.to_string()))?;
            let (name, limit) = (name.trim(), limit.trim());
            let key = parse_key(name).ok_or_else(|| SloError::UnknownKey(name.to_string()))?;
            let limit = match key {
                SloKey::Errors | SloKey::Disconnects => Limit::Count(
                    limit
                        .parse()
                        .map_err(|e| SloError::BadLimit(part.to_string(), format!("{e}")))?,
                ),
                _ => Limit::Duration(
                    parse_duration(limit)
                        .map_err(|e| SloError::BadLimit(part.to_string(), e.to_string()))?,
                ),
            };
            checks.push(SloCheck {
                name: name.to_string(),
                key,
                limit,
            });
        }
        Ok(SloSpec { checks })
    }
}

fn format_limit(limit: Limit) -> String {
    match limit {
        Limit::Duration(d) => format_ms(d.as_secs_f64() * 1e3),
        Limit::Count(n) => n.to_string(),
    }
}

fn format_actual(actual: Actual) -> String {
    match actual {
        Actual::Ms(ms) => format_ms(ms),
        Actual::Count(n) => n.to_string(),
    }
}

/// Evaluates every check; `measure` gives the value of a key, `None` when
/// there were no samples.
pub fn evaluate(spec: &SloSpec, measure: impl Fn(&SloKey) -> Option<Actual>) -> Vec<Verdict> {
    spec.checks
        .iter()
        .map(|check| {
            let actual = measure(&check.key);
            let ok = match (actual, check.limit) {
                (Some(Actual::Ms(ms)), Limit::Duration(limit)) => ms <= limit.as_secs_f64() * 1e3,
                (Some(Actual::Count(n)), Limit::Count(limit)) => n <= limit,
                _ => false,
            };
            Verdict {
                check: check.name.clone(),
                limit: format_limit(check.limit),
                actual: actual.map_or_else(|| "no samples".to_string(), format_actual),
                ok,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> SloSpec {
        match s.parse() {
            Ok(spec) => spec,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn keys_and_limits_parse() {
        let s = spec(
            "ack-p99=38ms, errors=0,ack-p999=50ms,jitter-p99=2ms,connect-p99=1s,disconnects=3,ack-p50=10ms,join-max=2s,ack-p99.5=40ms",
        );
        let keys: Vec<_> = s.checks.iter().map(|c| (c.key, c.limit)).collect();
        assert_eq!(
            keys,
            vec![
                (
                    SloKey::Percentile(Metric::Ack, 99.0),
                    Limit::Duration(Duration::from_millis(38))
                ),
                (SloKey::Errors, Limit::Count(0)),
                (
                    SloKey::Percentile(Metric::Ack, 99.9),
                    Limit::Duration(Duration::from_millis(50))
                ),
                (
                    SloKey::Percentile(Metric::Jitter, 99.0),
                    Limit::Duration(Duration::from_millis(2))
                ),
                (
                    SloKey::Percentile(Metric::Connect, 99.0),
                    Limit::Duration(Duration::from_secs(1))
                ),
                (SloKey::Disconnects, Limit::Count(3)),
                (
                    SloKey::Percentile(Metric::Ack, 50.0),
                    Limit::Duration(Duration::from_millis(10))
                ),
                (
                    SloKey::Max(Metric::Join),
                    Limit::Duration(Duration::from_secs(2))
                ),
                (
                    SloKey::Percentile(Metric::Ack, 99.5),
                    Limit::Duration(Duration::from_millis(40))
                ),
            ]
        );
        assert_eq!(parse_percentile("9999"), Some(99.99));
    }

    #[test]
    fn malformed_checks_are_refused() {
        assert!(matches!(
            "ack-p99".parse::<SloSpec>(),
            Err(SloError::NotKeyValue(_))
        ));
        assert!(matches!(
            "lag-p99=1ms".parse::<SloSpec>(),
            Err(SloError::UnknownKey(_))
        ));
        assert!(matches!(
            "ack-p0=1ms".parse::<SloSpec>(),
            Err(SloError::UnknownKey(_))
        ));
        assert!(matches!(
            "ack-p100=1ms".parse::<SloSpec>(),
            Err(SloError::UnknownKey(_))
        ));
        assert!(matches!(
            "ack-p99=38".parse::<SloSpec>(),
            Err(SloError::BadLimit(..))
        ));
        assert!(matches!(
            "errors=none".parse::<SloSpec>(),
            Err(SloError::BadLimit(..))
        ));
    }

    #[test]
    fn checks_pass_at_or_under_the_limit_and_fail_above_or_without_samples() {
        let s = spec("ack-p99=38ms,errors=0,jitter-p99=1ms,ack-p99=1us");
        let verdicts = evaluate(&s, |key| match key {
            SloKey::Percentile(Metric::Ack, _) => Some(Actual::Ms(38.0)),
            SloKey::Errors => Some(Actual::Count(0)),
            _ => None,
        });
        let oks: Vec<bool> = verdicts.iter().map(|v| v.ok).collect();
        assert_eq!(oks, vec![true, true, false, false]);
        assert_eq!(verdicts[2].actual, "no samples");
        assert_eq!(
            verdicts[3].to_string(),
            "ack-p99 <= 0.001 ms: 38.00 ms (BREACHED)"
        );
    }
}
