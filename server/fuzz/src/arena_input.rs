//! The `arena_input` target: any bytes as an `Input.payload` and as an
//! `ArenaSave`, through the reference game as a room drives it.
//!
//! The session's check at the edge (`GameKind::validate_input`) and the
//! game's own decoding must agree, so that an input a session let through
//! never fails inside a tick. A payload the game accepts moves its player
//! within the arena, and the encoded state verifies. Bytes the game accepts
//! as a saved state restore a player inside the arena whose own save
//! restores again.

use tickforge_protocol::arena_codec::{self, Move};
use tickforge_server::game::arena::{self, HEIGHT, WIDTH};
use tickforge_server::game::{Game, GameParams};

/// One tick of a 30 Hz room, in seconds.
const DT: f32 = 1.0 / 30.0;

fn game() -> Box<dyn Game> {
    (arena::KIND.create)(GameParams {
        capacity: 4,
        tick_rate_hz: 30,
    })
}

/// Checks that every entity of the encoded state is inside the arena.
fn assert_state_in_bounds(game: &mut Box<dyn Game>) {
    let state = game.encode_state().to_vec();
    let state = arena_codec::decode_state(&state)
        .unwrap_or_else(|e| panic!("the game's own state does not verify: {e}"));
    for entity in state.entities().iter().flatten() {
        let (x, y) = (entity.x(), entity.y());
        assert!(
            (0.0..=WIDTH).contains(&x) && (0.0..=HEIGHT).contains(&y),
            "entity {} left the arena: ({x}, {y})",
            entity.id()
        );
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let validated = (arena::KIND.validate_input)(data);
    let decoded = arena_codec::decode_input(data);
    assert_eq!(
        validated.is_ok(),
        decoded.is_ok(),
        "the edge check and the codec disagree"
    );
    let mut game = game();
    let entity = game
        .add_player(None)
        .unwrap_or_else(|e| panic!("a new player is refused: {e}"));
    let applied = game.apply_input(entity, data);
    assert_eq!(
        applied.is_ok(),
        validated.is_ok(),
        "a tick would see a different verdict than the session"
    );
    if let Ok(m) = decoded {
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let again = arena_codec::decode_input(arena_codec::encode_input(&mut fbb, m))
            .unwrap_or_else(|e| panic!("a re-encoded {m:?} does not verify: {e}"));
        assert_eq!(m, again);
        for _ in 0..200 {
            game.step(DT);
        }
        assert_state_in_bounds(&mut game);
    }

    // The same bytes as a player's saved state.
    let Ok(restored) = game.add_player(Some(data)) else {
        return;
    };
    assert_state_in_bounds(&mut game);
    game.apply_input(restored, &full_stick())
        .unwrap_or_else(|e| panic!("a valid input is refused: {e}"));
    game.step(DT);
    let saved = game
        .save_player(restored)
        .unwrap_or_else(|| panic!("a seated player has no saved state"));
    let mut next = self::game();
    next.add_player(Some(&saved))
        .unwrap_or_else(|e| panic!("a player's own save does not restore: {e}"));
}

fn full_stick() -> Vec<u8> {
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    arena_codec::encode_input(
        &mut fbb,
        Move {
            x: 127,
            y: -127,
            buttons: 1,
        },
    )
    .to_vec()
}
