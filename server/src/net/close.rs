//! Why a connection ends: one stable label per cause (metrics, logs) and
//! the WebSocket close code and reason sent to the client. README's table
//! of close codes is this file.

use crate::auth::AuthRefusal;

/// Every way a session can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disconnect {
    /// The client closed the WebSocket or the TCP connection.
    ClientClose,
    /// The client did not read fast enough: its outbox filled up.
    SlowConsumer,
    /// A binary frame failed FlatBuffers verification.
    BadFrame,
    /// A valid frame of the wrong kind (e.g. a server frame) or an unknown message.
    UnexpectedMessage,
    /// An input payload the room's game refused.
    BadInput,
    /// A text frame (the protocol is binary only).
    TextFrame,
    /// A frame or message larger than `--max-frame-bytes`.
    FrameTooLarge,
    /// A message other than Hello arrived before Hello.
    HelloRequired,
    /// Hello carried an empty or overlong player id.
    InvalidHello,
    /// No Hello within `--handshake-timeout-ms`.
    HandshakeTimeout,
    /// No frame from the client within `--idle-timeout-ms`.
    IdleTimeout,
    /// The server is shutting down.
    Shutdown,
    /// The client broke the WebSocket protocol (e.g. an unmasked frame).
    ProtocolError,
    /// The connection failed (I/O error, reset).
    NetworkError,
    /// Hello's token failed a check (close code 4003; the reason names it).
    Unauthorized(AuthRefusal),
    /// The player is banned (4004).
    Banned,
    /// A newer login of the same player took over (4005).
    Replaced,
    /// An operator kicked the player (4006).
    Kicked,
    /// A resume of this session on a new connection took its seat (4005;
    /// the old connection was half-open).
    Resumed,
    /// The client kept sending frames over `--frames-per-second` (1008).
    FrameRate,
    /// The client kept sending Pings over `--pings-per-second` (1008).
    PingRate,
    /// The client kept sending JoinRoom/LeaveRoom over `--joins-per-second` (1008).
    JoinRate,
}

impl Disconnect {
    /// All causes, for registering metrics at zero.
    pub const ALL: [Disconnect; 34] = [
        Disconnect::ClientClose,
        Disconnect::SlowConsumer,
        Disconnect::BadFrame,
        Disconnect::UnexpectedMessage,
        Disconnect::BadInput,
        Disconnect::TextFrame,
        Disconnect::FrameTooLarge,
        Disconnect::HelloRequired,
        Disconnect::InvalidHello,
        Disconnect::HandshakeTimeout,
        Disconnect::IdleTimeout,
        Disconnect::Shutdown,
        Disconnect::ProtocolError,
        Disconnect::NetworkError,
        Disconnect::Unauthorized(AuthRefusal::Missing),
        Disconnect::Unauthorized(AuthRefusal::Malformed),
        Disconnect::Unauthorized(AuthRefusal::Signature),
        Disconnect::Unauthorized(AuthRefusal::Algorithm),
        Disconnect::Unauthorized(AuthRefusal::Expired),
        Disconnect::Unauthorized(AuthRefusal::NotYetValid),
        Disconnect::Unauthorized(AuthRefusal::Audience),
        Disconnect::Unauthorized(AuthRefusal::Issuer),
        Disconnect::Unauthorized(AuthRefusal::UnknownKey),
        Disconnect::Unauthorized(AuthRefusal::SubjectMismatch),
        Disconnect::Unauthorized(AuthRefusal::GuestDisabled),
        Disconnect::Unauthorized(AuthRefusal::TokenKind),
        Disconnect::Unauthorized(AuthRefusal::ResumeExpired),
        Disconnect::Banned,
        Disconnect::Replaced,
        Disconnect::Kicked,
        Disconnect::Resumed,
        Disconnect::FrameRate,
        Disconnect::PingRate,
        Disconnect::JoinRate,
    ];

    /// Stable label: metric label value and close reason.
    pub fn label(self) -> &'static str {
        match self {
            Disconnect::ClientClose => "client_close",
            Disconnect::SlowConsumer => "slow_consumer",
            Disconnect::BadFrame => "bad_frame",
            Disconnect::UnexpectedMessage => "unexpected_message",
            Disconnect::BadInput => "bad_input",
            Disconnect::TextFrame => "text_frame",
            Disconnect::FrameTooLarge => "frame_too_large",
            Disconnect::HelloRequired => "hello_required",
            Disconnect::InvalidHello => "invalid_hello",
            Disconnect::HandshakeTimeout => "handshake_timeout",
            Disconnect::IdleTimeout => "idle_timeout",
            Disconnect::Shutdown => "shutdown",
            Disconnect::ProtocolError => "protocol_error",
            Disconnect::NetworkError => "network_error",
            Disconnect::Unauthorized(refusal) => refusal.label(),
            Disconnect::Banned => "banned",
            Disconnect::Replaced => "replaced",
            Disconnect::Kicked => "kicked",
            Disconnect::Resumed => "resumed",
            Disconnect::FrameRate => "frame_rate_exceeded",
            Disconnect::PingRate => "ping_rate_exceeded",
            Disconnect::JoinRate => "join_rate_exceeded",
        }
    }

    /// Close code sent to the client; `None` when no close frame is sent
    /// (the client already went away).
    pub fn close_code(self) -> Option<u16> {
        match self {
            Disconnect::ClientClose | Disconnect::NetworkError => None,
            Disconnect::Shutdown => Some(1001),
            Disconnect::ProtocolError => Some(1002),
            Disconnect::TextFrame => Some(1003),
            Disconnect::BadFrame | Disconnect::BadInput => Some(1007),
            Disconnect::UnexpectedMessage
            | Disconnect::HelloRequired
            | Disconnect::InvalidHello
            | Disconnect::FrameRate
            | Disconnect::PingRate
            | Disconnect::JoinRate => Some(1008),
            Disconnect::FrameTooLarge => Some(1009),
            Disconnect::SlowConsumer => Some(4000),
            Disconnect::IdleTimeout => Some(4001),
            Disconnect::HandshakeTimeout => Some(4002),
            Disconnect::Unauthorized(_) => Some(4003),
            Disconnect::Banned => Some(4004),
            Disconnect::Replaced | Disconnect::Resumed => Some(4005),
            Disconnect::Kicked => Some(4006),
        }
    }

    /// Whether a seated session that ends this way keeps its seat for
    /// `--resume-grace`: every cause but a kick, a ban, a newer login, a
    /// resume elsewhere and shutdown. (A client's close with 1000 and
    /// LeaveRoom leave at once too; the session knows those.)
    pub fn holds_seat(self) -> bool {
        !matches!(
            self,
            Disconnect::Shutdown
                | Disconnect::Kicked
                | Disconnect::Banned
                | Disconnect::Replaced
                | Disconnect::Resumed
        )
    }

    /// Index into [`Disconnect::ALL`] (compact storage in an atomic).
    pub fn index(self) -> u8 {
        Disconnect::ALL.iter().position(|d| *d == self).unwrap_or(0) as u8
    }

    /// Inverse of [`Disconnect::index`].
    pub fn from_index(i: u8) -> Disconnect {
        Disconnect::ALL
            .get(i as usize)
            .copied()
            .unwrap_or(Disconnect::NetworkError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_indices_round_trip() {
        let mut labels: Vec<_> = Disconnect::ALL.iter().map(|d| d.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), Disconnect::ALL.len());
        for d in Disconnect::ALL {
            assert_eq!(Disconnect::from_index(d.index()), d);
        }
        for refusal in AuthRefusal::ALL {
            assert!(Disconnect::ALL.contains(&Disconnect::Unauthorized(refusal)));
        }
    }
}
