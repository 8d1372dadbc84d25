//! Client messages as masked WebSocket frames, appended to a connection's
//! queue.
//!
//! The FlatBuffers builders are per thread, not per bot: a bot encodes
//! synchronously and never holds the builder across an `.await`, so one
//! `ClientEncoder` (and one arena input builder) per runtime thread serves
//! every bot on it.

use std::cell::RefCell;

use flatbuffers::FlatBufferBuilder;
use tickforge_protocol::ClientEncoder;
use tickforge_protocol::arena_codec::{self, Move};

use crate::frame::{self, Opcode};

struct Encoders {
    client: ClientEncoder,
    game: FlatBufferBuilder<'static>,
}

thread_local! {
    static ENCODERS: RefCell<Encoders> = RefCell::new(Encoders {
        client: ClientEncoder::new(),
        game: FlatBufferBuilder::with_capacity(64),
    });
}

/// Appends `Hello { player_id, token, resume_token }`; returns the frame's length.
pub fn hello(
    out: &mut Vec<u8>,
    mask: [u8; 4],
    player_id: &str,
    token: Option<&str>,
    resume_token: Option<&str>,
) -> usize {
    let version = concat!("tickforge-swarm/", env!("CARGO_PKG_VERSION"));
    ENCODERS.with_borrow_mut(|e| {
        let msg = e
            .client
            .hello_resume(player_id, token, version, resume_token);
        append(out, &msg, mask)
    })
}

/// Appends `JoinRoom { mode }` (join-or-create); returns the frame's length.
pub fn join_or_create(out: &mut Vec<u8>, mask: [u8; 4], mode: &str) -> usize {
    ENCODERS.with_borrow_mut(|e| {
        let msg = e.client.join_or_create(mode);
        append(out, &msg, mask)
    })
}

/// Appends `JoinRoom { room_id }` (that room); returns the frame's length.
pub fn join_room(out: &mut Vec<u8>, mask: [u8; 4], room_id: &str) -> usize {
    ENCODERS.with_borrow_mut(|e| {
        let msg = e.client.join_room(room_id);
        append(out, &msg, mask)
    })
}

/// Appends `LeaveRoom`; returns the frame's length.
pub fn leave_room(out: &mut Vec<u8>, mask: [u8; 4]) -> usize {
    ENCODERS.with_borrow_mut(|e| {
        let msg = e.client.leave_room();
        append(out, &msg, mask)
    })
}

/// Appends an arena `Input`; returns the frame's length.
pub fn arena_input(
    out: &mut Vec<u8>,
    mask: [u8; 4],
    seq: u32,
    client_time_us: u64,
    movement: Move,
) -> usize {
    ENCODERS.with_borrow_mut(|e| {
        let Encoders { client, game } = e;
        let payload = arena_codec::encode_input(game, movement);
        let msg = client.input(seq, client_time_us, payload);
        append(out, &msg, mask)
    })
}

fn append(out: &mut Vec<u8>, message: &[u8], mask: [u8; 4]) -> usize {
    let before = out.len();
    frame::encode_frame(out, Opcode::Binary, message, mask);
    out.len() - before
}
