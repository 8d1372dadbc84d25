//! Starting and stopping a node: bind the shard listeners and the admin
//! listener, build one current-thread runtime per shard, start the pinned
//! shard threads (public listener: [`crate::net::serve`], over TLS with
//! `--tls-cert`, behind the node-wide connection cap checked against
//! `RLIMIT_NOFILE`), the admin
//! thread (admin router) and, with TLS, the SIGHUP reload thread, and on
//! shutdown wait for them within the deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Auth, AuthSetupError};
use crate::config::Config;
use crate::game::GameRegistry;
use crate::metrics::ShardMetrics;
use crate::net::limits::{Admission, fd};
use crate::net::tls::{self, TlsCerts, TlsSetupError};
use crate::net::{admin, listener, serve};
use crate::node::{Node, Services};
use crate::persist::{PersistError, Persistence};
use crate::presence::{AccessAction, AccessSink, PresenceHandle, redis};
use crate::shard::ShardHandle;
use crate::shutdown::DrainCause;
use crate::{metrics, observer, shutdown};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listeners or building a runtime failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// The configuration names an unknown game.
    #[error(transparent)]
    Config(#[from] crate::node::UnknownGame),
    /// The presence backend could not be set up.
    #[error(transparent)]
    Presence(#[from] crate::presence::redis::PresenceError),
    /// The snapshot store could not be opened.
    #[error(transparent)]
    Snapshots(#[from] PersistError),
    /// The identity keys could not be loaded.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The file-descriptor limit leaves too few connections.
    #[error(transparent)]
    FdLimit(#[from] fd::FdLimitError),
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Io { context, source }
}

/// A running node.
pub struct Server {
    node: Arc<Node>,
    threads: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
    admin_addr: SocketAddr,
    persistence: Persistence,
}

impl Server {
    /// Binds, starts every shard and returns once they accept connections.
    pub fn start(config: Config, games: GameRegistry) -> Result<Server, StartError> {
        let count = config.shard_count();
        let handle = metrics::install();
        let budget = config.room.tick_budget();
        metrics::register_node(budget);
        let resume = Arc::new(crate::resume::ResumeRegistry::new(
            config.node_id(),
            config.room.resume_grace,
        ));
        let auth = Arc::new(Auth::new(&config.auth)?.with_resume(resume));
        metrics::register_auth(auth.trusts_hello());
        metrics::register_tls();
        metrics::register_connection_limits();
        let max_connections = fd::effective_max_connections(
            config.limits.max_connections,
            config.limits.fd_reserve,
            fd::nofile_limit(),
        )?;
        let admission = Admission::new(&config.limits, max_connections);
        metrics::register_drain();
        if let Some(pct) = config.shard.shard_imbalance_pct {
            tracing::warn!(
                shard_imbalance_pct = pct,
                "--shard-imbalance-pct is deprecated and ignored: new rooms are created on the joining connection's own shard"
            );
        }
        metrics::register_resume();
        metrics::register_handoff();
        let tls = match config.tls.files() {
            Some((cert, key)) => Some(Arc::new(TlsCerts::load(cert, key)?)),
            None => None,
        };
        let (listeners, local_addr) =
            listener::bind_shards(config.net.listen, count, config.net.backlog)
                .map_err(io("binding listeners"))?;
        let (admin_listener, admin_addr) = listener::bind_admin(config.net.admin_listen)
            .map_err(io("binding the admin listener"))?;
        let runtimes = (0..count)
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(io("building shard runtimes"))?;
        let shards = runtimes
            .iter()
            .enumerate()
            .map(|(id, rt)| ShardHandle {
                id,
                runtime: rt.handle().clone(),
                metrics: Arc::new(ShardMetrics::new(id, budget)),
                tasks: TaskTracker::new(),
                kicks: Arc::default(),
            })
            .collect();
        let pin = config.shard.pin_cores;
        let shutdown = CancellationToken::new();
        let deadline = Duration::from_millis(config.net.shutdown_deadline_ms);
        let persistence = Persistence::start(&config.snapshots, shutdown.clone(), deadline)?;
        let snapshots = persistence.handle().clone();
        let started = start_presence(&config, local_addr, auth.clone(), shutdown.clone()).and_then(
            |(presence, thread)| {
                let services = Services {
                    metrics: handle,
                    presence,
                    snapshots,
                    auth,
                };
                let node = Node::new(config, &games, shards, services, shutdown.clone())?;
                Ok((Arc::new(node), thread))
            },
        );
        let (node, presence_thread) = match started {
            Ok(started) => started,
            Err(e) => {
                shutdown.cancel();
                persistence.finish();
                return Err(e);
            }
        };
        let cores = if pin {
            core_affinity::get_core_ids().filter(|c| !c.is_empty())
        } else {
            None
        };
        let mut threads = Vec::with_capacity(count + 4);
        threads.extend(presence_thread);
        for (id, (runtime, listener)) in runtimes.into_iter().zip(listeners).enumerate() {
            let shard_node = node.clone();
            let shard_tls = tls.clone();
            let shard_admission = admission.clone();
            let core = cores.as_ref().map(|c| c[id % c.len()]);
            let spawned = std::thread::Builder::new()
                .name(format!("tickforge-shard-{id}"))
                .spawn(move || {
                    if let Some(core) = core
                        && !core_affinity::set_for_current(core)
                    {
                        tracing::warn!(shard = id, core = core.id, "could not pin shard to core");
                    }
                    runtime.block_on(serve_shard(
                        shard_node,
                        id,
                        listener,
                        shard_admission,
                        shard_tls,
                    ));
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    // Stop the shards already running before reporting.
                    node.shutdown.cancel();
                    persistence.finish();
                    return Err(io("spawning shard thread")(e));
                }
            }
        }
        if let Some(jwks) = node.auth.jwks_fetcher() {
            match spawn_jwks_fetcher(jwks, node.shutdown.clone()) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    node.shutdown.cancel();
                    persistence.finish();
                    return Err(io("spawning JWKS thread")(e));
                }
            }
        }
        match observer::spawn(node.clone()) {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                node.shutdown.cancel();
                persistence.finish();
                return Err(io("spawning observer thread")(e));
            }
        }
        match spawn_drain(node.clone()) {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                node.shutdown.cancel();
                persistence.finish();
                return Err(io("spawning the drain thread")(e));
            }
        }
        if let Some(redis_url) = node.config.presence.redis_url() {
            match spawn_handoff_receiver(node.clone(), redis_url.to_string()) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    node.shutdown.cancel();
                    persistence.finish();
                    return Err(io("spawning the hand-off thread")(e));
                }
            }
        }
        match admin::spawn(node.clone(), admin_listener) {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                node.shutdown.cancel();
                persistence.finish();
                return Err(io("spawning admin thread")(e));
            }
        }
        if let Some(certs) = &tls {
            match tls::reload::spawn(certs.clone(), node.shutdown.clone()) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    node.shutdown.cancel();
                    persistence.finish();
                    return Err(io("spawning the TLS reload thread")(e));
                }
            }
        }
        node.set_ready();
        tracing::info!(
            addr = %local_addr,
            admin = %admin_addr,
            shards = count,
            tls = tls.is_some(),
            max_connections,
            node = %node.node_id,
            "tickforge listening"
        );
        Ok(Server {
            node,
            threads,
            local_addr,
            admin_addr,
            persistence,
        })
    }

    /// The address the shards listen on (the public listener).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the admin listener is bound to (operators' endpoints).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The node (directories, shards, config).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Begins a drain: `/readyz` answers 503 and new joins go elsewhere at
    /// once; after `--drain-delay` the node shuts down. Returns `false` when
    /// a drain was already under way.
    pub fn drain(&self, cause: DrainCause) -> bool {
        self.node.drain.begin(cause)
    }

    /// Begins shutdown: stop accepting, close every client with 1001.
    pub fn shutdown(&self) {
        self.node.shutdown.cancel();
    }

    /// Blocks until every shard thread (and the presence, observer and
    /// admin threads) has stopped, then until the snapshot writer has
    /// written (or spilled) every snapshot.
    pub fn wait(self) {
        for thread in self.threads {
            let name = thread.thread().name().unwrap_or("unnamed").to_string();
            if thread.join().is_err() {
                tracing::error!(thread = %name, "a server thread panicked");
            }
        }
        self.persistence.finish();
    }

    /// Shuts down and waits, from async code.
    pub async fn stop(self) {
        self.shutdown();
        match tokio::task::spawn_blocking(move || self.wait()).await {
            Ok(()) => {}
            Err(e) => tracing::error!(error = %e, "waiting for shards failed"),
        }
    }
}

/// The URL other nodes send clients to: `--public-url`, else derived from
/// the bound address (`wss://` with `--tls-cert`).
fn public_url(config: &Config, local_addr: SocketAddr) -> String {
    if let Some(url) = &config.presence.public_url {
        return url.clone();
    }
    let mut addr = local_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if config.tls.enabled() { "wss" } else { "ws" };
    format!("{scheme}://{addr}/ws")
}

/// The thread that turns a drain into a shutdown after `--drain-delay`.
fn spawn_drain(node: Arc<Node>) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("tickforge-drain".into())
        .spawn(move || {
            let delay = node.config.drain.drain_delay;
            runtime.block_on(async {
                if shutdown::drain_begun(&node.drain, &node.shutdown).await {
                    node.presence.announce_draining();
                    if shutdown::drain_delay_over(delay, &node.shutdown).await {
                        crate::handoff::source::hand_off_all(&node).await;
                    }
                }
                node.shutdown.cancel();
            });
        })
}

/// The thread that takes rooms other nodes hand to this one (with
/// `--presence redis://…` only).
fn spawn_handoff_receiver(node: Arc<Node>, redis_url: String) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("tickforge-handoff".into())
        .spawn(move || {
            let shutdown = node.shutdown.clone();
            runtime.block_on(crate::handoff::target::run(node, redis_url, shutdown));
        })
}

/// The thread that fetches `--jwks-url` (its own current-thread runtime).
fn spawn_jwks_fetcher(
    jwks: Arc<crate::auth::jwks::Jwks>,
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("tickforge-jwks".into())
        .spawn(move || runtime.block_on(jwks.run_fetcher(shutdown)))
}

/// The configured presence backend; the Redis one comes with its thread.
fn start_presence(
    config: &Config,
    local_addr: SocketAddr,
    access: Arc<dyn AccessSink>,
    shutdown: CancellationToken,
) -> Result<(PresenceHandle, Option<JoinHandle<()>>), StartError> {
    let node_id = config.node_id();
    let url = public_url(config, local_addr);
    let local = config.presence.redis_url().is_none();
    metrics::register_presence(&crate::presence::Change::LABELS, &redis::actor::OPS, local);
    metrics::register_access(&AccessAction::LABELS);
    match config.presence.redis_url() {
        None => Ok((PresenceHandle::local(&node_id, &url), None)),
        Some(redis_url) => {
            let (handle, thread) = redis::start(
                &config.presence,
                redis_url,
                &node_id,
                &url,
                access,
                shutdown,
            )?;
            tracing::info!(node = %node_id, %url, "presence: Redis");
            Ok((handle, Some(thread)))
        }
    }
}

/// One shard's life: serve the public listener until shutdown (over TLS
/// with `tls`), then drain its sessions and rooms within the deadline.
async fn serve_shard(
    node: Arc<Node>,
    shard: usize,
    listener: std::net::TcpListener,
    admission: Arc<Admission>,
    tls: Option<Arc<TlsCerts>>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(shard, error = %e, "listener unusable");
            return;
        }
    };
    let deadline = serve::run(&node, shard, listener, admission, tls).await;
    let left = deadline.saturating_duration_since(Instant::now());
    if !shutdown::drain(&node.shards[shard].tasks, left).await {
        tracing::warn!(shard, "sessions still open at the shutdown deadline");
    }
}
