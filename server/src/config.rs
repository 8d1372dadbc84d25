//! Configuration: one `*Options` struct per subsystem, each field with its
//! unit and default. Every flag has a `TICKFORGE_*` environment variable, and
//! a TOML file (`--config`) can set any of them by the flag's name with
//! underscores (`listen = "0.0.0.0:7700"`). Precedence: flag, then
//! environment, then file, then default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};

pub use crate::auth::AuthOptions;
use crate::net::client_ip::ProxyNet;
pub use crate::net::limits::LimitOptions;
pub use crate::net::session_limits::SessionLimitOptions;
pub use crate::net::tls::TlsOptions;
use crate::persist::{SnapshotOptions, SnapshotTarget};
pub use crate::presence::PresenceOptions;
pub use crate::shutdown::DrainOptions;

/// All of tickforge's settings.
#[derive(Debug, Clone, Parser, Serialize, Deserialize)]
#[command(
    name = "tickforge",
    version,
    about = "Authoritative WebSocket game-room server"
)]
pub struct Config {
    /// TOML file with any of the settings below (keys are flag names with underscores).
    #[arg(long, env = "TICKFORGE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Network and WebSocket settings.
    #[command(flatten)]
    #[serde(flatten)]
    pub net: NetOptions,
    /// Shard threads.
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: ShardOptions,
    /// Rooms and modes.
    #[command(flatten)]
    #[serde(flatten)]
    pub room: RoomOptions,
    /// Per-connection limits and timeouts.
    #[command(flatten)]
    #[serde(flatten)]
    pub session: SessionOptions,
    /// Per-session frame rates, room creation, the node's room cap.
    #[command(flatten)]
    #[serde(flatten)]
    pub session_limits: SessionLimitOptions,
    /// Cross-node presence and room ownership.
    #[command(flatten)]
    #[serde(flatten)]
    pub presence: PresenceOptions,
    /// Logging.
    #[command(flatten)]
    #[serde(flatten)]
    pub log: LogOptions,
    /// Player snapshots (store and write-behind pipeline).
    #[command(flatten)]
    #[serde(flatten)]
    pub snapshots: SnapshotOptions,
    /// Identity and access.
    #[command(flatten)]
    #[serde(flatten)]
    pub auth: AuthOptions,
    /// TLS on the public listener.
    #[command(flatten)]
    #[serde(flatten)]
    pub tls: TlsOptions,
    /// Connection limits and HTTP timeouts.
    #[command(flatten)]
    #[serde(flatten)]
    pub limits: LimitOptions,
    /// Drain before shutdown.
    #[command(flatten)]
    #[serde(flatten)]
    pub drain: DrainOptions,
    /// What to do; without a command the server runs.
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<Command>,
}

/// Commands besides running the server.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Create the snapshot store's schema (keyspace and table, or the
    /// embedded database file), then exit. Idempotent; the server also does
    /// it at start.
    Migrate,
    /// Session keys and tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `tickforge token …`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum TokenCommand {
    /// Print a new session key file (Ed25519; `--hmac` for HMAC-SHA256):
    /// `tickforge token keygen > session-key.json`.
    Keygen {
        /// An HMAC-SHA256 secret instead of an Ed25519 key pair.
        #[arg(long)]
        hmac: bool,
    },
    /// Print a token for PLAYER signed with `--session-key-file`.
    Mint {
        /// Player id (the token's subject).
        #[arg(long)]
        player: String,
        /// Lifetime, e.g. `1h`, `15m`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Listener and node identity.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct NetOptions {
    /// Address every shard listens on (SO_REUSEPORT): game clients (`/ws`),
    /// health checks, the public room list and `/play`. Port 0 picks a free port.
    #[arg(long, env = "TICKFORGE_LISTEN", default_value = "0.0.0.0:7700")]
    pub listen: SocketAddr,
    /// Address of the admin listener: `/metrics`, `/dashboard`,
    /// `/presence/{player}`, the operators' `/rooms` (with `?scope=cluster`)
    /// and health checks, served on its own thread. Keep it on loopback or a
    /// private network, never on the internet. Port 0 picks a free port.
    #[arg(long, env = "TICKFORGE_ADMIN_LISTEN", default_value = "127.0.0.1:7701")]
    pub admin_listen: SocketAddr,
    /// Node id announced in Welcome. Default: `node-<pid>`.
    #[arg(long, env = "TICKFORGE_NODE_ID")]
    pub node_id: Option<String>,
    /// Reverse proxies (load balancers, the ingress) whose `X-Forwarded-For`
    /// is believed, comma-separated IP addresses or CIDR networks
    /// (`10.0.0.0/8,192.0.2.7`). A request from one of them comes from the
    /// rightmost address in that header that is not a trusted proxy itself
    /// (session logs, the guest-login rate limit); from any other peer the
    /// header is ignored. Default: none.
    #[arg(long, env = "TICKFORGE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyNet>,
    /// TCP listen backlog per shard.
    #[arg(long, env = "TICKFORGE_BACKLOG", default_value_t = 4096)]
    pub backlog: u32,
    /// Kernel send buffer per connection in bytes (SO_SNDBUF); 0 keeps the kernel's autotuning.
    #[arg(long, env = "TICKFORGE_SOCKET_SEND_BUFFER", default_value_t = 0)]
    pub socket_send_buffer: u32,
    /// Time allowed for shutting down, in milliseconds: clients are closed
    /// with 1001 and shards stop within it.
    #[arg(long, env = "TICKFORGE_SHUTDOWN_DEADLINE_MS", default_value_t = 5000)]
    pub shutdown_deadline_ms: u64,
}

/// Shard threads: one pinned OS thread with its own runtime and listener each.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct ShardOptions {
    /// Number of shards. Default (0): one per available core.
    #[arg(long, env = "TICKFORGE_SHARDS", default_value_t = 0)]
    pub shards: usize,
    /// Pin shard i to core i (mod cores).
    #[arg(long, env = "TICKFORGE_PIN_CORES", default_value_t = true, action = clap::ArgAction::Set)]
    pub pin_cores: bool,
    /// Deprecated and ignored: new rooms are always created on the joining
    /// connection's own shard (its States are then written by that shard
    /// directly; `SO_REUSEPORT` spreads connections over the shards).
    /// Still accepted, with a warning at start.
    #[arg(long, env = "TICKFORGE_SHARD_IMBALANCE_PCT")]
    #[serde(default)]
    pub shard_imbalance_pct: Option<u32>,
}

/// Longest accepted `--resume-grace`.
pub const MAX_RESUME_GRACE: Duration = Duration::from_secs(600);

/// Rooms and the modes clients can join.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct RoomOptions {
    /// Default tick rate of a room, in Hz.
    #[arg(long, env = "TICKFORGE_TICK_RATE", default_value_t = 30)]
    pub tick_rate: u16,
    /// Default seats per room.
    #[arg(long, env = "TICKFORGE_ROOM_CAPACITY", default_value_t = 32)]
    pub room_capacity: u16,
    /// How long an empty room lives before it is disposed, in milliseconds.
    #[arg(long, env = "TICKFORGE_EMPTY_ROOM_GRACE_MS", default_value_t = 10_000)]
    pub empty_room_grace_ms: u64,
    /// Tick budget: work allowed per room tick, in microseconds. Ticks over
    /// it are counted in `tickforge_ticks_over_budget_total`.
    #[arg(long, env = "TICKFORGE_TICK_BUDGET_US", default_value_t = 1000)]
    pub tick_budget_us: u64,
    /// Inputs one member may have queued between two ticks; beyond it its
    /// inputs are dropped (policy: reject, counted in
    /// `tickforge_inputs_dropped_total{reason="seat_budget"}`), so one client
    /// cannot crowd out the others.
    #[arg(long, env = "TICKFORGE_INPUTS_PER_SEAT", default_value_t = 8)]
    pub inputs_per_seat: u32,
    /// How long a seated player's seat is held after the connection drops
    /// (anything but LeaveRoom, a close with 1000, a kick, a ban, a newer
    /// login or shutdown), so a Hello with the Welcome's resume token takes
    /// it back: a duration such as `15s` or `500ms`; `0s` turns resume off;
    /// at most 10 minutes.
    #[arg(long, env = "TICKFORGE_RESUME_GRACE", default_value = "15s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde")]
    pub resume_grace: Duration,
    /// Modes: `NAME[,game=GAME][,tick=HZ][,capacity=SEATS]`, repeatable.
    /// The game defaults to the name; tick and capacity to the defaults above.
    #[arg(
        long = "mode",
        env = "TICKFORGE_MODES",
        value_delimiter = ';',
        default_value = "arena"
    )]
    pub modes: Vec<ModeSpec>,
}

/// Per-connection limits and timeouts.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct SessionOptions {
    /// Largest WebSocket frame or message accepted from a client, in bytes.
    #[arg(long, env = "TICKFORGE_MAX_FRAME_BYTES", default_value_t = 16 * 1024)]
    pub max_frame_bytes: usize,
    /// Frames a client's outbox holds; when it is full the client is a slow
    /// consumer and is disconnected (policy: disconnect). Must be at least
    /// twice the largest room capacity plus two, so that a burst of joins
    /// and leaves in one tick cannot push a reading client over.
    #[arg(long, env = "TICKFORGE_OUTBOX_FRAMES", default_value_t = 128)]
    pub outbox_frames: usize,
    /// A write to a client that does not complete in this long ends the
    /// session as a slow consumer, in milliseconds.
    #[arg(long, env = "TICKFORGE_WRITE_TIMEOUT_MS", default_value_t = 5000)]
    pub write_timeout_ms: u64,
    /// Most frames written before one flush.
    #[arg(long, env = "TICKFORGE_WRITE_BATCH", default_value_t = 64)]
    pub write_batch: usize,
    /// Bytes tungstenite may buffer for writing before a write fails (slow consumer).
    #[arg(long, env = "TICKFORGE_MAX_WRITE_BUFFER_BYTES", default_value_t = 256 * 1024)]
    pub max_write_buffer_bytes: usize,
    /// tungstenite read buffer per connection, in bytes (client frames are
    /// small; larger ones take more reads). Zeroed before every read.
    #[arg(long, env = "TICKFORGE_READ_BUFFER_BYTES", default_value_t = 1024)]
    pub read_buffer_bytes: usize,
    /// Time from upgrade to Hello, in milliseconds.
    #[arg(long, env = "TICKFORGE_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Interval of server pings, in milliseconds.
    #[arg(long, env = "TICKFORGE_PING_INTERVAL_MS", default_value_t = 10_000)]
    pub ping_interval_ms: u64,
    /// A connection with no inbound frame for this long is closed, in milliseconds.
    #[arg(long, env = "TICKFORGE_IDLE_TIMEOUT_MS", default_value_t = 30_000)]
    pub idle_timeout_ms: u64,
}

/// Logging.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct LogOptions {
    /// `tracing` env-filter directives (RUST_LOG syntax).
    #[arg(long, env = "TICKFORGE_LOG", default_value = "info")]
    pub log: String,
    /// Log as JSON lines.
    #[arg(long, env = "TICKFORGE_LOG_JSON", default_value_t = false, action = clap::ArgAction::Set)]
    pub log_json: bool,
}

/// One joinable mode: its game and room parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModeSpec {
    /// Name clients use in JoinRoom.mode.
    pub name: String,
    /// Game that runs the rooms (`arena`).
    pub game: String,
    /// Tick rate in Hz; `None`: `--tick-rate`.
    pub tick_rate: Option<u16>,
    /// Seats; `None`: `--room-capacity`.
    pub capacity: Option<u16>,
}

impl FromStr for ModeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(',').map(str::trim);
        let name = parts.next().unwrap_or_default();
        if name.is_empty() || name.contains('=') {
            return Err(format!(
                "mode `{s}`: expected NAME[,game=GAME][,tick=HZ][,capacity=SEATS]"
            ));
        }
        let mut spec = ModeSpec {
            name: name.to_string(),
            game: name.to_string(),
            tick_rate: None,
            capacity: None,
        };
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("mode `{s}`: `{part}` is not KEY=VALUE"))?;
            let number = |v: &str| {
                v.parse::<u16>()
                    .map_err(|e| format!("mode `{s}`: {key}: {e}"))
            };
            match key {
                "game" => spec.game = value.to_string(),
                "tick" => spec.tick_rate = Some(number(value)?),
                "capacity" => spec.capacity = Some(number(value)?),
                _ => return Err(format!("mode `{s}`: unknown key `{key}`")),
            }
        }
        if spec.tick_rate == Some(0) || spec.capacity == Some(0) {
            return Err(format!("mode `{s}`: tick and capacity must be positive"));
        }
        Ok(spec)
    }
}

impl TryFrom<String> for ModeSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ModeSpec> for String {
    fn from(m: ModeSpec) -> String {
        let mut s = format!("{},game={}", m.name, m.game);
        if let Some(t) = m.tick_rate {
            s.push_str(&format!(",tick={t}"));
        }
        if let Some(c) = m.capacity {
            s.push_str(&format!(",capacity={c}"));
        }
        s
    }
}

/// A configuration problem found at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Flags or environment did not parse.
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// The TOML file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The TOML file did not parse or had an unknown key.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Parses flags and environment, then applies `--config` for every setting
    /// left at its default.
    pub fn load() -> Result<Config, ConfigError> {
        Self::load_from(std::env::args_os())
    }

    /// Like [`Config::load`] with explicit arguments (tests).
    pub fn load_from<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Config::command().try_get_matches_from(args)?;
        let mut config = Config::from_arg_matches(&matches)?;
        if let Some(path) = config.config.clone() {
            config = overlay_file(config, &matches, &path)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Defaults, as if started with no flags (tests and embedding).
    pub fn defaults() -> Config {
        match Config::try_parse_from(["tickforge"]) {
            Ok(c) => c,
            Err(e) => unreachable!("defaults always parse: {e}"),
        }
    }

    /// Checks ranges that clap cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if let Some(problem) = self.presence.problem() {
            return invalid(problem);
        }
        if let Some(problem) = self.tls.problem() {
            return invalid(problem);
        }
        if let Some(problem) = self.limits.problem() {
            return invalid(problem);
        }
        if let Some(problem) = self.session_limits.problem() {
            return invalid(problem);
        }
        if let Some(problem) = self.drain.problem() {
            return invalid(problem);
        }
        let shared_cluster = self.presence.redis_url().is_some();
        if let Some(problem) = self
            .auth
            .problem(self.net.listen.ip().is_loopback(), shared_cluster)
        {
            return Err(ConfigError::Invalid(problem));
        }
        if shared_cluster
            && self.snapshots.snapshots == SnapshotTarget::Embedded
            && !self.snapshots.allow_node_local_snapshots
        {
            return invalid(
                "with --presence redis://… players move between nodes, so saved state must be                  shared: use --snapshots scylla://… (or --allow-node-local-snapshots when                  testing presence alone)",
            );
        }
        if self.room.tick_rate == 0 || self.room.tick_rate > 1000 {
            return invalid("tick_rate must be 1..=1000 Hz");
        }
        if self.room.room_capacity == 0 {
            return invalid("room_capacity must be positive");
        }
        if self.session.outbox_frames == 0 || self.session.write_batch == 0 {
            return invalid("outbox_frames and write_batch must be positive");
        }
        if self.session.max_frame_bytes < 64 {
            return invalid("max_frame_bytes must be at least 64");
        }
        if self.room.modes.is_empty() {
            return invalid("at least one --mode is required");
        }
        if self.room.resume_grace > MAX_RESUME_GRACE {
            return invalid("resume_grace must be at most 10 minutes");
        }
        if self.room.inputs_per_seat == 0 || self.room.inputs_per_seat > 1024 {
            return invalid("inputs_per_seat must be 1..=1024");
        }
        self.snapshots.validate().map_err(ConfigError::Invalid)?;
        let mut names = std::collections::HashSet::new();
        for mode in &self.room.modes {
            if !names.insert(mode.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "mode `{}` is configured twice",
                    mode.name
                )));
            }
            if mode.tick_rate.is_some_and(|t| t > 1000) {
                return Err(ConfigError::Invalid(format!(
                    "mode `{}`: tick must be 1..=1000 Hz",
                    mode.name
                )));
            }
            let capacity = usize::from(mode.capacity.unwrap_or(self.room.room_capacity));
            if self.session.outbox_frames < 2 * capacity + 2 {
                return Err(ConfigError::Invalid(format!(
                    "outbox_frames ({}) must be at least 2 × capacity + 2 = {} for mode `{}`",
                    self.session.outbox_frames,
                    2 * capacity + 2,
                    mode.name
                )));
            }
        }
        Ok(())
    }

    /// Shard count after applying the default (one per available core).
    pub fn shard_count(&self) -> usize {
        if self.shard.shards > 0 {
            self.shard.shards
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }

    /// The node id, defaulting to `node-<pid>`.
    pub fn node_id(&self) -> String {
        self.net
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", std::process::id()))
    }
}

impl RoomOptions {
    /// The tick budget as a duration.
    pub fn tick_budget(&self) -> Duration {
        Duration::from_micros(self.tick_budget_us)
    }
}

impl SessionOptions {
    /// Handshake timeout as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
    /// Ping interval as a duration.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms.max(1))
    }
    /// Write timeout as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.max(1))
    }
    /// Idle timeout as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

fn overlay_file(config: Config, matches: &ArgMatches, path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file_err = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message,
    };
    let file: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_err(e.to_string()))?;
    let command = Config::command();
    let unknown = |key: &str| file_err(format!("unknown setting `{key}`"));
    let mut merged = toml::Table::try_from(&config).map_err(|e| file_err(e.to_string()))?;
    let mut keys = Vec::with_capacity(file.len());
    for (key, value) in file {
        if !command
            .get_arguments()
            .any(|arg| arg.get_id() == key.as_str())
        {
            return Err(unknown(&key));
        }
        let from_default = matches!(
            matches.value_source(&key),
            None | Some(ValueSource::DefaultValue)
        );
        if from_default {
            merged.insert(key.clone(), value);
        }
        keys.push(key);
    }
    let mut out: Config = merged
        .try_into()
        .map_err(|e: toml::de::Error| file_err(e.to_string()))?;
    // Settings left unset (`node_id`, `tls_cert`) are not in the serialized
    // defaults, so a file may set any flag's key; but not the ones that never
    // belong in a file (`config`, `jwt_secret`), which do not serialize.
    let settable = toml::Table::try_from(&out).map_err(|e| file_err(e.to_string()))?;
    if let Some(key) = keys.iter().find(|key| !settable.contains_key(*key)) {
        return Err(unknown(key));
    }
    out.config = config.config;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_specs_parse_with_overrides() {
        let m: ModeSpec = "duel,game=arena,tick=60,capacity=2"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.name, "duel");
        assert_eq!(m.game, "arena");
        assert_eq!(m.tick_rate, Some(60));
        assert_eq!(m.capacity, Some(2));
        assert!("duel,speed=3".parse::<ModeSpec>().is_err());
        assert!("duel,tick=0".parse::<ModeSpec>().is_err());
    }

    #[test]
    fn file_sets_defaults_but_flags_win() {
        let dir = std::env::temp_dir().join(format!("tickforge-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("tickforge.toml");
        std::fs::write(
            &path,
            "tick_rate = 60\nroom_capacity = 8\nmodes = [\"duel,capacity=2\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = path.to_string_lossy().to_string();
        let c = Config::load_from(["tickforge", "--config", &p, "--room-capacity", "4"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.room.tick_rate, 60);
        assert_eq!(c.room.room_capacity, 4);
        assert_eq!(c.room.modes[0].name, "duel");
        std::fs::write(&path, "no_such_setting = 1\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(Config::load_from(["tickforge", "--config", &p]).is_err());
    }

    #[test]
    fn a_file_sets_settings_that_default_to_unset_but_never_secrets() {
        let dir = std::env::temp_dir().join(format!("tickforge-config-opt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("tickforge.toml");
        let p = path.to_string_lossy().to_string();
        std::fs::write(
            &path,
            "node_id = \"a\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
             trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c = Config::load_from(["tickforge", "--config", &p]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.net.node_id.as_deref(), Some("a"));
        assert_eq!(c.tls.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(c.net.trusted_proxies.len(), 2);
        for secret in ["jwt_secret = \"s\"\n", "config = \"other.toml\"\n"] {
            std::fs::write(&path, secret).unwrap_or_else(|e| panic!("{e}"));
            let refused = Config::load_from(["tickforge", "--config", &p]);
            assert!(refused.is_err(), "{secret} was accepted");
        }
        std::fs::write(&path, "tls_cert = \"c.pem\"\n").unwrap_or_else(|e| panic!("{e}"));
        let error = Config::load_from(["tickforge", "--config", &p])
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("--tls-key")));
        let _ = std::fs::remove_dir_all(dir);
    }
}
