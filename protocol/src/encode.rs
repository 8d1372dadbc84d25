//! Encoding of tickforge frames into a reused FlatBuffers builder.
//!
//! Each encoder owns one builder that is reset, not reallocated, per frame;
//! the finished frame is copied once into a [`Bytes`] that can be shared by
//! any number of receivers without further copies.

use bytes::Bytes;
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};

use crate::wire::{self, ClientMessage, ErrorCode, PlayerAck, ServerMessage};
use crate::{CLIENT_FRAME_ID, PROTOCOL_VERSION, SERVER_FRAME_ID};

/// One member of a room, as listed in Joined.
#[derive(Debug, Clone, Copy)]
pub struct PlayerEntry<'a> {
    /// The member's entity in the game.
    pub entity_id: u32,
    /// The member's display name. Written to `PlayerInfo.name`, and to
    /// `PlayerInfo.player_id` for clients that read only that field: other
    /// players never see the verified player id (it may be an account id).
    pub name: &'a str,
}

/// Everything a Joined frame carries.
#[derive(Debug, Clone, Copy)]
pub struct JoinedFields<'a> {
    /// Room id.
    pub room_id: &'a str,
    /// Room mode.
    pub mode: &'a str,
    /// The joining player's entity.
    pub entity_id: u32,
    /// Tick number of `state`.
    pub tick: u64,
    /// The room's tick rate.
    pub tick_rate_hz: u16,
    /// The room's seat count.
    pub capacity: u16,
    /// Full game state, encoded by the game (empty for a `tickforge.v2`
    /// member of a replicating room).
    pub state: &'a [u8],
    /// View radius in cells of a `tickforge.v2` member of a replicating
    /// room; 0 otherwise.
    pub view_radius_cells: u16,
}

/// The resume fields of a Welcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct WelcomeResume<'a> {
    /// The token that reattaches this session's seat after a drop (empty:
    /// resume is off).
    pub token: &'a str,
    /// How long a dropped session's seat is held, in milliseconds.
    pub grace_ms: u32,
    /// This Hello reattached a held seat.
    pub resumed: bool,
}

/// Builds server → client frames.
pub struct ServerEncoder {
    fbb: FlatBufferBuilder<'static>,
}

impl Default for ServerEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerEncoder {
    /// An encoder whose builder starts at 1 KiB and grows as needed, once.
    pub fn new() -> Self {
        Self {
            fbb: FlatBufferBuilder::with_capacity(1024),
        }
    }

    fn finish(&mut self, kind: ServerMessage, message: WIPOffset<UnionWIPOffset>) -> Bytes {
        let root = wire::ServerFrame::create(
            &mut self.fbb,
            &wire::ServerFrameArgs {
                message_type: kind,
                message: Some(message),
            },
        );
        self.fbb.finish(root, Some(SERVER_FRAME_ID));
        let bytes = Bytes::copy_from_slice(self.fbb.finished_data());
        self.fbb.reset();
        bytes
    }

    /// Welcome: answer to Hello, with the verified player id and the display name.
    pub fn welcome(
        &mut self,
        session_id: u64,
        node_id: &str,
        tick_rate_hz: u16,
        now_us: u64,
        player_id: &str,
        name: &str,
    ) -> Bytes {
        self.welcome_resumable(
            session_id,
            node_id,
            tick_rate_hz,
            now_us,
            player_id,
            name,
            &WelcomeResume::default(),
        )
    }

    /// Welcome with the session's resume token and grace, and whether this
    /// Hello reattached a held seat.
    #[allow(clippy::too_many_arguments)]
    pub fn welcome_resumable(
        &mut self,
        session_id: u64,
        node_id: &str,
        tick_rate_hz: u16,
        now_us: u64,
        player_id: &str,
        name: &str,
        resume: &WelcomeResume<'_>,
    ) -> Bytes {
        let resume_token = (!resume.token.is_empty()).then(|| self.fbb.create_string(resume.token));
        let node_id = self.fbb.create_string(node_id);
        let player_id = self.fbb.create_string(player_id);
        let name = self.fbb.create_string(name);
        let msg = wire::Welcome::create(
            &mut self.fbb,
            &wire::WelcomeArgs {
                session_id,
                node_id: Some(node_id),
                tick_rate_hz,
                server_time_us: now_us,
                protocol_version: PROTOCOL_VERSION,
                player_id: Some(player_id),
                name: Some(name),
                resume_token,
                resume_grace_ms: resume.grace_ms,
                resumed: resume.resumed,
            },
        );
        self.finish(ServerMessage::Welcome, msg.as_union_value())
    }

    /// Joined: answer to JoinRoom, with the full state and the room's members.
    pub fn joined<'p>(
        &mut self,
        fields: &JoinedFields<'_>,
        players: impl ExactSizeIterator<Item = PlayerEntry<'p>>,
    ) -> Bytes {
        self.joined_with(fields, players.map(|p| (p, false)), None)
    }

    /// Joined with each member's `away` flag; `resumed` is `Some(last
    /// applied input sequence)` when this Joined answers a resume.
    pub fn joined_with<'p>(
        &mut self,
        fields: &JoinedFields<'_>,
        players: impl ExactSizeIterator<Item = (PlayerEntry<'p>, bool)>,
        resumed: Option<u32>,
    ) -> Bytes {
        let mut infos = Vec::with_capacity(players.len());
        for (p, away) in players {
            let info = self.player_info_away(p, away);
            infos.push(info);
        }
        let players = self.fbb.create_vector(&infos);
        let room_id = self.fbb.create_string(fields.room_id);
        let mode = self.fbb.create_string(fields.mode);
        let state = self.fbb.create_vector(fields.state);
        let msg = wire::Joined::create(
            &mut self.fbb,
            &wire::JoinedArgs {
                room_id: Some(room_id),
                mode: Some(mode),
                entity_id: fields.entity_id,
                tick: fields.tick,
                tick_rate_hz: fields.tick_rate_hz,
                capacity: fields.capacity,
                state: Some(state),
                players: Some(players),
                resumed: resumed.is_some(),
                last_input_seq: resumed.unwrap_or(0),
                view_radius_cells: fields.view_radius_cells,
            },
        );
        self.finish(ServerMessage::Joined, msg.as_union_value())
    }

    /// State: one tick's game state and every member's input ack.
    pub fn state(&mut self, tick: u64, now_us: u64, state: &[u8], acks: &[PlayerAck]) -> Bytes {
        let state = self.fbb.create_vector(state);
        let acks = self.fbb.create_vector(acks);
        let msg = wire::State::create(
            &mut self.fbb,
            &wire::StateArgs {
                tick,
                server_time_us: now_us,
                state: Some(state),
                acks: Some(acks),
            },
        );
        self.finish(ServerMessage::State, msg.as_union_value())
    }

    fn player_info(&mut self, player: PlayerEntry<'_>) -> WIPOffset<wire::PlayerInfo<'static>> {
        self.player_info_away(player, false)
    }

    fn player_info_away(
        &mut self,
        player: PlayerEntry<'_>,
        away: bool,
    ) -> WIPOffset<wire::PlayerInfo<'static>> {
        let name = self.fbb.create_string(player.name);
        wire::PlayerInfo::create(
            &mut self.fbb,
            &wire::PlayerInfoArgs {
                entity_id: player.entity_id,
                player_id: Some(name),
                name: Some(name),
                away,
            },
        )
    }

    /// PlayerAway: another member's connection dropped (`away`) or it
    /// resumed (`!away`).
    pub fn player_away(&mut self, player: PlayerEntry<'_>, away: bool) -> Bytes {
        let player = self.player_info_away(player, away);
        let msg = wire::PlayerAway::create(
            &mut self.fbb,
            &wire::PlayerAwayArgs {
                player: Some(player),
                away,
            },
        );
        self.finish(ServerMessage::PlayerAway, msg.as_union_value())
    }

    /// PlayerJoined: another player entered the room.
    pub fn player_joined(&mut self, player: PlayerEntry<'_>) -> Bytes {
        let player = self.player_info(player);
        let msg = wire::PlayerJoined::create(
            &mut self.fbb,
            &wire::PlayerJoinedArgs {
                player: Some(player),
            },
        );
        self.finish(ServerMessage::PlayerJoined, msg.as_union_value())
    }

    /// PlayerLeft: another player left the room.
    pub fn player_left(&mut self, player: PlayerEntry<'_>) -> Bytes {
        let player = self.player_info(player);
        let msg = wire::PlayerLeft::create(
            &mut self.fbb,
            &wire::PlayerLeftArgs {
                player: Some(player),
            },
        );
        self.finish(ServerMessage::PlayerLeft, msg.as_union_value())
    }

    /// Left: answer to LeaveRoom.
    pub fn left(&mut self, room_id: &str) -> Bytes {
        let room_id = self.fbb.create_string(room_id);
        let msg = wire::Left::create(
            &mut self.fbb,
            &wire::LeftArgs {
                room_id: Some(room_id),
            },
        );
        self.finish(ServerMessage::Left, msg.as_union_value())
    }

    /// Pong: answer to Ping.
    pub fn pong(&mut self, client_time_us: u64, now_us: u64, nonce: u32) -> Bytes {
        let msg = wire::Pong::create(
            &mut self.fbb,
            &wire::PongArgs {
                client_time_us,
                server_time_us: now_us,
                nonce,
            },
        );
        self.finish(ServerMessage::Pong, msg.as_union_value())
    }

    /// Error: a request failed; the connection stays open.
    pub fn error(&mut self, code: ErrorCode, message: &str) -> Bytes {
        let message = self.fbb.create_string(message);
        let msg = wire::Error::create(
            &mut self.fbb,
            &wire::ErrorArgs {
                code,
                message: Some(message),
            },
        );
        self.finish(ServerMessage::Error, msg.as_union_value())
    }

    /// Redirect: the room lives on another node (multi-node).
    pub fn redirect(&mut self, url: &str, room_id: &str) -> Bytes {
        self.redirect_resume(url, room_id, "")
    }

    /// Redirect carrying a resume token the node at `url` accepts (empty:
    /// none): a Hello with it there reattaches the seat.
    pub fn redirect_resume(&mut self, url: &str, room_id: &str, resume_token: &str) -> Bytes {
        let resume_token = (!resume_token.is_empty()).then(|| self.fbb.create_string(resume_token));
        let url = self.fbb.create_string(url);
        let room_id = self.fbb.create_string(room_id);
        let msg = wire::Redirect::create(
            &mut self.fbb,
            &wire::RedirectArgs {
                url: Some(url),
                room_id: Some(room_id),
                resume_token,
            },
        );
        self.finish(ServerMessage::Redirect, msg.as_union_value())
    }
}

/// Builds client → server frames.
pub struct ClientEncoder {
    fbb: FlatBufferBuilder<'static>,
}

impl Default for ClientEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientEncoder {
    /// An encoder with a small reused builder.
    pub fn new() -> Self {
        Self {
            fbb: FlatBufferBuilder::with_capacity(256),
        }
    }

    fn finish(&mut self, kind: ClientMessage, message: WIPOffset<UnionWIPOffset>) -> Bytes {
        let root = wire::ClientFrame::create(
            &mut self.fbb,
            &wire::ClientFrameArgs {
                message_type: kind,
                message: Some(message),
            },
        );
        self.fbb.finish(root, Some(CLIENT_FRAME_ID));
        let bytes = Bytes::copy_from_slice(self.fbb.finished_data());
        self.fbb.reset();
        bytes
    }

    /// Hello: the first message of every connection.
    pub fn hello(&mut self, player_id: &str, token: Option<&str>, client_version: &str) -> Bytes {
        self.hello_resume(player_id, token, client_version, None)
    }

    /// Hello with the resume token of an earlier connection (from Welcome
    /// or Redirect): reattaches its seat while the server holds it.
    pub fn hello_resume(
        &mut self,
        player_id: &str,
        token: Option<&str>,
        client_version: &str,
        resume_token: Option<&str>,
    ) -> Bytes {
        let resume_token = resume_token.map(|t| self.fbb.create_string(t));
        let player_id = self.fbb.create_string(player_id);
        let token = token.map(|t| self.fbb.create_string(t));
        let client_version = self.fbb.create_string(client_version);
        let msg = wire::Hello::create(
            &mut self.fbb,
            &wire::HelloArgs {
                player_id: Some(player_id),
                token,
                client_version: Some(client_version),
                resume_token,
            },
        );
        self.finish(ClientMessage::Hello, msg.as_union_value())
    }

    /// JoinRoom by room id.
    pub fn join_room(&mut self, room_id: &str) -> Bytes {
        let room_id = self.fbb.create_string(room_id);
        let msg = wire::JoinRoom::create(
            &mut self.fbb,
            &wire::JoinRoomArgs {
                room_id: Some(room_id),
                mode: None,
                private: false,
            },
        );
        self.finish(ClientMessage::JoinRoom, msg.as_union_value())
    }

    /// JoinRoom by mode: join a room of `mode` with a free seat, or create one.
    pub fn join_or_create(&mut self, mode: &str) -> Bytes {
        self.join_mode(mode, false)
    }

    /// JoinRoom by mode; with `private`, always a new room that is never
    /// listed and is joined only by its id.
    pub fn join_mode(&mut self, mode: &str, private: bool) -> Bytes {
        let mode = self.fbb.create_string(mode);
        let msg = wire::JoinRoom::create(
            &mut self.fbb,
            &wire::JoinRoomArgs {
                room_id: None,
                mode: Some(mode),
                private,
            },
        );
        self.finish(ClientMessage::JoinRoom, msg.as_union_value())
    }

    /// LeaveRoom.
    pub fn leave_room(&mut self) -> Bytes {
        let msg = wire::LeaveRoom::create(&mut self.fbb, &wire::LeaveRoomArgs {});
        self.finish(ClientMessage::LeaveRoom, msg.as_union_value())
    }

    /// Input: one player input with its sequence number.
    pub fn input(&mut self, seq: u32, client_time_us: u64, payload: &[u8]) -> Bytes {
        let payload = self.fbb.create_vector(payload);
        let msg = wire::Input::create(
            &mut self.fbb,
            &wire::InputArgs {
                seq,
                client_time_us,
                payload: Some(payload),
            },
        );
        self.finish(ClientMessage::Input, msg.as_union_value())
    }

    /// Ping.
    pub fn ping(&mut self, client_time_us: u64, nonce: u32) -> Bytes {
        let msg = wire::Ping::create(
            &mut self.fbb,
            &wire::PingArgs {
                client_time_us,
                nonce,
            },
        );
        self.finish(ClientMessage::Ping, msg.as_union_value())
    }
}

/// Convenience: an ack entry for [`ServerEncoder::state`].
pub fn ack(entity_id: u32, last_input_seq: u32) -> PlayerAck {
    PlayerAck::new(entity_id, last_input_seq)
}

/// Error codes re-exported for callers of [`ServerEncoder::error`].
pub type Code = ErrorCode;
