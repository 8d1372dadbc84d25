//! Built-in web pages, compiled into the binary (no build step, no network):
//! the live dashboard at `/dashboard`, fed by the server-sent event stream
//! `/dashboard/stream` (a `history` event with the kept samples, then one
//! `sample` event per second; see [`crate::observer::Sample`]).
//!
//! The `/play` demo game lives in [`play`].

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

use crate::net::router::AppState;

pub mod play;

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const DASHBOARD_JS: &str = include_str!("dashboard.js");

/// Routes of the built-in pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/dashboard/app.js", get(dashboard_js))
        .route("/dashboard/stream", get(stream_samples))
        .merge(play::routes())
}

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD_HTML)
}

async fn dashboard_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        DASHBOARD_JS,
    )
}

async fn stream_samples(
    State(app): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let node = app.node;
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
