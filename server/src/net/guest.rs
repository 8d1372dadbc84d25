//! `POST /auth/guest`: a signed guest session for a new random player.
//!
//! Body (optional, JSON, ≤ [`MAX_BODY_BYTES`]): `{"name": "Ada"}`. Answers
//! 200 with `{"token", "player_id", "name", "expires_at"}`; 429 with
//! `Retry-After` when the client IP ([`super::client_ip`]: the peer, or
//! the forwarded address from a trusted proxy) is over
//! `--guest-logins-per-minute`;
//! 404 when guest sessions are off; 400 for a body that is not that JSON.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::counter;
use serde::Deserialize;

use super::client_ip::ClientIp;
use super::public::AppState;
use crate::auth::guest::GuestRefusal;
use crate::metrics as names;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestRequest {
    #[serde(default)]
    name: Option<String>,
}

/// Issues a guest session.
pub async fn issue(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    body: Bytes,
) -> Response {
    let auth = &app.node.auth;
    if !auth.guest_enabled() {
        counter!(names::GUEST_REFUSED, "reason" => names::GUEST_DISABLED).increment(1);
        return (StatusCode::NOT_FOUND, "guest sessions are switched off").into_response();
    }
    if body.len() > MAX_BODY_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body over 1 KiB").into_response();
    }
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        GuestRequest { name: None }
    } else {
        match serde_json::from_slice::<GuestRequest>(&body) {
            Ok(request) => request,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("expected {{\"name\": \"...\"}}: {e}"),
                )
                    .into_response();
            }
        }
    };
    if let Err(refusal) = auth.guest_limiter.take(client) {
        counter!(names::GUEST_REFUSED, "reason" => refusal.label()).increment(1);
        return match refusal {
            GuestRefusal::Rate(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, seconds.to_string())],
                "too many guest logins from this address",
            )
                .into_response(),
            GuestRefusal::Busy => {
                (StatusCode::SERVICE_UNAVAILABLE, "guest logins are busy").into_response()
            }
        };
    }
    match auth.issue_guest(request.name.as_deref()) {
        Ok(session) => {
            counter!(names::GUEST_ISSUED).increment(1);
            tracing::debug!(%client, "guest session issued");
            ([(header::CACHE_CONTROL, "no-store")], Json(session)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "guest session not signed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not sign a session",
            )
                .into_response()
        }
    }
}
