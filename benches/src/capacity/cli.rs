//! The harness's flags ([`Options`]) and the two server kinds it compares
//! ([`ServerKind`]), with the exact command line each one is started with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Parser, ValueEnum};
use serde::Serialize;

/// Seats per room (both servers; the swarm joins mode `arena`).
pub const ROOM_CAPACITY: u16 = 32;
/// Room tick rate, Hz (both servers).
pub const TICK_HZ: u16 = 30;

/// Default bot counts.
const DEFAULT_STEPS: [u32; 10] = [500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000];

/// Steps bot counts up against tickforge and the baseline, one server core
/// and one swarm core, and reports where each meets its SLO, next to the
/// raw loopback write limit.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "capacity",
    about = "Capacity of one server core: tickforge vs the baseline vs raw loopback writes",
    after_help = "Example:\n  cargo run --release -p tickforge-benches --bin capacity -- --results benches/RESULTS.md"
)]
pub struct Options {
    /// Bot counts to step through, ascending, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_STEPS)]
    pub steps: Vec<u32>,
    /// Measured seconds per step (the swarm's --duration, after its ramp).
    #[arg(long, default_value_t = 20.0)]
    pub step_secs: f64,
    /// Server kinds to measure, in order, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [ServerKind::Tickforge, ServerKind::Baseline])]
    pub kinds: Vec<ServerKind>,
    /// New bots per second (the swarm's --ramp).
    #[arg(long, default_value_t = 1000)]
    pub ramp: u32,
    /// Inputs per second per bot (the swarm's --input-hz).
    #[arg(long, default_value_t = 10)]
    pub input_hz: u32,
    /// CPU the server (and the raw writer's writer) is pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// CPU the swarm (and the raw writer's reader) is pinned to.
    #[arg(long, default_value_t = 1)]
    pub swarm_cpu: usize,
    /// Seconds of writing per raw_writer run.
    #[arg(long, default_value_t = 5.0)]
    pub raw_secs: f64,
    /// Skip the raw_writer reference runs.
    #[arg(long)]
    pub no_raw: bool,
    /// Use the binaries as they are: no `cargo build --release` first.
    #[arg(long)]
    pub no_build: bool,
    /// Directory holding tickforge, tickforge-swarm, baseline and raw_writer.
    /// Default: the directory of this binary (target/release under `cargo run --release`).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Where each step's swarm report and logs go. Default: `capacity/` next to the bin dir (target/capacity).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Run every step even after a kind breached its SLO.
    #[arg(long)]
    pub keep_going: bool,
    /// Append a dated section with the tables to this Markdown file (e.g. benches/RESULTS.md).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Write the whole result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// How bots prove who they are to tickforge: `session` (each bot signs
    /// a token with the run's session key and tickforge verifies it at
    /// Hello, as in production) or `trust-hello` (no token; tickforge
    /// believes Hello: the identity checks' cost left out).
    #[arg(long, value_enum, default_value_t = Identity::Session)]
    pub identity: Identity,
}

/// How bots prove who they are (`--identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    /// A signed session token per bot, verified at Hello.
    Session,
    /// No token: `--auth trust-hello`.
    TrustHello,
}

impl Options {
    /// Checks what clap cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.steps.is_empty() || self.steps.contains(&0) {
            bail!("--steps needs bot counts of at least 1");
        }
        if self.steps.windows(2).any(|w| w[0] >= w[1]) {
            bail!("--steps must be strictly ascending: {:?}", self.steps);
        }
        for (name, secs) in [
            ("--step-secs", self.step_secs),
            ("--raw-secs", self.raw_secs),
        ] {
            if !(secs.is_finite() && secs > 0.0 && secs < 86_400.0) {
                bail!("{name} must be a positive number of seconds, got {secs}");
            }
        }
        if self.kinds.is_empty() {
            bail!("--kinds needs at least one of tickforge, baseline");
        }
        if self.server_cpu == self.swarm_cpu {
            bail!("--server-cpu and --swarm-cpu must differ: the point is one core each");
        }
        if self.ramp == 0 || self.input_hz == 0 {
            bail!("--ramp and --input-hz must be at least 1");
        }
        Ok(())
    }

    /// The measured window per step.
    pub fn step_duration(&self) -> Duration {
        Duration::from_secs_f64(self.step_secs)
    }
}

/// Where a server under test listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerAddrs {
    /// Game clients (`/ws`) and `/healthz`.
    pub public: SocketAddr,
    /// tickforge's admin listener, the only one serving `/metrics` (the
    /// baseline has none).
    pub admin: SocketAddr,
}

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// tickforge, one shard.
    Tickforge,
    /// The deliberately ordinary baseline (`src/baseline/`), one worker thread.
    Baseline,
}

impl ServerKind {
    /// Name in tables and file names.
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Tickforge => "tickforge",
            ServerKind::Baseline => "baseline",
        }
    }

    /// Arguments for one server core listening on `addrs`, 30 Hz rooms of 32.
    /// With a `session_key` tickforge verifies every bot's token (mode
    /// `guest`, which also accepts tokens signed with that key); without one
    /// it runs `--auth trust-hello`. Per-IP connection limits are off (the
    /// bots share one address). The baseline reads no token.
    pub fn args(self, addrs: ServerAddrs, session_key: Option<&std::path::Path>) -> Vec<String> {
        let listen = addrs.public.to_string();
        let admin = addrs.admin.to_string();
        let key = session_key.map(|k| k.display().to_string());
        let tick = TICK_HZ.to_string();
        let seats = ROOM_CAPACITY.to_string();
        let args: Vec<&str> = match self {
            ServerKind::Tickforge => vec![
                "--listen",
                &listen,
                "--admin-listen",
                &admin,
                "--shards",
                "1",
                "--pin-cores",
                "false",
                "--tick-rate",
                &tick,
                "--room-capacity",
                &seats,
                "--log",
                "warn",
                // Every bot connects from 127.0.0.1: per-IP limits off,
                // per-session limits at their defaults.
                "--max-connections-per-ip",
                "0",
                "--handshakes-per-ip-per-s",
                "0",
            ]
            .into_iter()
            .chain(match &key {
                Some(key) => vec!["--auth", "guest", "--session-key-file", key.as_str()],
                None => vec!["--auth", "trust-hello"],
            })
            .collect(),
            ServerKind::Baseline => vec![
                "--listen",
                &listen,
                "--threads",
                "1",
                "--tick-rate",
                &tick,
                "--capacity",
                &seats,
            ],
        };
        args.into_iter().map(String::from).collect()
    }

    /// Environment for the server process.
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ServerKind::Tickforge => &[],
            ServerKind::Baseline => &[("RUST_LOG", "warn")],
        }
    }

    /// Whether it exports tickforge's tick histograms on `/metrics`.
    pub fn has_tick_metrics(self) -> bool {
        matches!(self, ServerKind::Tickforge)
    }

    /// Where its `/metrics` is scraped: tickforge's admin listener; `None`
    /// for the baseline.
    pub fn metrics_addr(self, addrs: ServerAddrs) -> Option<SocketAddr> {
        self.has_tick_metrics().then_some(addrs.admin)
    }
}

impl std::fmt::Display for ServerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        let options =
            Options::try_parse_from(std::iter::once("capacity").chain(args.iter().copied()))?;
        options.validate()?;
        Ok(options)
    }

    #[test]
    fn defaults_step_from_500_to_8000_bots_for_both_kinds() {
        let o = match parse(&[]) {
            Ok(o) => o,
            Err(e) => panic!("{e:#}"),
        };
        assert_eq!(o.steps, DEFAULT_STEPS.to_vec());
        assert_eq!(o.kinds, vec![ServerKind::Tickforge, ServerKind::Baseline]);
        assert_eq!(o.step_duration(), Duration::from_secs(20));
        assert_eq!((o.server_cpu, o.swarm_cpu), (0, 1));
    }

    #[test]
    fn steps_and_kinds_are_comma_separated() {
        let o = match parse(&[
            "--steps",
            "20,40",
            "--kinds",
            "baseline",
            "--step-secs",
            "2",
        ]) {
            Ok(o) => o,
            Err(e) => panic!("{e:#}"),
        };
        assert_eq!(o.steps, vec![20, 40]);
        assert_eq!(o.kinds, vec![ServerKind::Baseline]);
    }

    #[test]
    fn unordered_steps_and_a_shared_cpu_are_refused() {
        assert!(parse(&["--steps", "40,20"]).is_err());
        assert!(parse(&["--steps", "0"]).is_err());
        assert!(parse(&["--swarm-cpu", "0"]).is_err());
        assert!(parse(&["--step-secs", "0"]).is_err());
    }

    fn addrs() -> ServerAddrs {
        ServerAddrs {
            public: SocketAddr::from(([127, 0, 0, 1], 7000)),
            admin: SocketAddr::from(([127, 0, 0, 1], 7001)),
        }
    }

    #[test]
    fn tickforge_runs_one_unpinned_shard_because_taskset_pins_the_process() {
        let key = std::path::Path::new("/run/key.json");
        let args = ServerKind::Tickforge.args(addrs(), Some(key));
        let line = args.join(" ");
        assert!(
            line.contains(
                "--listen 127.0.0.1:7000 --admin-listen 127.0.0.1:7001 --shards 1 --pin-cores false"
            ),
            "{line}"
        );
        assert!(
            line.contains("--auth guest --session-key-file /run/key.json"),
            "{line}"
        );
        assert!(
            line.contains("--max-connections-per-ip 0 --handshakes-per-ip-per-s 0"),
            "{line}"
        );
        let trusting = ServerKind::Tickforge.args(addrs(), None).join(" ");
        assert!(trusting.ends_with("--auth trust-hello"), "{trusting}");
        let baseline = ServerKind::Baseline.args(addrs(), Some(key));
        assert!(baseline.join(" ").contains("--threads 1"));
    }

    #[test]
    fn only_tickforge_is_scraped_and_on_its_admin_listener() {
        assert_eq!(
            ServerKind::Tickforge.metrics_addr(addrs()),
            Some(addrs().admin)
        );
        assert_eq!(ServerKind::Baseline.metrics_addr(addrs()), None);
    }
}
