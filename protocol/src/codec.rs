//! Verified, zero-copy decoding of tickforge frames.
//!
//! Every inbound buffer is checked with the FlatBuffers verifier under
//! [`VerifierOptions`] bounded by [`Limits`] before any field is read; the
//! returned views borrow from the frame and copy nothing.

use flatbuffers::{InvalidFlatbuffer, VerifierOptions};

use crate::wire::{
    ClientFrame, ClientMessage, Hello, Input, JoinRoom, Ping, ServerFrame, ServerMessage,
};
use crate::{CLIENT_FRAME_ID, SERVER_FRAME_ID, wire};

/// Bounds applied by the verifier to every inbound frame.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest table nesting accepted.
    pub max_depth: usize,
    /// Most tables accepted in one frame.
    pub max_tables: usize,
    /// Largest apparent (expanded) size accepted, in bytes.
    pub max_apparent_size: usize,
}

impl Limits {
    /// Limits for client frames: a client frame nests two tables deep (frame, message).
    pub const CLIENT: Limits = Limits {
        max_depth: 8,
        max_tables: 16,
        max_apparent_size: 1 << 20,
    };
    /// Limits for server frames read by clients (Joined carries one table per player).
    pub const SERVER: Limits = Limits {
        max_depth: 8,
        max_tables: 4096,
        max_apparent_size: 16 << 20,
    };

    /// The verifier options for these limits.
    pub fn verifier_options(&self) -> VerifierOptions {
        VerifierOptions {
            max_depth: self.max_depth,
            max_tables: self.max_tables,
            max_apparent_size: self.max_apparent_size,
            ignore_missing_null_terminator: false,
        }
    }
}

/// Why a frame was refused. [`DecodeError::label`] is stable: it is used as
/// a close reason and a metric label.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The bytes are not a valid FlatBuffer of the expected kind.
    #[error("malformed frame: {0}")]
    Malformed(#[from] InvalidFlatbuffer),
    /// The buffer is too short or carries another file identifier (for
    /// example a server frame sent by a client).
    #[error("not a {expected} frame")]
    WrongFrameKind {
        /// The identifier that was expected.
        expected: &'static str,
    },
    /// The union holds no message, or one this version does not know.
    #[error("unknown message type {0}")]
    UnknownMessage(u8),
}

impl DecodeError {
    /// Stable label for metrics and close reasons.
    pub fn label(&self) -> &'static str {
        match self {
            DecodeError::Malformed(_) => "bad_frame",
            DecodeError::WrongFrameKind { .. } | DecodeError::UnknownMessage(_) => {
                "unexpected_message"
            }
        }
    }
}

/// A verified client message, borrowing from the frame.
#[derive(Debug, Clone, Copy)]
pub enum ClientMsg<'a> {
    /// See `wire::Hello`.
    Hello(Hello<'a>),
    /// See `wire::JoinRoom`.
    JoinRoom(JoinRoom<'a>),
    /// See `wire::LeaveRoom`.
    LeaveRoom,
    /// See `wire::Input`.
    Input(Input<'a>),
    /// See `wire::Ping`.
    Ping(Ping<'a>),
}

impl ClientMsg<'_> {
    /// Stable message-type label (metrics).
    pub fn label(&self) -> &'static str {
        match self {
            ClientMsg::Hello(_) => "hello",
            ClientMsg::JoinRoom(_) => "join_room",
            ClientMsg::LeaveRoom => "leave_room",
            ClientMsg::Input(_) => "input",
            ClientMsg::Ping(_) => "ping",
        }
    }
}

/// A verified server message, borrowing from the frame.
#[derive(Debug, Clone, Copy)]
pub enum ServerMsg<'a> {
    /// See `wire::Welcome`.
    Welcome(wire::Welcome<'a>),
    /// See `wire::Joined`.
    Joined(wire::Joined<'a>),
    /// See `wire::State`.
    State(wire::State<'a>),
    /// See `wire::PlayerJoined`.
    PlayerJoined(wire::PlayerJoined<'a>),
    /// See `wire::PlayerLeft`.
    PlayerLeft(wire::PlayerLeft<'a>),
    /// See `wire::Left`.
    Left(wire::Left<'a>),
    /// See `wire::Pong`.
    Pong(wire::Pong<'a>),
    /// See `wire::Error`.
    Error(wire::Error<'a>),
    /// See `wire::Redirect`.
    Redirect(wire::Redirect<'a>),
    /// See `wire::PlayerAway`.
    PlayerAway(wire::PlayerAway<'a>),
}

fn has_identifier(buf: &[u8], id: &str) -> bool {
    // The identifier follows the 4-byte root offset.
    buf.len() >= 8 && &buf[4..8] == id.as_bytes()
}

/// Verifies `buf` as a client frame and returns a zero-copy view of its message.
pub fn decode_client<'a>(buf: &'a [u8], limits: &Limits) -> Result<ClientMsg<'a>, DecodeError> {
    if !has_identifier(buf, CLIENT_FRAME_ID) {
        return Err(DecodeError::WrongFrameKind {
            expected: CLIENT_FRAME_ID,
        });
    }
    let frame = flatbuffers::root_with_opts::<ClientFrame>(&limits.verifier_options(), buf)?;
    let kind = frame.message_type();
    let msg = match kind {
        ClientMessage::Hello => frame.message_as_hello().map(ClientMsg::Hello),
        ClientMessage::JoinRoom => frame.message_as_join_room().map(ClientMsg::JoinRoom),
        ClientMessage::LeaveRoom => frame.message_as_leave_room().map(|_| ClientMsg::LeaveRoom),
        ClientMessage::Input => frame.message_as_input().map(ClientMsg::Input),
        ClientMessage::Ping => frame.message_as_ping().map(ClientMsg::Ping),
        _ => None,
    };
    msg.ok_or(DecodeError::UnknownMessage(kind.0))
}

/// Verifies `buf` as a server frame and returns a zero-copy view of its message.
pub fn decode_server<'a>(buf: &'a [u8], limits: &Limits) -> Result<ServerMsg<'a>, DecodeError> {
    if !has_identifier(buf, SERVER_FRAME_ID) {
        return Err(DecodeError::WrongFrameKind {
            expected: SERVER_FRAME_ID,
        });
    }
    let frame = flatbuffers::root_with_opts::<ServerFrame>(&limits.verifier_options(), buf)?;
    let kind = frame.message_type();
    let msg = match kind {
        ServerMessage::Welcome => frame.message_as_welcome().map(ServerMsg::Welcome),
        ServerMessage::Joined => frame.message_as_joined().map(ServerMsg::Joined),
        ServerMessage::State => frame.message_as_state().map(ServerMsg::State),
        ServerMessage::PlayerJoined => frame
            .message_as_player_joined()
            .map(ServerMsg::PlayerJoined),
        ServerMessage::PlayerLeft => frame.message_as_player_left().map(ServerMsg::PlayerLeft),
        ServerMessage::Left => frame.message_as_left().map(ServerMsg::Left),
        ServerMessage::Pong => frame.message_as_pong().map(ServerMsg::Pong),
        ServerMessage::Error => frame.message_as_error().map(ServerMsg::Error),
        ServerMessage::Redirect => frame.message_as_redirect().map(ServerMsg::Redirect),
        ServerMessage::PlayerAway => frame.message_as_player_away().map(ServerMsg::PlayerAway),
        _ => None,
    };
    msg.ok_or(DecodeError::UnknownMessage(kind.0))
}
