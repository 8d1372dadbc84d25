//! The baseline's lobby and rooms, the ordinary way: every room is an
//! `Arc<Mutex<Room>>` shared by the connections of its members (which lock it
//! to join, leave and apply each input on the spot) and by one tokio task per
//! room that locks it 30 times a second to tick, encoding the State once per
//! member.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use tickforge_protocol::ServerEncoder;
use tickforge_protocol::client::now_micros;
use tickforge_protocol::encode::{JoinedFields, PlayerEntry, ack};
use tickforge_protocol::wire::ErrorCode;
use tickforge_server::game::arena::Arena;
use tickforge_server::game::{EntityId, Game, InputError};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

/// The only mode, as in tickforge's default configuration.
pub const ARENA: &str = "arena";
/// An empty room is disposed after this (tickforge's default grace).
const EMPTY_ROOM_GRACE: Duration = Duration::from_secs(10);

/// A room shared by its members' connections and its tick task.
pub type SharedRoom = Arc<Mutex<Room>>;

/// Locks `mutex`; a panic elsewhere while it was held does not stop the server.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The sending side of one connection: its writer task's queue and the
/// token that ends the connection.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Message>,
    end: CancellationToken,
}

impl Outbox {
    /// An outbox feeding `tx`; `end` is cancelled when the connection must end.
    pub fn new(tx: mpsc::Sender<Message>, end: CancellationToken) -> Outbox {
        Outbox { tx, end }
    }

    /// Queues `message` for the writer task. A full queue means the client
    /// stopped reading, a closed one that the writer is gone: either way the
    /// connection is ended and `false` returned.
    pub fn push(&self, message: Message) -> bool {
        match self.tx.try_send(message) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => {
                self.end.cancel();
                false
            }
        }
    }
}

/// Who asks for a seat.
pub struct Joiner {
    /// The connection's id.
    pub connection: u64,
    /// The player id from Hello.
    pub player_id: Arc<str>,
    /// Where the room sends this player's frames.
    pub outbox: Outbox,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefused {
    /// No room has that id.
    RoomNotFound,
    /// The room has no free seat.
    RoomFull,
    /// No such mode.
    UnknownMode,
    /// JoinRoom carried neither a room id nor a mode.
    NothingToJoin,
    /// The game could not add the player.
    GameRefused,
}

impl JoinRefused {
    /// The protocol's error code.
    pub fn code(self) -> ErrorCode {
        match self {
            JoinRefused::RoomNotFound => ErrorCode::RoomNotFound,
            JoinRefused::RoomFull => ErrorCode::RoomFull,
            JoinRefused::UnknownMode => ErrorCode::UnknownMode,
            JoinRefused::NothingToJoin | JoinRefused::GameRefused => ErrorCode::InvalidInput,
        }
    }

    /// Text for people.
    pub fn message(self) -> &'static str {
        match self {
            JoinRefused::RoomNotFound => "no such room",
            JoinRefused::RoomFull => "the room is full",
            JoinRefused::UnknownMode => "unknown mode",
            JoinRefused::NothingToJoin => "JoinRoom needs a room id or a mode",
            JoinRefused::GameRefused => "the game could not add the player",
        }
    }
}

struct Member {
    connection: u64,
    entity: EntityId,
    player_id: Arc<str>,
    outbox: Outbox,
    last_seq: u32,
    /// Its outbox refused a frame: removed at the next `settle`.
    gone: bool,
}

/// One game room.
pub struct Room {
    id: Arc<str>,
    mode: Arc<str>,
    tick_rate_hz: u16,
    capacity: u16,
    game: Box<dyn Game>,
    enc: ServerEncoder,
    members: Vec<Member>,
    tick: u64,
    closed: bool,
}

impl Room {
    fn new(id: Arc<str>, tick_rate_hz: u16, capacity: u16) -> Room {
        Room {
            id,
            mode: Arc::from(ARENA),
            tick_rate_hz,
            capacity,
            game: Box::new(Arena::new(usize::from(capacity))),
            enc: ServerEncoder::new(),
            members: Vec::new(),
            tick: 0,
            closed: false,
        }
    }

    /// The room's id.
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    fn has_seat(&self) -> bool {
        !self.closed && self.members.len() < usize::from(self.capacity)
    }

    /// Seats `joiner`: the others get PlayerJoined, the joiner Joined.
    fn add(&mut self, joiner: &Joiner) -> Result<EntityId, JoinRefused> {
        if self.closed {
            return Err(JoinRefused::RoomNotFound);
        }
        if !self.has_seat() {
            return Err(JoinRefused::RoomFull);
        }
        let entity = self
            .game
            .add_player(None)
            .map_err(|_| JoinRefused::GameRefused)?;
        let newcomer = PlayerEntry {
            entity_id: entity,
            name: &joiner.player_id,
        };
        for member in &mut self.members {
            let frame = self.enc.player_joined(newcomer);
            member.gone |= !member.outbox.push(Message::Binary(frame));
        }
        self.members.push(Member {
            connection: joiner.connection,
            entity,
            player_id: joiner.player_id.clone(),
            outbox: joiner.outbox.clone(),
            last_seq: 0,
            gone: false,
        });
        let fields = JoinedFields {
            room_id: &self.id,
            mode: &self.mode,
            entity_id: entity,
            tick: self.tick,
            tick_rate_hz: self.tick_rate_hz,
            capacity: self.capacity,
            state: self.game.encode_state(),
            view_radius_cells: 0,
        };
        let players = self.members.iter().map(|m| PlayerEntry {
            entity_id: m.entity,
            name: &m.player_id,
        });
        let joined = self.enc.joined(&fields, players);
        let delivered = joiner.outbox.push(Message::Binary(joined));
        if let Some(newcomer) = self.members.last_mut() {
            newcomer.gone |= !delivered;
        }
        self.settle();
        Ok(entity)
    }

    /// Removes the member on `connection`, if present; the others get PlayerLeft.
    pub fn remove(&mut self, connection: u64) -> bool {
        let Some(member) = self.members.iter_mut().find(|m| m.connection == connection) else {
            return false;
        };
        member.gone = true;
        self.settle();
        true
    }

    /// Applies one input of the member on `connection` at once; its `seq` is
    /// acknowledged in the next State. Inputs of non-members are dropped.
    pub fn input(&mut self, connection: u64, seq: u32, payload: &[u8]) -> Result<(), InputError> {
        let Some(member) = self.members.iter_mut().find(|m| m.connection == connection) else {
            return Ok(());
        };
        self.game.apply_input(member.entity, payload)?;
        member.last_seq = seq;
        Ok(())
    }

    /// One tick: step the game, then encode the game state and the State
    /// frame afresh for every member and queue it.
    pub fn tick(&mut self, dt_secs: f32) {
        self.tick += 1;
        self.game.step(dt_secs);
        if self.members.is_empty() {
            return;
        }
        let acks: Vec<_> = self
            .members
            .iter()
            .map(|m| ack(m.entity, m.last_seq))
            .collect();
        for member in &mut self.members {
            let state = self.game.encode_state();
            let frame = self.enc.state(self.tick, now_micros(), state, &acks);
            member.gone |= !member.outbox.push(Message::Binary(frame));
        }
        self.settle();
    }

    /// Removes every member marked gone and tells the others, until telling
    /// them removes nobody else.
    fn settle(&mut self) {
        while let Some(i) = self.members.iter().position(|m| m.gone) {
            let gone = self.members.remove(i);
            self.game.remove_player(gone.entity);
            let player = PlayerEntry {
                entity_id: gone.entity,
                name: &gone.player_id,
            };
            for member in &mut self.members {
                let frame = self.enc.player_left(player);
                member.gone |= !member.outbox.push(Message::Binary(frame));
            }
        }
    }
}

/// Every room of the server.
pub struct Lobby {
    rooms: Mutex<Vec<SharedRoom>>,
    next_room: AtomicU64,
    tick_rate_hz: u16,
    capacity: u16,
}

impl Lobby {
    /// An empty lobby whose rooms tick at `tick_rate_hz` with `capacity` seats.
    pub fn new(tick_rate_hz: u16, capacity: u16) -> Arc<Lobby> {
        Arc::new(Lobby {
            rooms: Mutex::new(Vec::new()),
            next_room: AtomicU64::new(1),
            tick_rate_hz,
            capacity,
        })
    }

    /// The rooms' tick rate, Hz.
    pub fn tick_rate_hz(&self) -> u16 {
        self.tick_rate_hz
    }

    /// Joins the first room of `mode` with a free seat, or creates one.
    pub fn join_or_create(
        self: &Arc<Self>,
        mode: &str,
        joiner: &Joiner,
    ) -> Result<(SharedRoom, EntityId), JoinRefused> {
        if mode != ARENA {
            return Err(JoinRefused::UnknownMode);
        }
        let mut rooms = lock(&self.rooms);
        for room in rooms.iter() {
            let mut guard = lock(room);
            if guard.has_seat() {
                let entity = guard.add(joiner)?;
                return Ok((room.clone(), entity));
            }
        }
        let id = format!(
            "baseline-r{}",
            self.next_room.fetch_add(1, Ordering::Relaxed)
        );
        let room = Arc::new(Mutex::new(Room::new(
            Arc::from(id),
            self.tick_rate_hz,
            self.capacity,
        )));
        let entity = lock(&room).add(joiner)?;
        rooms.push(room.clone());
        tokio::spawn(run(self.clone(), room.clone(), self.tick_rate_hz));
        Ok((room, entity))
    }

    /// Joins the room `room_id`.
    pub fn join(
        &self,
        room_id: &str,
        joiner: &Joiner,
    ) -> Result<(SharedRoom, EntityId), JoinRefused> {
        let rooms = lock(&self.rooms);
        let room = rooms
            .iter()
            .find(|r| &**lock(r).id() == room_id)
            .ok_or(JoinRefused::RoomNotFound)?;
        let entity = lock(room).add(joiner)?;
        Ok((room.clone(), entity))
    }

    /// Removes `room` if it is still empty; then nobody can join it.
    fn dispose(&self, room: &SharedRoom) -> bool {
        let mut rooms = lock(&self.rooms);
        let mut guard = lock(room);
        if !guard.members.is_empty() {
            return false;
        }
        guard.closed = true;
        rooms.retain(|r| !Arc::ptr_eq(r, room));
        true
    }
}

/// The room's tick task: ticks at the room's rate until the room has been
/// empty for the grace period.
async fn run(lobby: Arc<Lobby>, room: SharedRoom, tick_rate_hz: u16) {
    let period = Duration::from_secs_f64(1.0 / f64::from(tick_rate_hz));
    let dt_secs = period.as_secs_f32();
    let mut ticker = tokio::time::interval(period);
    let mut empty_since: Option<Instant> = None;
    loop {
        ticker.tick().await;
        let empty = {
            let mut guard = lock(&room);
            guard.tick(dt_secs);
            guard.members.is_empty()
        };
        if !empty {
            empty_since = None;
            continue;
        }
        let since = *empty_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= EMPTY_ROOM_GRACE && lobby.dispose(&room) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_protocol::arena_codec::{Move, encode_input};
    use tickforge_protocol::{ServerMsg, codec::Limits, decode_server};

    fn joiner(connection: u64, capacity: usize) -> (Joiner, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(capacity);
        let outbox = Outbox::new(tx, CancellationToken::new());
        let joiner = Joiner {
            connection,
            player_id: Arc::from(format!("p{connection}")),
            outbox,
        };
        (joiner, rx)
    }

    fn kinds(rx: &mut mpsc::Receiver<Message>) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        while let Ok(Message::Binary(frame)) = rx.try_recv() {
            kinds.push(match decode_server(&frame, &Limits::SERVER) {
                Ok(ServerMsg::Joined(_)) => "joined",
                Ok(ServerMsg::State(_)) => "state",
                Ok(ServerMsg::PlayerJoined(_)) => "player_joined",
                Ok(ServerMsg::PlayerLeft(_)) => "player_left",
                _ => "other",
            });
        }
        kinds
    }

    #[test]
    fn members_are_announced_and_every_member_gets_each_state() {
        let mut room = Room::new(Arc::from("r"), 30, 2);
        let (a, mut rx_a) = joiner(1, 16);
        let (b, mut rx_b) = joiner(2, 16);
        let (c, _rx_c) = joiner(3, 16);
        let ea = room.add(&a).unwrap_or_else(|e| panic!("{e:?}"));
        room.add(&b).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(room.add(&c), Err(JoinRefused::RoomFull));
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let input = encode_input(
            &mut fbb,
            Move {
                x: 1,
                y: 0,
                buttons: 0,
            },
        )
        .to_vec();
        assert!(room.input(1, 7, &input).is_ok());
        assert!(room.input(1, 8, b"junk").is_err());
        room.tick(1.0 / 30.0);
        assert!(room.remove(2));
        assert_eq!(
            kinds(&mut rx_a),
            ["joined", "player_joined", "state", "player_left"]
        );
        assert_eq!(kinds(&mut rx_b), ["joined", "state"]);
        assert_eq!(room.members[0].entity, ea);
        assert_eq!(room.members[0].last_seq, 7);
    }

    #[test]
    fn a_member_whose_queue_is_full_is_dropped_and_the_others_are_told() {
        let mut room = Room::new(Arc::from("r"), 30, 4);
        let (slow, _rx_slow) = joiner(1, 1);
        let (fast, mut rx_fast) = joiner(2, 64);
        room.add(&slow).unwrap_or_else(|e| panic!("{e:?}"));
        room.add(&fast).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(room.members.len(), 1);
        assert!(slow.outbox.end.is_cancelled());
        room.tick(1.0 / 30.0);
        assert_eq!(kinds(&mut rx_fast), ["joined", "player_left", "state"]);
    }
}
