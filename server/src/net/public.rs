//! The HTTP surface each shard serves: `/ws` (WebSocket upgrade),
//! `/healthz`, `/readyz`, `/rooms` and `/metrics`.

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tickforge_protocol::SUBPROTOCOL;

use super::{cluster, session};
use crate::node::Node;

/// Target of tungstenite's write buffer before it writes on its own; flushes
/// usually come first (one per batch).
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Router state: the node and the shard serving this router.
#[derive(Clone)]
pub struct AppState {
    pub(crate) node: Arc<Node>,
    pub(crate) shard: usize,
}

/// The router for shard `shard`.
pub fn router(node: Arc<Node>, shard: usize) -> Router {
    Router::new()
        .route("/ws", get(upgrade))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/rooms", get(rooms))
        .route("/presence/{player}", get(cluster::player))
        .route("/metrics", get(metrics))
        .merge(crate::web::routes())
        .with_state(AppState { node, shard })
}

async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    if app.node.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let ws = ws.protocols([SUBPROTOCOL]);
    if ws.selected_protocol().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "tickforge needs the WebSocket subprotocol tickforge.v1 (Sec-WebSocket-Protocol)",
        )
            .into_response();
    }
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
        .on_upgrade(move |socket| tasks.track_future(session::run(socket, node, shard)))
}

async fn healthz() -> &'static str {
    "ok"
}

/// 200 while the node serves (a degraded presence backend does not stop it
/// serving its own rooms; the body says so), 503 otherwise.
async fn readyz(State(app): State<AppState>) -> Response {
    let presence = app.node.presence.health().label();
    if app.node.is_ready() {
        format!("ready\npresence: {presence}\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\npresence: {presence}\n"),
        )
            .into_response()
    }
}

/// `/rooms` query: `scope=node` (default) or `scope=cluster`.
#[derive(Debug, Deserialize)]
pub struct RoomsQuery {
    scope: Option<String>,
}

/// One room in `/rooms`.
#[derive(Debug, Serialize)]
pub struct RoomView {
    id: String,
    mode: String,
    players: u32,
    capacity: u16,
    shard: usize,
    tick_rate: u16,
    tick: u64,
}

async fn rooms(State(app): State<AppState>, Query(query): Query<RoomsQuery>) -> Response {
    match query.scope.as_deref() {
        None | Some("node") => Json(node_rooms(&app)).into_response(),
        Some("cluster") => Json(cluster::rooms(&app)).into_response(),
        Some(_) => (StatusCode::BAD_REQUEST, "scope must be `node` or `cluster`").into_response(),
    }
}

fn node_rooms(app: &AppState) -> Vec<RoomView> {
    let mut rooms: Vec<RoomView> = app
        .node
        .directory
        .rooms()
        .iter()
        .map(|r| {
            let info = r.info();
            RoomView {
                id: info.id.to_string(),
                mode: info.mode.to_string(),
                players: r.members(),
                capacity: info.capacity,
                shard: info.shard,
                tick_rate: info.tick_rate_hz,
                tick: r.tick(),
            }
        })
        .collect();
    rooms.sort_by(|a, b| a.id.cmp(&b.id));
    rooms
}

async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.node.metrics.render(),
    )
        .into_response()
}
