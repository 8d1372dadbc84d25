//! HTTP views of presence for operators (served on the admin listener,
//! [`super::admin`]): `GET /presence/{player}` and `GET /rooms?scope=cluster`,
//! answered from this node's view of the cluster (no Redis round trip).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Serialize;

use crate::node::Node;

/// `/presence/{player}`.
#[derive(Debug, Serialize)]
struct PlayerView {
    player: String,
    placements: Vec<PlacementView>,
}

#[derive(Debug, Serialize)]
struct PlacementView {
    node: String,
    room: String,
    since_ms: u64,
}

/// Where `player` (the id from Hello) is: 200 with every placement, or 404.
pub async fn player(State(node): State<Arc<Node>>, Path(player): Path<String>) -> Response {
    let placements: Vec<PlacementView> = node
        .presence
        .view()
        .placements(&player)
        .into_iter()
        .map(|p| PlacementView {
            node: p.node.to_string(),
            room: p.room.to_string(),
            since_ms: p.since_ms,
        })
        .collect();
    if placements.is_empty() {
        return (StatusCode::NOT_FOUND, "player not online").into_response();
    }
    Json(PlayerView { player, placements }).into_response()
}

/// One room in `/rooms?scope=cluster`.
#[derive(Debug, Serialize)]
pub struct ClusterRoomView {
    id: String,
    node: String,
    url: String,
    mode: String,
    players: u32,
    capacity: u16,
}

/// Every room of the cluster, sorted by id.
pub fn rooms(node: &Node) -> Vec<ClusterRoomView> {
    let view = node.presence.view();
    let mut rooms: Vec<ClusterRoomView> = view
        .rooms()
        .into_iter()
        .map(|(id, r)| ClusterRoomView {
            id: id.to_string(),
            url: view.url(&r.node).map(|u| u.to_string()).unwrap_or_default(),
            node: r.node.to_string(),
            mode: r.mode.to_string(),
            players: r.players,
            capacity: r.capacity,
        })
        .collect();
    rooms.sort_by(|a, b| a.id.cmp(&b.id));
    rooms
}
