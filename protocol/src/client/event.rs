//! What the server sent, decoded into owned [`Event`]s (state bytes are
//! slices of the received frame, not copies).

use bytes::Bytes;

use crate::codec::{DecodeError, Limits, ServerMsg, decode_server};
use crate::wire::{ErrorCode, PlayerAck};

/// The server's Welcome.
#[derive(Debug, Clone)]
pub struct WelcomeInfo {
    /// Session id on the server.
    pub session_id: u64,
    /// Node that serves the connection.
    pub node_id: String,
    /// Node's default tick rate.
    pub tick_rate_hz: u16,
    /// Server clock at Welcome, in µs since the UNIX epoch.
    pub server_time_us: u64,
    /// Protocol version of the server.
    pub protocol_version: u16,
    /// The verified player id (the token's subject).
    pub player_id: String,
    /// Display name shown to other players.
    pub name: String,
    /// Token that takes this session's seat back after a drop (empty:
    /// resume is off on the server).
    pub resume_token: String,
    /// How long the server holds a dropped session's seat, milliseconds.
    pub resume_grace_ms: u32,
    /// The Hello's resume token reattached a held seat (a resumed
    /// [`JoinedInfo`] follows).
    pub resumed: bool,
}

/// The server's Joined.
#[derive(Debug, Clone)]
pub struct JoinedInfo {
    /// Room id.
    pub room_id: String,
    /// Room mode.
    pub mode: String,
    /// Your entity.
    pub entity_id: u32,
    /// Tick of `state`.
    pub tick: u64,
    /// Room's tick rate.
    pub tick_rate_hz: u16,
    /// Room's seat count.
    pub capacity: u16,
    /// Full game state (a slice of the received frame).
    pub state: Bytes,
    /// Members at join time, you included: (entity id, player id).
    pub players: Vec<(u32, String)>,
    /// Entities of members whose connection dropped (seat held).
    pub away: Vec<u32>,
    /// This Joined answers a resume: the same seat and entity as before.
    pub resumed: bool,
    /// With `resumed`: the last input sequence the room applied; acks
    /// continue from it.
    pub last_input_seq: u32,
    /// `tickforge.v2` in a replicating room: the view radius in cells
    /// (`state` is empty; States carry [`StateInfo::entities`]). 0 otherwise.
    pub view_radius_cells: u16,
}

/// One State message.
#[derive(Debug, Clone)]
pub struct StateInfo {
    /// Tick number.
    pub tick: u64,
    /// Server clock when the tick was encoded.
    pub server_time_us: u64,
    /// Game state (a slice of the received frame).
    pub state: Bytes,
    /// Every member's last applied input (with `tickforge.v2` in a
    /// replicating room: only yours).
    pub acks: Vec<PlayerAck>,
    /// `tickforge.v2` in a replicating room: the entities of your interest
    /// area, rebuilt from keyframes and deltas, sorted by id (`state` is
    /// then empty). Empty otherwise.
    pub entities: Vec<crate::replication::Entity>,
}

impl StateInfo {
    /// The last input sequence applied for `entity_id`, if it is a member.
    pub fn ack_for(&self, entity_id: u32) -> Option<u32> {
        self.acks
            .iter()
            .find(|a| a.entity_id() == entity_id)
            .map(|a| a.last_input_seq())
    }
}

/// Something the server sent.
#[derive(Debug, Clone)]
pub enum Event {
    /// Answer to a join.
    Joined(JoinedInfo),
    /// A tick's state.
    State(StateInfo),
    /// Another player joined: (entity id, player id).
    PlayerJoined(u32, String),
    /// Another player left: (entity id, player id).
    PlayerLeft(u32, String),
    /// Another player's connection dropped (`true`: the seat is held for a
    /// resume) or it came back (`false`): (entity id, name, away).
    PlayerAway(u32, String, bool),
    /// You left `room_id`.
    Left(String),
    /// Answer to a ping.
    Pong {
        /// Echoed client time.
        client_time_us: u64,
        /// Server time.
        server_time_us: u64,
        /// Echoed nonce.
        nonce: u32,
    },
    /// A request failed.
    Error(ErrorCode, String),
    /// The room lives elsewhere.
    Redirect {
        /// Owner node's URL.
        url: String,
        /// Room id.
        room_id: String,
        /// Set when the seat moved there (unasked): a Hello with it at
        /// `url` takes the seat back.
        resume_token: String,
    },
    /// The server Welcome (only seen by raw users).
    Welcome(WelcomeInfo),
    /// The connection dropped (or the room moved to another node) and the
    /// client took its seat back: the same entity, the full state, acks
    /// continuing from `joined.last_input_seq`.
    Resumed {
        /// The resumed Joined.
        joined: JoinedInfo,
        /// Ticks between the last State before the drop and the resume.
        gap_ticks: u64,
        /// The room moved to another node (an unasked Redirect).
        moved: bool,
    },
}

fn string(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// A member's display name (`player_id` from servers that predate names).
fn display_name(p: &crate::wire::PlayerInfo<'_>) -> String {
    string(p.name().or(p.player_id()))
}

pub(super) fn to_event(frame: &Bytes) -> Result<Event, DecodeError> {
    Ok(match decode_server(frame, &Limits::SERVER)? {
        ServerMsg::Welcome(w) => Event::Welcome(WelcomeInfo {
            session_id: w.session_id(),
            node_id: string(w.node_id()),
            tick_rate_hz: w.tick_rate_hz(),
            server_time_us: w.server_time_us(),
            protocol_version: w.protocol_version(),
            player_id: string(w.player_id()),
            name: string(w.name()),
            resume_token: string(w.resume_token()),
            resume_grace_ms: w.resume_grace_ms(),
            resumed: w.resumed(),
        }),
        ServerMsg::Joined(j) => Event::Joined(JoinedInfo {
            room_id: string(j.room_id()),
            mode: string(j.mode()),
            entity_id: j.entity_id(),
            tick: j.tick(),
            tick_rate_hz: j.tick_rate_hz(),
            capacity: j.capacity(),
            state: j
                .state()
                .map(|s| frame.slice_ref(s.bytes()))
                .unwrap_or_default(),
            players: j
                .players()
                .map(|ps| {
                    ps.iter()
                        .map(|p| (p.entity_id(), display_name(&p)))
                        .collect()
                })
                .unwrap_or_default(),
            away: j
                .players()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p.away())
                        .map(|p| p.entity_id())
                        .collect()
                })
                .unwrap_or_default(),
            resumed: j.resumed(),
            last_input_seq: j.last_input_seq(),
            view_radius_cells: j.view_radius_cells(),
        }),
        ServerMsg::State(s) => Event::State(StateInfo {
            tick: s.tick(),
            server_time_us: s.server_time_us(),
            state: s
                .state()
                .map(|v| frame.slice_ref(v.bytes()))
                .unwrap_or_default(),
            acks: s
                .acks()
                .map(|a| a.iter().copied().collect())
                .unwrap_or_default(),
            entities: Vec::new(),
        }),
        ServerMsg::PlayerJoined(p) => {
            Event::PlayerJoined(p.player().entity_id(), display_name(&p.player()))
        }
        ServerMsg::PlayerLeft(p) => {
            Event::PlayerLeft(p.player().entity_id(), display_name(&p.player()))
        }
        ServerMsg::PlayerAway(p) => {
            Event::PlayerAway(p.player().entity_id(), display_name(&p.player()), p.away())
        }
        ServerMsg::Left(l) => Event::Left(string(l.room_id())),
        ServerMsg::Pong(p) => Event::Pong {
            client_time_us: p.client_time_us(),
            server_time_us: p.server_time_us(),
            nonce: p.nonce(),
        },
        ServerMsg::Error(e) => Event::Error(e.code(), string(e.message())),
        ServerMsg::Redirect(r) => Event::Redirect {
            url: string(r.url()),
            room_id: string(r.room_id()),
            resume_token: string(r.resume_token()),
        },
    })
}
