//! SIGHUP re-reads `--tls-cert` and `--tls-key`: a small thread of its own
//! (current-thread runtime) waits for the signal and calls
//! [`TlsCerts::reload`], until the node shuts down. It is started only with
//! TLS on; without it SIGHUP keeps its default meaning.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;

use super::TlsCerts;

/// Starts the reload thread.
pub fn spawn(certs: Arc<TlsCerts>, shutdown: CancellationToken) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered before start returns, so a SIGHUP sent right after the node
    // is up never meets the default action (which ends the process).
    let hangups = {
        let _entered = runtime.enter();
        hangups()?
    };
    std::thread::Builder::new()
        .name("tickforge-tls-reload".into())
        .spawn(move || runtime.block_on(run(certs, hangups, shutdown)))
}

#[cfg(unix)]
type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangups() -> std::io::Result<Hangups> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

#[cfg(not(unix))]
fn hangups() -> std::io::Result<Hangups> {
    Ok(())
}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    hangups.recv().await
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}

async fn run(certs: Arc<TlsCerts>, mut hangups: Hangups, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            hangup = next_hangup(&mut hangups) => if hangup.is_none() {
                return;
            },
        }
        match certs.reload() {
            Ok(()) => tracing::info!(
                cert = %certs.cert_path().display(),
                "SIGHUP: TLS certificate reloaded; new connections use it"
            ),
            Err(e) => tracing::error!(
                error = %e,
                reason = e.label(),
                "SIGHUP: TLS certificate not reloaded; still serving the previous one"
            ),
        }
    }
}
