//! The soak's flags ([`Options`]): phase length, the honest swarms, the
//! abusers, the server's limits that separate them, and the pass/fail
//! thresholds; plus the exact server command line ([`Options::server_args`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use serde::Serialize;

/// A loopback soak: honest `arena`, `churn` and `garbage` swarms on
/// 127.0.0.1, a slowloris and a connection flood from other loopback
/// addresses, a phase without and a phase with the abusers.
#[derive(Debug, Clone, Parser, Serialize)]
#[command(
    name = "soak",
    about = "Soak tickforge with honest swarms and loopback abusers; check memory, descriptors, rooms and latency",
    after_help = "Exit status: 0 every check passed, 1 a check failed, 2 the soak could not run, 130 interrupted.\n\n\
Example (the issue's 30-minute soak, about 62 minutes in all):\n  \
cargo run --release -p tickforge-benches --bin soak -- --phase-secs 1800 --warmup-secs 120 --results benches/RESULTS.md"
)]
pub struct Options {
    /// Seconds of each phase (baseline, then abuse): the swarms' measured --duration.
    #[arg(long, default_value_t = 300.0)]
    pub phase_secs: f64,
    /// Seconds at the start of each phase before the RSS reference is taken.
    #[arg(long, default_value_t = 60.0)]
    pub warmup_secs: f64,
    /// Seconds averaged for each RSS reading (after warm-up, and at the end).
    #[arg(long, default_value_t = 20.0)]
    pub rss_window_secs: f64,
    /// Honest `arena` bots (their ack p99 is the latency compared).
    #[arg(long, default_value_t = 160)]
    pub arena_bots: u32,
    /// Arena bots that measure ack latency (the swarm's --sample: a count or a percentage).
    #[arg(long, default_value = "25%")]
    pub arena_sample: String,
    /// Honest `churn` bots (join, stay 1–5 s, leave, rejoin).
    #[arg(long, default_value_t = 40)]
    pub churn_bots: u32,
    /// `garbage` bots (Hello, one invalid frame, closed, reconnect).
    #[arg(long, default_value_t = 8)]
    pub garbage_bots: u32,
    /// Cycles per second per garbage bot (its --input-hz).
    #[arg(long, default_value_t = 2)]
    pub garbage_hz: u32,
    /// Inputs per second per arena and churn bot.
    #[arg(long, default_value_t = 10)]
    pub input_hz: u32,
    /// New bots per second, per swarm (each swarm's --ramp).
    #[arg(long, default_value_t = 50)]
    pub ramp: u32,
    /// Half-open HTTP requests the slowloris keeps open (reopened as the server closes them).
    #[arg(long, default_value_t = 400)]
    pub slowloris: u32,
    /// Source addresses the slowloris spreads over (127.0.0.3 upwards), so
    /// that it meets the header timeout rather than the per-IP cap.
    #[arg(long, default_value_t = 4)]
    pub slowloris_addrs: u8,
    /// WebSocket upgrades per second the flood attempts from 127.0.0.2.
    #[arg(long, default_value_t = 200)]
    pub flood_rate: u32,
    /// Upgraded flood connections held open at most (never sending Hello).
    #[arg(long, default_value_t = 512)]
    pub flood_hold: u32,
    /// Server: connections per client IP (the abusers cross it, the honest
    /// swarms on 127.0.0.1 stay under it).
    #[arg(long, default_value_t = 256)]
    pub max_connections_per_ip: u32,
    /// Server: WebSocket handshakes per client IP per second.
    #[arg(long, default_value_t = 50)]
    pub handshakes_per_ip_per_s: u32,
    /// Server: burst of the per-IP handshake bucket.
    #[arg(long, default_value_t = 200)]
    pub handshake_burst: u32,
    /// Server: time to send a request head, ms (the slowloris is closed after it).
    #[arg(long, default_value_t = 10_000)]
    pub http_header_timeout_ms: u64,
    /// Server: time from upgrade to Hello, ms (held flood upgrades are closed after it).
    #[arg(long, default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Server: how long an empty room lives, ms (rooms return to zero this long after the swarm leaves).
    #[arg(long, default_value_t = 2_000)]
    pub empty_room_grace_ms: u64,
    /// Seconds to wait after a phase for rooms, seats, connections and descriptors to return.
    #[arg(long, default_value_t = 60.0)]
    pub settle_secs: f64,
    /// Pass: RSS drift after warm-up, % (issue #12: 5).
    #[arg(long, default_value_t = 5.0)]
    pub max_rss_drift_pct: f64,
    /// Pass: abuse-phase p99 (ack and tick) over the baseline's, % above (issue #12: 10).
    #[arg(long, default_value_t = 10.0)]
    pub max_p99_increase_pct: f64,
    /// Pass: descriptors after the swarm left may exceed the starting count by this many.
    #[arg(long, default_value_t = 4)]
    pub fd_tolerance: u64,
    /// CPU the server is pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// CPU the swarms and the abusers are pinned to.
    #[arg(long, default_value_t = 1)]
    pub client_cpu: usize,
    /// Seconds between two samples of RSS, descriptors and gauges.
    #[arg(long, default_value_t = 1.0)]
    pub sample_secs: f64,
    /// Use the binaries as they are: no `cargo build --release` first.
    #[arg(long)]
    pub no_build: bool,
    /// Directory holding tickforge and tickforge-swarm (default: target/release).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Where swarm reports, logs and the server's data go (default: target/soak).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Append a dated section with the tables to this Markdown file.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Write the whole result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl Options {
    /// Checks what clap cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, secs) in [
            ("--phase-secs", self.phase_secs),
            ("--warmup-secs", self.warmup_secs),
            ("--rss-window-secs", self.rss_window_secs),
            ("--settle-secs", self.settle_secs),
            ("--sample-secs", self.sample_secs),
        ] {
            if !(secs.is_finite() && secs > 0.0 && secs < 86_400.0) {
                bail!("{name} must be a positive number of seconds, got {secs}");
            }
        }
        if self.warmup_secs + 2.0 * self.rss_window_secs > self.phase_secs {
            bail!(
                "--warmup-secs + 2 × --rss-window-secs ({} s) must fit in --phase-secs ({} s)",
                self.warmup_secs + 2.0 * self.rss_window_secs,
                self.phase_secs
            );
        }
        if self.arena_bots == 0 || self.churn_bots == 0 || self.garbage_bots == 0 {
            bail!("every honest swarm needs at least one bot");
        }
        if self.ramp == 0 || self.input_hz == 0 || self.garbage_hz == 0 {
            bail!("--ramp, --input-hz and --garbage-hz must be at least 1");
        }
        if self.slowloris_addrs == 0 || self.slowloris_addrs > 200 {
            bail!("--slowloris-addrs must be 1–200");
        }
        if self.server_cpu == self.client_cpu {
            bail!("--server-cpu and --client-cpu must differ");
        }
        // The honest swarms share 127.0.0.1: they must stay under the
        // per-IP limits that stop the abusers, with room for reconnects.
        let honest = self.arena_bots + self.churn_bots + self.garbage_bots;
        if self.max_connections_per_ip != 0
            && f64::from(honest) > 0.9 * f64::from(self.max_connections_per_ip)
        {
            bail!(
                "{honest} honest bots share 127.0.0.1: raise --max-connections-per-ip ({}) \
                 to at least {} or run fewer bots",
                self.max_connections_per_ip,
                (f64::from(honest) / 0.9).ceil()
            );
        }
        let garbage_handshakes = self.garbage_bots * self.garbage_hz;
        if self.handshakes_per_ip_per_s != 0
            && 2 * garbage_handshakes > self.handshakes_per_ip_per_s
        {
            bail!(
                "the garbage swarm reconnects {garbage_handshakes} times a second from 127.0.0.1: \
                 keep it under half of --handshakes-per-ip-per-s ({})",
                self.handshakes_per_ip_per_s
            );
        }
        Ok(())
    }

    /// A phase.
    pub fn phase(&self) -> Duration {
        Duration::from_secs_f64(self.phase_secs)
    }

    /// The slowloris's source addresses: 127.0.0.3 upwards.
    pub fn slowloris_sources(&self) -> Vec<Ipv4Addr> {
        (0..self.slowloris_addrs)
            .map(|i| Ipv4Addr::new(127, 0, 0, 3 + i))
            .collect()
    }

    /// The flood's source address.
    pub fn flood_source(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, 2)
    }

    /// The server's arguments: one shard, rooms of 32 at 30 Hz, a data
    /// directory of its own, tokens verified with `session_key`, and the
    /// per-IP limits and timeouts of these options.
    pub fn server_args(
        &self,
        public: SocketAddr,
        admin: SocketAddr,
        data_dir: &Path,
        session_key: &Path,
    ) -> Vec<String> {
        let pairs: [(&str, String); 16] = [
            ("--listen", public.to_string()),
            ("--admin-listen", admin.to_string()),
            ("--shards", "1".into()),
            ("--pin-cores", "false".into()),
            ("--tick-rate", "30".into()),
            ("--room-capacity", "32".into()),
            ("--log", "warn".into()),
            ("--data-dir", data_dir.display().to_string()),
            ("--auth", "guest".into()),
            ("--session-key-file", session_key.display().to_string()),
            (
                "--max-connections-per-ip",
                self.max_connections_per_ip.to_string(),
            ),
            (
                "--handshakes-per-ip-per-s",
                self.handshakes_per_ip_per_s.to_string(),
            ),
            ("--handshake-burst", self.handshake_burst.to_string()),
            (
                "--http-header-timeout-ms",
                self.http_header_timeout_ms.to_string(),
            ),
            (
                "--handshake-timeout-ms",
                self.handshake_timeout_ms.to_string(),
            ),
            (
                "--empty-room-grace-ms",
                self.empty_room_grace_ms.to_string(),
            ),
        ];
        pairs
            .into_iter()
            .flat_map(|(flag, value)| [flag.to_string(), value])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        let options = Options::try_parse_from(std::iter::once("soak").chain(args.iter().copied()))?;
        options.validate()?;
        Ok(options)
    }

    #[test]
    fn the_defaults_fit_the_honest_swarms_under_the_per_ip_limits() {
        let o = parse(&[]);
        assert!(o.is_ok(), "{o:?}");
    }

    #[test]
    fn honest_swarms_over_the_per_ip_cap_or_rate_are_refused_before_the_run() {
        assert!(parse(&["--arena-bots", "300"]).is_err());
        assert!(parse(&["--garbage-bots", "20", "--garbage-hz", "2"]).is_err());
        assert!(parse(&["--arena-bots", "300", "--max-connections-per-ip", "0"]).is_ok());
        assert!(parse(&["--phase-secs", "30"]).is_err());
        assert!(parse(&["--client-cpu", "0"]).is_err());
    }

    #[test]
    fn abusers_come_from_their_own_loopback_addresses() {
        let o = match parse(&["--slowloris-addrs", "2"]) {
            Ok(o) => o,
            Err(e) => panic!("{e:#}"),
        };
        assert_eq!(o.flood_source(), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(
            o.slowloris_sources(),
            vec![Ipv4Addr::new(127, 0, 0, 3), Ipv4Addr::new(127, 0, 0, 4)]
        );
        let args = o
            .server_args(
                SocketAddr::from(([127, 0, 0, 1], 1)),
                SocketAddr::from(([127, 0, 0, 1], 2)),
                Path::new("/d"),
                Path::new("/k"),
            )
            .join(" ");
        assert!(
            args.contains("--max-connections-per-ip 256 --handshakes-per-ip-per-s 50"),
            "{args}"
        );
    }
}
