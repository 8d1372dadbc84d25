//! Built-in web pages, compiled into the binary (no build step, no network):
//! the live dashboard at `/dashboard`, fed by the server-sent event stream
//! `/dashboard/stream` (a `history` event with the kept samples, then one
//! `sample` event per second; see [`crate::observer::Sample`]). The
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

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::node::Node;

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

/// `/dashboard/stream`: the kept samples, then each new one, until the
/// node shuts down.
pub async fn stream_samples(
    State(node): State<Arc<Node>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let history = node.observer.history();
    let mut joined = String::with_capacity(history.iter().map(|h| h.len() + 1).sum::<usize>() + 2);
    joined.push('[');
    for (i, sample) in history.iter().enumerate() {
        if i > 0 {
            joined.push(',');
        }
        joined.push_str(sample);
    }
    joined.push(']');
    let first = stream::once(async move { Ok(Event::default().event("history").data(joined)) });
    let feed = node.observer.subscribe();
    let live = stream::unfold(feed, |mut feed| async move {
        loop {
            match feed.recv().await {
                Ok(json) => return Some((Ok(Event::default().event("sample").data(&*json)), feed)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let shutdown = node.shutdown.clone().cancelled_owned();
    Sse::new(first.chain(live).take_until(shutdown)).keep_alive(KeepAlive::default())
}
