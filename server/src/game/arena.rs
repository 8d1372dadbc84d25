//! `arena`, the reference game: players move in a bounded 2D arena.
//!
//! Inputs are a movement direction (two axes, -127..=127) and a button mask
//! (bit 0: boost doubles speed). Each tick moves every player by its current
//! direction; positions are clamped to the arena. A player's saved state is
//! their position and total distance travelled. A room's whole state
//! travels in a hand-off as a [`room_blob`].
//!
//! `arena-large` ([`LARGE`]) is the same game on a [`LARGE_SIDE`]-unit map
//! sized for 256 players (the 32-player arena's area per player), with
//! replication on: cells of [`LARGE_CELL`] units and a view radius of one
//! cell, so a `tickforge.v2` member sees everything within 300 units of
//! it on each axis and nothing beyond 600.

pub mod room_blob;

use flatbuffers::FlatBufferBuilder;
use tickforge_protocol::arena::ArenaEntity;
use tickforge_protocol::arena_codec::{self, Move, Saved};

use super::{Entity, EntityId, Game, GameKind, GameParams, Grid, InputError, RestoreError};

/// Arena width in world units.
pub const WIDTH: f32 = 1000.0;
/// Arena height in world units.
pub const HEIGHT: f32 = 1000.0;
/// Speed at full stick, in units per second.
pub const SPEED: f32 = 200.0;
/// Speed multiplier while boost (button bit 0) is held.
pub const BOOST: f32 = 2.0;

/// The arena's registry entry.
pub const KIND: GameKind = GameKind {
    validate_input,
    create,
};

fn validate_input(payload: &[u8]) -> Result<(), InputError> {
    arena_codec::decode_input(payload)
        .map(|_| ())
        .map_err(|e| InputError(e.to_string()))
}

fn create(params: GameParams) -> Box<dyn Game> {
    Box::new(Arena::new(params.capacity as usize))
}

/// Side of the `arena-large` map in world units: 256 players with the
/// 32-player arena's area per player (1000² / 32 ≈ 3000² / 256).
pub const LARGE_SIDE: f32 = 3000.0;
/// Side of an `arena-large` replication cell in world units (10 × 10 cells).
pub const LARGE_CELL: f32 = 300.0;
/// View radius of `arena-large`, in cells.
pub const LARGE_VIEW_RADIUS: u16 = 1;

/// The large arena's registry entry: configure it as
/// `--mode 'arena-large,tick=20,capacity=256'`.
pub const LARGE: GameKind = GameKind {
    validate_input,
    create: create_large,
};

fn create_large(params: GameParams) -> Box<dyn Game> {
    Box::new(Arena::large(params.capacity as usize))
}

#[derive(Debug, Clone)]
struct Player {
    id: EntityId,
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    input: Move,
    distance: f64,
}

/// State of one arena room.
pub struct Arena {
    capacity: usize,
    width: f32,
    height: f32,
    grid: Option<Grid>,
    players: Vec<Player>,
    next_entity: EntityId,
    entities: Vec<ArenaEntity>,
    fbb: FlatBufferBuilder<'static>,
}

impl Arena {
    /// An empty arena with room for `capacity` players without reallocating.
    pub fn new(capacity: usize) -> Self {
        Arena {
            capacity,
            width: WIDTH,
            height: HEIGHT,
            grid: None,
            players: Vec::with_capacity(capacity),
            next_entity: 1,
            entities: Vec::with_capacity(capacity),
            fbb: FlatBufferBuilder::with_capacity(64 + capacity * 32),
        }
    }

    /// An empty `arena-large`: a [`LARGE_SIDE`] map, replicated in cells.
    pub fn large(capacity: usize) -> Self {
        let grid = Grid::new(LARGE_SIDE, LARGE_SIDE, LARGE_CELL, LARGE_VIEW_RADIUS);
        Arena::replicated(capacity, LARGE_SIDE, grid)
    }

    /// An empty arena on a `side × side` map replicated on `grid` (the
    /// benchmarks compare grids with it).
    pub fn replicated(capacity: usize, side: f32, grid: Grid) -> Self {
        Arena {
            width: side,
            height: side,
            grid: Some(grid),
            ..Arena::new(capacity)
        }
    }

    /// Position of `entity`, if present.
    pub fn position(&self, entity: EntityId) -> Option<(f32, f32)> {
        self.player(entity).map(|p| (p.x, p.y))
    }

    fn player(&self, entity: EntityId) -> Option<&Player> {
        self.players.iter().find(|p| p.id == entity)
    }

    /// A deterministic spawn point spread over the arena by entity id.
    fn spawn_point(&self, id: EntityId) -> (f32, f32) {
        let h = id.wrapping_mul(2_654_435_761);
        let fx = (h & 0xffff) as f32 / 65535.0;
        let fy = (h >> 16) as f32 / 65535.0;
        (
            50.0 + fx * (self.width - 100.0),
            50.0 + fy * (self.height - 100.0),
        )
    }
}

impl Game for Arena {
    fn add_player(&mut self, saved: Option<&[u8]>) -> Result<EntityId, RestoreError> {
        let id = self.next_entity;
        let (x, y, distance) = match saved {
            Some(bytes) => {
                let s = arena_codec::decode_save(bytes).map_err(|e| RestoreError(e.to_string()))?;
                if !(s.x.is_finite() && s.y.is_finite() && s.distance.is_finite()) {
                    return Err(RestoreError("non-finite position".into()));
                }
                (
                    s.x.clamp(0.0, self.width),
                    s.y.clamp(0.0, self.height),
                    s.distance,
                )
            }
            None => {
                let (x, y) = self.spawn_point(id);
                (x, y, 0.0)
            }
        };
        self.next_entity = self.next_entity.wrapping_add(1).max(1);
        self.players.push(Player {
            id,
            x,
            y,
            vx: 0.0,
            vy: 0.0,
            input: Move::default(),
            distance,
        });
        Ok(id)
    }

    fn remove_player(&mut self, entity: EntityId) {
        self.players.retain(|p| p.id != entity);
    }

    fn apply_input(&mut self, entity: EntityId, payload: &[u8]) -> Result<(), InputError> {
        let input = arena_codec::decode_input(payload).map_err(|e| InputError(e.to_string()))?;
        let player = self
            .players
            .iter_mut()
            .find(|p| p.id == entity)
            .ok_or_else(|| InputError(format!("no entity {entity}")))?;
        player.input = input;
        Ok(())
    }

    fn step(&mut self, dt_secs: f32) {
        let (width, height) = (self.width, self.height);
        for p in &mut self.players {
            let (mx, my) = (f32::from(p.input.x) / 127.0, f32::from(p.input.y) / 127.0);
            let len = (mx * mx + my * my).sqrt();
            let scale = if len > 1.0 { 1.0 / len } else { 1.0 };
            let boost = if p.input.buttons & 1 != 0 { BOOST } else { 1.0 };
            p.vx = mx * scale * SPEED * boost;
            p.vy = my * scale * SPEED * boost;
            let (nx, ny) = (
                (p.x + p.vx * dt_secs).clamp(0.0, width),
                (p.y + p.vy * dt_secs).clamp(0.0, height),
            );
            p.distance += f64::from(((nx - p.x).powi(2) + (ny - p.y).powi(2)).sqrt());
            p.x = nx;
            p.y = ny;
        }
    }

    fn encode_state(&mut self) -> &[u8] {
        self.entities.clear();
        self.entities.extend(
            self.players
                .iter()
                .map(|p| ArenaEntity::new(p.id, p.x, p.y, p.vx, p.vy, p.input.buttons)),
        );
        arena_codec::encode_state(&mut self.fbb, self.width, self.height, &self.entities);
        self.fbb.finished_data()
    }

    fn save_player(&self, entity: EntityId) -> Option<Vec<u8>> {
        self.player(entity).map(|p| {
            arena_codec::encode_save(Saved {
                x: p.x,
                y: p.y,
                distance: p.distance,
            })
        })
    }

    fn player_dropped(&mut self, entity: EntityId) {
        if let Some(p) = self.players.iter_mut().find(|p| p.id == entity) {
            p.input = Move::default();
        }
    }

    fn save_room(&self) -> Option<Vec<u8>> {
        Some(room_blob::save(self))
    }

    fn restore_room(&mut self, blob: &[u8]) -> Result<(), RestoreError> {
        let restored = room_blob::restore(self, blob, self.capacity);
        if restored.is_err() {
            self.players.clear();
        }
        restored
    }

    fn replication(&self) -> Option<Grid> {
        self.grid
    }

    fn replicate(&self, out: &mut Vec<Entity>) {
        out.extend(
            self.players
                .iter()
                .map(|p| Entity::quantise(p.id, p.x, p.y, p.vx, p.vy, p.input.buttons)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(x: i8, y: i8, buttons: u8) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        arena_codec::encode_input(&mut fbb, Move { x, y, buttons }).to_vec()
    }

    #[test]
    fn a_player_moves_in_the_direction_of_its_input() {
        let mut arena = Arena::new(4);
        let e = arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        let (x0, y0) = arena.position(e).unwrap_or_default();
        arena
            .apply_input(e, &input(127, 0, 0))
            .unwrap_or_else(|e| panic!("{e}"));
        arena.step(0.5);
        let (x1, y1) = arena.position(e).unwrap_or_default();
        assert!(
            (x1 - (x0 + SPEED * 0.5).min(WIDTH)).abs() < 0.01,
            "{x0} -> {x1}"
        );
        assert_eq!(y0, y1);
    }

    #[test]
    fn boost_doubles_speed_and_diagonals_are_not_faster() {
        let mut arena = Arena::new(4);
        let a = arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        let b = arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        arena
            .apply_input(a, &input(127, 127, 0))
            .unwrap_or_else(|e| panic!("{e}"));
        arena
            .apply_input(b, &input(0, 127, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        arena.step(0.1);
        let pa = &arena.players[0];
        let pb = &arena.players[1];
        assert!(((pa.vx * pa.vx + pa.vy * pa.vy).sqrt() - SPEED).abs() < 0.01);
        assert!((pb.vy - SPEED * BOOST).abs() < 0.01);
    }

    #[test]
    fn a_dropped_player_stops_where_it_is() {
        let mut arena = Arena::new(2);
        let e = arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        arena
            .apply_input(e, &input(127, 0, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        arena.step(0.1);
        arena.player_dropped(e);
        let at = arena.position(e);
        arena.step(0.1);
        assert_eq!(arena.position(e), at);
    }

    #[test]
    fn positions_stay_inside_the_arena() {
        let mut arena = Arena::new(1);
        let e = arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        arena
            .apply_input(e, &input(-127, -127, 1))
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..1000 {
            arena.step(1.0 / 30.0);
        }
        assert_eq!(arena.position(e), Some((0.0, 0.0)));
    }

    #[test]
    fn saved_player_state_round_trips_into_a_new_room() {
        let mut arena = Arena::new(2);
        let e = arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        arena
            .apply_input(e, &input(60, -30, 0))
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..10 {
            arena.step(1.0 / 30.0);
        }
        let saved = arena.save_player(e).unwrap_or_default();
        let before = arena.player(e).cloned();

        let mut other = Arena::new(2);
        let restored = other
            .add_player(Some(&saved))
            .unwrap_or_else(|e| panic!("{e}"));
        let after = other.player(restored).cloned();
        let (before, after) = (
            before.unwrap_or_else(|| panic!("missing")),
            after.unwrap_or_else(|| panic!("missing")),
        );
        assert_eq!(
            (before.x, before.y, before.distance),
            (after.x, after.y, after.distance)
        );
        assert!(after.distance > 0.0);
        assert!(other.add_player(Some(b"garbage")).is_err());
    }

    #[test]
    fn the_large_arena_replicates_every_player_on_its_larger_map() {
        let mut arena = Arena::large(256);
        for _ in 0..256 {
            arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        }
        let grid = arena.replication().unwrap_or_else(|| panic!("no grid"));
        assert_eq!((grid.cols, grid.rows, grid.view_radius), (10, 10, 1));
        let mut out = Vec::new();
        arena.replicate(&mut out);
        assert_eq!(out.len(), 256);
        assert!(out.iter().any(|e| e.x > (WIDTH * 16.0) as i32));
        assert!(Arena::new(4).replication().is_none());
    }

    #[test]
    fn state_encodes_every_player_and_invalid_inputs_are_refused() {
        let mut arena = Arena::new(3);
        for _ in 0..3 {
            arena.add_player(None).unwrap_or_else(|e| panic!("{e}"));
        }
        let state = arena.encode_state().to_vec();
        let decoded = arena_codec::decode_state(&state).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.entities().map(|v| v.len()), Some(3));
        assert!(validate_input(b"\x01\x02").is_err());
        assert!(arena.apply_input(99, &input(1, 1, 0)).is_err());
    }
}
