//! Encoding and verified decoding of the reference game's (`arena`) messages.
//!
//! `arena` inputs travel in `Input.payload`, its state in `State.state` and
//! `Joined.state`. Both the server's game and Rust clients use these helpers.

use flatbuffers::FlatBufferBuilder;

use crate::ARENA_STATE_ID;
use crate::arena::{
    ArenaEntity, ArenaInput, ArenaInputArgs, ArenaSave, ArenaSaveArgs, ArenaState, ArenaStateArgs,
};
use crate::codec::{DecodeError, Limits};

/// Verifier bounds for arena payloads (flat tables, no nesting).
pub const ARENA_LIMITS: Limits = Limits {
    max_depth: 4,
    max_tables: 4,
    max_apparent_size: 1 << 20,
};

/// A decoded arena input: movement axes in -127..=127 and a button mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Move {
    /// Horizontal axis.
    pub x: i8,
    /// Vertical axis.
    pub y: i8,
    /// Button bitmask (bit 0: boost).
    pub buttons: u8,
}

/// Encodes an arena input into `fbb` and returns the finished bytes.
pub fn encode_input<'a>(fbb: &'a mut FlatBufferBuilder<'static>, m: Move) -> &'a [u8] {
    fbb.reset();
    let root = ArenaInput::create(
        fbb,
        &ArenaInputArgs {
            move_x: m.x,
            move_y: m.y,
            buttons: m.buttons,
        },
    );
    fbb.finish_minimal(root);
    fbb.finished_data()
}

/// Verifies and reads an arena input payload.
pub fn decode_input(payload: &[u8]) -> Result<Move, DecodeError> {
    let input =
        flatbuffers::root_with_opts::<ArenaInput>(&ARENA_LIMITS.verifier_options(), payload)?;
    Ok(Move {
        x: input.move_x(),
        y: input.move_y(),
        buttons: input.buttons(),
    })
}

/// Encodes a full arena state into `fbb`; the finished bytes are in `fbb.finished_data()`.
pub fn encode_state(
    fbb: &mut FlatBufferBuilder<'static>,
    width: f32,
    height: f32,
    entities: &[ArenaEntity],
) {
    fbb.reset();
    let entities = fbb.create_vector(entities);
    let root = ArenaState::create(
        fbb,
        &ArenaStateArgs {
            width,
            height,
            entities: Some(entities),
        },
    );
    fbb.finish(root, Some(ARENA_STATE_ID));
}

/// Verifies and returns a zero-copy view of an arena state.
pub fn decode_state(buf: &[u8]) -> Result<ArenaState<'_>, DecodeError> {
    if buf.len() < 8 || &buf[4..8] != ARENA_STATE_ID.as_bytes() {
        return Err(DecodeError::WrongFrameKind {
            expected: ARENA_STATE_ID,
        });
    }
    let limits = Limits {
        max_apparent_size: 16 << 20,
        ..ARENA_LIMITS
    };
    Ok(flatbuffers::root_with_opts::<ArenaState>(
        &limits.verifier_options(),
        buf,
    )?)
}

/// One player's saved arena state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Saved {
    /// Position x.
    pub x: f32,
    /// Position y.
    pub y: f32,
    /// Total distance travelled.
    pub distance: f64,
}

/// Encodes a saved player state to owned bytes.
pub fn encode_save(s: Saved) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::with_capacity(64);
    let root = ArenaSave::create(
        &mut fbb,
        &ArenaSaveArgs {
            x: s.x,
            y: s.y,
            distance: s.distance,
        },
    );
    fbb.finish_minimal(root);
    fbb.finished_data().to_vec()
}

/// Verifies and reads a saved player state.
pub fn decode_save(buf: &[u8]) -> Result<Saved, DecodeError> {
    let save = flatbuffers::root_with_opts::<ArenaSave>(&ARENA_LIMITS.verifier_options(), buf)?;
    Ok(Saved {
        x: save.x(),
        y: save.y(),
        distance: save.distance(),
    })
}
