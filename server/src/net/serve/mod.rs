//! Serving the public listener on a shard: the accept loop ([`accept`])
//! applies the node-wide caps (`--max-connections`,
//! `--max-http-connections`; over one the connection is closed at once and
//! counted) and, for a peer that is no trusted proxy, the per-IP cap (a
//! 503 written once, without a task or HTTP parser), tunes the socket and
//! gives each connection its own task ([`conn`]): PROXY header, per-IP
//! count of a trusted proxy's client, TLS handshake, then HTTP/1.1 with a header deadline (hyper's
//! timer), keep-alive and upgrade deadlines. The router is the public one
//! ([`super::public`]); handlers see the peer (`ConnectInfo<SocketAddr>`)
//! and the connection ([`conn::ConnMeta`]).
//!
//! | module | owns |
//! |---|---|
//! | [`accept`] | accepting, and refusing over a limit at the least cost |
//! | [`conn`] | one connection's life until it closes or becomes a session |
//! | [`socket`] | the socket with its admission slots and activity |

use std::io;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::net::limits::Admission;
use crate::net::public;
use crate::net::tls::{self, TlsCerts};
use crate::node::Node;

pub mod accept;
pub mod conn;
pub mod socket;

/// Pause after an accept error other than a dropped connection (out of
/// file descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// Serves `listener` for shard `shard` until shutdown, then lets open HTTP
/// connections finish until the shutdown deadline, which it returns.
pub async fn run(
    node: &Arc<Node>,
    shard: usize,
    listener: TcpListener,
    admission: Arc<Admission>,
    certs: Option<Arc<TlsCerts>>,
) -> Instant {
    let shared = Arc::new(conn::Shared {
        router: public::router(node.clone(), shard),
        admission: admission.clone(),
        limits: node.config.limits.clone(),
        trusted: node.config.net.trusted_proxies.clone(),
        tls: certs.map(|c| {
            (
                c.server_config().into(),
                node.config.tls.handshake_timeout(),
            )
        }),
        shutdown: node.shutdown.clone(),
    });
    let send_buffer = node.config.net.socket_send_buffer;
    let handshake_slots = tls::accept::slots();
    let answers = accept::Answers::new();
    let conns = TaskTracker::new();
    let mut in_a_row = 0;
    loop {
        let tls_slot = match &shared.tls {
            None => None,
            Some(_) => tokio::select! {
                _ = node.shutdown.cancelled() => break,
                slot = tls::accept::take_slot(&handshake_slots) => slot,
            },
        };
        if in_a_row >= accept::BATCH {
            // Room ticks ready on this thread go before the next batch.
            in_a_row = 0;
            tokio::task::yield_now().await;
        }
        let accepted = tokio::select! {
            _ = node.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                in_a_row = 0;
                tracing::warn!(shard, error = %e, "accept failed; pausing");
                tokio::select! {
                    _ = node.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        in_a_row += 1;
        let tls = shared.tls.is_some();
        let slots = match admission.open() {
            Ok(slots) => slots,
            Err(refusal) => {
                refusal.count();
                accept::refuse(tcp, answers.for_refusal(refusal, tls));
                continue;
            }
        };
        // A peer that is no trusted proxy is the client: its per-IP place
        // is taken here, and over the cap it is refused before any task,
        // allocation or HTTP parsing.
        let trusted = shared
            .trusted
            .iter()
            .any(|n| n.contains(peer.ip().to_canonical()));
        let ip_slot = if trusted {
            None
        } else {
            match admission.ip(peer.ip()) {
                Ok(slot) => Some(slot),
                Err(refusal) => {
                    refusal.count();
                    drop(slots);
                    accept::refuse(tcp, answers.for_refusal(refusal, tls));
                    continue;
                }
            }
        };
        tune(&tcp, send_buffer);
        conns.spawn(conn::run(
            shared.clone(),
            tcp,
            peer,
            (slots, ip_slot),
            tls_slot,
        ));
    }
    drop(listener);
    // The shard's sessions close now (shutdown is folded into their kicks).
    node.shards[shard].kicks.stop();
    // One deadline, from the moment shutdown began, for HTTP connections
    // (answers in progress finish) and then for sessions and rooms.
    let deadline = Instant::now() + Duration::from_millis(node.config.net.shutdown_deadline_ms);
    conns.close();
    if tokio::time::timeout_at(deadline, conns.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            shard,
            "HTTP connections still open at the shutdown deadline"
        );
    }
    deadline
}

/// Serves `router` on the admin listener until shutdown, each connection
/// with the same request-head deadline as the public listener
/// (`--http-header-timeout-ms`) but none of its caps: operators and
/// scrapers are few, and the admin listener is never on the internet.
/// Answers in progress (a dashboard stream ends at shutdown) finish until
/// the shutdown deadline.
pub async fn run_admin(node: &Arc<Node>, listener: TcpListener, router: axum::Router) {
    let conns = TaskTracker::new();
    let header_timeout = node.config.limits.header_timeout();
    loop {
        let accepted = tokio::select! {
            _ = node.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed; pausing");
                tokio::select! {
                    _ = node.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let (router, shutdown) = (router.clone(), node.shutdown.clone());
        conns.spawn(conn::serve_plain(tcp, router, header_timeout, shutdown));
    }
    drop(listener);
    let deadline = Instant::now() + Duration::from_millis(node.config.net.shutdown_deadline_ms);
    conns.close();
    if tokio::time::timeout_at(deadline, conns.wait())
        .await
        .is_err()
    {
        tracing::warn!("admin HTTP connections still open at the shutdown deadline");
    }
}

/// `TCP_NODELAY` and `--socket-send-buffer` on an accepted socket.
fn tune(tcp: &TcpStream, send_buffer: u32) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY failed");
    }
    if send_buffer > 0
        && let Err(e) = SockRef::from(tcp).set_send_buffer_size(send_buffer as usize)
    {
        tracing::debug!(error = %e, "SO_SNDBUF failed");
    }
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
