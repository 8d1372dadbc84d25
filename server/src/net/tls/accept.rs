//! One connection's TLS handshake, run in the connection's own task on its
//! shard ([`crate::net::serve`]) with a deadline
//! (`--tls-handshake-timeout-ms`), so a client that connects and says
//! nothing (or speaks slowly) costs one task until its deadline and never
//! holds up the accept loop. At most [`MAX_HANDSHAKES`] handshakes run at
//! once per shard (policy: wait — the accept loop takes a slot before
//! accepting, so further connections stay in the kernel's accept backlog
//! until one finishes; counted in `tickforge_tls_handshake_slots_full_total`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::counter;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::metrics as names;

/// Handshakes in progress at once on one shard.
pub const MAX_HANDSHAKES: usize = 1024;

/// A shard's handshake slots.
pub fn slots() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_HANDSHAKES))
}

/// Takes a handshake slot, waiting (and counting the wait) when all are taken.
pub async fn take_slot(slots: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    match slots.clone().try_acquire_owned() {
        Ok(slot) => Some(slot),
        Err(_) => {
            counter!(names::TLS_HANDSHAKE_SLOTS_FULL).increment(1);
            slots.clone().acquire_owned().await.ok()
        }
    }
}

/// The handshake of `io` from `peer` within `deadline`; `None` (counted)
/// when it failed, ran out of time or the node shut down.
pub async fn handshake<S>(
    io: S,
    peer: SocketAddr,
    acceptor: &TlsAcceptor,
    deadline: Duration,
    shutdown: &CancellationToken,
    slot: OwnedSemaphorePermit,
) -> Option<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let outcome = tokio::select! {
        _ = shutdown.cancelled() => return None,
        outcome = tokio::time::timeout(deadline, acceptor.accept(io)) => outcome,
    };
    drop(slot);
    match outcome {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            counter!(names::TLS_HANDSHAKE_FAILURES).increment(1);
            tracing::debug!(client = %peer.ip(), error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            counter!(names::TLS_HANDSHAKE_TIMEOUTS).increment(1);
            tracing::debug!(client = %peer.ip(), ?deadline, "TLS handshake timed out");
            None
        }
    }
}
