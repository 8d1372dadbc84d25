//! The message type of a server frame, read from its first bytes only.
//!
//! Ballast bots skip payloads but still count State messages. A
//! `ServerFrame`'s union type sits in its root table, which the FlatBuffers
//! builder writes right after the root offset and file identifier, so the
//! first [`crate::frame::PREFIX_BYTES`] bytes hold it. Every offset is
//! bounds-checked: a prefix that does not contain the field (or is not a
//! `TFS1` frame) gives `None`; nothing here can panic or read out of range.
//! Measuring bots do not use this: they verify every frame fully.

use tickforge_protocol::wire::ServerMessage;
use tickforge_protocol::{SERVER_FRAME_ID, peek};

/// The `ServerMessage` type of the server frame starting with `prefix`,
/// or `None` when `prefix` is too short to tell or is not a server frame.
pub fn server_message_type(prefix: &[u8]) -> Option<ServerMessage> {
    peek::union_type(prefix, SERVER_FRAME_ID).map(ServerMessage)
}

#[cfg(test)]
mod tests {
    use tickforge_protocol::encode::{JoinedFields, PlayerEntry, ack};
    use tickforge_protocol::wire::ErrorCode;
    use tickforge_protocol::{ServerEncoder, ServerMsg, codec::Limits, decode_server};

    use super::*;
    use crate::frame::PREFIX_BYTES;

    fn kind(msg: &ServerMsg<'_>) -> ServerMessage {
        match msg {
            ServerMsg::Welcome(_) => ServerMessage::Welcome,
            ServerMsg::Joined(_) => ServerMessage::Joined,
            ServerMsg::State(_) => ServerMessage::State,
            ServerMsg::PlayerJoined(_) => ServerMessage::PlayerJoined,
            ServerMsg::PlayerLeft(_) => ServerMessage::PlayerLeft,
            ServerMsg::Left(_) => ServerMessage::Left,
            ServerMsg::Pong(_) => ServerMessage::Pong,
            ServerMsg::Error(_) => ServerMessage::Error,
            ServerMsg::Redirect(_) => ServerMessage::Redirect,
            ServerMsg::PlayerAway(_) => ServerMessage::PlayerAway,
        }
    }

    #[test]
    fn the_prefix_of_every_server_message_tells_its_type() {
        let mut enc = ServerEncoder::new();
        let state = vec![7u8; 800];
        let acks: Vec<_> = (1..=32).map(|e| ack(e, e * 3)).collect();
        let player = PlayerEntry {
            entity_id: 3,
            name: "bot-3",
        };
        let frames = vec![
            enc.welcome(1, "node-1", 30, 123, "bot-3", "bot-3"),
            enc.joined(
                &JoinedFields {
                    room_id: "room-1",
                    mode: "arena",
                    entity_id: 3,
                    tick: 9,
                    tick_rate_hz: 30,
                    capacity: 32,
                    state: &state,
                    view_radius_cells: 0,
                },
                [player].into_iter(),
            ),
            enc.state(10, 456, &state, &acks),
            enc.state(11, 456, &[], &[]),
            enc.player_joined(player),
            enc.player_left(player),
            enc.left("room-1"),
            enc.pong(1, 2, 3),
            enc.error(ErrorCode::RoomFull, "full"),
            enc.redirect("ws://elsewhere/ws", "room-1"),
        ];
        for frame in frames {
            let decoded = decode_server(&frame, &Limits::SERVER).map(|m| kind(&m));
            let prefix = &frame[..frame.len().min(PREFIX_BYTES)];
            assert_eq!(server_message_type(prefix), decoded.ok());
        }
    }

    #[test]
    fn short_or_foreign_prefixes_tell_nothing() {
        assert_eq!(server_message_type(b""), None);
        assert_eq!(server_message_type(b"\x08\0\0\0TFC1\0\0\0\0"), None);
        assert_eq!(server_message_type(b"\xff\xff\0\0TFS1"), None);
        assert_eq!(
            server_message_type(b"\x0c\0\0\0TFS1\0\0\0\0\xff\xff\xff\x7f"),
            None
        );
    }
}
