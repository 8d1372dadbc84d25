//! Settings of player snapshots: where they go and how the write-behind
//! pipeline paces, batches, retries and bounds them. Flattened into
//! [`crate::config::Config`]; every field has a flag, a `TICKFORGE_*`
//! variable and a TOML key.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

/// Default CQL native port.
pub const CQL_PORT: u16 = 9042;
/// Longest `--guest-ttl`: Cassandra's TTL limit (20 years of 365 days).
pub const MAX_GUEST_TTL: Duration = Duration::from_secs(20 * 365 * 24 * 3600);

/// Player snapshots: the store and the write-behind pipeline.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct SnapshotOptions {
    /// Where player snapshots go: `embedded` (a crash-safe database file
    /// under `--data-dir`) or `scylla://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE`
    /// (ScyllaDB or any CQL database; port 9042 by default).
    #[arg(
        long,
        env = "TICKFORGE_SNAPSHOTS",
        default_value = "embedded",
        global = true
    )]
    pub snapshots: SnapshotTarget,
    /// Local directory for the embedded store and the spill file (snapshots
    /// that could not be written at shutdown, replayed at the next start).
    #[arg(
        long,
        env = "TICKFORGE_DATA_DIR",
        default_value = "tickforge-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Accept the node-local embedded store together with Redis presence
    /// (saved state then does not follow players between nodes): for tests
    /// of presence alone.
    #[arg(long, env = "TICKFORGE_ALLOW_NODE_LOCAL_SNAPSHOTS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_node_local_snapshots: bool,
    /// A room snapshots a player whose saved state changed at most this
    /// often, in milliseconds; and when the player leaves, if the state
    /// changed since the last snapshot.
    #[arg(long, env = "TICKFORGE_SNAPSHOT_INTERVAL_MS", default_value_t = 1000)]
    pub snapshot_interval_ms: u64,
    /// Snapshots rooms may hand over before the writer takes them. When it
    /// is full a room coalesces into an overflow map, latest per player
    /// (policy: coalesce; counted in `tickforge_snapshot_queue_full_total`).
    #[arg(long, env = "TICKFORGE_SNAPSHOT_QUEUE", default_value_t = 65_536)]
    pub snapshot_queue: usize,
    /// The writer flushes dirty players at least this often, in milliseconds.
    #[arg(long, env = "TICKFORGE_SNAPSHOT_FLUSH_MS", default_value_t = 100)]
    pub snapshot_flush_ms: u64,
    /// The writer flushes early once this many snapshots wait.
    #[arg(long, env = "TICKFORGE_SNAPSHOT_FLUSH_SIZE", default_value_t = 4096)]
    pub snapshot_flush_size: usize,
    /// Most rows in one write request (one single-partition unlogged batch).
    #[arg(long, env = "TICKFORGE_SNAPSHOT_BATCH_ROWS", default_value_t = 64)]
    pub snapshot_batch_rows: usize,
    /// Most bytes of saved state in one batch (Cassandra fails batches over
    /// 50 KiB by default; ScyllaDB allows 1 MiB).
    #[arg(long, env = "TICKFORGE_SNAPSHOT_BATCH_BYTES", default_value_t = 32 * 1024)]
    pub snapshot_batch_bytes: usize,
    /// Write requests in flight at once.
    #[arg(long, env = "TICKFORGE_SNAPSHOT_IN_FLIGHT", default_value_t = 32)]
    pub snapshot_in_flight: usize,
    /// First retry delay after a failed write, in milliseconds; doubles per
    /// failure in a row, with jitter.
    #[arg(long, env = "TICKFORGE_SNAPSHOT_RETRY_BASE_MS", default_value_t = 100)]
    pub snapshot_retry_base_ms: u64,
    /// Longest retry delay, in milliseconds.
    #[arg(long, env = "TICKFORGE_SNAPSHOT_RETRY_MAX_MS", default_value_t = 5000)]
    pub snapshot_retry_max_ms: u64,
    /// A write request without an answer after this long fails (and is
    /// retried), in milliseconds.
    #[arg(
        long,
        env = "TICKFORGE_SNAPSHOT_WRITE_TIMEOUT_MS",
        default_value_t = 2000
    )]
    pub snapshot_write_timeout_ms: u64,
    /// Longest wait for a joining player's saved state, in milliseconds;
    /// past it the join is refused with `ServerBusy` (the room never waits).
    #[arg(
        long,
        env = "TICKFORGE_SNAPSHOT_LOAD_TIMEOUT_MS",
        default_value_t = 1000
    )]
    pub snapshot_load_timeout_ms: u64,
    /// Saved-state loads in progress at once on this node (joins past
    /// their claim, waiting for the writer or the store); a join that finds
    /// this many is refused with `ServerBusy` (policy: reject, counted in
    /// `tickforge_snapshot_loads_refused_total`). Also the writer's load
    /// queue, so loads never pile up as unbounded tasks.
    #[arg(long, env = "TICKFORGE_SNAPSHOT_LOADS_MAX", default_value_t = 256)]
    pub snapshot_loads_max: usize,
    /// Longest wait for the database at start, in milliseconds.
    #[arg(
        long,
        env = "TICKFORGE_SNAPSHOT_CONNECT_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub snapshot_connect_timeout_ms: u64,
    /// A guest's saved state (a player of `POST /auth/guest`) expires this
    /// long after it was last captured: a duration such as `7d`, `12h` or
    /// `90m`, from 1 s to 20 years; default 7 days. The CQL store writes
    /// guest rows `USING TTL`; the embedded store forgets an expired record
    /// at once and removes it at its next sweep (`--guest-sweep-ms`).
    #[arg(long, env = "TICKFORGE_GUEST_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde")]
    pub guest_ttl: Duration,
    /// The embedded store removes expired guest records this often, in
    /// milliseconds, and once at start; a sweep removes a bounded number
    /// and the next one follows at once while more are due.
    #[arg(long, env = "TICKFORGE_GUEST_SWEEP_MS", default_value_t = 60_000)]
    pub guest_sweep_ms: u64,
}

impl SnapshotOptions {
    /// Snapshot interval as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.snapshot_interval_ms)
    }
    /// Flush period as a duration.
    pub fn flush_period(&self) -> Duration {
        Duration::from_millis(self.snapshot_flush_ms.max(1))
    }
    /// Write timeout as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.snapshot_write_timeout_ms.max(1))
    }
    /// Load timeout as a duration.
    pub fn load_timeout(&self) -> Duration {
        Duration::from_millis(self.snapshot_load_timeout_ms.max(1))
    }
    /// Connect timeout as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.snapshot_connect_timeout_ms.max(1))
    }
    /// Period of the embedded store's sweep of expired guest records.
    pub fn guest_sweep_period(&self) -> Duration {
        Duration::from_millis(self.guest_sweep_ms.max(1))
    }
    /// The embedded database file.
    pub fn embedded_path(&self) -> PathBuf {
        self.data_dir.join("snapshots.redb")
    }
    /// The spill file.
    pub fn spill_path(&self) -> PathBuf {
        self.data_dir.join("snapshots.spill")
    }

    /// Checks ranges that clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.snapshot_queue == 0 || self.snapshot_flush_size == 0 {
            return Err("snapshot_queue and snapshot_flush_size must be positive".into());
        }
        if self.snapshot_batch_rows == 0 || self.snapshot_in_flight == 0 {
            return Err("snapshot_batch_rows and snapshot_in_flight must be positive".into());
        }
        if !(1024..=1024 * 1024).contains(&self.snapshot_batch_bytes) {
            return Err("snapshot_batch_bytes must be 1 KiB..=1 MiB".into());
        }
        if self.snapshot_retry_base_ms == 0
            || self.snapshot_retry_max_ms < self.snapshot_retry_base_ms
        {
            return Err("snapshot retry delays: 0 < base <= max".into());
        }
        if !(Duration::from_secs(1)..=MAX_GUEST_TTL).contains(&self.guest_ttl) {
            return Err("guest_ttl must be 1s..=20 years (7300 days)".into());
        }
        if self.guest_sweep_ms == 0 {
            return Err("guest_sweep_ms must be positive".into());
        }
        if self.snapshot_loads_max == 0 {
            return Err("snapshot_loads_max must be positive".into());
        }
        Ok(())
    }
}

/// Where snapshots are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SnapshotTarget {
    /// The embedded store under the data directory.
    Embedded,
    /// A CQL cluster (ScyllaDB, Cassandra).
    Scylla(CqlTarget),
}

/// A CQL cluster and keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CqlTarget {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// Keyspace holding the snapshot table.
    pub keyspace: String,
}

impl FromStr for SnapshotTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "embedded" {
            return Ok(SnapshotTarget::Embedded);
        }
        let usage = || {
            format!("snapshots `{s}`: expected `embedded` or scylla://HOST[:PORT][,...]/KEYSPACE")
        };
        let rest = s.strip_prefix("scylla://").ok_or_else(usage)?;
        let (hosts, keyspace) = rest.split_once('/').ok_or_else(usage)?;
        let valid_keyspace = !keyspace.is_empty()
            && keyspace.len() <= 48
            && keyspace.starts_with(|c: char| c.is_ascii_alphabetic())
            && keyspace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_keyspace {
            return Err(format!(
                "snapshots `{s}`: keyspace must be 1-48 letters, digits or _, starting with a letter"
            ));
        }
        let mut nodes = Vec::new();
        for host in hosts.split(',').map(str::trim) {
            if host.is_empty() {
                return Err(usage());
            }
            let with_port = match host.rsplit_once(':') {
                Some((_, port)) if !host.ends_with(']') => {
                    port.parse::<u16>()
                        .map_err(|e| format!("snapshots `{s}`: port of `{host}`: {e}"))?;
                    host.to_string()
                }
                _ => format!("{host}:{CQL_PORT}"),
            };
            nodes.push(with_port);
        }
        Ok(SnapshotTarget::Scylla(CqlTarget {
            nodes,
            keyspace: keyspace.to_string(),
        }))
    }
}

impl fmt::Display for SnapshotTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotTarget::Embedded => f.write_str("embedded"),
            SnapshotTarget::Scylla(t) => write!(f, "scylla://{}/{}", t.nodes.join(","), t.keyspace),
        }
    }
}

impl TryFrom<String> for SnapshotTarget {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SnapshotTarget> for String {
    fn from(t: SnapshotTarget) -> String {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scylla_urls_parse_with_default_ports_and_checked_keyspaces() {
        let t: SnapshotTarget = "scylla://a,b:9043/game_1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t,
            SnapshotTarget::Scylla(CqlTarget {
                nodes: vec!["a:9042".into(), "b:9043".into()],
                keyspace: "game_1".into()
            })
        );
        assert_eq!(t.to_string(), "scylla://a:9042,b:9043/game_1");
        assert!("scylla://a/ks;drop".parse::<SnapshotTarget>().is_err());
        assert!("scylla://a:x/ks".parse::<SnapshotTarget>().is_err());
        assert!("redis://a/ks".parse::<SnapshotTarget>().is_err());
        assert_eq!("embedded".parse(), Ok(SnapshotTarget::Embedded));
    }

    #[test]
    fn guest_ttl_reads_human_durations_defaults_to_a_week_and_is_bounded() {
        let parse = |args: &[&str]| {
            crate::Config::load_from(["tickforge"].iter().chain(args))
                .map(|c| c.snapshots.guest_ttl)
        };
        assert_eq!(parse(&[]).ok(), Some(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(
            parse(&["--guest-ttl", "12h"]).ok(),
            Some(Duration::from_secs(12 * 3600))
        );
        assert!(parse(&["--guest-ttl", "0s"]).is_err());
        assert!(parse(&["--guest-ttl", "21years"]).is_err());
        assert!(parse(&["--guest-ttl", "soon"]).is_err());
        let dir = std::env::temp_dir().join(format!("tickforge-guest-ttl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let file = dir.join("tickforge.toml");
        std::fs::write(&file, "guest_ttl = \"2h 30m\"\n").unwrap_or_else(|e| panic!("{e}"));
        let file = file.to_string_lossy().to_string();
        assert_eq!(
            parse(&["--config", &file]).ok(),
            Some(Duration::from_secs(150 * 60)),
            "a TOML file sets it too"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
