//! The service-level objective a step must meet, and the verdict on one
//! step. A kind stops stepping up at its first breach (unless
//! `--keep-going`); the breaching step is kept in the results.
//!
//! When the swarm's own core is saturated, the latencies and rates it
//! measured say more about the swarm than about the server: such a step is
//! judged [`Verdict::SwarmSaturated`] whatever else it shows, and the
//! maximum becomes a projection from server CPU per bot
//! ([`crate::capacity::summary`]).

use serde::Serialize;

use super::cli::TICK_HZ;

/// Limits of the SLO.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    /// Server p99 tick work, ms (tickforge only: the baseline exports no tick metric).
    pub tick_p99_ms: f64,
    /// p99 input → ack, ms: one tick period + 5 ms.
    pub ack_p99_ms: f64,
    /// States received per bot per second must be at least this fraction of the tick rate.
    pub states_fraction: f64,
    /// The tick rate those States come at, Hz.
    pub tick_hz: u16,
    /// Swarm CPU, % of its core, at which the swarm (not the server) is the limit.
    pub swarm_cpu_pct: f64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            tick_p99_ms: 1.0,
            ack_p99_ms: 1000.0 / f64::from(TICK_HZ) + 5.0,
            states_fraction: 0.95,
            tick_hz: TICK_HZ,
            swarm_cpu_pct: 90.0,
        }
    }
}

impl Limits {
    /// The lowest acceptable States per bot per second.
    pub fn min_states_per_bot_s(&self) -> f64 {
        self.states_fraction * f64::from(self.tick_hz)
    }

    /// The SLO in one line, for reports.
    pub fn describe(&self) -> String {
        format!(
            "server p99 tick work ≤ {} ms (tickforge only); p99 input→ack ≤ {:.1} ms (one {} Hz tick + 5 ms); \
             no errors and no disconnects; ≥ {:.1} States per bot per second ({:.0}% of {} Hz); \
             swarm CPU < {:.0}% of its core (else the swarm, not the server, is the limit)",
            self.tick_p99_ms,
            self.ack_p99_ms,
            self.tick_hz,
            self.min_states_per_bot_s(),
            self.states_fraction * 100.0,
            self.tick_hz,
            self.swarm_cpu_pct,
        )
    }
}

/// What a step measured that the SLO looks at.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Server p99 tick work, ms (`None`: not measured).
    pub tick_p99_ms: Option<f64>,
    /// Ack samples.
    pub ack_samples: u64,
    /// p99 input → ack, ms.
    pub ack_p99_ms: f64,
    /// Swarm errors.
    pub errors: u64,
    /// Swarm disconnects.
    pub disconnects: u64,
    /// States received per bot per second.
    pub states_per_bot_s: Option<f64>,
    /// Swarm CPU, % of one core.
    pub swarm_cpu_pct: Option<f64>,
}

/// One way a step missed the SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Breach {
    /// Server p99 tick work over the limit, ms.
    TickP99 {
        /// Measured.
        ms: f64,
    },
    /// p99 input → ack over the limit, ms.
    AckP99 {
        /// Measured.
        ms: f64,
    },
    /// No ack was measured at all.
    NoAckSamples,
    /// Errors in the swarm report.
    Errors {
        /// How many.
        count: u64,
    },
    /// Disconnects in the swarm report.
    Disconnects {
        /// How many.
        count: u64,
    },
    /// Too few States per bot per second: the server cannot keep up.
    StatesPerBot {
        /// Measured.
        per_s: f64,
    },
    /// The swarm's core was saturated.
    SwarmSaturated {
        /// Swarm CPU, % of its core.
        cpu_pct: f64,
    },
    /// The step could not be measured (server died, swarm failed, …).
    Failed {
        /// What happened.
        why: String,
    },
}

impl Breach {
    /// One short phrase, with the limit it broke.
    pub fn describe(&self, limits: &Limits) -> String {
        match self {
            Breach::TickP99 { ms } => format!("tick p99 {ms:.3} ms > {} ms", limits.tick_p99_ms),
            Breach::AckP99 { ms } => format!("ack p99 {ms:.1} ms > {:.1} ms", limits.ack_p99_ms),
            Breach::NoAckSamples => "no ack measured".into(),
            Breach::Errors { count } => format!("{count} swarm errors"),
            Breach::Disconnects { count } => format!("{count} disconnects"),
            Breach::StatesPerBot { per_s } => format!(
                "{per_s:.2} States/bot/s < {:.1}",
                limits.min_states_per_bot_s()
            ),
            Breach::SwarmSaturated { cpu_pct } => {
                format!("swarm CPU {cpu_pct:.0}% ≥ {:.0}%", limits.swarm_cpu_pct)
            }
            Breach::Failed { why } => format!("failed: {why}"),
        }
    }
}

/// The verdict on one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every limit met.
    Pass,
    /// The server missed the SLO.
    Breach,
    /// The swarm's core was saturated: the step says nothing sure about the server.
    SwarmSaturated,
    /// The step could not be measured.
    Failed,
}

impl Verdict {
    /// The verdict of a list of breaches.
    pub fn of(breaches: &[Breach]) -> Verdict {
        if breaches.iter().any(|b| matches!(b, Breach::Failed { .. })) {
            Verdict::Failed
        } else if breaches
            .iter()
            .any(|b| matches!(b, Breach::SwarmSaturated { .. }))
        {
            Verdict::SwarmSaturated
        } else if breaches.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Breach
        }
    }

    /// Upper-case label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Breach => "BREACH",
            Verdict::SwarmSaturated => "SWARM SATURATED",
            Verdict::Failed => "FAILED",
        }
    }
}

/// Every limit `observed` breaks.
pub fn judge(limits: &Limits, observed: &Observed) -> Vec<Breach> {
    let mut breaches = Vec::new();
    if let Some(ms) = observed.tick_p99_ms
        && ms > limits.tick_p99_ms
    {
        breaches.push(Breach::TickP99 { ms });
    }
    if observed.ack_samples == 0 {
        breaches.push(Breach::NoAckSamples);
    } else if observed.ack_p99_ms > limits.ack_p99_ms {
        breaches.push(Breach::AckP99 {
            ms: observed.ack_p99_ms,
        });
    }
    if observed.errors > 0 {
        breaches.push(Breach::Errors {
            count: observed.errors,
        });
    }
    if observed.disconnects > 0 {
        breaches.push(Breach::Disconnects {
            count: observed.disconnects,
        });
    }
    match observed.states_per_bot_s {
        Some(per_s) if per_s < limits.min_states_per_bot_s() => {
            breaches.push(Breach::StatesPerBot { per_s });
        }
        Some(_) => {}
        None => breaches.push(Breach::Failed {
            why: "no States/s measured".into(),
        }),
    }
    if let Some(cpu_pct) = observed.swarm_cpu_pct
        && cpu_pct >= limits.swarm_cpu_pct
    {
        breaches.push(Breach::SwarmSaturated { cpu_pct });
    }
    breaches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Observed {
        Observed {
            tick_p99_ms: Some(0.05),
            ack_samples: 1000,
            ack_p99_ms: 34.0,
            errors: 0,
            disconnects: 0,
            states_per_bot_s: Some(29.9),
            swarm_cpu_pct: Some(40.0),
        }
    }

    #[test]
    fn the_ack_limit_is_one_tick_plus_5_ms() {
        let limits = Limits::default();
        assert!((limits.ack_p99_ms - 38.333).abs() < 0.001);
        assert!((limits.min_states_per_bot_s() - 28.5).abs() < 1e-9);
    }

    #[test]
    fn a_healthy_step_passes() {
        let breaches = judge(&Limits::default(), &healthy());
        assert!(breaches.is_empty(), "{breaches:?}");
        assert_eq!(Verdict::of(&breaches), Verdict::Pass);
    }

    #[test]
    fn each_limit_is_its_own_breach() {
        let limits = Limits::default();
        let observed = Observed {
            tick_p99_ms: Some(1.2),
            ack_p99_ms: 40.0,
            errors: 1,
            disconnects: 2,
            states_per_bot_s: Some(28.0),
            ..healthy()
        };
        let breaches = judge(&limits, &observed);
        assert_eq!(
            breaches,
            vec![
                Breach::TickP99 { ms: 1.2 },
                Breach::AckP99 { ms: 40.0 },
                Breach::Errors { count: 1 },
                Breach::Disconnects { count: 2 },
                Breach::StatesPerBot { per_s: 28.0 },
            ]
        );
        assert_eq!(Verdict::of(&breaches), Verdict::Breach);
    }

    #[test]
    fn a_saturated_swarm_outranks_server_breaches() {
        let observed = Observed {
            ack_p99_ms: 90.0,
            swarm_cpu_pct: Some(93.0),
            ..healthy()
        };
        let breaches = judge(&Limits::default(), &observed);
        assert_eq!(Verdict::of(&breaches), Verdict::SwarmSaturated);
    }

    #[test]
    fn without_a_tick_metric_only_the_swarm_side_is_judged() {
        let observed = Observed {
            tick_p99_ms: None,
            ..healthy()
        };
        assert!(judge(&Limits::default(), &observed).is_empty());
        let no_acks = Observed {
            ack_samples: 0,
            ..healthy()
        };
        assert_eq!(
            judge(&Limits::default(), &no_acks),
            vec![Breach::NoAckSamples]
        );
    }
}
