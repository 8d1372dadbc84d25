//! Shutdown: one cancellation token per node (in [`crate::node::Node`]),
//! one task tracker per shard, and a deadline. SIGINT or SIGTERM cancels the
//! token; listeners stop accepting, sessions close their clients with 1001
//! and rooms stop; each shard waits for its tasks until the deadline.

use std::time::Duration;

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
        _ = ctrl_c => tracing::info!("SIGINT: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Waits for every task of `tasks` to finish, up to `deadline`. Returns
/// whether they all finished in time.
pub async fn drain(tasks: &TaskTracker, deadline: Duration) -> bool {
    tasks.close();
    tokio::time::timeout(deadline, tasks.wait()).await.is_ok()
}
