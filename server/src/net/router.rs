//! What the two HTTP routers share: a router is built from a table of
//! [`Route`]s (data, so tests can list what each listener serves; axum
//! cannot enumerate a `Router`), and both serve the health checks.
//!
//! The tables: [`super::public::PUBLIC_ROUTES`] (every shard, `--listen`)
//! and [`super::admin::ADMIN_ROUTES`] (the admin thread, `--admin-listen`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::node::Node;

/// One path of a router and what serves it.
pub struct Route<S> {
    /// The path, in axum's syntax (`/presence/{player}`).
    pub path: &'static str,
    /// Builds the handler for the path.
    pub handler: fn() -> MethodRouter<S>,
}

/// A router serving exactly `routes`; every other path answers 404. Every
/// response carries the [`super::security_headers`].
pub fn build<S>(routes: &[Route<S>]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes
        .iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, (route.handler)())
        })
        .layer(axum::middleware::map_response(super::security_headers::add))
}

/// `/healthz`: the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`: 200 while the node serves (a degraded presence backend does
/// not stop it serving its own rooms; the body says so), 503 otherwise.
pub async fn readyz(State(node): State<Arc<Node>>) -> Response {
    let presence = node.presence.health().label();
    let auth = auth_summary(&node.auth);
    if node.is_ready() {
        format!("ready\npresence: {presence}\nauth: {auth}\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\npresence: {presence}\nauth: {auth}\n"),
        )
            .into_response()
    }
}

/// The accepted identity modes; `trust-hello` says what it means.
fn auth_summary(auth: &crate::auth::Auth) -> String {
    let modes: Vec<_> = auth.modes().iter().map(|m| m.label()).collect();
    let mut summary = modes.join(",");
    if auth.trusts_hello() {
        summary.push_str(" (development only: Hello without a token is believed)");
    }
    summary
}
