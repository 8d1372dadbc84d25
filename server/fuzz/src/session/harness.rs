//! One node per process, built once and shared by every input: two shards
//! on one current-thread runtime whose clock is paused (timers fire when
//! the runtime has nothing else to do, so ticks and timeouts cost no real
//! time and follow the script), the embedded snapshot store in a temporary
//! directory with its real writer thread, local presence, and identity by
//! trust-hello or the node's own session tokens.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tickforge_protocol::session_token::Claims;
use tickforge_server::auth::Auth;
use tickforge_server::metrics::ShardMetrics;
use tickforge_server::node::{Node, Services};
use tickforge_server::persist::Persistence;
use tickforge_server::presence::PresenceHandle;
use tickforge_server::shard::ShardHandle;
use tickforge_server::{Config, GameRegistry};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::script::PLAYERS;

/// Shards of the node (both run on the one runtime).
pub const SHARDS: usize = 2;

/// The node's settings: small rooms and short timeouts, so that scripts of
/// a few dozen steps fill rooms, overflow outboxes and reach every timeout.
const FLAGS: &[&str] = &[
    "tickforge",
    "--listen",
    "127.0.0.1:0",
    "--auth",
    "trust-hello,guest",
    "--mode",
    "arena,capacity=3;duel,game=arena,capacity=2,tick=60",
    "--empty-room-grace-ms",
    "200",
    "--inputs-per-seat",
    "4",
    "--outbox-frames",
    "8",
    "--write-timeout-ms",
    "500",
    "--ping-interval-ms",
    "1000",
    "--handshake-timeout-ms",
    "2000",
    "--idle-timeout-ms",
    "3000",
];

/// Session tokens signed by the node's key, minted once.
pub struct Tokens {
    /// A valid token of each player `p{i}`.
    pub valid: Vec<String>,
    /// An expired token of each player.
    pub expired: Vec<String>,
    /// A token of each player with a broken signature.
    pub bad_signature: Vec<String>,
    /// A valid guest token of the guest `g0`.
    pub guest: String,
}

/// The node and what drives it.
pub struct Harness {
    /// The runtime every session and room runs on (paused clock).
    pub runtime: Runtime,
    /// The node.
    pub node: Arc<Node>,
    /// Pre-minted tokens.
    pub tokens: Tokens,
    /// A runtime with a real clock for checks that must not move the
    /// paused one (claim probes).
    pub probe: Runtime,
    _persistence: Persistence,
}

/// The process's harness, built on first use.
pub fn get() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(build)
}

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickforge-fuzz-{}", std::process::id()));
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        panic!("cannot clear {}: {e}", dir.display());
    }
    dir
}

fn build() -> Harness {
    let dir = data_dir();
    let mut flags: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
    flags.extend(["--data-dir".to_string(), dir.display().to_string()]);
    let config = Config::load_from(flags).unwrap_or_else(|e| panic!("harness config: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let probe = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("probe runtime: {e}"));
    let budget = config.room.tick_budget();
    let shards = (0..SHARDS)
        .map(|id| ShardHandle {
            id,
            runtime: runtime.handle().clone(),
            metrics: Arc::new(ShardMetrics::new(id, budget)),
            tasks: TaskTracker::new(),
            kicks: Arc::default(),
        })
        .collect();
    let shutdown = CancellationToken::new();
    let persistence =
        Persistence::start(&config.snapshots, shutdown.clone(), Duration::from_secs(1))
            .unwrap_or_else(|e| panic!("snapshot store in {}: {e}", dir.display()));
    let auth = Arc::new(Auth::new(&config.auth).unwrap_or_else(|e| panic!("auth: {e}")));
    let tokens = mint(&auth);
    let services = Services {
        metrics: PrometheusBuilder::new().build_recorder().handle(),
        presence: PresenceHandle::local(&config.node_id(), "ws://127.0.0.1:0/ws"),
        snapshots: persistence.handle().clone(),
        auth,
    };
    let node = Node::new(config, &GameRegistry::default(), shards, services, shutdown)
        .unwrap_or_else(|e| panic!("node: {e}"));
    node.set_ready();
    Harness {
        runtime,
        node: Arc::new(node),
        tokens,
        probe,
        _persistence: persistence,
    }
}

fn mint(auth: &Auth) -> Tokens {
    let sign = |claims: &Claims| {
        auth.mint(claims)
            .unwrap_or_else(|e| panic!("minting a token: {e}"))
    };
    let hour = Duration::from_secs(3600);
    let player = |i: usize| format!("p{i}");
    let valid: Vec<String> = (0..PLAYERS)
        .map(|i| sign(&Claims::new(player(i), None, hour)))
        .collect();
    let expired = (0..PLAYERS)
        .map(|i| {
            let mut claims = Claims::new(player(i), None, hour);
            claims.exp = claims.exp.saturating_sub(2 * 3600);
            sign(&claims)
        })
        .collect();
    let bad_signature = valid
        .iter()
        .map(|token| {
            // A character well inside the signature (the last one may
            // carry only padding bits).
            let at = token.rfind('.').map_or(0, |dot| dot + 5);
            token
                .char_indices()
                .map(|(i, c)| match (i == at, c) {
                    (true, 'A') => 'B',
                    (true, _) => 'A',
                    (false, c) => c,
                })
                .collect()
        })
        .collect();
    let mut guest = Claims::new("g0", Some("Guest".into()), hour);
    guest.guest = true;
    Tokens {
        valid,
        expired,
        bad_signature,
        guest: sign(&guest),
    }
}
