//! `baseline`: an intentionally ordinary game server speaking the tickforge
//! protocol (subprotocol `tickforge.v1`) and running the same `arena` game,
//! for the capacity harness to compare tickforge against in the same run.
//! See [`tickforge_benches::baseline`] for what "ordinary" means here and
//! what is shared with tickforge.
//!
//! ```sh
//! cargo run --release -p tickforge-benches --bin baseline -- --listen 127.0.0.1:7701 --threads 1
//! curl localhost:7701/healthz    # ok
//! ```
//!
//! The bound address is printed on stdout as `listening on ADDR` (useful
//! with `--listen 127.0.0.1:0`); logs go to stderr (`RUST_LOG`, default `info`).
//!
//! The runtime is the one `#[tokio::main]` builds (multi-thread, all
//! drivers enabled), built by hand only so that `--threads` can set its
//! worker count.

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use tickforge_benches::baseline::{self, Options};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = options.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("building the runtime")?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("binding {}", options.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {addr}")?;
        stdout.flush()?;
    }
    tracing::info!(%addr, threads = ?options.threads, tick_rate = options.tick_rate, capacity = options.capacity, "baseline serving");
    tokio::select! {
        served = baseline::serve(listener, &options) => served.context("serving")?,
        _ = shutdown_signal() => tracing::info!("signal received, exiting"),
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIGTERM handler unavailable");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        result = tokio::signal::ctrl_c() => if let Err(e) = result {
            tracing::warn!(error = %e, "SIGINT handler unavailable");
            std::future::pending::<()>().await;
        },
        _ = terminate => {}
    }
}
