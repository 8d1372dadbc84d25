//! The public listener's router, served by every shard on `--listen`: what
//! game clients, browsers and load balancers need, and nothing else —
//! `/ws` (WebSocket upgrade), `/auth/guest` (guest sessions), `/healthz`,
//! `/readyz`, the public room list `/rooms` and the `/play` demo. Every other path answers 404; operators'
//! endpoints are on the admin listener ([`super::admin`]).

use std::net::IpAddr;
use std::sync::{Arc, Weak};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, FromRef, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tickforge_protocol::{SUBPROTOCOL, SUBPROTOCOL_V2};

use super::client_ip::ClientIp;
use super::limits::{IpSlot, Refusal};
use super::router::{self, Route};
use super::serve::conn::{ConnMeta, ConnState};
use super::{guest, serve, session};
use crate::metrics as names;
use crate::node::Node;
use crate::web::play;

/// Target of tungstenite's write buffer before it writes on its own; flushes
/// usually come first (one per batch).
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Every path the public listener serves. A path added here is reachable
/// from the internet: `server/tests/routes.rs` holds the allow-list it must
/// be on.
pub const PUBLIC_ROUTES: &[Route<AppState>] = &[
    Route {
        path: "/ws",
        handler: || get(upgrade),
    },
    Route {
        path: "/auth/guest",
        handler: || {
            post(guest::issue).layer(axum::extract::DefaultBodyLimit::max(guest::MAX_BODY_BYTES))
        },
    },
    Route {
        path: "/healthz",
        handler: || get(router::healthz),
    },
    Route {
        path: "/readyz",
        handler: || get(router::readyz),
    },
    Route {
        path: "/rooms",
        handler: || get(rooms),
    },
    Route {
        path: "/play",
        handler: || get(play::page),
    },
    Route {
        path: "/play/app.js",
        handler: || get(play::script),
    },
    Route {
        path: "/play/app.css",
        handler: || get(play::style),
    },
];

/// Router state: the node and the shard serving this router.
#[derive(Clone)]
pub struct AppState {
    pub(crate) node: Arc<Node>,
    pub(crate) shard: usize,
}

impl FromRef<AppState> for Arc<Node> {
    fn from_ref(app: &AppState) -> Arc<Node> {
        app.node.clone()
    }
}

/// The public router of shard `shard`.
pub fn router(node: Arc<Node>, shard: usize) -> Router {
    router::build(PUBLIC_ROUTES).with_state(AppState { node, shard })
}

async fn upgrade(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    conn: Option<Extension<ConnMeta>>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if app.node.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let (ip_slot, direct) = match conn {
        Some(Extension(ConnMeta(conn))) => match admit(&conn, client) {
            Ok(slot) => (slot, conn.direct.as_ref().and_then(Weak::upgrade)),
            Err(refused) => return refused.into_response(),
        },
        None => (IpSlot::none(), None),
    };
    // An unreadable header counts as present (and matches nothing).
    let header = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if !app.node.auth.origins.allows(
        header(axum::http::header::ORIGIN),
        header(axum::http::header::HOST),
    ) {
        metrics::counter!(crate::metrics::ORIGIN_REFUSED).increment(1);
        return (
            StatusCode::FORBIDDEN,
            "this page's origin may not open tickforge sessions (--allowed-origins)",
        )
            .into_response();
    }
    // v2 first: a client that offers both gets interest state in large rooms.
    let ws = ws.protocols([SUBPROTOCOL_V2, SUBPROTOCOL]);
    let interest = match ws.selected_protocol() {
        Some(p) => p.as_bytes() == SUBPROTOCOL_V2.as_bytes(),
        None => {
            return (
                StatusCode::BAD_REQUEST,
                "tickforge needs the WebSocket subprotocol tickforge.v1 or tickforge.v2 (Sec-WebSocket-Protocol)",
            )
                .into_response();
        }
    };
    let options = &app.node.config.session;
    let max_write = options.max_write_buffer_bytes.max(2);
    let ws = ws
        .read_buffer_size(options.read_buffer_bytes)
        .write_buffer_size(WRITE_BUFFER_BYTES.min(max_write / 2))
        .max_write_buffer_size(max_write)
        .max_message_size(options.max_frame_bytes)
        .max_frame_size(options.max_frame_bytes);
    let tasks = app.node.shards[app.shard].tasks.clone();
    let (node, shard) = (app.node.clone(), app.shard);
    ws.on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            tasks.track_future(async move {
                // The client's place among its IP's connections lasts as
                // long as the session.
                let _ip_slot = ip_slot;
                session::run_negotiated(socket, node, shard, client, direct, interest).await;
            })
        })
}

/// Why a `/ws` request was not admitted.
enum NotAdmitted {
    /// It came after `--upgrade-timeout-ms` (408).
    Late,
    /// A limit refused it (503).
    Refused(Refusal),
}

impl IntoResponse for NotAdmitted {
    fn into_response(self) -> Response {
        match self {
            NotAdmitted::Late => (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                "the WebSocket upgrade came after --upgrade-timeout-ms",
            )
                .into_response(),
            NotAdmitted::Refused(refusal) => serve::conn::refusal_response(refusal),
        }
    }
}

/// The limits a `/ws` request meets (see [`super::limits`]): the upgrade
/// deadline, the client IP's handshake rate and, for a trusted proxy's
/// connection that was not counted per IP at accept, the forwarded
/// client's connection count. Refusals are counted here.
fn admit(conn: &ConnState, client: IpAddr) -> Result<IpSlot, NotAdmitted> {
    conn.activity.request_ws();
    if conn.accepted.elapsed() >= conn.upgrade_timeout {
        names::http_timeout(names::TIMEOUT_UPGRADE);
        return Err(NotAdmitted::Late);
    }
    let refused = |refusal: Refusal| {
        refusal.count();
        NotAdmitted::Refused(refusal)
    };
    conn.admission.handshake(client).map_err(refused)?;
    if conn.counted_per_ip {
        return Ok(IpSlot::none());
    }
    conn.admission.ip(client).map_err(refused)
}

/// `/rooms` query on the public listener: only this node's rooms.
#[derive(Debug, Deserialize)]
pub struct PublicRoomsQuery {
    scope: Option<String>,
}

/// One room in the public `/rooms`: what a player needs to pick a room, no
/// placement details and no player ids.
#[derive(Debug, Serialize)]
pub struct PublicRoomView {
    id: String,
    mode: String,
    players: u32,
    capacity: u16,
    tick_rate: u16,
}

/// This node's rooms that are not private, sorted by id, built at most
/// once per `--rooms-refresh-ms` ([`super::rooms_view`]). The cluster view
/// (`?scope=cluster`) is for operators: 404 here, like any path this
/// listener does not serve.
async fn rooms(State(node): State<Arc<Node>>, Query(query): Query<PublicRoomsQuery>) -> Response {
    match query.scope.as_deref() {
        None | Some("node") => {
            let body = node
                .room_lists
                .public
                .get(|| json_bytes(&public_rooms(&node)))
                .await;
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Some(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `value` as JSON (an empty list if it cannot be encoded, which a list of
/// plain records never fails to be).
pub fn json_bytes<T: Serialize>(value: &T) -> bytes::Bytes {
    match serde_json::to_vec(value) {
        Ok(json) => json.into(),
        Err(e) => {
            tracing::error!(error = %e, "room list not encoded");
            bytes::Bytes::from_static(b"[]")
        }
    }
}

fn public_rooms(node: &Node) -> Vec<PublicRoomView> {
    let mut rooms: Vec<PublicRoomView> = node
        .directory
        .rooms()
        .iter()
        .filter(|r| !r.info().private)
        .map(|r| {
            let info = r.info();
            PublicRoomView {
                id: info.id.to_string(),
                mode: info.mode.to_string(),
                players: r.members(),
                capacity: info.capacity,
                tick_rate: info.tick_rate_hz,
            }
        })
        .collect();
    rooms.sort_by(|a, b| a.id.cmp(&b.id));
    rooms
}
