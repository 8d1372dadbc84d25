//! The network edge: two listeners and their HTTP routers, WebSocket
//! sessions and the reasons a connection ends.
//!
//! | module | owns |
//! |---|---|
//! | [`listener`] | binding: the shards' `SO_REUSEPORT` listeners, the admin listener |
//! | [`router`] | route tables as data, building a router from one; health checks |
//! | [`security_headers`] | CSP, `nosniff` and `no-referrer` on every response of both listeners |
//! | [`public`] | the public router on every shard: `/ws`, `/healthz`, `/readyz`, public `/rooms`, `/play` |
//! | [`admin`] | the admin listener's thread and router: `/metrics`, `/dashboard`, `/presence`, operators' `/rooms` |
//! | [`cluster`] | presence views for operators: `/presence/{player}`, `/rooms?scope=cluster` |
//! | [`client_ip`] | a request's client IP: the peer, or `X-Forwarded-For` from a `--trusted-proxies` peer |
//! | [`limits`] | connection caps (node, plain HTTP, per IP), handshake rate, PROXY protocol, HTTP deadlines' options |
//! | [`serve`] | the public listener's accept loop and connections: hyper with a header deadline, keep-alive and upgrade deadlines |
//! | [`rooms_view`] | `/rooms` lists built at most once per `--rooms-refresh-ms`, encoded once |
//! | [`tls`] | optional TLS on the public listener: certificates, SIGHUP reload, handshakes off the accept loop |
//! | [`session`] | one WebSocket connection's loop: frames, joins, the socket |
//! | [`wire`], [`shared_tcp`] | pre-framed server frames as gather lists; the plain TCP socket a session shares with its room's direct writes |
//! | [`session_limits`], [`rate`], [`peek`] | per-session rate limits (token buckets, strikes), read before verification; the node's room cap |
//! | [`close`], [`kick`] | why a session ends; how a room asks it to close |

pub mod access;
pub mod admin;
pub mod client_ip;
pub mod close;
pub mod cluster;
pub mod guest;
pub mod kick;
pub mod limits;
pub mod listener;
pub mod peek;
pub mod public;
pub mod rate;
pub mod rooms_view;
pub mod router;
pub mod security_headers;
pub mod serve;
pub mod session;
pub mod session_limits;
pub mod shared_tcp;
pub mod tls;
pub mod wire;
