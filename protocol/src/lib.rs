//! # tickforge-protocol
//!
//! The wire contract between tickforge and its clients.
//!
//! - `schema/*.fbs` (in this crate's directory) is the source of truth;
//!   [`wire`] and [`arena`] are generated from it by `scripts/generate.sh`
//!   with the pinned `flatc` 25.12.19 and committed.
//! - [`codec`] verifies inbound frames (bounded depth and table count) and
//!   hands out zero-copy views; [`encode`] builds outbound frames in a reused
//!   builder; [`peek`] reads a frame's message type before verification.
//! - [`client`] is a small async client used by the tests, the bot swarm and
//!   anyone connecting a Rust game client or bot; it resumes a dropped
//!   session by itself.
//! - [`replication`] is the delta and interest layer of large rooms
//!   (subprotocol [`SUBPROTOCOL_V2`]): per-cell deltas and keyframes
//!   encoded once per tick on the server, reconstructed by clients.
//! - `session_token` and `resume_token` (feature `session-keys`) sign and
//!   check the tokens tickforge issues: identities, and the resume tokens
//!   of Welcome.
//! - `ts/` (in this crate's directory) is the TypeScript SDK generated from the
//!   same schema, and `vectors/` holds every message written by both sides;
//!   `tests/vectors.rs` is the Rust half of that byte-compatibility proof.
//!
//! Every WebSocket binary frame carries one FlatBuffer: a `ClientFrame`
//! (identifier `TFC1`) from client to server, a `ServerFrame` (identifier
//! `TFS1`) back. The subprotocol is [`SUBPROTOCOL`].

pub mod arena_codec;
pub mod client;
pub mod codec;
pub mod encode;
mod generated;
pub mod peek;
pub mod replication;
#[cfg(feature = "session-keys")]
pub mod resume_token;
#[cfg(feature = "session-keys")]
pub mod session_token;

pub use codec::{ClientMsg, DecodeError, ServerMsg, decode_client, decode_server};
pub use encode::{ClientEncoder, ServerEncoder};
pub use generated::arena_generated::tickforge::arena;
pub use generated::replication_generated::tickforge::v_2 as replication_wire;
pub use generated::tickforge_generated::tickforge::v_1 as wire;

/// WebSocket subprotocol negotiated with `Sec-WebSocket-Protocol`.
pub const SUBPROTOCOL: &str = "tickforge.v1";
/// The subprotocol of clients that take interest state messages (deltas
/// and cells, see `schema/replication.fbs`) in replicating rooms.
pub const SUBPROTOCOL_V2: &str = "tickforge.v2";
/// Protocol version carried in `Welcome.protocol_version`.
pub const PROTOCOL_VERSION: u16 = 1;
/// File identifier of client → server frames.
pub const CLIENT_FRAME_ID: &str = "TFC1";
/// File identifier of server → client frames.
pub const SERVER_FRAME_ID: &str = "TFS1";
/// File identifier of `arena` game state buffers.
pub const ARENA_STATE_ID: &str = "TFA1";
