//! The `session` target: a script of client connections and frames (see
//! [`script`]) played through the real session loop
//! ([`tickforge_server::net::session::run`] over in-memory sockets) and the
//! real rooms of one node ([`harness`]), with well-formed and malformed
//! Hello, JoinRoom, LeaveRoom, Input and Ping frames, stream errors,
//! clients that stop reading, timeouts and operator kicks and bans.
//!
//! Checked while it plays: every frame the server writes verifies as a
//! server frame, nothing follows a close frame, every close code and reason
//! is in the README's table, no room seats more members than its capacity,
//! and a seated client's Inputs are applied (acked in State) or, if its
//! room's game refuses one, close the session with 1007 `bad_input`
//! ([`inputs`]). Checked once every client has gone away: every session ends,
//! every room is disposed (which needs its seat count back at zero), no
//! live session, placement, player or connection is left in the node's
//! counters, and every player seen can be claimed again (its snapshot
//! claim went with its seat).
//!
//! Steps run in lockstep: after each one the driver lets the node run
//! until nothing is left to do but wait for the clock (the clock is paused,
//! see [`harness`]), except for saved-state loads, answered by the
//! snapshot writer's own thread, which it waits for with the clock stopped.

mod checks;
mod harness;
mod inputs;
mod observe;
pub mod script;
mod socket;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use bytes::Bytes;
use tickforge_protocol::arena_codec::{self, Move};
use tickforge_protocol::codec::Limits;
use tickforge_protocol::decode_client;
use tickforge_protocol::wire::{self, ErrorCode};
use tickforge_protocol::{CLIENT_FRAME_ID, ClientEncoder, ClientMsg};
use tickforge_server::net::close::Disconnect;
use tickforge_server::net::session::{self, MAX_PLAYER_ID_BYTES};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use harness::{Harness, SHARDS};
use script::{Frame, Hangup, MODES, Operator, PLAYERS, Payload, SLOTS, Step, Token, Who};
use socket::{Inbound, Wire};

/// The session's limits under the harness's `--max-frame-bytes` (default).
pub(crate) const LIMITS: Limits = Limits {
    max_apparent_size: 16 * 1024,
    ..Limits::CLIENT
};
/// Errors that answer a JoinRoom (the others answer other requests).
const JOIN_ANSWERS: [ErrorCode; 7] = [
    ErrorCode::RoomNotFound,
    ErrorCode::RoomFull,
    ErrorCode::UnknownMode,
    ErrorCode::AlreadyInRoom,
    ErrorCode::ServerBusy,
    ErrorCode::InvalidInput,
    ErrorCode::Draining,
];
/// Longest (virtual) wait for a JoinRoom's answer: twice the load timeout.
const JOIN_ANSWER_LIMIT: Duration = Duration::from_secs(2);
/// Longest real time spent waiting for the snapshot writer with the clock
/// stopped, per round.
const WRITER_SPIN: Duration = Duration::from_micros(500);
/// Longest (virtual) time for sessions to end and rooms to be disposed once
/// every client has gone away.
const CLEANUP_LIMIT: Duration = Duration::from_secs(5);

/// Runs one input.
pub fn run(data: &[u8]) {
    let steps = script::parse(data);
    let harness = harness::get();
    harness.runtime.block_on(Driver::new(harness).play(steps));
}

/// One client connection and what it has seen.
struct Conn {
    client: Option<UnboundedSender<Inbound>>,
    wire: Arc<Wire>,
    task: JoinHandle<()>,
    joins_sent: usize,
    joins_answered: usize,
    closed: Option<(u16, String)>,
    session: Option<u64>,
    room: Option<String>,
    /// Its entity in `room` (from Joined).
    entity: Option<u32>,
    /// The `seq` the last State acked for `entity`.
    acked: Option<u32>,
}

impl Conn {
    fn is_open(&self) -> bool {
        self.closed.is_none() && self.client.is_some() && !self.task.is_finished()
    }

    /// Nothing it was sent still waits for an answer the driver can see.
    fn is_settled(&self) -> bool {
        !self.is_open() || self.wire.is_stalled() || self.joins_answered >= self.joins_sent
    }

    /// Delivers `message`; a session that has ended no longer reads, so
    /// its client stops sending (what it sent is lost, as on a real socket).
    fn send(&mut self, message: Inbound) {
        if let Some(client) = &self.client
            && client.send(message).is_err()
        {
            self.client = None;
        }
    }
}

/// What every connection saw, across reconnects.
#[derive(Default)]
struct Seen {
    players: BTreeSet<String>,
    sessions: Vec<u64>,
}

/// Plays one script against the process's node.
struct Driver {
    harness: &'static Harness,
    slots: Vec<Option<Conn>>,
    gone: Vec<Conn>,
    enc: ClientEncoder,
    seen: Seen,
}

impl Driver {
    fn new(harness: &'static Harness) -> Driver {
        Driver {
            harness,
            slots: (0..SLOTS).map(|_| None).collect(),
            gone: Vec::new(),
            enc: ClientEncoder::new(),
            seen: Seen::default(),
        }
    }

    async fn play(mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Send { slot, frames } => self.send(slot, &frames).await,
                Step::Wait(d) => tokio::time::sleep(d).await,
                Step::Hangup { slot, how } => self.hang_up(slot, how),
                Step::Stall { slot, stalled } => {
                    if let Some(conn) = &self.slots[slot] {
                        conn.wire.stall(stalled);
                    }
                }
                Step::Operator { player, action } => self.operate(player, action),
            }
            self.settle().await;
            self.check_rooms();
        }
        self.finish().await;
    }

    fn conns(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.slots.iter_mut().flatten().chain(self.gone.iter_mut())
    }

    /// The connection in `slot`, opened (again) if it has none or it ended.
    fn connect(&mut self, slot: usize) -> &mut Conn {
        let open = self.slots[slot].as_ref().is_some_and(Conn::is_open);
        if !open {
            if let Some(mut old) = self.slots[slot].take() {
                old.client = None;
                self.gone.push(old);
            }
            let node = &self.harness.node;
            let shard = slot % SHARDS;
            let (socket, client, wire) = socket::pair();
            let task = node.shards[shard].tasks.spawn(session::run(
                socket,
                node.clone(),
                shard,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                None,
            ));
            self.slots[slot] = Some(Conn {
                client: Some(client),
                wire,
                task,
                joins_sent: 0,
                joins_answered: 0,
                closed: None,
                session: None,
                room: None,
                entity: None,
                acked: None,
            });
        }
        match &mut self.slots[slot] {
            Some(conn) => conn,
            None => unreachable!("opened above"),
        }
    }

    async fn send(&mut self, slot: usize, frames: &[Frame]) {
        let messages: Vec<Message> = frames.iter().map(|f| self.message(f)).collect();
        let expect = match inputs::only_inputs(&messages) {
            Some(sent) => {
                // Inputs queued by earlier steps are applied first, so the
                // seat's budget holds this step's.
                tokio::time::sleep(inputs::ONE_TICK).await;
                self.settle().await;
                self.expect_of(slot, &sent)
            }
            None => None,
        };
        let joins = messages
            .iter()
            .filter(|m| {
                matches!(m, Message::Binary(b)
                    if matches!(decode_client(b, &LIMITS), Ok(ClientMsg::JoinRoom(_))))
            })
            .count();
        let conn = self.connect(slot);
        conn.joins_sent += joins;
        for message in messages {
            conn.send(Ok(message));
        }
        if let Some(expect) = expect {
            self.settle().await;
            tokio::time::sleep(2 * inputs::ONE_TICK).await;
            self.settle().await;
            let seated = self.room_of(slot);
            if let Some(conn) = &self.slots[slot] {
                let seated = seated.is_some() && seated == conn.room;
                inputs::assert_met(expect, conn.closed.as_ref(), seated, conn.acked);
            }
        }
    }

    /// What `sent` must lead to when the client in `slot` is welcomed,
    /// seated, reading and has no JoinRoom waiting; `None` otherwise.
    fn expect_of(&self, slot: usize, sent: &[(u32, Vec<u8>)]) -> Option<inputs::Expect> {
        let conn = self.slots[slot].as_ref()?;
        if !conn.is_open() || conn.wire.is_stalled() || conn.joins_answered < conn.joins_sent {
            return None;
        }
        conn.entity?;
        let node = &self.harness.node;
        let room = node.directory.room_of(conn.session?)?;
        if conn.room.as_deref() != Some(&*room) {
            return None;
        }
        let room = node.directory.get(&room)?;
        inputs::expect(sent, &room, node.config.room.inputs_per_seat)
    }

    fn hang_up(&mut self, slot: usize, how: Hangup) {
        use tungstenite::error::{CapacityError, ProtocolError};
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        let error = |e: tungstenite::Error| Err(axum::Error::new(e));
        let message = match how {
            Hangup::Eof => {
                conn.client = None;
                return;
            }
            Hangup::Close => Ok(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: "bye".into(),
            }))),
            Hangup::TooLarge => error(tungstenite::Error::Capacity(
                CapacityError::MessageTooLong {
                    size: 1 << 20,
                    max_size: 16 * 1024,
                },
            )),
            Hangup::Protocol => error(tungstenite::Error::Protocol(
                ProtocolError::UnmaskedFrameFromClient,
            )),
            Hangup::BadUtf8 => error(tungstenite::Error::Utf8("invalid UTF-8".into())),
            Hangup::Reset => error(tungstenite::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))),
            Hangup::Closed => error(tungstenite::Error::ConnectionClosed),
        };
        conn.send(message);
    }

    fn operate(&self, player: usize, action: Operator) {
        let auth = &self.harness.node.auth;
        let player = format!("p{player}");
        match action {
            Operator::Kick => {
                auth.live.close(&player, Disconnect::Kicked);
            }
            Operator::Ban => {
                auth.bans
                    .ban(&player, Duration::from_secs(3600))
                    .unwrap_or_else(|e| panic!("ban: {e}"));
                auth.live.close(&player, Disconnect::Banned);
            }
            Operator::Unban => {
                auth.bans.unban(&player);
            }
        }
    }

    fn message(&mut self, frame: &Frame) -> Message {
        match frame {
            Frame::Text(text) => Message::Text(text.as_str().into()),
            Frame::WsPing => Message::Ping(Bytes::from_static(b"ping")),
            Frame::WsPong => Message::Pong(Bytes::new()),
            other => Message::Binary(self.binary(other)),
        }
    }

    fn binary(&mut self, frame: &Frame) -> Bytes {
        let tokens = &self.harness.tokens;
        match frame {
            Frame::Hello { who, token } => {
                let (player_id, index) = match who {
                    Who::Player(i) => (format!("p{i}"), *i % PLAYERS),
                    Who::Empty => (String::new(), 0),
                    Who::Overlong => ("x".repeat(MAX_PLAYER_ID_BYTES + 1), 0),
                    Who::Named(name) => (name.clone(), 0),
                };
                let token = match token {
                    Token::None => None,
                    Token::Valid => Some(tokens.valid[index].as_str()),
                    Token::Guest => Some(tokens.guest.as_str()),
                    Token::Expired => Some(tokens.expired[index].as_str()),
                    Token::BadSignature => Some(tokens.bad_signature[index].as_str()),
                    Token::Garbage(text) => Some(text.as_str()),
                };
                self.enc.hello(&player_id, token, "fuzz")
            }
            Frame::JoinMode { mode, private } => self.enc.join_mode(MODES[*mode], *private),
            Frame::JoinRoomOf(slot) => {
                let room = self.room_of(*slot);
                self.enc
                    .join_room(room.as_deref().unwrap_or("no-such-room"))
            }
            Frame::JoinRoomId(id) => self.enc.join_room(id),
            Frame::JoinNothing => join_nothing(),
            Frame::Leave => self.enc.leave_room(),
            Frame::Input { seq, payload } => {
                let bytes = match payload {
                    Payload::Move { x, y, buttons } => {
                        let mut fbb = flatbuffers::FlatBufferBuilder::new();
                        let m = Move {
                            x: *x,
                            y: *y,
                            buttons: *buttons,
                        };
                        arena_codec::encode_input(&mut fbb, m).to_vec()
                    }
                    Payload::Empty => Vec::new(),
                    Payload::Raw(bytes) => bytes.clone(),
                };
                self.enc.input(*seq, 0, &bytes)
            }
            Frame::Ping(nonce) => self.enc.ping(0, *nonce),
            Frame::Raw(bytes) => Bytes::copy_from_slice(bytes),
            Frame::Mutated { base, at, xor } => {
                let mut bytes = self.binary(base).to_vec();
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    match xor {
                        0 => bytes.truncate(at),
                        x => bytes[at] ^= x,
                    }
                }
                Bytes::from(bytes)
            }
            Frame::Text(text) => Bytes::copy_from_slice(text.as_bytes()),
            Frame::WsPing | Frame::WsPong => Bytes::new(),
        }
    }

    /// The room the session in `slot` is in (or was last in).
    fn room_of(&self, slot: usize) -> Option<String> {
        let conn = self.slots[slot].as_ref()?;
        conn.session
            .and_then(|id| self.harness.node.directory.room_of(id))
            .map(|id| id.to_string())
            .or_else(|| conn.room.clone())
    }

    /// Reads what every session wrote since the last call and checks it.
    fn observe(&mut self) {
        let mut seen = std::mem::take(&mut self.seen);
        for conn in self.conns() {
            observe::observe(conn, &mut seen);
        }
        self.seen = seen;
    }

    fn is_settled(&mut self) -> bool {
        self.observe();
        self.conns().all(|c| c.is_settled())
    }

    /// Lets the node run until nothing is left but waiting for the clock,
    /// and until every JoinRoom sent so far has its answer.
    async fn settle(&mut self) {
        let deadline = Instant::now() + JOIN_ANSWER_LIMIT;
        loop {
            // Runs every task that can run, then moves the clock by at most 1 ms.
            tokio::time::sleep(Duration::from_millis(1)).await;
            if self.is_settled() {
                return;
            }
            // A saved-state load is with the writer thread: wait for its
            // answer with the clock stopped (yielding keeps the runtime busy).
            let spin = std::time::Instant::now() + WRITER_SPIN;
            while std::time::Instant::now() < spin {
                tokio::task::yield_now().await;
                if self.is_settled() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "a JoinRoom got no answer within {JOIN_ANSWER_LIMIT:?}"
            );
        }
    }

    fn check_rooms(&self) {
        for room in self.harness.node.directory.rooms() {
            let info = room.info();
            assert!(
                room.members() <= u32::from(info.capacity),
                "room {} seats {} members in {} seats",
                info.id,
                room.members(),
                info.capacity
            );
        }
    }

    /// Every client goes away; then everything they held must be released.
    async fn finish(mut self) {
        for conn in self.conns() {
            conn.wire.stall(false);
            conn.client = None;
        }
        let deadline = Instant::now() + CLEANUP_LIMIT;
        while !self.conns().all(|c| c.task.is_finished()) {
            assert!(
                Instant::now() < deadline,
                "a session did not end within {CLEANUP_LIMIT:?} of its client going away"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.observe();
        let node = &self.harness.node;
        // A room is disposed once empty for its grace period, and only when
        // its seat count is back at zero.
        loop {
            let rooms = node.directory.rooms();
            if rooms.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "rooms still open after every session ended (id, members): {:?}",
                rooms
                    .iter()
                    .map(|r| (r.info().id.clone(), r.members()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            node.auth.live.is_empty(),
            "{} live sessions remain after every session ended",
            node.auth.live.len()
        );
        for shard in &node.shards {
            let m = &shard.metrics;
            assert_eq!(
                (m.connections(), m.players(), m.rooms()),
                (0, 0, 0),
                "shard {}: connections, players and rooms after every session ended",
                shard.id
            );
        }
        for id in &self.seen.sessions {
            assert!(
                node.directory.room_of(*id).is_none(),
                "session {id} ended but is still placed in a room"
            );
        }
        for i in 0..PLAYERS {
            node.auth.bans.unban(&format!("p{i}"));
        }
        self.assert_claims_released();
    }

    /// Every player seen can be claimed again, within the load timeout of
    /// a real clock (a claim still held makes the load time out).
    fn assert_claims_released(&self) {
        let snapshots = &self.harness.node.snapshots;
        let probe = &self.harness.probe;
        let players = &self.seen.players;
        let checked = std::thread::scope(|s| {
            s.spawn(|| {
                probe.block_on(async {
                    for player in players {
                        if let Err(e) = snapshots
                            .claim_and_load(Arc::from(player.as_str()), 0)
                            .await
                        {
                            panic!(
                                "player {player} cannot be claimed after every session ended: {e}"
                            );
                        }
                    }
                })
            })
            .join()
        });
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
    }
}

/// A JoinRoom with neither a room id nor a mode (the encoder never writes one).
fn join_nothing() -> Bytes {
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let msg = wire::JoinRoom::create(
        &mut fbb,
        &wire::JoinRoomArgs {
            room_id: None,
            mode: None,
            private: false,
        },
    );
    let root = wire::ClientFrame::create(
        &mut fbb,
        &wire::ClientFrameArgs {
            message_type: wire::ClientMessage::JoinRoom,
            message: Some(msg.as_union_value()),
        },
    );
    fbb.finish(root, Some(CLIENT_FRAME_ID));
    Bytes::copy_from_slice(fbb.finished_data())
}
