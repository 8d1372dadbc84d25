//! Abuse resistance at the network edge: every resource of the public
//! listener has a limit, and every refusal a reason label counted in
//! `tickforge_connections_refused_total`.
//!
//! | module | owns |
//! |---|---|
//! | [`options`] | the flags: connection caps, handshake rate, HTTP timeouts, PROXY protocol, dashboard streams, room-list refresh |
//! | [`fd`] | the node-wide cap against `RLIMIT_NOFILE` (raised to its hard limit, minus `--fd-reserve`; policy: clamp) |
//! | [`admission`] | node-wide, plain-HTTP and per-IP connection counts, per-IP handshake buckets, refusal reasons |
//! | [`bucket`] | per-IP token buckets (handshakes, guest logins) |
//! | [`proxy_header`] | PROXY protocol v1/v2 from trusted proxies, read with a deadline |
//!
//! Where each limit applies, in a connection's order:
//! 1. accept: `--max-connections` and `--max-http-connections` (over: closed
//!    at once, no answer — it would cost what the limit protects);
//! 2. PROXY header (`--proxy-protocol`, trusted peers only), then the
//!    per-IP count `--max-connections-per-ip` for the client IP (over:
//!    HTTP 503; over TLS closed before the handshake). A trusted proxy's
//!    connection without a PROXY header is counted per IP at its `/ws`
//!    request, by the `X-Forwarded-For` client;
//! 3. HTTP: `--http-header-timeout-ms`, `--http-keepalive-timeout-ms`;
//! 4. `/ws`: `--handshakes-per-ip-per-s` (503 with `Retry-After`) and
//!    `--upgrade-timeout-ms`. Once a session, the connection stops counting
//!    as plain HTTP; it still counts node-wide and for its IP.

pub mod admission;
pub mod bucket;
pub mod fd;
pub mod options;
pub mod proxy_header;

pub use admission::{Admission, ConnSlot, HttpSlot, IpSlot, Refusal};
pub use options::LimitOptions;
