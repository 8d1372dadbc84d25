//! Shards: one OS thread each, optionally pinned to a core, running its own
//! current-thread tokio runtime and its own `SO_REUSEPORT` listener.
//!
//! A connection lives its whole life on the shard that accepted it, and so do
//! the rooms that shard creates: their state is only touched from that
//! thread. Join-or-create puts a connection in a room on its own shard
//! ([`crate::node::Node::join_or_create`]), so the shard writes its
//! members' States to their sockets itself. [`ShardHandle`] is the thread-safe side used to place rooms on a
//! shard and to read its load.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

use crate::metrics::ShardMetrics;
use crate::net::kick::ShardKicks;

/// Thread-safe handle to a running shard.
#[derive(Clone)]
pub struct ShardHandle {
    /// Shard index, `0..shards`.
    pub id: usize,
    /// The shard's runtime; tasks spawned here run on the shard's thread.
    pub runtime: Handle,
    /// The shard's metric handles and load counters.
    pub metrics: Arc<ShardMetrics>,
    /// Sessions and rooms running on the shard; shutdown waits for them.
    pub tasks: TaskTracker,
    /// The shard's sessions' kicks: raised at shutdown.
    pub kicks: Arc<ShardKicks>,
}
