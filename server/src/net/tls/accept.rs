//! A shard's TLS listener, served by axum like the plain one.
//!
//! One task accepts TCP connections and gives each its own handshake task
//! with a deadline (`--tls-handshake-timeout-ms`); finished handshakes wait
//! in a bounded queue for the HTTP server, which takes them through the
//! [`Listener`] trait. So a client that connects and says nothing (or
//! speaks slowly) costs one task until its deadline and never holds up the
//! accept loop. At most [`MAX_HANDSHAKES`] handshakes run at once per shard
//! (policy: wait — further connections stay in the kernel's accept backlog
//! until one finishes; counted in `tickforge_tls_handshake_slots_full_total`).
//! Finished handshakes wait for the HTTP server, which takes them at once,
//! in a queue of [`READY_QUEUE`] (policy: wait). Every task runs on the
//! shard's own runtime, and they all stop when the node shuts down.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use metrics::counter;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::metrics as names;

/// Handshakes in progress at once on one shard.
pub const MAX_HANDSHAKES: usize = 1024;
/// Finished handshakes waiting for the HTTP server of one shard.
pub const READY_QUEUE: usize = 256;
/// Pause after an accept error other than a dropped connection (out of file
/// descriptors, say), as axum's own listener does.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// A connection whose TLS handshake finished, and its peer.
type Ready = (TlsStream<TcpStream>, SocketAddr);

/// A shard's TLS listener (see the module docs).
pub struct TlsListener {
    ready: mpsc::Receiver<Ready>,
    local_addr: SocketAddr,
}

/// What the accept task needs.
pub struct AcceptOptions<F> {
    /// Handshakes with the live certificate.
    pub acceptor: TlsAcceptor,
    /// Deadline of one handshake.
    pub handshake_timeout: Duration,
    /// Socket options for each accepted connection (before its handshake).
    pub tune: F,
    /// Stops accepting and abandons handshakes in progress.
    pub shutdown: CancellationToken,
}

impl TlsListener {
    /// Starts accepting on `tcp` with a task on the current runtime (the
    /// shard's).
    pub fn start<F>(tcp: TcpListener, options: AcceptOptions<F>) -> io::Result<TlsListener>
    where
        F: Fn(&TcpStream) + Send + 'static,
    {
        let local_addr = tcp.local_addr()?;
        let (queue, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(tcp, options, queue));
        Ok(TlsListener { ready, local_addr })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task stopped (shutdown): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop<F>(tcp: TcpListener, options: AcceptOptions<F>, queue: mpsc::Sender<Ready>)
where
    F: Fn(&TcpStream) + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = options.shutdown.cancelled() => return,
            accepted = accept_with_slot(&tcp, &slots) => accepted,
        };
        let (stream, peer, slot) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "TLS listener: accept failed; pausing");
                tokio::select! {
                    _ = options.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        (options.tune)(&stream);
        tokio::spawn(handshake(
            stream,
            peer,
            options.acceptor.clone(),
            options.handshake_timeout,
            options.shutdown.clone(),
            queue.clone(),
            slot,
        ));
    }
}

/// Waits for a free handshake slot (counting the wait), then for a connection.
async fn accept_with_slot(
    tcp: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = match slots.clone().try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            counter!(names::TLS_HANDSHAKE_SLOTS_FULL).increment(1);
            slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("handshake slots closed"))?
        }
    };
    let (stream, peer) = tcp.accept().await?;
    Ok((stream, peer, slot))
}

/// Errors that concern one connection only (the client went away during
/// accept): accept the next one at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One connection's handshake, within `deadline`; a finished one joins the
/// queue for the HTTP server.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    deadline: Duration,
    shutdown: CancellationToken,
    queue: mpsc::Sender<Ready>,
    slot: OwnedSemaphorePermit,
) {
    let outcome = tokio::select! {
        _ = shutdown.cancelled() => return,
        outcome = tokio::time::timeout(deadline, acceptor.accept(stream)) => outcome,
    };
    drop(slot);
    let tls = match outcome {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            counter!(names::TLS_HANDSHAKE_FAILURES).increment(1);
            tracing::debug!(client = %peer.ip(), error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            counter!(names::TLS_HANDSHAKE_TIMEOUTS).increment(1);
            tracing::debug!(client = %peer.ip(), ?deadline, "TLS handshake timed out");
            return;
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        sent = queue.send((tls, peer)) => if sent.is_err() {
            tracing::debug!(client = %peer.ip(), "TLS connection dropped: the listener stopped serving");
        },
    }
}
