//! The `Game` trait that rooms run, and the registry of games by name.
//!
//! Game code is pure: it receives inputs and a fixed time step and produces
//! state. No I/O, no clocks, no tokio: it is unit-tested and benchmarked
//! without a runtime. A room owns one game instance and calls it from its
//! shard's thread only.

pub mod arena;

use std::collections::HashMap;
use std::sync::Arc;

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
