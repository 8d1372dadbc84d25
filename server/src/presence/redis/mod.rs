//! The Redis backend (crate `fred`). Rooms hand changes to a bounded queue
//! (never waiting); the presence actor, on its own thread, writes them to
//! this node's TTL keys and publishes them on the presence channel in one
//! transaction, keeps the heartbeat alive, reaps nodes whose heartbeat
//! expired, and keeps the view in sync: subscribe first, then snapshot, then
//! apply bulletins in order. A lagged subscription or a reconnect triggers a
//! full resync; a full queue, a reconnect or lost keys trigger a republish
//! of this node's whole state. Everything is counted.
//!
//! | file | owns |
//! |---|---|
//! | [`keys`] | key names and entry encodings |
//! | [`actor`] | the presence actor's loop: heartbeat, writes, bulletins, resync |
//! | [`ops`] | the Redis commands each step sends |

pub mod actor;
pub mod keys;
pub mod ops;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use fred::prelude::{Builder, Config as RedisConfig, ReconnectPolicy};
use metrics::counter;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    AccessAction, AccessSink, Health, Presence, PresenceHandle, PresenceOptions, PresenceView,
    Stamped,
};
use crate::metrics::{PRESENCE_ACCESS_DROPPED, PRESENCE_QUEUE_FULL};

/// The presence backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    /// The Redis URL or client settings were refused.
    #[error("presence: {0}")]
    Redis(#[from] fred::error::Error),
    /// The node id cannot be used as part of Redis keys.
    #[error("presence: node id `{0}` must be 1-64 characters of A-Z a-z 0-9 . _ -")]
    NodeId(String),
    /// The presence thread could not be started.
    #[error("presence: starting its thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The side of the Redis backend that rooms and HTTP handlers touch.
pub struct RedisPresence {
    view: PresenceView,
    queue: ArrayQueue<Stamped>,
    overflowed: AtomicBool,
    wake: Notify,
    connected: AtomicBool,
    /// Access-control actions of this node waiting to be published.
    access: ArrayQueue<AccessAction>,
    /// Applies other nodes' access-control actions here.
    sink: Arc<dyn AccessSink>,
    /// Set once the node drains; the actor rewrites its heartbeat.
    draining: AtomicBool,
}

/// Access-control actions that may wait for the presence actor; past it an
/// action is dropped (counted in `tickforge_presence_access_dropped_total`,
/// logged): other nodes then miss that kick, ban or replacement.
pub const ACCESS_QUEUE: usize = 65_536;

impl Presence for RedisPresence {
    fn backend(&self) -> &'static str {
        "redis"
    }

    fn view(&self) -> &PresenceView {
        &self.view
    }

    fn publish(&self, change: Stamped) {
        if self.queue.push(change).is_err() {
            // Coalesce: the view already holds the change; the actor
            // republishes this node's whole state instead.
            self.overflowed.store(true, Ordering::Release);
            counter!(PRESENCE_QUEUE_FULL).increment(1);
        }
        self.wake.notify_one();
    }

    fn health(&self) -> Health {
        if self.connected.load(Ordering::Acquire) {
            Health::Connected
        } else {
            Health::Degraded
        }
    }

    fn publish_access(&self, action: AccessAction) {
        if let Err(action) = self.access.push(action) {
            counter!(PRESENCE_ACCESS_DROPPED).increment(1);
            tracing::warn!(
                action = action.label(),
                "presence: access queue full; action not sent to other nodes"
            );
        }
        self.wake.notify_one();
    }

    fn announce_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Whether `id` can be part of a Redis key and of room ids.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Starts the Redis backend for node `node` (reached at `url`): returns the
/// handle rooms report to and the presence thread, which stops (after
/// removing this node's keys) when `shutdown` is cancelled.
pub fn start(
    options: &PresenceOptions,
    redis_url: &str,
    node: &str,
    url: &str,
    sink: Arc<dyn AccessSink>,
    shutdown: CancellationToken,
) -> Result<(PresenceHandle, JoinHandle<()>), PresenceError> {
    if !valid_node_id(node) {
        return Err(PresenceError::NodeId(node.to_string()));
    }
    let timeout = Duration::from_millis(options.presence_timeout_ms);
    let channel = options.presence_channel;
    let mut builder = Builder::from_config(RedisConfig::from_url(redis_url)?);
    builder
        .with_performance_config(|p| {
            p.default_command_timeout = timeout;
            p.broadcast_channel_capacity = channel;
        })
        .with_connection_config(|c| {
            c.connection_timeout = timeout;
            c.internal_command_timeout = timeout;
            c.max_command_attempts = 1;
            // A connection that stops answering a command (half-open) is
            // dropped and reconnected instead of looking healthy forever; the
            // heartbeat pings the subscriber connection for this.
            c.unresponsive.max_timeout = Some(timeout);
            c.unresponsive.interval = (timeout / 4).max(Duration::from_millis(100));
        })
        // Reconnect forever: 100 ms doubling up to 5 s, with fred's jitter.
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5000, 2));
    let client = builder.build()?;
    let subscriber = builder.build_subscriber_client()?;
    let shared = Arc::new(RedisPresence {
        view: PresenceView::new(Arc::from(node), Arc::from(url)),
        queue: ArrayQueue::new(options.presence_queue),
        overflowed: AtomicBool::new(false),
        wake: Notify::new(),
        connected: AtomicBool::new(false),
        access: ArrayQueue::new(ACCESS_QUEUE),
        sink,
        draining: AtomicBool::new(false),
    });
    let actor = actor::Actor::new(shared.clone(), client, subscriber, options);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("tickforge-presence".into())
        .spawn(move || runtime.block_on(actor.run(shutdown)))?;
    Ok((PresenceHandle::new(shared), thread))
}
