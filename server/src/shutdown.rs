//! Shutdown and drain. One cancellation token per node (in
//! [`crate::node::Node`]), one task tracker per shard, and a deadline.
//!
//! A drain comes first: SIGTERM, SIGINT or `POST /admin/drain` marks the
//! node draining — `/readyz` answers 503 at once and new joins go to other
//! nodes (or are refused with `Draining`) — and after `--drain-delay`, the
//! time a load balancer needs to notice, the shutdown token is cancelled:
//! listeners stop accepting, sessions close their clients with 1001 after
//! their rooms wrote every player's snapshot, and each shard waits for its
//! tasks until the deadline. A second signal skips the rest of the delay.
//! With a peer node (`--presence redis://…`), the other nodes hear that this
//! one drains at once, and after the delay each room is handed to a peer
//! ([`crate::handoff`]) before the shutdown; only rooms that could not move
//! close with 1001.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT"),
        _ = term => tracing::info!("SIGTERM"),
    }
}

/// Waits for every task of `tasks` to finish, up to `deadline`. Returns
/// whether they all finished in time.
pub async fn drain(tasks: &TaskTracker, deadline: Duration) -> bool {
    tasks.close();
    tokio::time::timeout(deadline, tasks.wait()).await.is_ok()
}

/// How a node drains.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct DrainOptions {
    /// After a drain begins (SIGTERM, SIGINT or `POST /admin/drain`),
    /// `/readyz` answers 503 and new joins go elsewhere for this long before
    /// rooms close, so load balancers stop sending players here first: a
    /// duration such as `5s`, `500ms` or `0s`; default 5 s, at most 10
    /// minutes. Set it to the load balancer's health-check interval times
    /// its failure threshold, plus a margin.
    #[arg(long, env = "TICKFORGE_DRAIN_DELAY", default_value = "5s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    /// How long a drain's hand-off of one room to another node may take
    /// (`--presence redis://…` only): the target's answer, the record's
    /// life in Redis, and the wait for redirected clients to leave; a
    /// duration, default 3 s, between 100 ms and 1 minute. A room not moved
    /// in time closes as on a single node (snapshots, then 1001).
    #[arg(long, env = "TICKFORGE_HANDOFF_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde", default = "default_handoff_timeout")]
    pub handoff_timeout: Duration,
    /// Largest hand-off record (a room's whole state and its members), in
    /// bytes; default 1048576 (1 MiB), at most 64 MiB. A larger room is not
    /// handed off (see [`crate::handoff`] for the choice).
    #[arg(long, env = "TICKFORGE_HANDOFF_MAX_BYTES", default_value_t = 1 << 20)]
    #[serde(default = "default_handoff_max_bytes")]
    pub handoff_max_bytes: usize,
}

fn default_handoff_timeout() -> Duration {
    Duration::from_secs(3)
}

fn default_handoff_max_bytes() -> usize {
    1 << 20
}

/// Longest accepted `--drain-delay`.
pub const MAX_DRAIN_DELAY: Duration = Duration::from_secs(600);

impl DrainOptions {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<&'static str> {
        if self.drain_delay > MAX_DRAIN_DELAY {
            return Some("drain_delay must be at most 10 minutes");
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&self.handoff_timeout) {
            return Some("handoff_timeout must be between 100ms and 1 minute");
        }
        if !(1024..=64 << 20).contains(&self.handoff_max_bytes) {
            return Some("handoff_max_bytes must be between 1024 and 67108864");
        }
        None
    }
}

/// Why a drain began (a metric label and a log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainCause {
    /// SIGTERM or SIGINT.
    Signal,
    /// `POST /admin/drain` on the admin listener.
    Admin,
}

impl DrainCause {
    /// Every label, for registering the metric at zero.
    pub const LABELS: [&'static str; 2] = ["signal", "admin"];

    /// Stable label.
    pub fn label(self) -> &'static str {
        match self {
            DrainCause::Signal => "signal",
            DrainCause::Admin => "admin",
        }
    }
}

/// A node's drain state: not draining, then draining since an instant.
#[derive(Debug, Default)]
pub struct Drain {
    begun: CancellationToken,
    since: OnceLock<Instant>,
}

impl Drain {
    /// Marks the node draining. Returns `false` when it already was.
    pub fn begin(&self, cause: DrainCause) -> bool {
        if self.since.set(Instant::now()).is_err() {
            return false;
        }
        self.begun.cancel();
        crate::metrics::drain_begun(cause);
        tracing::info!(cause = cause.label(), "draining: not ready, no new joins");
        true
    }

    /// Whether a drain has begun.
    pub fn is_draining(&self) -> bool {
        self.begun.is_cancelled()
    }

    /// When the drain began, if it has.
    pub fn since(&self) -> Option<Instant> {
        self.since.get().copied()
    }

    /// Resolves once a drain has begun.
    pub async fn begun(&self) {
        self.begun.cancelled().await;
    }
}

/// Runs a node's drain: waits for it to begin (or for shutdown), then for
/// `delay` (or shutdown), then cancels `shutdown`.
pub async fn run_drain(drain: &Drain, delay: Duration, shutdown: &CancellationToken) {
    if drain_begun(drain, shutdown).await {
        drain_delay_over(delay, shutdown).await;
    }
    shutdown.cancel();
}

/// Waits for a drain to begin; false when the node shut down first.
pub async fn drain_begun(drain: &Drain, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = drain.begun() => true,
        _ = shutdown.cancelled() => false,
    }
}

/// Waits for `delay`; false when the node shut down first.
pub async fn drain_delay_over(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {
            tracing::info!(delay_ms = delay.as_millis() as u64, "drain delay over: handing off or closing rooms");
            true
        }
        _ = shutdown.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_begins_once() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        assert!(drain.begin(DrainCause::Admin));
        assert!(drain.is_draining());
        let since = drain.since();
        assert!(!drain.begin(DrainCause::Signal));
        assert_eq!(drain.since(), since);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_follows_the_drain_delay() {
        let drain = Drain::default();
        let shutdown = CancellationToken::new();
        let delay = Duration::from_secs(5);
        let run = run_drain(&drain, delay, &shutdown);
        tokio::pin!(run);
        // Nothing happens before the drain begins.
        assert!(
            tokio::time::timeout(Duration::from_secs(60), &mut run)
                .await
                .is_err()
        );
        assert!(!shutdown.is_cancelled());
        drain.begin(DrainCause::Admin);
        let started = tokio::time::Instant::now();
        run.await;
        assert!(shutdown.is_cancelled());
        assert_eq!(started.elapsed(), delay);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_during_the_delay_ends_the_drain_at_once() {
        let drain = Drain::default();
        let shutdown = CancellationToken::new();
        drain.begin(DrainCause::Signal);
        let started = tokio::time::Instant::now();
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stopper.cancel();
        });
        run_drain(&drain, Duration::from_secs(30), &shutdown).await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn drain_delay_is_bounded() {
        let mut options = DrainOptions {
            drain_delay: Duration::from_secs(5),
            handoff_timeout: Duration::from_secs(3),
            handoff_max_bytes: 1 << 20,
        };
        assert!(options.problem().is_none());
        options.drain_delay = MAX_DRAIN_DELAY + Duration::from_secs(1);
        assert!(options.problem().is_some());
    }
}
