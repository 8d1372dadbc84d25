//! One public connection's life after accept, in its own task on the
//! shard: the PROXY header (trusted peers, `--proxy-protocol`) and the
//! per-IP count of the client it names (any other peer was counted at
//! accept, [`super::accept`]), the TLS handshake, then HTTP/1.1 served by hyper with a timer
//! (request-head deadline), watched for keep-alive silence and the upgrade
//! deadline. A `/ws` upgrade hands the socket to a session and ends this
//! task; the socket keeps its node-wide and per-IP places until it closes.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::socket::{Activity, Tracked};
use crate::metrics as names;
use crate::net::client_ip::ProxyNet;
use crate::net::limits::proxy_header::{self, ProxyHeaderError, Rewind};
use crate::net::limits::{Admission, ConnSlot, HttpSlot, IpSlot, LimitOptions, Refusal};
use crate::net::shared_tcp::SharedTcp;
use crate::net::tls;

/// Shortest period of a connection's watchdog.
const MIN_CHECK: Duration = Duration::from_millis(10);

/// What every connection of a shard shares.
pub struct Shared {
    /// The shard's public router.
    pub router: Router,
    /// Limits and their counts.
    pub admission: Arc<Admission>,
    /// Connection limits and HTTP timeouts.
    pub limits: LimitOptions,
    /// `--trusted-proxies`.
    pub trusted: Vec<ProxyNet>,
    /// TLS handshakes with the live certificate, when TLS is on.
    pub tls: Option<(TlsAcceptor, Duration)>,
    /// The node's shutdown token.
    pub shutdown: CancellationToken,
}

/// What a request learns about its connection (a request extension).
#[derive(Clone)]
pub struct ConnMeta(pub Arc<ConnState>);

/// See [`ConnMeta`].
pub struct ConnState {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client named by the connection's PROXY header, if it had one.
    pub proxied: Option<IpAddr>,
    /// True when the connection was counted per IP at accept (its client
    /// IP was known then); false for a trusted proxy's connection without
    /// a PROXY header, counted at its `/ws` request instead.
    pub counted_per_ip: bool,
    /// When it was accepted.
    pub accepted: Instant,
    /// Its progress, requests and WebSocket request.
    pub activity: Arc<Activity>,
    /// The plain TCP socket, for the room's direct writes after an
    /// upgrade (`None` over TLS). Weak: the connection owns the socket.
    pub direct: Option<Weak<TcpStream>>,
    /// The node's limits.
    pub admission: Arc<Admission>,
    /// `--upgrade-timeout-ms`.
    pub upgrade_timeout: Duration,
}

/// Serves one accepted connection (see the module docs). `slots` are its
/// node-wide places and, when the peer is the client (no trusted proxy),
/// its per-IP place, taken at accept.
pub async fn run(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    slots: ((ConnSlot, HttpSlot), Option<IpSlot>),
    tls_slot: Option<OwnedSemaphorePermit>,
) {
    let accepted = Instant::now();
    let ((conn_slot, http_slot), counted) = slots;
    let tcp = SharedTcp::new(tcp);
    // Plain TCP only: a TLS socket's bytes must pass through its TLS session.
    let direct = match shared.tls {
        None => Some(Arc::downgrade(&tcp.socket())),
        Some(_) => None,
    };
    let (proxied, known, ip_slot, refused, io) = match counted {
        Some(slot) => (None, Some(peer.ip()), slot, None, Rewind::new(tcp)),
        None => {
            let Some(from_proxy) = from_trusted_proxy(&shared, tcp, peer).await else {
                return;
            };
            from_proxy
        }
    };
    let activity = Arc::new(Activity::default());
    let io = Tracked::new(io, activity.clone(), conn_slot, ip_slot);
    let meta = ConnMeta(Arc::new(ConnState {
        peer,
        proxied,
        counted_per_ip: known.is_some(),
        accepted,
        activity,
        direct,
        admission: shared.admission.clone(),
        upgrade_timeout: shared.limits.upgrade_timeout(),
    }));
    match &shared.tls {
        None => serve_http(&shared, io, meta, refused).await,
        Some((acceptor, deadline)) => {
            let Some(slot) = tls_slot else { return };
            let handshake =
                tls::accept::handshake(io, peer, acceptor, *deadline, &shared.shutdown, slot);
            if let Some(tls) = handshake.await {
                serve_http(&shared, tls, meta, refused).await;
            }
        }
    }
    drop(http_slot);
}

/// What is known of a trusted proxy's connection after its PROXY header:
/// the client it names, the client IP if known now, its per-IP place, the
/// refusal of every request if that IP is over its cap, and the stream.
type FromProxy = (
    Option<IpAddr>,
    Option<IpAddr>,
    IpSlot,
    Option<Refusal>,
    Rewind<SharedTcp>,
);

/// Reads the PROXY header of a trusted proxy's connection (with
/// `--proxy-protocol`) and takes the per-IP place of the client it names.
/// Without a PROXY header the client IP is learnt from `X-Forwarded-For`
/// and counted at the `/ws` request. `None`: the connection is closed
/// (no valid header in time, shutdown, or over the cap on TLS).
async fn from_trusted_proxy(
    shared: &Shared,
    tcp: SharedTcp,
    peer: SocketAddr,
) -> Option<FromProxy> {
    let (proxied, io) = if shared.limits.proxy_protocol {
        let read = tokio::select! {
            _ = shared.shutdown.cancelled() => return None,
            read = proxy_header::read(tcp, shared.limits.proxy_header_timeout()) => read,
        };
        match read {
            Ok((client, io)) => (client, io),
            Err(e) => {
                if matches!(e, ProxyHeaderError::Timeout(_)) {
                    names::http_timeout(names::TIMEOUT_PROXY_HEADER);
                }
                Refusal::ProxyHeader.count();
                tracing::debug!(peer = %peer, error = %e, "PROXY header refused");
                return None;
            }
        }
    } else {
        (None, Rewind::new(tcp))
    };
    let Some(client) = proxied else {
        return Some((None, None, IpSlot::none(), None, io));
    };
    match shared.admission.ip(client) {
        Ok(slot) => Some((proxied, proxied, slot, None, io)),
        Err(refusal) => {
            refusal.count();
            // A 503 over TLS would cost the handshake the limit saves.
            (shared.tls.is_none()).then_some((proxied, proxied, IpSlot::none(), Some(refusal), io))
        }
    }
}

/// HTTP/1.1 on `io` until it closes, upgrades, times out or the node shuts
/// down. With `refused`, every request is answered 503 and the connection
/// closed.
async fn serve_http<S>(shared: &Shared, io: S, meta: ConnMeta, refused: Option<Refusal>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = meta.0.clone();
    let router = shared.router.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        let router = router.clone();
        let meta = meta.clone();
        async move {
            if let Some(refusal) = refused {
                let answer = crate::net::security_headers::add(refusal_response(refusal)).await;
                return Ok::<_, Infallible>(answer);
            }
            let _in_flight = meta.0.activity.begin();
            request.extensions_mut().insert(ConnectInfo(meta.0.peer));
            request.extensions_mut().insert(meta);
            router.oneshot(request).await
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_timeout())
        .keep_alive(refused.is_none());
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);

    let keepalive = shared.limits.keepalive_timeout();
    let upgrade_by = state.accepted + state.upgrade_timeout;
    let every = (keepalive.min(state.upgrade_timeout) / 4).max(MIN_CHECK);
    let mut watch = tokio::time::interval(every);
    let (mut seen, mut quiet_since) = (state.activity.progress(), Instant::now());
    let mut closing = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    if e.is_timeout() {
                        names::http_timeout(names::TIMEOUT_HEADER);
                    }
                    tracing::debug!(peer = %state.peer, error = %e, "HTTP connection ended");
                }
                return;
            }
            _ = shared.shutdown.cancelled(), if !closing => {
                // Answers in progress finish; a connection between requests
                // (or still sending a head) has nothing to finish.
                if state.activity.in_flight() == 0 {
                    return;
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = watch.tick() => {
                let now = Instant::now();
                let activity = &state.activity;
                if activity.ws_requested() && now >= upgrade_by {
                    names::http_timeout(names::TIMEOUT_UPGRADE);
                    return;
                }
                let progress = activity.progress();
                if progress != seen || activity.in_flight() > 0 {
                    (seen, quiet_since) = (progress, now);
                } else if activity.answered() > 0 && now - quiet_since >= keepalive {
                    names::http_timeout(names::TIMEOUT_KEEPALIVE);
                    return;
                }
            }
        }
    }
}

/// HTTP/1.1 on an admin connection: `router` behind a request-head
/// deadline, until the connection closes or, at shutdown, its answer in
/// progress is finished.
pub async fn serve_plain(
    tcp: TcpStream,
    router: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) {
    let service = service_fn(move |request: Request<Incoming>| router.clone().oneshot(request));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::debug!(error = %e, "admin HTTP connection ended");
    }
}

/// The answer to every request of a connection over a limit.
pub fn refusal_response(refusal: Refusal) -> Response<axum::body::Body> {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, refusal.retry_after().to_string()),
            (header::CONNECTION, "close".to_string()),
        ],
        format!("{refusal} ({})\n", refusal.label()),
    )
        .into_response()
}
