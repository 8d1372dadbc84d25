//! The `/play` demo: the reference game `arena` in the browser, a canvas
//! page driven by the TypeScript SDK. Both files are compiled in, so the page
//! works on a fresh machine with no network and no npm: `play.js` is the
//! committed bundle of `protocol/ts/demo/` and the SDK (its freshness is
//! checked by `npm test` in `protocol/ts`). The public listener serves it
//! ([`crate::net::public::PUBLIC_ROUTES`]).

use axum::http::header;
use axum::response::{Html, IntoResponse};

const PLAY_HTML: &str = include_str!("play.html");
const PLAY_JS: &str = include_str!("play.js");
const PLAY_CSS: &str = include_str!("play.css");

/// `/play`: the page.
pub async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PLAY_HTML))
}

/// `/play/app.js`: the bundled script.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PLAY_JS,
    )
}

/// `/play/app.css`: the page's styles.
pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PLAY_CSS,
    )
}
