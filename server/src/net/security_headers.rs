//! Security headers on every response of both listeners (pages, scripts,
//! stylesheets, JSON, the dashboard stream alike), added by
//! [`super::router::build`]:
//!
//! - `Content-Security-Policy`: [`CONTENT_SECURITY_POLICY`]. Scripts,
//!   stylesheets and connections (`/ws`, `POST /auth/guest`, the dashboard's
//!   EventSource on `/dashboard/stream`) go to the page's own server only;
//!   no inline script or style, no plugins, no `<base>`, and no page may
//!   frame these ones (`frame-ancestors 'none'`). Images: the pages' empty
//!   `data:` favicon only.
//! - `X-Content-Type-Options: nosniff`: a response is only what its
//!   `Content-Type` says.
//! - `Referrer-Policy: no-referrer`: links out of the pages (none today)
//!   leak no URL, and so no room id from an invite link.
//!
//! A handler that sets one of these headers itself keeps its own value.

use axum::http::header::{CONTENT_SECURITY_POLICY as CSP, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// The `Content-Security-Policy` of every response. In CSP level 3, `'self'`
/// in `connect-src` also matches the page's own host over `ws:`/`wss:`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The headers and their values, in the order they are added.
pub const HEADERS: [(HeaderName, &str); 3] = [
    (CSP, CONTENT_SECURITY_POLICY),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (REFERRER_POLICY, "no-referrer"),
];

/// Adds the security headers `response` does not already carry.
pub async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
