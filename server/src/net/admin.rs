//! The admin listener (`--admin-listen`, default `127.0.0.1:7701`): the
//! operators' endpoints, served on their own thread with a small
//! current-thread runtime, off the shards, and stopped by the node's
//! shutdown token. It must never be exposed to the internet.
//!
//! It serves `/metrics` (Prometheus), `/dashboard` and its stream,
//! `/presence/{player}`, the operators' `/rooms` (every room with its shard
//! and tick; `?scope=cluster` for the whole cluster), kick, ban and unban
//! (`/admin/*`), drain (`POST /admin/drain`) and the health checks.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use super::router::{self, Route};
use super::{access, cluster};
use crate::node::Node;
use crate::web;

/// Every path the admin listener serves. Operator actions (kick, ban,
/// unban: [`super::access`]) are here and never in the public table
/// ([`super::public::PUBLIC_ROUTES`]).
pub const ADMIN_ROUTES: &[Route<Arc<Node>>] = &[
    Route {
        path: "/healthz",
        handler: || get(router::healthz),
    },
    Route {
        path: "/readyz",
        handler: || get(router::readyz),
    },
    Route {
        path: "/metrics",
        handler: || get(metrics),
    },
    Route {
        path: "/rooms",
        handler: || get(rooms),
    },
    Route {
        path: "/presence/{player}",
        handler: || get(cluster::player),
    },
    Route {
        path: "/admin/kick",
        handler: || post(access::kick),
    },
    Route {
        path: "/admin/ban",
        handler: || post(access::ban),
    },
    Route {
        path: "/admin/unban",
        handler: || post(access::unban),
    },
    Route {
        path: "/admin/drain",
        handler: || post(drain),
    },
    Route {
        path: "/dashboard",
        handler: || get(web::dashboard),
    },
    Route {
        path: "/dashboard/app.js",
        handler: || get(web::dashboard_js),
    },
    Route {
        path: "/dashboard/app.css",
        handler: || get(web::dashboard_css),
    },
    Route {
        path: "/dashboard/stream",
        handler: || get(web::stream_samples),
    },
];

/// What `POST /admin/drain` did.
#[derive(Debug, Serialize)]
struct DrainOutcome {
    /// This request began the drain (`false`: one was already under way).
    began: bool,
    /// Milliseconds until rooms close, from the drain's start.
    delay_ms: u64,
    /// Milliseconds since the drain began.
    elapsed_ms: u64,
}

/// `POST /admin/drain`: the node stops taking new joins and answers 503 on
/// `/readyz`; after `--drain-delay` its rooms close (every snapshot
/// written, clients closed with 1001) and the process exits 0. Idempotent.
async fn drain(State(node): State<Arc<Node>>) -> Json<DrainOutcome> {
    let began = node.drain.begin(crate::shutdown::DrainCause::Admin);
    let elapsed = node.drain.since().map(|t| t.elapsed()).unwrap_or_default();
    Json(DrainOutcome {
        began,
        delay_ms: millis(node.config.drain.drain_delay),
        elapsed_ms: millis(elapsed),
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The admin router.
pub fn router(node: Arc<Node>) -> Router {
    router::build(ADMIN_ROUTES).with_state(node)
}

/// Starts the admin thread serving `listener` (bound by
/// [`super::listener::bind_admin`]); it stops when the node shuts down.
pub fn spawn(node: Arc<Node>, listener: std::net::TcpListener) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tickforge-admin".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "admin runtime");
                    return;
                }
            };
            runtime.block_on(serve(node, listener));
        })
}

/// Serves until shutdown, then lets open requests finish within the
/// shutdown deadline (dashboard streams end at shutdown); each request's
/// head must arrive within `--http-header-timeout-ms`.
async fn serve(node: Arc<Node>, listener: std::net::TcpListener) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "admin listener unusable");
            return;
        }
    };
    let router = router(node.clone());
    super::serve::run_admin(&node, listener, router).await;
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        node.metrics.render(),
    )
        .into_response()
}

/// `/rooms` query: `scope=node` (default) or `scope=cluster`.
#[derive(Debug, Deserialize)]
pub struct RoomsQuery {
    scope: Option<String>,
}

/// One room in the operators' `/rooms`.
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

async fn rooms(State(node): State<Arc<Node>>, Query(query): Query<RoomsQuery>) -> Response {
    match query.scope.as_deref() {
        None | Some("node") => Json(node_rooms(&node)).into_response(),
        Some("cluster") => {
            let body = node
                .room_lists
                .cluster
                .get(|| super::public::json_bytes(&cluster::rooms(&node)))
                .await;
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Some(_) => (StatusCode::BAD_REQUEST, "scope must be `node` or `cluster`").into_response(),
    }
}

/// Every room of this node, private ones included, sorted by id.
fn node_rooms(node: &Node) -> Vec<RoomView> {
    let mut rooms: Vec<RoomView> = node
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
