//! The `Game` trait that rooms run, and the registry of games by name.
//!
//! Game code is pure: it receives inputs and a fixed time step and produces
//! state. No I/O, no clocks, no tokio: it is unit-tested and benchmarked
//! without a runtime. A room owns one game instance and calls it from its
//! shard's thread only.

pub mod arena;

use std::collections::HashMap;
use std::sync::Arc;

pub use tickforge_protocol::replication::{Entity, Grid};

/// A player's entity inside one room's game.
pub type EntityId = u32;

/// An input payload the game does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {0}")]
pub struct InputError(pub String);

/// A saved player state the game cannot restore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid saved state: {0}")]
pub struct RestoreError(pub String);

/// One authoritative simulation, run by one room at a fixed tick.
pub trait Game: Send + 'static {
    /// Adds a player and returns their entity. `saved` is the player's last
    /// saved state (from [`Game::save_player`]), if any; a state that cannot
    /// be restored is an error and the player is not added.
    fn add_player(&mut self, saved: Option<&[u8]>) -> Result<EntityId, RestoreError>;
    /// Removes a player's entity.
    fn remove_player(&mut self, entity: EntityId);
    /// Applies one input of `entity`. The payload is as the client sent it:
    /// reading it is its one verification. On an error the room checks it
    /// with the game kind's `validate_input`: a payload that fails it closes
    /// the member (1007 `bad_input`); otherwise the input counts as refused.
    fn apply_input(&mut self, entity: EntityId, payload: &[u8]) -> Result<(), InputError>;
    /// Advances the simulation by `dt_secs` seconds (the room's tick period).
    fn step(&mut self, dt_secs: f32);
    /// Encodes the full state; the bytes stay valid until the next call.
    fn encode_state(&mut self) -> &[u8];
    /// One player's state as bytes, for persistent snapshots.
    fn save_player(&self, entity: EntityId) -> Option<Vec<u8>>;
    /// The player's connection dropped; the room holds the seat for a
    /// resume and sends no input for the entity until then. A game gives
    /// the entity a neutral input here (arena: the disc stops). Default:
    /// nothing.
    fn player_dropped(&mut self, entity: EntityId) {
        let _ = entity;
    }
    /// The whole room's state as bytes, for a live hand-off to another
    /// node (a drain): every entity with its id, position and current
    /// input, and whatever else the next tick needs. The format is the
    /// game's own; it should carry a version and a checksum. `None`: this
    /// game cannot be handed off (its rooms close with 1001 in a drain, as
    /// on a single node). Default: `None`.
    fn save_room(&self) -> Option<Vec<u8>> {
        None
    }
    /// Replaces this (new, empty) game's state with a blob from
    /// [`Game::save_room`], keeping entity ids. A blob that is not
    /// well-formed, of an unknown version, fails its check or does not fit
    /// the room is an error and the game is left empty; it never panics.
    /// Default: an error (the game cannot be handed off).
    fn restore_room(&mut self, blob: &[u8]) -> Result<(), RestoreError> {
        let _ = blob;
        Err(RestoreError("this game cannot restore a room".into()))
    }
    /// Opting into replication (large rooms): the grid the world is divided
    /// into. A game that returns a grid has its `tickforge.v2` members sent
    /// per-cell deltas and keyframes of what they see (see
    /// `tickforge_protocol::replication`) instead of the full state; its
    /// `tickforge.v1` members still get [`Game::encode_state`]. Asked once,
    /// when the room is created. Default: `None` (full state for everyone).
    fn replication(&self) -> Option<Grid> {
        None
    }
    /// With [`Game::replication`]: appends every replicated entity of this
    /// tick, quantised with [`Entity::quantise`]; players' entities carry
    /// their [`EntityId`]. Called once per tick. Default: nothing.
    fn replicate(&self, out: &mut Vec<Entity>) {
        let _ = out;
    }
}

/// Parameters a game is created with.
#[derive(Debug, Clone, Copy)]
pub struct GameParams {
    /// Seats in the room.
    pub capacity: u16,
    /// Tick rate of the room, in Hz.
    pub tick_rate_hz: u16,
}

/// How to create and feed one kind of game.
#[derive(Clone, Copy)]
pub struct GameKind {
    /// Checks an input payload at the edge, before it reaches a room; a
    /// payload that fails closes the connection as a bad frame.
    pub validate_input: fn(&[u8]) -> Result<(), InputError>,
    /// Creates the game for a new room.
    pub create: fn(GameParams) -> Box<dyn Game>,
}

/// Games by name; `arena` is always present.
#[derive(Clone)]
pub struct GameRegistry {
    kinds: HashMap<String, GameKind>,
}

impl Default for GameRegistry {
    fn default() -> Self {
        let mut registry = GameRegistry {
            kinds: HashMap::new(),
        };
        registry.register("arena", arena::KIND);
        registry.register("arena-large", arena::LARGE);
        registry
    }
}

impl GameRegistry {
    /// Adds or replaces a game kind.
    pub fn register(&mut self, name: &str, kind: GameKind) -> &mut Self {
        self.kinds.insert(name.to_string(), kind);
        self
    }

    /// The kind registered under `name`.
    pub fn get(&self, name: &str) -> Option<GameKind> {
        self.kinds.get(name).copied()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.kinds.keys().cloned().collect();
        names.sort();
        names
    }
}

/// A joinable mode after configuration: its game and room parameters.
#[derive(Clone)]
pub struct Mode {
    /// Name clients send in JoinRoom.mode.
    pub name: Arc<str>,
    /// The game that runs its rooms.
    pub kind: GameKind,
    /// Room parameters.
    pub params: GameParams,
}
