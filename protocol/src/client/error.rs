//! Why a client call fails ([`ClientError`]), and how a close frame from
//! the server turns into one ([`closed`]).

use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use crate::SUBPROTOCOL;
use crate::codec::DecodeError;
use crate::wire::ErrorCode;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL could not be used.
    #[error("invalid url: {0}")]
    Url(String),
    /// The TLS client could not be set up (trust anchors, protocol versions).
    #[error("tls: {0}")]
    Tls(String),
    /// TCP connect failed.
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    /// WebSocket failure.
    #[error("websocket: {0}")]
    Ws(#[from] tungstenite::Error),
    /// The server did not select the `tickforge.v1` subprotocol.
    #[error("server did not accept subprotocol {SUBPROTOCOL}")]
    Subprotocol,
    /// The server sent a frame that failed verification.
    #[error("bad server frame: {0}")]
    Decode(#[from] DecodeError),
    /// An interest state message (`tickforge.v2`) did not apply to the
    /// client's replica.
    #[error("replicated state: {0}")]
    Replica(#[from] crate::replication::ReplicaError),
    /// The server answered a request with an Error message.
    #[error("refused ({code:?}): {message}")]
    Refused {
        /// Stable error code.
        code: ErrorCode,
        /// Text for people.
        message: String,
    },
    /// The server redirected the request to another node.
    #[error("redirected to {url} for room {room_id}")]
    Redirected {
        /// URL of the node that owns the room.
        url: String,
        /// The room.
        room_id: String,
    },
    /// The server refused the session's identity or ended it by access
    /// control: 4003 (the token failed a check; `reason` names it), 4004
    /// (banned), 4005 (replaced by a newer login of the same player), 4006
    /// (kicked by an operator). Reconnecting with the same token will not help
    /// for 4003/4004; a 4005 means another device took over.
    #[error("access denied ({code}): {reason}")]
    AccessDenied {
        /// WebSocket close code (4003..=4006).
        code: u16,
        /// Close reason, e.g. `auth_expired`, `banned`, `replaced`.
        reason: String,
    },
    /// The server closed the connection with 1008 because the client kept
    /// exceeding one of its per-session rate limits; `reason` is one of
    /// [`RATE_LIMIT_REASONS`]. The client sends too fast: reconnecting at
    /// once repeats it — slow down first.
    #[error("rate limited ({code}): {reason}")]
    RateLimited {
        /// WebSocket close code (1008).
        code: u16,
        /// Close reason, e.g. `frame_rate_exceeded`.
        reason: String,
    },
    /// The server closed the connection.
    #[error("closed ({code}): {reason}")]
    Closed {
        /// WebSocket close code (1005 when none was given).
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The token provider failed.
    #[error("token provider: {0}")]
    Token(String),
    /// A message arrived that the request did not expect.
    #[error("unexpected {0} message")]
    Unexpected(&'static str),
    /// No answer within `ConnectOptions::timeout`.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The connection dropped and the seat could not be taken back within
    /// the server's resume grace; `cause` is how the connection ended.
    /// Connect again and join the room again.
    #[error("seat lost after a drop ({cause})")]
    SeatLost {
        /// How the dropped connection ended.
        cause: Box<ClientError>,
    },
}

impl ClientError {
    /// Stable label (metrics, reports).
    pub fn label(&self) -> &'static str {
        match self {
            ClientError::Url(_) => "url",
            ClientError::Tls(_) => "tls",
            ClientError::Io(_) => "io",
            ClientError::Ws(_) => "websocket",
            ClientError::Subprotocol => "subprotocol",
            ClientError::Decode(_) => "decode",
            ClientError::Replica(_) => "replica",
            ClientError::Refused { .. } => "refused",
            ClientError::Redirected { .. } => "redirected",
            ClientError::Closed { .. } => "closed",
            ClientError::AccessDenied { .. } => "access_denied",
            ClientError::RateLimited { .. } => "rate_limited",
            ClientError::Token(_) => "token",
            ClientError::Unexpected(_) => "unexpected",
            ClientError::Timeout(_) => "timeout",
            ClientError::SeatLost { .. } => "seat_lost",
        }
    }

    /// Whether the connection dropped in a way worth resuming: not a close
    /// the client asked for, not 1000/1001 from the server, not an access
    /// refusal (4003–4006) and not a rate-limit close (1008).
    pub fn is_unexpected_drop(&self) -> bool {
        match self {
            ClientError::Io(_) | ClientError::Ws(_) => true,
            ClientError::Closed { code, .. } => !matches!(code, 1000 | 1001),
            _ => false,
        }
    }

    /// The close code and reason when the server closed the connection.
    pub fn close(&self) -> Option<(u16, &str)> {
        match self {
            ClientError::Closed { code, reason }
            | ClientError::AccessDenied { code, reason }
            | ClientError::RateLimited { code, reason } => Some((*code, reason)),
            _ => None,
        }
    }
}

/// Close codes the server uses for access control (see [`ClientError::AccessDenied`]).
pub const ACCESS_DENIED_CODES: std::ops::RangeInclusive<u16> = 4003..=4006;

/// Close code of the server's rate-limit closes (see [`ClientError::RateLimited`]).
pub const RATE_LIMIT_CODE: u16 = 1008;

/// Close reasons of the server's rate-limit closes: frames of any kind,
/// Pings, JoinRoom/LeaveRoom, each past its per-session limit.
pub const RATE_LIMIT_REASONS: [&str; 3] = [
    "frame_rate_exceeded",
    "ping_rate_exceeded",
    "join_rate_exceeded",
];

/// The close code and reason carried by a close frame.
pub fn closed(frame: Option<CloseFrame>) -> ClientError {
    match frame {
        Some(f)
            if u16::from(f.code) == RATE_LIMIT_CODE
                && RATE_LIMIT_REASONS.contains(&f.reason.as_str()) =>
        {
            ClientError::RateLimited {
                code: RATE_LIMIT_CODE,
                reason: f.reason.to_string(),
            }
        }
        Some(f) if ACCESS_DENIED_CODES.contains(&u16::from(f.code)) => ClientError::AccessDenied {
            code: f.code.into(),
            reason: f.reason.to_string(),
        },
        Some(f) => ClientError::Closed {
            code: f.code.into(),
            reason: f.reason.to_string(),
        },
        None => ClientError::Closed {
            code: 1005,
            reason: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;

    fn frame(code: u16, reason: &str) -> Option<CloseFrame> {
        Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        })
    }

    #[test]
    fn a_rate_limit_close_is_its_own_error_and_other_1008s_are_not() {
        for reason in RATE_LIMIT_REASONS {
            let e = closed(frame(1008, reason));
            assert_eq!(e.label(), "rate_limited");
            assert_eq!(e.close(), Some((1008, reason)));
        }
        assert_eq!(closed(frame(1008, "hello_required")).label(), "closed");
        assert_eq!(closed(frame(4004, "banned")).label(), "access_denied");
    }
}
