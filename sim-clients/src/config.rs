//! The swarm's settings: every flag, its `TICKFORGE_SWARM_*` environment
//! variable, its unit and default. Precedence: flag, then environment,
//! then default.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::duration::parse_duration;
use crate::slo::SloSpec;

/// What the bots do once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Join a room and send random-walk arena inputs at `--input-hz`.
    Arena,
    /// Join a room, then only read.
    Idle,
    /// Join, stay 1–5 s (sending inputs), leave, rejoin; continuously.
    Churn,
    /// Join, then stop reading (keep sending inputs) until the server
    /// drops the connection; read what is left, record the close code,
    /// reconnect.
    Slow,
    /// After Hello, send one invalid frame (random bytes, junk with the
    /// right file identifier, text, oversized), record the close code,
    /// reconnect, repeat at `--input-hz`.
    Garbage,
}

impl Scenario {
    /// Stable label.
    pub fn label(self) -> &'static str {
        match self {
            Scenario::Arena => "arena",
            Scenario::Idle => "idle",
            Scenario::Churn => "churn",
            Scenario::Slow => "slow",
            Scenario::Garbage => "garbage",
        }
    }
}

/// How many bots measure eagerly: a count or a percentage of `--bots`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// Exactly this many (at most `--bots`).
    Count(u32),
    /// This percentage of `--bots`, rounded up, and at least
    /// [`Sample::MIN_FROM_PERCENT`] (or every bot when there are fewer).
    Percent(f64),
}

impl Sample {
    /// Floor applied to a percentage.
    pub const MIN_FROM_PERCENT: u32 = 10;

    /// Measuring bots among `bots`.
    pub fn measuring(self, bots: u32) -> u32 {
        match self {
            Sample::Count(n) => n.min(bots),
            Sample::Percent(p) => {
                let n = (f64::from(bots) * p / 100.0).ceil() as u32;
                n.max(Sample::MIN_FROM_PERCENT).min(bots)
            }
        }
    }

    /// Whether bot `index` of `bots` measures, for `measuring` measuring
    /// bots spread evenly over the indices (and so over the rooms).
    pub fn is_measuring(index: u32, measuring: u32, bots: u32) -> bool {
        if bots == 0 {
            return false;
        }
        let (i, m, n) = (u64::from(index), u64::from(measuring), u64::from(bots));
        (i + 1) * m / n > i * m / n
    }
}

impl FromStr for Sample {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|e| format!("`{s}`: {e}"))?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(format!("`{s}`: a percentage is 0–100"));
                }
                Ok(Sample::Percent(p))
            }
            None => s
                .parse()
                .map(Sample::Count)
                .map_err(|e| format!("`{s}`: expected a count or a percentage ({e})")),
        }
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sample::Count(n) => write!(f, "{n}"),
            Sample::Percent(p) => write!(f, "{p}%"),
        }
    }
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn ramp_arg(s: &str) -> Result<f64, String> {
    let rate: f64 = s.trim().parse().map_err(|e| format!("`{s}`: {e}"))?;
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!("`{s}`: connections per second, 0 or more"));
    }
    Ok(rate)
}

/// Every setting of a swarm run.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "tickforge-swarm",
    version,
    about = "Drive a tickforge server with an open-loop swarm of bots and report latency",
    after_help = "Exit status: 0 ok, 1 an --slo check failed, 2 usage error or the run could not connect."
)]
pub struct SwarmConfig {
    /// WebSocket URL of the server: plain `ws://` only (a load generator
    /// measures the server, not TLS; use a node without `--tls-cert`).
    #[arg(
        long,
        env = "TICKFORGE_SWARM_URL",
        default_value = "ws://127.0.0.1:7700/ws"
    )]
    pub url: String,
    /// Number of bots (one WebSocket each).
    #[arg(long, env = "TICKFORGE_SWARM_BOTS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub bots: u32,
    /// Connection ramp, in new bots per second, spread evenly; 0 starts
    /// every bot at once. The measured --duration starts once every bot has
    /// joined (or failed to).
    #[arg(long, env = "TICKFORGE_SWARM_RAMP", default_value = "1000", value_parser = ramp_arg)]
    pub ramp: f64,
    /// Room mode to join (join-or-create).
    #[arg(long, env = "TICKFORGE_SWARM_MODE", default_value = "arena")]
    pub mode: String,
    /// Offer the subprotocol `tickforge.v2`: in a replicating mode
    /// (`arena-large`) bots then receive interest state (per-cell deltas
    /// around their entity) instead of the full State; acks and latency
    /// are measured from it the same way.
    #[arg(long, env = "TICKFORGE_SWARM_INTEREST")]
    pub interest: bool,
    /// Inputs per second per bot (arena, churn, slow); garbage cycles per
    /// second per bot (garbage).
    #[arg(long, env = "TICKFORGE_SWARM_INPUT_HZ", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub input_hz: u32,
    /// Provoke drops: each bot in a room drops its connection abruptly
    /// (the TCP connection closes without a WebSocket close) this long
    /// after joining or resuming (`10s`, `500ms`), then resumes with the
    /// Welcome's resume token. Off by default. Dropped seats are held by
    /// the server for `--resume-grace`; resumes and their gap in ticks are
    /// in the report.
    #[arg(long, env = "TICKFORGE_SWARM_DROP_EVERY", value_parser = duration_arg)]
    pub drop_every: Option<Duration>,
    /// Measured duration (`30s`, `2m`, `500ms`), counted from the moment
    /// every bot has joined.
    #[arg(long, env = "TICKFORGE_SWARM_DURATION", default_value = "30s", value_parser = duration_arg)]
    pub duration: Duration,
    /// What the bots do.
    #[arg(long, env = "TICKFORGE_SWARM_SCENARIO", value_enum, default_value_t = Scenario::Arena)]
    pub scenario: Scenario,
    /// Tokio worker threads (1: a current-thread runtime).
    #[arg(long, env = "TICKFORGE_SWARM_THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Seed of every bot's random choices (inputs, stay times, garbage).
    #[arg(long, env = "TICKFORGE_SWARM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Write the full report as JSON to this file.
    #[arg(long, env = "TICKFORGE_SWARM_JSON")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report to this file.
    #[arg(long, env = "TICKFORGE_SWARM_HTML")]
    pub html: Option<PathBuf>,
    /// Checks that decide the exit status, e.g. `ack-p99=38ms,errors=0`.
    #[arg(long, env = "TICKFORGE_SWARM_SLO")]
    pub slo: Option<SloSpec>,
    /// Bots that read eagerly and decode every State (ack latency, jitter):
    /// a count or a percentage (a percentage means at least 10 bots).
    #[arg(long, env = "TICKFORGE_SWARM_SAMPLE", default_value = "5%")]
    pub sample: Sample,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, env = "TICKFORGE_SWARM_QUIET")]
    pub quiet: bool,
    /// SO_RCVBUF per bot in bytes; 0 keeps the kernel's autotuning (the
    /// slow scenario then uses 4096 so the server notices quickly).
    #[arg(long, env = "TICKFORGE_SWARM_RECV_BUFFER", default_value_t = 0)]
    pub recv_buffer: u32,
    /// Session key file of the server (`tickforge token keygen`): every bot
    /// gets its own token signed with it, valid for the run plus an hour.
    /// Without it Hello carries no token, which only a server started with
    /// `--auth trust-hello` accepts.
    #[arg(long, env = "TICKFORGE_SWARM_TOKEN_KEY_FILE")]
    pub token_key_file: Option<PathBuf>,
}

impl SwarmConfig {
    /// Number of measuring bots.
    pub fn measuring(&self) -> u32 {
        self.sample.measuring(self.bots)
    }

    /// SO_RCVBUF the bots use (0: kernel default).
    pub fn effective_recv_buffer(&self) -> u32 {
        match (self.recv_buffer, self.scenario) {
            (0, Scenario::Slow) => 4096,
            (bytes, _) => bytes,
        }
    }

    /// Settings for a run against `url` with everything else at its
    /// default or from `TICKFORGE_SWARM_*` (what tests and embedders start from).
    pub fn for_url(url: &str) -> Result<SwarmConfig, clap::Error> {
        SwarmConfig::try_parse_from(["tickforge-swarm", "--url", url])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_parse_as_counts_or_percentages() {
        assert_eq!("20".parse(), Ok(Sample::Count(20)));
        assert_eq!("5%".parse(), Ok(Sample::Percent(5.0)));
        assert!("150%".parse::<Sample>().is_err());
        assert!("many".parse::<Sample>().is_err());
    }

    #[test]
    fn a_percentage_is_rounded_up_with_a_floor_of_ten_and_a_count_is_capped() {
        assert_eq!(Sample::Percent(5.0).measuring(2000), 100);
        assert_eq!(Sample::Percent(5.0).measuring(50), 10);
        assert_eq!(Sample::Percent(5.0).measuring(4), 4);
        assert_eq!(Sample::Percent(1.0).measuring(1001), 11);
        assert_eq!(Sample::Count(0).measuring(50), 0);
        assert_eq!(Sample::Count(500).measuring(50), 50);
    }

    #[test]
    fn measuring_bots_are_spread_evenly() {
        for (m, n) in [(10u32, 50u32), (7, 1000), (50, 50), (0, 10), (1, 1)] {
            let chosen: Vec<u32> = (0..n).filter(|&i| Sample::is_measuring(i, m, n)).collect();
            assert_eq!(chosen.len() as u32, m, "{m} of {n}");
            if m > 1 {
                let gaps: Vec<u32> = chosen.windows(2).map(|w| w[1] - w[0]).collect();
                let (lo, hi) = (gaps.iter().min(), gaps.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{gaps:?}");
            }
        }
    }

    #[test]
    fn every_flag_has_its_environment_variable_and_defaults_hold() {
        let config = SwarmConfig::for_url("ws://127.0.0.1:1/ws").map_err(|e| e.to_string());
        let Ok(config) = config else {
            panic!("defaults parse: {config:?}");
        };
        assert_eq!(config.bots, 100);
        assert_eq!(config.input_hz, 10);
        assert_eq!(config.duration, Duration::from_secs(30));
        assert_eq!(config.scenario, Scenario::Arena);
        let command = <SwarmConfig as clap::CommandFactory>::command();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            assert_eq!(
                env,
                format!("TICKFORGE_SWARM_{}", id.to_uppercase()),
                "flag --{id}"
            );
        }
    }
}
