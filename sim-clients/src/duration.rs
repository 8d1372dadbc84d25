//! A tiny humantime-like duration parser and formatter.
//!
//! Accepts one or more `<number><unit>` pairs: `500ms`, `30s`, `2m`, `1h`,
//! `1m30s`, `1.5s`, `250us` (or `250µs`). Used by `--duration` and by the
//! latency limits of `--slo`. A bare `0` is zero; any other number needs a
//! unit, so `30` is refused rather than guessed.

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing to parse.
    #[error("empty duration")]
    Empty,
    /// A number without a unit, e.g. `30` (write `30s`).
    #[error("`{0}`: missing unit (us, ms, s, m or h)")]
    MissingUnit(String),
    /// A unit this parser does not know.
    #[error("`{0}`: unknown unit (use us, ms, s, m or h)")]
    UnknownUnit(String),
    /// A unit without a number, or a malformed number.
    #[error("`{0}`: expected a number before the unit")]
    BadNumber(String),
    /// The value does not fit a `Duration`.
    #[error("`{0}`: out of range")]
    OutOfRange(String),
}

/// Parses `s` (see the module docs).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let text = s.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let value: f64 = number
            .parse()
            .map_err(|_| DurationError::BadNumber(text.to_string()))?;
        let seconds_per_unit = match unit.trim() {
            "" => return Err(DurationError::MissingUnit(text.to_string())),
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(DurationError::UnknownUnit(text.to_string())),
        };
        total += value * seconds_per_unit;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| DurationError::OutOfRange(text.to_string()))
}

/// A duration in milliseconds with a precision that suits its size
/// (`0.043 ms`, `12.4 ms`, `1530 ms`).
pub fn format_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// `d` as a short human string: `500ms`, `30s`, `2m30s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if !ms.is_multiple_of(1000) {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn single_units_parse_to_their_durations() {
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("250µs"), Duration::from_micros(250));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok(" 0 "), Duration::ZERO);
    }

    #[test]
    fn fractions_and_compound_durations_add_up() {
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1s500ms"), Duration::from_millis(1500));
        assert_eq!(ok("0.5ms"), Duration::from_micros(500));
    }

    #[test]
    fn numbers_without_units_and_unknown_units_are_refused() {
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        assert_eq!(
            parse_duration("3 days"),
            Err(DurationError::UnknownUnit("3 days".into()))
        );
        assert_eq!(
            parse_duration("ms"),
            Err(DurationError::BadNumber("ms".into()))
        );
        assert_eq!(
            parse_duration("1..2s"),
            Err(DurationError::BadNumber("1..2s".into()))
        );
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
    }

    #[test]
    fn durations_format_back_to_short_strings() {
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5s");
    }
}
