//! # tickforge-server
//!
//! An authoritative WebSocket game-room server built from shared-nothing
//! shards. Layout:
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | every setting: flags, `TICKFORGE_*` variables, TOML file |
//! | [`auth`] | identity: session tokens, guests, bans, one live session per player, origins |
//! | [`server`] | start/stop: listeners, shard threads, the admin thread, runtimes |
//! | [`shard`] | a shard's handle, load counters, new-room placement |
//! | [`node`] | what shards share: modes, directories, shutdown token; room creation |
//! | [`directory`] | room id → room, session → room (`dashmap`) |
//! | [`presence`] | who is where across nodes, room ownership; local or Redis (`fred`) |
//! | [`resume`] | resume keys → held seats (the node's resume registry) |
//! | [`handoff`] | a drain's live room hand-off to another node: record, Redis transport, both sides |
//! | [`room`] | the room actor: seats, input queue, tick, encode-once fan-out; interest state (per-cell deltas, `tickforge.v2`) for replicating games |
//! | [`game`] | the `Game` trait (with its replication opt-in), the registry, the reference game `arena` and `arena-large` |
//! | [`net`] | listeners (the public one optionally TLS, certificates reloaded on SIGHUP, served connection by connection with hyper: node-wide, plain-HTTP and per-IP caps, handshake rate, PROXY protocol, header, keep-alive and upgrade deadlines); the public router on every shard (`/ws`, `/healthz`, `/readyz`, public `/rooms`, `/play`); the admin listener's thread and router (`/metrics`, `/dashboard`, `/presence`, operators' `/rooms`); security headers, client IPs behind trusted proxies; sessions, their rate limits, close causes |
//! | [`metrics`] | metric names and labels, the Prometheus exporter, per-shard handles |
//! | [`persist`] | player snapshots: write-behind writer, embedded and ScyllaDB stores |
//! | [`observer`] | once-a-second dashboard samples, exporter upkeep |
//! | [`web`] | built-in pages: `/dashboard` and its live stream (admin listener); `/play`, the demo game (public) |
//! | [`window`] | lock-free per-second latency windows for the built-in dashboard |
//! | [`shutdown`] | signals and the drain deadline |
//! | [`clock`] | wall-clock time in protocol units |
//!
//! Two listeners: the public one (`--listen`, every shard) for game clients,
//! and the admin one (`--admin-listen`, its own thread, loopback by default)
//! for operators; see [`net::public::PUBLIC_ROUTES`] and
//! [`net::admin::ADMIN_ROUTES`].
//!
//! Data path: a shard's listener accepts, the session verifies every frame,
//! inputs enter the room's bounded queue, the room ticks, encodes its state
//! once and hands the same bytes to every member's bounded outbox; sessions
//! feed their outbox to the socket and flush once per batch.

pub mod auth;
pub mod clock;
pub mod config;
pub mod directory;
pub mod game;
pub mod handoff;
pub mod metrics;
pub mod net;
pub mod node;
pub mod observer;
pub mod persist;
pub mod presence;
pub mod resume;
pub mod room;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod web;
pub mod window;

pub use config::Config;
pub use game::{Game, GameRegistry};
pub use server::Server;
