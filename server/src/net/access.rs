//! Operators' access controls on the admin listener: close a player's
//! session (`POST /admin/kick`), ban a player id for a while (`POST
//! /admin/ban`) and lift a ban (`POST /admin/unban`). Each applies on this
//! node at once and goes to every other node through presence (bans are
//! also kept in Redis for nodes that start later).
//!
//! Bodies are JSON: `{"player": "alice"}`, and for a ban also
//! `"duration": "1h"` (`30m`, `7d`, …; at most 10 years). A kicked player
//! may reconnect; a banned one is refused at Hello (4004) until the ban ends.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::close::Disconnect;
use crate::auth::verify::MAX_PLAYER_ID_BYTES;
use crate::node::Node;
use crate::presence::AccessAction;

/// Longest ban accepted.
pub const MAX_BAN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Body of every access-control request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    player: String,
    #[serde(default)]
    duration: Option<String>,
}

/// What an access-control request did.
#[derive(Debug, Serialize)]
pub struct AccessOutcome {
    player: String,
    /// A live session of the player on this node was closed.
    closed_here: bool,
    /// End of the ban, Unix milliseconds (bans only).
    #[serde(skip_serializing_if = "Option::is_none")]
    banned_until_ms: Option<u64>,
}

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

/// The request in `body` (JSON, whatever the Content-Type says).
fn player_of(body: &[u8]) -> Result<AccessRequest, String> {
    let request: AccessRequest = serde_json::from_slice(body)
        .map_err(|e| format!("expected {{\"player\": \"...\"}}: {e}"))?;
    if request.player.is_empty() || request.player.len() > MAX_PLAYER_ID_BYTES {
        return Err(format!("player must be 1..={MAX_PLAYER_ID_BYTES} bytes"));
    }
    Ok(request)
}

/// `POST /admin/kick`.
pub async fn kick(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let request = match player_of(&body) {
        Ok(request) => request,
        Err(message) => return bad(message),
    };
    let closed_here = node.auth.close_player(&request.player, Disconnect::Kicked);
    node.presence.access(AccessAction::Kick {
        player: Arc::from(request.player.as_str()),
    });
    tracing::info!(player = %request.player, closed_here, "operator kicked a player");
    Json(AccessOutcome {
        player: request.player,
        closed_here,
        banned_until_ms: None,
    })
    .into_response()
}

/// `POST /admin/ban`.
pub async fn ban(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let request = match player_of(&body) {
        Ok(request) => request,
        Err(message) => return bad(message),
    };
    let Some(text) = request.duration.as_deref() else {
        return bad("a ban needs a duration, e.g. \"duration\": \"1h\"".into());
    };
    let duration = match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() && d <= MAX_BAN => d,
        Ok(_) => return bad("duration must be positive and at most 10 years".into()),
        Err(e) => return bad(format!("duration: {e}")),
    };
    let until_ms = crate::clock::now_micros() / 1000 + duration.as_millis() as u64;
    if let Err(e) = node.auth.bans.ban(&request.player, duration) {
        return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
    }
    let closed_here = node.auth.close_player(&request.player, Disconnect::Banned);
    node.presence.access(AccessAction::Ban {
        player: Arc::from(request.player.as_str()),
        until_ms,
    });
    tracing::info!(player = %request.player, until_ms, closed_here, "operator banned a player");
    Json(AccessOutcome {
        player: request.player,
        closed_here,
        banned_until_ms: Some(until_ms),
    })
    .into_response()
}

/// `POST /admin/unban`.
pub async fn unban(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let request = match player_of(&body) {
        Ok(request) => request,
        Err(message) => return bad(message),
    };
    node.auth.bans.unban(&request.player);
    node.presence.access(AccessAction::Unban {
        player: Arc::from(request.player.as_str()),
    });
    tracing::info!(player = %request.player, "operator lifted a ban");
    Json(AccessOutcome {
        player: request.player,
        closed_here: false,
        banned_until_ms: None,
    })
    .into_response()
}
