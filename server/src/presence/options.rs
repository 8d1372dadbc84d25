//! Presence settings: which backend, how this node is reached, and the
//! timings of heartbeats and reaping.

use clap::Args;
use serde::{Deserialize, Serialize};

/// Cross-node presence and room ownership.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct PresenceOptions {
    /// Presence backend: `local` (in-process, single node) or a Redis URL
    /// (`redis://host:6379/0`) shared by every node of the cluster.
    #[arg(long, env = "TICKFORGE_PRESENCE", default_value = "local")]
    pub presence: String,
    /// WebSocket URL other nodes redirect clients to for rooms of this node.
    /// Default: `ws://<listen address>/ws` (an unspecified address becomes
    /// 127.0.0.1, fine on one machine only).
    #[arg(long, env = "TICKFORGE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Lifetime of this node's heartbeat, room and player keys in Redis, in
    /// milliseconds; a node silent for this long is reaped by the others.
    #[arg(long, env = "TICKFORGE_PRESENCE_TTL_MS", default_value_t = 10_000)]
    pub presence_ttl_ms: u64,
    /// Changes waiting for the presence actor. Policy when full: coalesce
    /// (the next write republishes this node's whole state).
    #[arg(long, env = "TICKFORGE_PRESENCE_QUEUE", default_value_t = 8192)]
    pub presence_queue: usize,
    /// Bulletins buffered for this node between Redis and the presence
    /// actor. Policy when it overflows: the view is resynchronised from a
    /// full snapshot (counted in `tickforge_presence_resyncs_total`).
    #[arg(long, env = "TICKFORGE_PRESENCE_CHANNEL", default_value_t = 4096)]
    pub presence_channel: usize,
    /// Timeout of one Redis command, in milliseconds.
    #[arg(long, env = "TICKFORGE_PRESENCE_TIMEOUT_MS", default_value_t = 2000)]
    pub presence_timeout_ms: u64,
}

impl PresenceOptions {
    /// The Redis URL, when the Redis backend is selected.
    pub fn redis_url(&self) -> Option<&str> {
        let url = self.presence.as_str();
        (url.starts_with("redis://") || url.starts_with("rediss://")).then_some(url)
    }

    /// A problem with these settings, if any.
    pub fn problem(&self) -> Option<&'static str> {
        if self.presence != "local" && self.redis_url().is_none() {
            return Some("presence must be `local` or a redis:// URL");
        }
        if self.presence_ttl_ms < 1000 {
            return Some("presence_ttl_ms must be at least 1000");
        }
        if self.presence_queue == 0 {
            return Some("presence_queue must be at least 1");
        }
        if self.presence_channel == 0 {
            return Some("presence_channel must be at least 1");
        }
        if self.presence_timeout_ms == 0 || self.presence_timeout_ms * 4 > self.presence_ttl_ms {
            return Some(
                "presence_timeout_ms must be at least 1 and at most a quarter of presence_ttl_ms",
            );
        }
        None
    }
}
