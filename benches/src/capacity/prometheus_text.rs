//! A reader for the Prometheus text exposition format, enough for what the
//! harness takes from tickforge's `/metrics`: counters summed over their
//! labels, and a histogram's cumulative buckets summed over shards, from
//! which the delta between two scrapes gives the quantiles of just the
//! time between them.
//!
//! Quantiles follow PromQL's `histogram_quantile`: linear interpolation
//! inside the bucket that holds the rank, the lowest bucket starting at 0,
//! and the highest finite bound when the rank falls in `+Inf`.

use anyhow::{Context, bail};

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (for a histogram: `<name>_bucket`, `_sum`, `_count`).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One parsed scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses a whole exposition; comments and blank lines are skipped.
    pub fn parse(text: &str) -> anyhow::Result<Scrape> {
        let samples = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(i, l)| parse_line(l).with_context(|| format!("line {}: {l:?}", i + 1)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Scrape { samples })
    }

    /// The sum of every series of `name`, whatever its labels (0 when absent).
    pub fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    }

    /// The cumulative buckets of histogram `name`, summed over every other
    /// label (e.g. over shards).
    pub fn buckets(&self, name: &str) -> anyhow::Result<Buckets> {
        let bucket_name = format!("{name}_bucket");
        let mut bounds: Vec<(f64, f64)> = Vec::new();
        for sample in self.samples.iter().filter(|s| s.name == bucket_name) {
            let le = sample
                .label("le")
                .with_context(|| format!("{bucket_name} without `le`"))?;
            let le = parse_value(le).with_context(|| format!("{bucket_name} le={le:?}"))?;
            match bounds.iter_mut().find(|(bound, _)| *bound == le) {
                Some((_, count)) => *count += sample.value,
                None => bounds.push((le, sample.value)),
            }
        }
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(Buckets { bounds })
    }
}

/// Cumulative histogram buckets: `(upper bound, observations ≤ bound)`,
/// sorted by bound, the last one normally `+Inf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// `(le, cumulative count)`, ascending.
    pub bounds: Vec<(f64, f64)>,
}

impl Buckets {
    /// Observations in total (the `+Inf` bucket, or the highest one).
    pub fn total(&self) -> f64 {
        self.bounds.last().map_or(0.0, |(_, count)| *count)
    }

    /// What was observed after `before` was scraped: this scrape's buckets
    /// minus that one's, bound by bound. Both must have the same bounds.
    pub fn since(&self, before: &Buckets) -> anyhow::Result<Buckets> {
        if self.bounds.len() != before.bounds.len()
            || self
                .bounds
                .iter()
                .zip(&before.bounds)
                .any(|(a, b)| a.0 != b.0)
        {
            bail!("the two scrapes have different bucket bounds");
        }
        let bounds = self
            .bounds
            .iter()
            .zip(&before.bounds)
            .map(|(now, then)| {
                if now.1 < then.1 {
                    bail!(
                        "bucket le={} went down: {} → {} (a restart?)",
                        now.0,
                        then.1,
                        now.1
                    );
                }
                Ok((now.0, now.1 - then.1))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Buckets { bounds })
    }

    /// The `q` quantile (0–1), as PromQL's `histogram_quantile` computes it;
    /// `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total;
        let mut lower = 0.0;
        let mut below = 0.0;
        for &(le, count) in &self.bounds {
            if count >= rank {
                if le.is_infinite() {
                    // Beyond the last finite bound: report that bound.
                    return Some(lower);
                }
                let in_bucket = count - below;
                if in_bucket <= 0.0 {
                    return Some(le);
                }
                return Some(lower + (le - lower) * (rank - below) / in_bucket);
            }
            lower = le;
            below = count;
        }
        self.bounds.last().map(|(le, _)| *le)
    }
}

/// Parses one sample line.
fn parse_line(line: &str) -> anyhow::Result<Sample> {
    let line = line.trim();
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .context("no value")?;
    let name = line[..name_end].to_string();
    if name.is_empty() {
        bail!("no metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next().context("no value")?;
    Ok(Sample {
        name,
        labels,
        value: parse_value(value)?,
    })
}

/// Parses `k="v",k2="v2"}` and returns the labels and what follows `}`.
fn parse_labels(mut text: &str) -> anyhow::Result<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (key, after_key) = text.split_once('=').context("label without `=`")?;
        let mut chars = after_key.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            bail!("label {key:?}: value not quoted");
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => bail!("label {key:?}: dangling escape"),
                },
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.with_context(|| format!("label {key:?}: unterminated value"))?;
        labels.push((key.trim().to_string(), value));
        text = after_key[end..].trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// A sample value or `le` bound: a float, `+Inf`, `-Inf` or `NaN`.
fn parse_value(text: &str) -> anyhow::Result<f64> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse()
            .with_context(|| format!("not a number: {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two shards of a tick-duration histogram, as tickforge writes it.
    fn scrape(shard0: [u64; 4], shard1: [u64; 4]) -> String {
        let mut text = String::from(
            "# HELP tickforge_tick_duration_seconds Work per room tick, seconds.\n\
             # TYPE tickforge_tick_duration_seconds histogram\n",
        );
        for (shard, counts) in [(0, shard0), (1, shard1)] {
            for (le, count) in ["0.0001", "0.0005", "0.001", "+Inf"].iter().zip(counts) {
                text.push_str(&format!(
                    "tickforge_tick_duration_seconds_bucket{{shard=\"{shard}\",le=\"{le}\"}} {count}\n"
                ));
            }
            text.push_str(&format!(
                "tickforge_ticks_over_budget_total{{shard=\"{shard}\"}} {}\n",
                counts[3] - counts[2]
            ));
        }
        text
    }

    fn parsed(text: &str) -> Scrape {
        match Scrape::parse(text) {
            Ok(s) => s,
            Err(e) => panic!("{e:#}"),
        }
    }

    fn buckets(s: &Scrape) -> Buckets {
        match s.buckets("tickforge_tick_duration_seconds") {
            Ok(b) => b,
            Err(e) => panic!("{e:#}"),
        }
    }

    #[test]
    fn labels_values_and_comments_are_read() {
        let s = parsed(
            "# HELP x y\n\nfoo_total{a=\"1\",b=\"q\\\"uo,te}\"} 12.5 1700000000\nbar 3\nbaz{} +Inf\n",
        );
        assert_eq!(s.samples.len(), 3);
        assert_eq!(s.samples[0].name, "foo_total");
        assert_eq!(s.samples[0].label("b"), Some("q\"uo,te}"));
        assert_eq!(s.samples[0].value, 12.5);
        assert_eq!(s.sum("bar"), 3.0);
        assert!(s.sum("baz").is_infinite());
        assert_eq!(s.sum("absent"), 0.0);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(Scrape::parse("foo{a=\"1\" 3\n").is_err());
        assert!(Scrape::parse("foo{a=1} 3\n").is_err());
        assert!(Scrape::parse("foo\n").is_err());
        assert!(Scrape::parse("foo abc\n").is_err());
    }

    #[test]
    fn buckets_are_summed_over_shards_and_sorted() {
        let s = parsed(&scrape([1, 2, 3, 4], [10, 20, 30, 40]));
        let b = buckets(&s);
        assert_eq!(
            b.bounds,
            vec![
                (0.0001, 11.0),
                (0.0005, 22.0),
                (0.001, 33.0),
                (f64::INFINITY, 44.0)
            ]
        );
        assert_eq!(b.total(), 44.0);
        assert_eq!(s.sum("tickforge_ticks_over_budget_total"), 11.0);
    }

    #[test]
    fn the_p99_of_a_bucket_delta_covers_only_the_time_between_scrapes() {
        // Before: 1000 fast ticks. After: 1000 more fast ticks and 1000 in 0.5–1 ms.
        let before = buckets(&parsed(&scrape([1000, 1000, 1000, 1000], [0, 0, 0, 0])));
        let after = buckets(&parsed(&scrape([2000, 2000, 2500, 2500], [0, 0, 500, 500])));
        let delta = match after.since(&before) {
            Ok(d) => d,
            Err(e) => panic!("{e:#}"),
        };
        assert_eq!(delta.total(), 2000.0);
        // Rank 1980: 1000 below 0.5 ms, 1000 in (0.5, 1] ms → 0.5 + 0.5 × 980/1000 ms.
        let p99 = delta.quantile(0.99).unwrap_or(f64::NAN);
        assert!((p99 - 0.00099).abs() < 1e-12, "{p99}");
        // Rank 1000 is the top of the first non-empty bucket.
        let p50 = delta.quantile(0.5).unwrap_or(f64::NAN);
        assert!((p50 - 0.0001).abs() < 1e-12, "{p50}");
        // Over the whole life of the process the p99 would be lower.
        assert!(after.quantile(0.99).unwrap_or(f64::NAN) < p99);
    }

    #[test]
    fn a_rank_in_the_inf_bucket_reports_the_highest_finite_bound() {
        let b = Buckets {
            bounds: vec![(0.001, 90.0), (0.002, 95.0), (f64::INFINITY, 100.0)],
        };
        assert_eq!(b.quantile(0.99), Some(0.002));
        assert_eq!(b.quantile(0.9), Some(0.001));
    }

    #[test]
    fn the_lowest_bucket_interpolates_from_zero_and_no_observations_give_none() {
        let b = Buckets {
            bounds: vec![(0.0001, 100.0), (f64::INFINITY, 100.0)],
        };
        let p50 = b.quantile(0.5).unwrap_or(f64::NAN);
        assert!((p50 - 0.00005).abs() < 1e-12, "{p50}");
        assert_eq!(Buckets::default().quantile(0.99), None);
        let empty = Buckets {
            bounds: vec![(0.001, 0.0), (f64::INFINITY, 0.0)],
        };
        assert_eq!(empty.quantile(0.99), None);
    }

    #[test]
    fn a_counter_that_went_down_or_changed_bounds_is_refused() {
        let before = buckets(&parsed(&scrape([5, 5, 5, 5], [0, 0, 0, 0])));
        let after = buckets(&parsed(&scrape([1, 1, 1, 1], [0, 0, 0, 0])));
        assert!(after.since(&before).is_err());
        let other = Buckets {
            bounds: vec![(0.5, 1.0), (f64::INFINITY, 1.0)],
        };
        assert!(other.since(&before).is_err());
    }
}
