//! The arena's room blob: the whole game state of one room, written by
//! [`Game::save_room`](crate::game::Game::save_room) on a draining node and
//! read by [`Game::restore_room`](crate::game::Game::restore_room) on the
//! node that takes the room over.
//!
//! Layout (little-endian), followed by an FNV-1a 64-bit checksum of every
//! byte before it:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `TFAR` |
//! | 1 | version ([`VERSION`]) |
//! | 4 | next entity id |
//! | 2 | player count *n* |
//! | *n* × 27 | id u32, x f32, y f32, input x i8, input y i8, buttons u8, distance f64, reserved u16 (0) |
//! | 8 | checksum |
//!
//! A restore checks the magic, the version, the length, the checksum, that
//! every number is finite and inside the arena, that ids are unique and
//! below the next id, and that the players fit the room's capacity. Any
//! failure is a [`RestoreError`] and leaves the arena empty.

use tickforge_protocol::arena_codec::Move;

use super::{Arena, Player};
use crate::game::RestoreError;

/// First bytes of every arena room blob.
const MAGIC: &[u8; 4] = b"TFAR";
/// The blob version this build writes and reads.
pub const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 4 + 2;
const PLAYER: usize = 4 + 4 + 4 + 1 + 1 + 1 + 8 + 2;
const CHECKSUM: usize = 8;

/// FNV-1a, 64 bits: enough to catch a truncated or altered blob (the
/// transport is trusted; this is not a signature).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Writes `arena` as a blob.
pub(super) fn save(arena: &Arena) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + arena.players.len() * PLAYER + CHECKSUM);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&arena.next_entity.to_le_bytes());
    let count = u16::try_from(arena.players.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for p in arena.players.iter().take(usize::from(count)) {
        out.extend_from_slice(&p.id.to_le_bytes());
        out.extend_from_slice(&p.x.to_le_bytes());
        out.extend_from_slice(&p.y.to_le_bytes());
        out.extend_from_slice(&p.input.x.to_le_bytes());
        out.extend_from_slice(&p.input.y.to_le_bytes());
        out.push(p.input.buttons);
        out.extend_from_slice(&p.distance.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// A little-endian reader over a slice whose length was checked up front.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RestoreError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or_else(|| bad("truncated"))?;
        self.bytes = rest;
        Ok(*head)
    }
}

fn bad(what: &str) -> RestoreError {
    RestoreError(format!("arena room blob: {what}"))
}

/// Reads a blob into `arena` (which must be empty); `capacity` is the
/// room's seat count.
pub(super) fn restore(arena: &mut Arena, blob: &[u8], capacity: usize) -> Result<(), RestoreError> {
    if blob.len() < HEADER + CHECKSUM {
        return Err(bad("too short"));
    }
    let (body, sum) = blob.split_at(blob.len() - CHECKSUM);
    let mut sum_bytes = [0u8; CHECKSUM];
    sum_bytes.copy_from_slice(sum);
    if fnv1a(body) != u64::from_le_bytes(sum_bytes) {
        return Err(bad("checksum mismatch"));
    }
    let mut r = Reader { bytes: body };
    if &r.take::<4>()? != MAGIC {
        return Err(bad("not an arena room"));
    }
    let [version] = r.take::<1>()?;
    if version != VERSION {
        return Err(bad(&format!(
            "version {version}, this build reads {VERSION}"
        )));
    }
    let next_entity = u32::from_le_bytes(r.take()?);
    let count = usize::from(u16::from_le_bytes(r.take()?));
    if count > capacity {
        return Err(bad("more players than seats"));
    }
    if r.bytes.len() != count * PLAYER {
        return Err(bad("length does not match the player count"));
    }
    let mut players = Vec::with_capacity(capacity);
    for _ in 0..count {
        let id = u32::from_le_bytes(r.take()?);
        let x = f32::from_le_bytes(r.take()?);
        let y = f32::from_le_bytes(r.take()?);
        let [mx] = r.take::<1>()?;
        let [my] = r.take::<1>()?;
        let [buttons] = r.take::<1>()?;
        let distance = f64::from_le_bytes(r.take()?);
        let _reserved = r.take::<2>()?;
        let inside = (0.0..=arena.width).contains(&x) && (0.0..=arena.height).contains(&y);
        if !inside || !distance.is_finite() || distance < 0.0 {
            return Err(bad("a position outside the arena"));
        }
        if id == 0 || id >= next_entity || players.iter().any(|p: &Player| p.id == id) {
            return Err(bad("an entity id out of order"));
        }
        players.push(Player {
            id,
            x,
            y,
            vx: 0.0,
            vy: 0.0,
            input: Move {
                x: i8::from_le_bytes([mx]),
                y: i8::from_le_bytes([my]),
                buttons,
            },
            distance,
        });
    }
    arena.players = players;
    arena.next_entity = next_entity;
    Ok(())
}

#[cfg(test)]
mod tests {
    use flatbuffers::FlatBufferBuilder;
    use tickforge_protocol::arena_codec;

    use super::*;
    use crate::game::Game;

    fn moving_arena() -> (Arena, Vec<u32>) {
        let mut arena = Arena::new(4);
        let ids: Vec<u32> = (0..3)
            .map(|_| arena.add_player(None).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let mut fbb = FlatBufferBuilder::new();
        let input = arena_codec::encode_input(
            &mut fbb,
            Move {
                x: 90,
                y: -40,
                buttons: 1,
            },
        )
        .to_vec();
        arena
            .apply_input(ids[1], &input)
            .unwrap_or_else(|e| panic!("{e}"));
        arena.remove_player(ids[0]);
        arena.step(0.1);
        (arena, ids)
    }

    #[test]
    fn a_large_room_restores_positions_beyond_the_small_arena() {
        let mut original = Arena::large(256);
        let ids: Vec<u32> = (0..64)
            .map(|_| original.add_player(None).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let far = ids
            .iter()
            .filter_map(|id| original.position(*id))
            .any(|(x, y)| x > WIDTH_OF_THE_SMALL_ARENA || y > WIDTH_OF_THE_SMALL_ARENA);
        assert!(
            far,
            "64 spawn points on the large map reach past the small arena"
        );
        let blob = original.save_room().unwrap_or_default();
        let mut copy = Arena::large(256);
        copy.restore_room(&blob).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(original.encode_state(), copy.encode_state());
        let mut small = Arena::new(256);
        assert!(
            small.restore_room(&blob).is_err(),
            "the small arena refuses positions outside its map"
        );
    }

    const WIDTH_OF_THE_SMALL_ARENA: f32 = super::super::WIDTH;

    #[test]
    fn a_restored_room_continues_exactly_where_the_saved_one_would() {
        let (mut original, ids) = moving_arena();
        let blob = original.save_room().unwrap_or_default();
        let mut copy = Arena::new(4);
        copy.restore_room(&blob).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..5 {
            original.step(1.0 / 30.0);
            copy.step(1.0 / 30.0);
        }
        assert_eq!(original.encode_state(), copy.encode_state());
        assert_eq!(
            copy.position(ids[0]),
            None,
            "a removed player stays removed"
        );
        let fresh = copy.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            fresh > ids[2],
            "new entity ids continue after the saved ones"
        );
    }

    #[test]
    fn a_damaged_truncated_or_foreign_blob_is_an_error_and_leaves_the_arena_empty() {
        let (original, _) = moving_arena();
        let blob = original.save_room().unwrap_or_default();
        let mut flipped = blob.clone();
        flipped[HEADER + 5] ^= 0x40;
        let mut future = blob.clone();
        future[4] = VERSION + 1;
        let end = future.len() - CHECKSUM;
        let sum = fnv1a(&future[..end]);
        future[end..].copy_from_slice(&sum.to_le_bytes());
        for (what, bytes) in [
            ("flipped bit", flipped),
            ("truncated", blob[..blob.len() - 3].to_vec()),
            ("empty", Vec::new()),
            ("unknown version", future),
            ("garbage", b"garbage garbage garbage".to_vec()),
        ] {
            let mut arena = Arena::new(4);
            assert!(arena.restore_room(&bytes).is_err(), "{what}");
            assert!(arena.players.is_empty(), "{what}");
        }
        let mut small = Arena::new(1);
        assert!(
            small.restore_room(&blob).is_err(),
            "two players do not fit one seat"
        );
    }
}
