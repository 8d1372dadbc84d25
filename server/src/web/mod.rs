//! Built-in web pages, compiled into the binary (no build step, no network):
//! the live dashboard at `/dashboard`, fed by the server-sent event stream
//! `/dashboard/stream` (a `history` event with the kept samples, then one
//! `sample` event per second; see [`crate::observer::Sample`]; at most
//! `--dashboard-streams` at once). The
//! dashboard is for operators: the admin listener serves it
//! ([`crate::net::admin::ADMIN_ROUTES`]).
//!
//! The `/play` demo game, served on the public listener, lives in [`play`].
//!
//! Every page, script and stylesheet is served with the security headers of
//! [`crate::net::security_headers`]: scripts and styles come from the page's
//! own server only (no inline `<style>`, no `style="…"` in generated markup).

use std::convert::Infallible;
use std::sync::Arc;

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::net::limits::Refusal;
use crate::node::Node;
use crate::observer::{Observer, Subscription};

pub mod play;

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const DASHBOARD_JS: &str = include_str!("dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard.css");

/// `/dashboard`: the page.
pub async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD_HTML)
}

/// `/dashboard/app.js`: the page's script.
pub async fn dashboard_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        DASHBOARD_JS,
    )
}

/// `/dashboard/app.css`: the page's styles.
pub async fn dashboard_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        DASHBOARD_CSS,
    )
}

/// Time between keep-alive comments on a quiet dashboard stream.
const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `/dashboard/stream`: the kept samples, then each new one, until the
/// node shuts down; both events come pre-encoded from the observer, shared
/// by every stream. 503 when `--dashboard-streams` streams are live.
pub async fn stream_samples(State(node): State<Arc<Node>>) -> Response {
    let Some(subscription) = Observer::subscribe(&node) else {
        let refusal = Refusal::DashboardStreams;
        refusal.count();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many dashboard streams (--dashboard-streams)",
        )
            .into_response();
    };
    let Subscription {
        history,
        feed,
        slot,
    } = subscription;
    let first = stream::once(async move { Ok::<_, Infallible>(history) });
    let mut keep_alive = tokio::time::interval(STREAM_KEEP_ALIVE);
    keep_alive.reset();
    let live = stream::unfold(
        (feed, keep_alive, slot),
        |(mut feed, mut keep_alive, slot)| async move {
            loop {
                tokio::select! {
                    received = feed.recv() => match received {
                        Ok(frame) => return Some((Ok(frame), (feed, keep_alive, slot))),
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    },
                    _ = keep_alive.tick() => {
                        return Some((Ok(Bytes::from_static(b":\n\n")), (feed, keep_alive, slot)));
                    }
                }
            }
        },
    );
    let shutdown = node.shutdown.clone().cancelled_owned();
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(first.chain(live).take_until(shutdown)),
    )
        .into_response()
}
