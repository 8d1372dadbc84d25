//! The `client_frame` target: any bytes through the client-frame verifier
//! and decoder, under the limits the server applies.
//!
//! A frame the verifier accepts must be safe to read in full: every field
//! of its message is read. It must also survive a round trip: encoded
//! again with the client encoder, it decodes to the same fields. The
//! verdict must not depend on the buffer's alignment (frames arrive at any
//! offset of a WebSocket read buffer).

use tickforge_protocol::codec::Limits;
use tickforge_protocol::{ClientEncoder, ClientMsg, decode_client};

/// The server's limits for a frame of the default `--max-frame-bytes`.
const LIMITS: Limits = Limits {
    max_apparent_size: 16 * 1024,
    ..Limits::CLIENT
};

/// Everything a client message carries, read through its accessors.
#[derive(Debug, PartialEq)]
enum Fields {
    Hello {
        player_id: String,
        token: Option<String>,
        /// Absent and empty read the same.
        client_version: String,
    },
    JoinRoom {
        room_id: Option<String>,
        mode: Option<String>,
        private: bool,
    },
    LeaveRoom,
    Input {
        seq: u32,
        client_time_us: u64,
        payload: Option<Vec<u8>>,
    },
    Ping {
        client_time_us: u64,
        nonce: u32,
    },
}

fn fields(msg: &ClientMsg<'_>) -> Fields {
    match msg {
        ClientMsg::Hello(h) => Fields::Hello {
            player_id: h.player_id().to_owned(),
            token: h.token().map(str::to_owned),
            client_version: h.client_version().unwrap_or_default().to_owned(),
        },
        ClientMsg::JoinRoom(j) => Fields::JoinRoom {
            room_id: j.room_id().map(str::to_owned),
            mode: j.mode().map(str::to_owned),
            private: j.private(),
        },
        ClientMsg::LeaveRoom => Fields::LeaveRoom,
        ClientMsg::Input(i) => Fields::Input {
            seq: i.seq(),
            client_time_us: i.client_time_us(),
            payload: i.payload().map(|p| p.bytes().to_vec()),
        },
        ClientMsg::Ping(p) => Fields::Ping {
            client_time_us: p.client_time_us(),
            nonce: p.nonce(),
        },
    }
}

/// Encodes `fields` again with the client encoder.
fn encode(fields: &Fields) -> bytes::Bytes {
    let mut enc = ClientEncoder::new();
    match fields {
        Fields::Hello {
            player_id,
            token,
            client_version,
        } => enc.hello(player_id, token.as_deref(), client_version),
        Fields::JoinRoom {
            room_id: Some(room_id),
            ..
        } => enc.join_room(room_id),
        Fields::JoinRoom {
            mode: Some(mode),
            private,
            ..
        } => enc.join_mode(mode, *private),
        Fields::JoinRoom { .. } => enc.join_room(""),
        Fields::LeaveRoom => enc.leave_room(),
        Fields::Input {
            seq,
            client_time_us,
            payload,
        } => enc.input(
            *seq,
            *client_time_us,
            payload.as_deref().unwrap_or_default(),
        ),
        Fields::Ping {
            client_time_us,
            nonce,
        } => enc.ping(*client_time_us, *nonce),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let verdict = decode_client(data, &LIMITS).map(|msg| fields(&msg));
    // The same bytes one byte further into a buffer: same verdict.
    let mut shifted = Vec::with_capacity(data.len() + 1);
    shifted.push(0);
    shifted.extend_from_slice(data);
    let again = decode_client(&shifted[1..], &LIMITS).map(|msg| fields(&msg));
    assert_eq!(verdict, again, "the verdict depends on the alignment");
    let Ok(fields) = verdict else {
        return;
    };
    let encoded = encode(&fields);
    let decoded = decode_client(&encoded, &Limits::CLIENT)
        .unwrap_or_else(|e| panic!("a re-encoded {fields:?} does not verify: {e}"));
    let round_trip = self::fields(&decoded);
    match (&fields, &round_trip) {
        // The encoder writes an empty room id for a JoinRoom with neither
        // field, and always writes a payload vector.
        (
            Fields::JoinRoom {
                room_id: None,
                mode: None,
                ..
            },
            _,
        ) => {}
        (
            Fields::Input {
                seq,
                client_time_us,
                payload,
            },
            Fields::Input {
                seq: s,
                client_time_us: t,
                payload: p,
            },
        ) => {
            assert_eq!((seq, client_time_us), (s, t));
            assert_eq!(
                payload.as_deref().unwrap_or_default(),
                p.as_deref().unwrap_or_default()
            );
        }
        (
            Fields::JoinRoom {
                room_id: Some(sent),
                ..
            },
            Fields::JoinRoom { room_id, .. },
        ) => assert_eq!(Some(sent), room_id.as_ref()),
        _ => assert_eq!(fields, round_trip, "a round trip changed the message"),
    }
}
