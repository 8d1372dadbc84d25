//! The message type of a client frame, read before the frame is verified,
//! so the per-kind rate limits ([`super::limits`]) are charged without
//! paying for verification first.
//!
//! A `ClientFrame`'s union type is one byte of its root table. The reads
//! here follow the same offsets the decoder follows after verification
//! (root offset, vtable, field), each bounds-checked: nothing can panic or
//! read out of range. A frame that passes verification therefore decodes
//! to the type read here; one whose type cannot be read gives `None` and is
//! charged to the all-frames bucket only (it then fails verification).

use tickforge_protocol::wire::ClientMessage;
use tickforge_protocol::{CLIENT_FRAME_ID, peek};

use super::session_limits::FrameClass;

/// The `ClientMessage` type of `frame`, or `None` when it cannot be read.
pub fn client_message_type(frame: &[u8]) -> Option<ClientMessage> {
    peek::union_type(frame, CLIENT_FRAME_ID).map(ClientMessage)
}

/// The rate-limit class of `frame`.
pub fn frame_class(frame: &[u8]) -> FrameClass {
    match client_message_type(frame) {
        Some(ClientMessage::Ping) => FrameClass::Ping,
        Some(ClientMessage::JoinRoom | ClientMessage::LeaveRoom) => FrameClass::JoinLeave,
        _ => FrameClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use tickforge_protocol::{ClientEncoder, ClientMsg, codec::Limits, decode_client};

    use super::*;

    fn kind(msg: &ClientMsg<'_>) -> ClientMessage {
        match msg {
            ClientMsg::Hello(_) => ClientMessage::Hello,
            ClientMsg::JoinRoom(_) => ClientMessage::JoinRoom,
            ClientMsg::LeaveRoom => ClientMessage::LeaveRoom,
            ClientMsg::Input(_) => ClientMessage::Input,
            ClientMsg::Ping(_) => ClientMessage::Ping,
        }
    }

    #[test]
    fn the_peeked_type_is_the_decoded_type_of_every_client_message() {
        let mut enc = ClientEncoder::new();
        let frames = [
            enc.hello("p", Some("t"), "v"),
            enc.join_or_create("arena"),
            enc.join_room("room"),
            enc.leave_room(),
            enc.input(7, 1, &[1, 2, 3]),
            enc.ping(1, 2),
        ];
        for frame in frames {
            let decoded = decode_client(&frame, &Limits::CLIENT).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(client_message_type(&frame), Some(kind(&decoded)));
        }
    }

    #[test]
    fn truncated_or_foreign_bytes_never_panic() {
        let frame = ClientEncoder::new().ping(1, 2);
        for end in 0..frame.len() {
            let _ = client_message_type(&frame[..end]);
        }
        let mut hostile = vec![0xffu8; 32];
        hostile[4..8].copy_from_slice(b"TFC1");
        assert_eq!(frame_class(&hostile), FrameClass::Other);
        assert_eq!(frame_class(b"\x01\x02"), FrameClass::Other);
    }
}
