//! Node-wide directories, off the per-message path: room id → room (which
//! carries its shard), and session → room. Both are sharded concurrent maps
//! (`dashmap`), touched on join, leave and `/rooms` only.

use std::sync::Arc;

use dashmap::DashMap;
use rand_core::{OsRng, RngCore};

use crate::room::{ReserveError, RoomHandle, Seat, SessionId};

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// No room with that id on this node.
    #[error("room not found")]
    RoomNotFound,
    /// The room has no free seat.
    #[error("room is full")]
    RoomFull,
    /// The mode is not configured.
    #[error("unknown mode")]
    UnknownMode,
    /// The request named neither a room nor a mode.
    #[error("JoinRoom needs room_id or mode")]
    NothingToJoin,
    /// The join needed a new room, but the session created rooms faster
    /// than `--room-creates-per-minute`.
    #[error("rooms created too fast; try again later")]
    CreateRate,
    /// The join needed a new room, but the node runs `--max-rooms` rooms.
    #[error("no room for a new room on this server; try again later")]
    TooManyRooms,
    /// The node is draining and no other node can take the join.
    #[error("the node is draining; retry in a few seconds")]
    Draining,
}

impl JoinError {
    /// Stable label (logs, metrics).
    pub fn label(self) -> &'static str {
        match self {
            JoinError::RoomNotFound => "room_not_found",
            JoinError::RoomFull => "room_full",
            JoinError::UnknownMode => "unknown_mode",
            JoinError::NothingToJoin => "nothing_to_join",
            JoinError::CreateRate => crate::metrics::JOIN_REFUSED_CREATE_RATE,
            JoinError::TooManyRooms => crate::metrics::JOIN_REFUSED_MAX_ROOMS,
            JoinError::Draining => "draining",
        }
    }
}

/// Rooms and session placements of this node.
pub struct Directory {
    rooms: DashMap<Arc<str>, RoomHandle>,
    sessions: DashMap<SessionId, Arc<str>>,
    prefix: String,
}

impl Directory {
    /// An empty directory; room ids start with `prefix`.
    pub fn new(prefix: impl Into<String>) -> Directory {
        Directory {
            rooms: DashMap::new(),
            sessions: DashMap::new(),
            prefix: prefix.into(),
        }
    }

    /// A fresh room id: the node's prefix and 96 random bits, so ids can
    /// be neither guessed nor enumerated (private rooms rely on it).
    pub fn next_room_id(&self) -> Arc<str> {
        let mut bytes = [0u8; 12];
        OsRng.fill_bytes(&mut bytes);
        let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Arc::from(format!("{}-{random}", self.prefix))
    }

    /// Registers a room.
    pub fn insert(&self, room: RoomHandle) {
        self.rooms.insert(room.info().id.clone(), room);
    }

    /// Forgets a room (it was disposed).
    pub fn remove(&self, id: &str) {
        self.rooms.remove(id);
    }

    /// The room with `id`.
    pub fn get(&self, id: &str) -> Option<RoomHandle> {
        self.rooms.get(id).map(|r| r.value().clone())
    }

    /// Reserves a seat in room `id`.
    pub fn reserve_in(&self, id: &str) -> Result<Seat, JoinError> {
        let room = self.get(id).ok_or(JoinError::RoomNotFound)?;
        room.try_reserve().map_err(|e| match e {
            ReserveError::Full => JoinError::RoomFull,
            ReserveError::Closed => JoinError::RoomNotFound,
        })
    }

    /// Reserves a seat in a public room of `mode` on `shard` (the joining
    /// connection's own shard: its members' States are then written by
    /// that shard directly), if one has a free seat.
    pub fn reserve_on_shard(&self, mode: &str, shard: usize) -> Option<Seat> {
        self.rooms
            .iter()
            .filter(|r| {
                let info = r.info();
                !info.private && &*info.mode == mode && info.shard == shard
            })
            .map(|r| r.value().clone())
            .find_map(|room| room.try_reserve().ok())
    }

    /// Every live room.
    pub fn rooms(&self) -> Vec<RoomHandle> {
        self.rooms.iter().map(|r| r.value().clone()).collect()
    }

    /// Records that `session` is in room `room`.
    pub fn seat_session(&self, session: SessionId, room: Arc<str>) {
        self.sessions.insert(session, room);
    }

    /// Records that `session` is in no room.
    pub fn unseat_session(&self, session: SessionId) {
        self.sessions.remove(&session);
    }

    /// The room `session` is in.
    pub fn room_of(&self, session: SessionId) -> Option<Arc<str>> {
        self.sessions.get(&session).map(|r| r.value().clone())
    }
}
