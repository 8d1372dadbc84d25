//! What the steps add up to: each kind's maximum at SLO (or a labelled
//! projection when the swarm, not the server, ran out of core), the ratios
//! of tickforge to the baseline, and the project's targets with a verdict
//! on each.

use serde::Serialize;

use super::cli::ServerKind;
use super::report::{RawRun, StepResult};
use super::slo::Verdict;
use super::tables::thousands;

/// Bots the project wants one server core to carry at SLO.
pub const TARGET_BOTS: u32 = 5000;
/// Fraction of the raw write limit the State deliveries should reach.
pub const TARGET_RAW_FRACTION: f64 = 0.5;
/// tickforge's maximum over the baseline's.
pub const TARGET_VS_BASELINE: f64 = 2.0;
/// Server RSS per connected bot, KiB.
pub const TARGET_RSS_PER_BOT_KIB: f64 = 8.0;

/// A maximum extrapolated from server CPU per bot.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Projection {
    /// Bots at which the server's core would be 100% busy.
    pub bots: u32,
    /// The step whose CPU per bot it is computed from.
    pub from_step: u32,
    /// Server CPU per bot there, µs per bot per second.
    pub us_per_bot_s: f64,
    /// What that CPU is: `server core busy` (preferred: interrupt work on
    /// the core included) or `server process CPU`.
    pub basis: &'static str,
}

/// One kind's maximum at SLO.
#[derive(Debug, Clone, Serialize)]
pub struct KindMax {
    /// Server kind.
    pub kind: ServerKind,
    /// Largest step that passed before the first that did not
    /// (`None`: the first step did not pass).
    pub max_bots: Option<u32>,
    /// The first step that did not pass (`None`: every step passed).
    pub stopped_at: Option<u32>,
    /// Its verdict.
    pub stopped_verdict: Option<Verdict>,
    /// Why it did not pass.
    pub stopped_because: Option<String>,
    /// The swarm's core, not the server, was the limit: see `projection`.
    pub swarm_limited: bool,
    /// With `swarm_limited`: bots at a full server core, from CPU per bot.
    pub projection: Option<Projection>,
}

impl KindMax {
    /// From the steps of one kind, in run order.
    pub fn of<'a>(kind: ServerKind, steps: impl Iterator<Item = &'a StepResult>) -> KindMax {
        let mut max = KindMax {
            kind,
            max_bots: None,
            stopped_at: None,
            stopped_verdict: None,
            stopped_because: None,
            swarm_limited: false,
            projection: None,
        };
        let mut last_pass: Option<&StepResult> = None;
        for step in steps {
            if step.verdict == Verdict::Pass {
                max.max_bots = Some(step.bots);
                last_pass = Some(step);
                continue;
            }
            max.stopped_at = Some(step.bots);
            max.stopped_verdict = Some(step.verdict);
            max.stopped_because = Some(step.breach_text.clone());
            if step.verdict == Verdict::SwarmSaturated {
                max.swarm_limited = true;
                let basis = last_pass
                    .filter(|s| s.server_us_per_bot_s.is_some())
                    .unwrap_or(step);
                let cost = match (basis.server_core_us_per_bot_s, basis.server_us_per_bot_s) {
                    (Some(us), _) => Some((us, "server core busy")),
                    (None, Some(us)) => Some((us, "server process CPU")),
                    (None, None) => None,
                };
                max.projection =
                    cost.filter(|(us, _)| *us > 0.0)
                        .map(|(us, basis_name)| Projection {
                            bots: (1e6 / us).floor() as u32,
                            from_step: basis.bots,
                            us_per_bot_s: us,
                            basis: basis_name,
                        });
            }
            break;
        }
        max
    }

    /// The maximum for comparisons: the projection when the swarm was the
    /// limit, else the largest passing step.
    pub fn best_estimate(&self) -> Option<u32> {
        match self.projection {
            Some(p) if self.swarm_limited => Some(p.bots.max(self.max_bots.unwrap_or(0))),
            _ => self.max_bots,
        }
    }

    /// In words, e.g. `2000 (breached at 2500)` or `≥ 8000 (no breach)`.
    pub fn describe(&self) -> String {
        let max = self
            .max_bots
            .map_or_else(|| "none".to_string(), |b| b.to_string());
        match (self.stopped_at, self.projection) {
            (None, _) => format!("≥ {max} (no step breached)"),
            (Some(at), Some(p)) if self.swarm_limited => format!(
                "{max} measured; swarm saturated at {at}; projection {} (server core 100% busy at {:.1} µs/bot·s of {} from the {}-bot step; latency at that load not measured)",
                p.bots, p.us_per_bot_s, p.basis, p.from_step
            ),
            (Some(at), _) => format!("{max} (stopped at {at})"),
        }
    }
}

/// tickforge next to the baseline at one bot count.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Comparison {
    /// Bots.
    pub bots: u32,
    /// tickforge's figure.
    pub tickforge: Option<f64>,
    /// The baseline's figure.
    pub baseline: Option<f64>,
}

impl Comparison {
    /// tickforge ÷ baseline.
    pub fn ratio(&self) -> Option<f64> {
        self.tickforge
            .zip(self.baseline)
            .filter(|(_, b)| *b > 0.0)
            .map(|(t, b)| t / b)
    }
}

/// One target of the project.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is wanted.
    pub wanted: String,
    /// What was measured.
    pub measured: String,
    /// Reached (`None`: not measurable in this run).
    pub reached: Option<bool>,
}

/// Maxima, ratios and targets.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Each kind's maximum.
    pub maxima: Vec<KindMax>,
    /// tickforge's maximum ÷ the baseline's.
    pub max_ratio: Option<f64>,
    /// The largest bot count both kinds passed.
    pub common_step: Option<u32>,
    /// Deliveries per server process CPU-second there.
    pub deliveries_per_cpu_s: Option<Comparison>,
    /// Deliveries per busy second of the server's core there.
    pub deliveries_per_core_s: Option<Comparison>,
    /// Server RSS per connection there, KiB.
    pub rss_per_bot_kib: Option<Comparison>,
    /// The targets.
    pub targets: Vec<Target>,
}

impl Summary {
    /// Computes the summary of `steps` and `raw`.
    pub fn of(kinds: &[ServerKind], steps: &[StepResult], raw: &[RawRun]) -> Summary {
        let maxima: Vec<KindMax> = kinds
            .iter()
            .map(|&k| KindMax::of(k, steps.iter().filter(|s| s.kind == k)))
            .collect();
        let max_of = |k: ServerKind| maxima.iter().find(|m| m.kind == k);
        let tickforge = max_of(ServerKind::Tickforge);
        let baseline = max_of(ServerKind::Baseline);
        let max_ratio = tickforge
            .and_then(KindMax::best_estimate)
            .zip(baseline.and_then(KindMax::best_estimate))
            .filter(|(_, b)| *b > 0)
            .map(|(t, b)| f64::from(t) / f64::from(b));

        let step = |k: ServerKind, bots: u32| steps.iter().find(|s| s.kind == k && s.bots == bots);
        let passed_below = |k: ServerKind, bots: u32| {
            max_of(k)
                .and_then(|m| m.max_bots)
                .is_some_and(|max| bots <= max)
        };
        let common_step = steps
            .iter()
            .filter(|s| s.kind == ServerKind::Tickforge)
            .map(|s| s.bots)
            .filter(|&b| {
                passed_below(ServerKind::Tickforge, b)
                    && passed_below(ServerKind::Baseline, b)
                    && step(ServerKind::Baseline, b).is_some()
            })
            .max();
        let compare = |figure: fn(&StepResult) -> Option<f64>| {
            common_step.map(|bots| Comparison {
                bots,
                tickforge: step(ServerKind::Tickforge, bots).and_then(figure),
                baseline: step(ServerKind::Baseline, bots).and_then(figure),
            })
        };
        let deliveries_per_cpu_s = compare(|s| s.deliveries_per_cpu_s);
        let deliveries_per_core_s = compare(|s| s.deliveries_per_core_s);
        let rss_per_bot_kib = compare(|s| s.rss_per_bot_kib);

        let targets = targets(tickforge, baseline, max_ratio, &step, raw);
        Summary {
            maxima,
            max_ratio,
            common_step,
            deliveries_per_cpu_s,
            deliveries_per_core_s,
            rss_per_bot_kib,
            targets,
        }
    }
}

/// The raw run for `bots`, if it has a figure.
pub fn raw_writes_per_s(raw: &[RawRun], bots: u32) -> Option<f64> {
    raw.iter()
        .find(|r| r.connections == bots)
        .and_then(|r| r.writes_per_s)
}

fn targets<'a>(
    tickforge: Option<&KindMax>,
    baseline: Option<&KindMax>,
    max_ratio: Option<f64>,
    step: &impl Fn(ServerKind, u32) -> Option<&'a StepResult>,
    raw: &[RawRun],
) -> Vec<Target> {
    let not_run = |wanted: String| Target {
        wanted,
        measured: "tickforge not run".into(),
        reached: None,
    };
    let mut out = Vec::new();

    let wanted = format!("≥ {TARGET_BOTS} bots at SLO on one server core");
    out.push(match tickforge {
        None => not_run(wanted),
        Some(m) => {
            let estimate = m.best_estimate();
            let projected = m.swarm_limited && m.projection.is_some();
            Target {
                wanted,
                measured: if projected {
                    format!("projection: {} ({})", estimate.unwrap_or(0), m.describe())
                } else {
                    m.describe()
                },
                reached: match (m.stopped_at, estimate) {
                    // Never breached and never got there: unknown, unless it got there.
                    (None, Some(b)) if b < TARGET_BOTS => None,
                    (_, Some(b)) => Some(b >= TARGET_BOTS),
                    (_, None) => Some(false),
                },
            }
        }
    });

    let wanted = format!(
        "State deliveries ≥ {:.0}% of the raw write limit (at tickforge's largest passing step)",
        TARGET_RAW_FRACTION * 100.0
    );
    let at = tickforge.and_then(|m| m.max_bots);
    out.push(match at.and_then(|b| step(ServerKind::Tickforge, b)) {
        None => Target {
            wanted,
            measured: "no passing tickforge step".into(),
            reached: tickforge.map(|_| false),
        },
        Some(s) => match s.deliveries_per_s.zip(raw_writes_per_s(raw, s.bots)) {
            None => Target {
                wanted,
                measured: format!("raw writer not run for {} connections", s.bots),
                reached: None,
            },
            Some((d, r)) => Target {
                wanted,
                measured: format!(
                    "{} deliveries/s at {} bots = {:.1}% of {} raw writes/s{}",
                    thousands(d),
                    s.bots,
                    d / r * 100.0,
                    thousands(r),
                    s.deliveries_per_core_s
                        .map(|c| format!(
                            " (per busy second of the server's core: {} = {:.1}%)",
                            thousands(c),
                            c / r * 100.0
                        ))
                        .unwrap_or_default()
                ),
                reached: Some(d / r >= TARGET_RAW_FRACTION),
            },
        },
    });

    let wanted = format!("≥ {TARGET_VS_BASELINE}× the baseline's maximum");
    out.push(match (tickforge, baseline) {
        (Some(t), Some(b)) => {
            let measured = format!("tickforge {}; baseline {}", t.describe(), b.describe());
            match (max_ratio, t.best_estimate(), b.stopped_at) {
                (Some(r), _, _) => Target {
                    measured: format!("{r:.2}× — {measured}"),
                    // A baseline that never breached has an unknown maximum.
                    reached: if b.stopped_at.is_none() && r < TARGET_VS_BASELINE {
                        None
                    } else {
                        Some(r >= TARGET_VS_BASELINE)
                    },
                    wanted,
                },
                // The baseline failed its first step: its maximum is below it.
                (None, Some(t_max), Some(first)) if b.max_bots.is_none() => Target {
                    measured: format!("baseline < {first}; {measured}"),
                    reached: (f64::from(t_max) >= TARGET_VS_BASELINE * f64::from(first))
                        .then_some(true),
                    wanted,
                },
                _ => Target {
                    wanted,
                    measured,
                    reached: None,
                },
            }
        }
        _ => Target {
            wanted,
            measured: "needs both kinds in the run".into(),
            reached: None,
        },
    });

    let wanted = format!(
        "≤ {TARGET_RSS_PER_BOT_KIB} KiB server RSS per connected bot (at tickforge's largest passing step)"
    );
    out.push(
        match at
            .and_then(|b| step(ServerKind::Tickforge, b))
            .and_then(|s| s.rss_per_bot_kib.map(|kib| (s.bots, kib)))
        {
            Some((bots, kib)) => Target {
                wanted,
                measured: format!("{kib:.2} KiB per bot at {bots} bots"),
                reached: Some(kib <= TARGET_RSS_PER_BOT_KIB),
            },
            None => Target {
                wanted,
                measured: "no passing tickforge step with an RSS figure".into(),
                reached: tickforge.map(|_| false).filter(|_| at.is_none()),
            },
        },
    );
    out
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    use crate::capacity::report::test_step as step;

    use ServerKind::{Baseline, Tickforge};
    use Verdict::{Breach as B, Pass as P, SwarmSaturated as S};

    #[test]
    fn the_maximum_is_the_last_pass_before_the_first_breach() {
        let steps = [
            step(Tickforge, 500, P, 400.0),
            step(Tickforge, 1000, P, 400.0),
            step(Tickforge, 1500, B, 400.0),
            step(Tickforge, 2000, P, 400.0),
        ];
        let max = KindMax::of(Tickforge, steps.iter());
        assert_eq!(max.max_bots, Some(1000));
        assert_eq!(max.stopped_at, Some(1500));
        assert!(!max.swarm_limited && max.projection.is_none());
        assert_eq!(max.best_estimate(), Some(1000));
    }

    #[test]
    fn a_saturated_swarm_turns_the_maximum_into_a_projection_from_core_time_per_bot() {
        let steps = [
            step(Tickforge, 4000, P, 125.0),
            step(Tickforge, 5000, S, 100.0),
        ];
        let max = KindMax::of(Tickforge, steps.iter());
        assert!(max.swarm_limited);
        let p = max.projection.expect("a projection");
        // From the last passing step: 1 s / 125 µs per bot = 8000 bots.
        assert_eq!(
            (p.bots, p.from_step, p.basis),
            (8000, 4000, "server core busy")
        );
        assert_eq!(max.best_estimate(), Some(8000));
        assert!(
            max.describe().contains("projection 8000"),
            "{}",
            max.describe()
        );
    }

    #[test]
    fn targets_and_ratios_compare_at_the_largest_step_both_passed() {
        let steps = [
            step(Tickforge, 500, P, 400.0),
            step(Tickforge, 1000, P, 400.0),
            step(Tickforge, 1500, B, 400.0),
            step(Baseline, 500, P, 800.0),
            step(Baseline, 1000, B, 800.0),
        ];
        let raw = [RawRun {
            connections: 1000,
            frame_bytes: 1150,
            writes_per_s: Some(60_000.0),
            would_block: Some(0),
            error: None,
            command: String::new(),
        }];
        let s = Summary::of(&[Tickforge, Baseline], &steps, &raw);
        assert_eq!(s.max_ratio, Some(2.0));
        assert_eq!(s.common_step, Some(500));
        let per_core = s.deliveries_per_core_s.expect("a comparison");
        assert_eq!(per_core.ratio(), Some(2.0));
        let reached: Vec<Option<bool>> = s.targets.iter().map(|t| t.reached).collect();
        // 1000 < 5000 bots; 30,000 of 60,000 raw writes/s = 50%; 2×; 10 KiB > 8 KiB.
        assert_eq!(
            reached,
            vec![Some(false), Some(true), Some(true), Some(false)]
        );
    }

    #[test]
    fn a_kind_that_never_breached_has_an_open_maximum_and_unknown_targets() {
        let steps = [
            step(Tickforge, 500, P, 400.0),
            step(Baseline, 500, P, 800.0),
        ];
        let s = Summary::of(&[Tickforge, Baseline], &steps, &[]);
        assert!(s.maxima[0].describe().starts_with("≥ 500"));
        assert_eq!(s.targets[0].reached, None);
        assert_eq!(s.targets[1].reached, None, "no raw run");
        assert_eq!(
            s.targets[2].reached, None,
            "the baseline's maximum is unknown"
        );
    }
}
