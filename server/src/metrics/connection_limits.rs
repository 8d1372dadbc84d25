//! Connection limits and HTTP timeouts of the public listener, and the
//! dashboard-stream cap of the admin listener: refusals by reason,
//! connections closed by a timeout, open connections against the cap.

use metrics::{counter, describe_counter, describe_gauge, gauge};

use crate::net::limits::Refusal;

/// Connections and upgrades refused by a limit (counter; label `reason` =
/// [`Refusal::label`]).
pub const CONNECTIONS_REFUSED: &str = "tickforge_connections_refused_total";
/// Connections closed by an HTTP-level deadline (counter; label `kind` =
/// one of [`HTTP_TIMEOUT_KINDS`]).
pub const HTTP_TIMEOUTS: &str = "tickforge_http_timeouts_total";
/// Open connections on the public listener, node-wide (gauge).
pub const PUBLIC_CONNECTIONS: &str = "tickforge_public_connections";
/// Open public connections that are plain HTTP, not (yet) a WebSocket session (gauge).
pub const HTTP_CONNECTIONS: &str = "tickforge_http_connections";
/// The node-wide connection cap in force after the descriptor-limit check (gauge).
pub const MAX_CONNECTIONS: &str = "tickforge_max_connections";
/// Live `/dashboard/stream` subscribers (gauge).
pub const DASHBOARD_STREAMS: &str = "tickforge_dashboard_streams";

/// `kind` label: a request head not read within `--http-header-timeout-ms`.
pub const TIMEOUT_HEADER: &str = "header";
/// `kind` label: a connection silent past `--http-keepalive-timeout-ms` after an answer.
pub const TIMEOUT_KEEPALIVE: &str = "keepalive";
/// `kind` label: a `/ws` connection not a session within `--upgrade-timeout-ms`.
pub const TIMEOUT_UPGRADE: &str = "upgrade";
/// `kind` label: no PROXY header within `--proxy-header-timeout-ms`.
pub const TIMEOUT_PROXY_HEADER: &str = "proxy_header";
/// Every `kind` of [`HTTP_TIMEOUTS`].
pub const HTTP_TIMEOUT_KINDS: [&str; 4] = [
    TIMEOUT_HEADER,
    TIMEOUT_KEEPALIVE,
    TIMEOUT_UPGRADE,
    TIMEOUT_PROXY_HEADER,
];

/// Registers the series at zero, with their help texts.
pub fn register_connection_limits() {
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections and upgrades refused by a limit, by reason."
    );
    describe_counter!(
        HTTP_TIMEOUTS,
        "Public connections closed by an HTTP deadline, by kind."
    );
    describe_gauge!(
        PUBLIC_CONNECTIONS,
        "Open connections on the public listener."
    );
    describe_gauge!(
        HTTP_CONNECTIONS,
        "Open public connections that are plain HTTP (not a WebSocket session)."
    );
    describe_gauge!(
        MAX_CONNECTIONS,
        "Node-wide connection cap in force (--max-connections after the RLIMIT_NOFILE check)."
    );
    describe_gauge!(DASHBOARD_STREAMS, "Live /dashboard/stream subscribers.");
    for reason in Refusal::LABELS {
        counter!(CONNECTIONS_REFUSED, "reason" => reason).absolute(0);
    }
    for kind in HTTP_TIMEOUT_KINDS {
        counter!(HTTP_TIMEOUTS, "kind" => kind).absolute(0);
    }
    gauge!(DASHBOARD_STREAMS).set(0.0);
}

/// Counts one connection closed by the deadline `kind`.
pub fn http_timeout(kind: &'static str) {
    counter!(HTTP_TIMEOUTS, "kind" => kind).increment(1);
}
