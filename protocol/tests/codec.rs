//! Round trips through the encoders and the verified decoders, and the ways a
//! hostile or broken peer's bytes are refused: wrong frame kind, short,
//! truncated, garbage, unknown union types and frames over the verifier limits.
//! Nothing here may panic; every refusal must carry the right [`DecodeError`].

use bytes::Bytes;
use flatbuffers::{FlatBufferBuilder, InvalidFlatbuffer};
use tickforge_protocol::arena::ArenaEntity;
use tickforge_protocol::arena_codec::{self, Move, Saved};
use tickforge_protocol::codec::Limits;
use tickforge_protocol::encode::{JoinedFields, PlayerEntry, ack};
use tickforge_protocol::wire::{self, ClientMessage, ErrorCode, ServerMessage};
use tickforge_protocol::{
    CLIENT_FRAME_ID, ClientEncoder, ClientMsg, DecodeError, PROTOCOL_VERSION, SERVER_FRAME_ID,
    ServerEncoder, ServerMsg, decode_client, decode_server,
};

// ------------------------------------------------------------------ helpers

fn client(frame: &[u8]) -> ClientMsg<'_> {
    match decode_client(frame, &Limits::CLIENT) {
        Ok(msg) => msg,
        Err(e) => panic!("a frame built by ClientEncoder was refused: {e:?}"),
    }
}

fn server(frame: &[u8]) -> ServerMsg<'_> {
    match decode_server(frame, &Limits::SERVER) {
        Ok(msg) => msg,
        Err(e) => panic!("a frame built by ServerEncoder was refused: {e:?}"),
    }
}

/// An arena state of `n` entities, as a room would put in State and Joined.
fn arena_state(n: u32) -> Vec<u8> {
    let entities: Vec<ArenaEntity> = (0..n)
        .map(|i| ArenaEntity::new(i + 1, i as f32, 2.0 * i as f32, 0.5, -0.5, (i % 2) as u8))
        .collect();
    let mut fbb = FlatBufferBuilder::new();
    arena_codec::encode_state(&mut fbb, 800.0, 600.0, &entities);
    fbb.finished_data().to_vec()
}

fn arena_input(m: Move) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    arena_codec::encode_input(&mut fbb, m).to_vec()
}

/// One frame of every client message.
fn client_frames() -> Vec<Bytes> {
    let mut enc = ClientEncoder::new();
    vec![
        enc.hello("alice", Some("token-123"), "tickforge-test/1"),
        enc.hello("bob", None, "tickforge-test/1"),
        enc.join_room("room-42"),
        enc.join_or_create("arena"),
        enc.leave_room(),
        enc.input(
            7,
            1_700_000_000_000_001,
            &arena_input(Move {
                x: 100,
                y: -100,
                buttons: 1,
            }),
        ),
        enc.ping(1_700_000_000_000_002, 99),
    ]
}

/// One frame of every server message.
fn server_frames() -> Vec<Bytes> {
    let mut enc = ServerEncoder::new();
    let state = arena_state(3);
    let players = [
        PlayerEntry {
            entity_id: 1,
            name: "alice",
        },
        PlayerEntry {
            entity_id: 2,
            name: "bob",
        },
    ];
    vec![
        enc.welcome(5, "node-a", 30, 1_700_000_000_000_000, "alice", "Alice"),
        enc.joined(&joined_fields(&state), players.iter().copied()),
        enc.state(11, 1_700_000_000_000_003, &state, &[ack(1, 7), ack(2, 0)]),
        enc.player_joined(players[1]),
        enc.player_left(players[1]),
        enc.left("room-42"),
        enc.pong(1, 2, 3),
        enc.error(ErrorCode::RoomFull, "room-42 is full"),
        enc.redirect("ws://node-b:7700/ws", "room-42"),
    ]
}

fn joined_fields(state: &[u8]) -> JoinedFields<'_> {
    JoinedFields {
        room_id: "room-42",
        mode: "arena",
        entity_id: 3,
        tick: 1234,
        tick_rate_hz: 20,
        capacity: 16,
        state,
        view_radius_cells: 0,
    }
}

/// Reads every field of an accepted message (the generated `Debug` visits
/// them all), so a verifier gap would show up as a panic here.
fn read_every_field<T: std::fmt::Debug>(msg: &T) -> usize {
    format!("{msg:?}").len()
}

/// A tiny deterministic xorshift64 generator: reproducible garbage without a crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Decodes `buf` both ways and reads whatever is accepted. Returns how many
/// of the two decoders accepted it.
fn decode_both_ways(buf: &[u8]) -> usize {
    let mut accepted = 0;
    if let Ok(msg) = decode_client(buf, &Limits::CLIENT) {
        read_every_field(&msg);
        if let ClientMsg::Input(input) = msg {
            // Whatever a garbage payload holds, decoding it must not panic.
            let payload = input.payload().map(|p| p.bytes()).unwrap_or_default();
            let _verdict = arena_codec::decode_input(payload);
        }
        accepted += 1;
    }
    if let Ok(msg) = decode_server(buf, &Limits::SERVER) {
        read_every_field(&msg);
        if let ServerMsg::State(state) = msg {
            let bytes = state.state().map(|s| s.bytes()).unwrap_or_default();
            if let Ok(arena) = arena_codec::decode_state(bytes) {
                read_every_field(&arena);
            }
        }
        accepted += 1;
    }
    accepted
}

// ------------------------------------------------------------ client messages

mod client_messages {
    use super::*;

    #[test]
    fn hello_with_a_token_round_trips_every_field() {
        let frame = ClientEncoder::new().hello("alice", Some("token-123"), "tickforge-test/1");
        let msg = client(&frame);
        assert_eq!(msg.label(), "hello");
        let ClientMsg::Hello(hello) = msg else {
            panic!("expected Hello, got {msg:?}");
        };
        assert_eq!(hello.player_id(), "alice");
        assert_eq!(hello.token(), Some("token-123"));
        assert_eq!(hello.client_version(), Some("tickforge-test/1"));
    }

    #[test]
    fn hello_without_a_token_decodes_with_no_token() {
        let frame = ClientEncoder::new().hello("bob", None, "v2");
        let ClientMsg::Hello(hello) = client(&frame) else {
            panic!("expected Hello");
        };
        assert_eq!(hello.player_id(), "bob");
        assert_eq!(hello.token(), None);
        assert_eq!(hello.client_version(), Some("v2"));
    }

    #[test]
    fn join_room_by_id_carries_the_room_and_no_mode() {
        let frame = ClientEncoder::new().join_room("room-42");
        let msg = client(&frame);
        assert_eq!(msg.label(), "join_room");
        let ClientMsg::JoinRoom(join) = msg else {
            panic!("expected JoinRoom, got {msg:?}");
        };
        assert_eq!(join.room_id(), Some("room-42"));
        assert_eq!(join.mode(), None);
    }

    #[test]
    fn join_or_create_carries_the_mode_and_no_room() {
        let frame = ClientEncoder::new().join_or_create("arena");
        let ClientMsg::JoinRoom(join) = client(&frame) else {
            panic!("expected JoinRoom");
        };
        assert_eq!(join.room_id(), None);
        assert_eq!(join.mode(), Some("arena"));
    }

    #[test]
    fn leave_room_round_trips() {
        let frame = ClientEncoder::new().leave_room();
        let msg = client(&frame);
        assert!(matches!(msg, ClientMsg::LeaveRoom), "got {msg:?}");
        assert_eq!(msg.label(), "leave_room");
    }

    #[test]
    fn input_round_trips_seq_time_and_payload_bytes() {
        let payload = arena_input(Move {
            x: -127,
            y: 127,
            buttons: 0b1,
        });
        let frame = ClientEncoder::new().input(u32::MAX, u64::MAX, &payload);
        let msg = client(&frame);
        assert_eq!(msg.label(), "input");
        let ClientMsg::Input(input) = msg else {
            panic!("expected Input, got {msg:?}");
        };
        assert_eq!(input.seq(), u32::MAX);
        assert_eq!(input.client_time_us(), u64::MAX);
        assert_eq!(input.payload().map(|p| p.bytes()), Some(payload.as_slice()));
    }

    #[test]
    fn input_with_an_empty_payload_decodes_to_an_empty_payload() {
        let frame = ClientEncoder::new().input(1, 0, &[]);
        let ClientMsg::Input(input) = client(&frame) else {
            panic!("expected Input");
        };
        assert_eq!(input.seq(), 1);
        assert_eq!(input.client_time_us(), 0);
        assert_eq!(input.payload().map(|p| p.len()), Some(0));
    }

    #[test]
    fn ping_round_trips_time_and_nonce() {
        let frame = ClientEncoder::new().ping(1_700_000_000_000_002, 0xDEAD_BEEF);
        let msg = client(&frame);
        assert_eq!(msg.label(), "ping");
        let ClientMsg::Ping(ping) = msg else {
            panic!("expected Ping, got {msg:?}");
        };
        assert_eq!(ping.client_time_us(), 1_700_000_000_000_002);
        assert_eq!(ping.nonce(), 0xDEAD_BEEF);
    }

    #[test]
    fn a_reused_encoder_leaves_earlier_frames_intact() {
        let mut enc = ClientEncoder::new();
        let first = enc.ping(1, 1);
        let big = enc.input(2, 2, &[0xAB; 4096]);
        let last = enc.ping(3, 3);
        assert!(matches!(client(&first), ClientMsg::Ping(p) if p.nonce() == 1));
        assert!(
            matches!(client(&big), ClientMsg::Input(i) if i.payload().map(|p| p.len()) == Some(4096))
        );
        assert!(matches!(client(&last), ClientMsg::Ping(p) if p.nonce() == 3));
    }
}

// ------------------------------------------------------------ server messages

mod server_messages {
    use super::*;

    #[test]
    fn welcome_round_trips_every_field() {
        let frame = ServerEncoder::new().welcome(
            u64::MAX,
            "node-a",
            30,
            1_700_000_000_000_000,
            "alice",
            "Alice",
        );
        let msg = server(&frame);
        let ServerMsg::Welcome(welcome) = msg else {
            panic!("expected Welcome, got {msg:?}");
        };
        assert_eq!(welcome.session_id(), u64::MAX);
        assert_eq!(welcome.node_id(), Some("node-a"));
        assert_eq!(welcome.tick_rate_hz(), 30);
        assert_eq!(welcome.server_time_us(), 1_700_000_000_000_000);
        assert_eq!(welcome.protocol_version(), PROTOCOL_VERSION);
    }

    #[test]
    fn joined_round_trips_the_room_the_state_and_every_member_in_order() {
        let state = arena_state(3);
        let players = [
            PlayerEntry {
                entity_id: 1,
                name: "alice",
            },
            PlayerEntry {
                entity_id: 2,
                name: "bob",
            },
            PlayerEntry {
                entity_id: 3,
                name: "carol",
            },
        ];
        let frame = ServerEncoder::new().joined(&joined_fields(&state), players.iter().copied());
        let msg = server(&frame);
        let ServerMsg::Joined(joined) = msg else {
            panic!("expected Joined, got {msg:?}");
        };
        assert_eq!(joined.room_id(), Some("room-42"));
        assert_eq!(joined.mode(), Some("arena"));
        assert_eq!(joined.entity_id(), 3);
        assert_eq!(joined.tick(), 1234);
        assert_eq!(joined.tick_rate_hz(), 20);
        assert_eq!(joined.capacity(), 16);
        assert_eq!(joined.state().map(|s| s.bytes()), Some(state.as_slice()));
        let members: Vec<(u32, Option<&str>)> = joined
            .players()
            .map(|ps| ps.iter().map(|p| (p.entity_id(), p.player_id())).collect())
            .unwrap_or_default();
        assert_eq!(
            members,
            vec![(1, Some("alice")), (2, Some("bob")), (3, Some("carol"))]
        );
    }

    #[test]
    fn joined_an_empty_room_lists_no_members() {
        let frame = ServerEncoder::new().joined(&joined_fields(&[]), std::iter::empty());
        let ServerMsg::Joined(joined) = server(&frame) else {
            panic!("expected Joined");
        };
        assert_eq!(joined.players().map(|p| p.len()), Some(0));
        assert_eq!(joined.state().map(|s| s.len()), Some(0));
    }

    #[test]
    fn state_round_trips_tick_time_state_bytes_and_every_ack() {
        let state = arena_state(4);
        let acks = [ack(1, 10), ack(2, 0), ack(3, u32::MAX), ack(4, 7)];
        let frame = ServerEncoder::new().state(99, 1_700_000_000_000_003, &state, &acks);
        let msg = server(&frame);
        let ServerMsg::State(decoded) = msg else {
            panic!("expected State, got {msg:?}");
        };
        assert_eq!(decoded.tick(), 99);
        assert_eq!(decoded.server_time_us(), 1_700_000_000_000_003);
        assert_eq!(decoded.state().map(|s| s.bytes()), Some(state.as_slice()));
        let decoded_acks: Vec<(u32, u32)> = decoded
            .acks()
            .map(|a| {
                a.iter()
                    .map(|a| (a.entity_id(), a.last_input_seq()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(decoded_acks, vec![(1, 10), (2, 0), (3, u32::MAX), (4, 7)]);
    }

    #[test]
    fn player_joined_and_player_left_carry_the_member() {
        let mut enc = ServerEncoder::new();
        let carol = PlayerEntry {
            entity_id: 9,
            name: "carol",
        };
        let joined = enc.player_joined(carol);
        let left = enc.player_left(carol);
        let ServerMsg::PlayerJoined(j) = server(&joined) else {
            panic!("expected PlayerJoined");
        };
        assert_eq!(
            (j.player().entity_id(), j.player().player_id()),
            (9, Some("carol"))
        );
        let ServerMsg::PlayerLeft(l) = server(&left) else {
            panic!("expected PlayerLeft");
        };
        assert_eq!(
            (l.player().entity_id(), l.player().player_id()),
            (9, Some("carol"))
        );
    }

    #[test]
    fn left_carries_the_room_id() {
        let frame = ServerEncoder::new().left("room-42");
        let ServerMsg::Left(left) = server(&frame) else {
            panic!("expected Left");
        };
        assert_eq!(left.room_id(), Some("room-42"));
    }

    #[test]
    fn pong_echoes_client_time_and_nonce_with_server_time() {
        let frame = ServerEncoder::new().pong(111, 222, 333);
        let ServerMsg::Pong(pong) = server(&frame) else {
            panic!("expected Pong");
        };
        assert_eq!(pong.client_time_us(), 111);
        assert_eq!(pong.server_time_us(), 222);
        assert_eq!(pong.nonce(), 333);
    }

    #[test]
    fn error_round_trips_every_error_code_and_its_message() {
        let mut enc = ServerEncoder::new();
        for &code in ErrorCode::ENUM_VALUES {
            let text = format!("failed with {code:?}");
            let frame = enc.error(code, &text);
            let ServerMsg::Error(error) = server(&frame) else {
                panic!("expected Error for {code:?}");
            };
            assert_eq!(error.code(), code);
            assert_eq!(error.message(), Some(text.as_str()));
        }
    }

    #[test]
    fn redirect_carries_url_and_room() {
        let frame = ServerEncoder::new().redirect("ws://node-b:7700/ws", "room-42");
        let ServerMsg::Redirect(redirect) = server(&frame) else {
            panic!("expected Redirect");
        };
        assert_eq!(redirect.url(), Some("ws://node-b:7700/ws"));
        assert_eq!(redirect.room_id(), Some("room-42"));
    }
}

// ------------------------------------------------------------------ refusals

mod refusals {
    use super::*;

    #[test]
    fn a_server_frame_sent_by_a_client_is_the_wrong_frame_kind() {
        for frame in server_frames() {
            let err = decode_client(&frame, &Limits::CLIENT).err();
            assert_eq!(
                err,
                Some(DecodeError::WrongFrameKind {
                    expected: CLIENT_FRAME_ID
                })
            );
            assert_eq!(err.map(|e| e.label()), Some("unexpected_message"));
        }
    }

    #[test]
    fn a_client_frame_given_to_decode_server_is_the_wrong_frame_kind() {
        for frame in client_frames() {
            assert_eq!(
                decode_server(&frame, &Limits::SERVER).err(),
                Some(DecodeError::WrongFrameKind {
                    expected: SERVER_FRAME_ID
                })
            );
        }
    }

    #[test]
    fn buffers_shorter_than_eight_bytes_are_the_wrong_frame_kind() {
        let client_frame = ClientEncoder::new().ping(1, 1);
        let server_frame = ServerEncoder::new().pong(1, 1, 1);
        for len in 0..8 {
            assert_eq!(
                decode_client(&client_frame[..len], &Limits::CLIENT).err(),
                Some(DecodeError::WrongFrameKind {
                    expected: CLIENT_FRAME_ID
                }),
                "{len}-byte prefix of a client frame"
            );
            assert_eq!(
                decode_server(&server_frame[..len], &Limits::SERVER).err(),
                Some(DecodeError::WrongFrameKind {
                    expected: SERVER_FRAME_ID
                }),
                "{len}-byte prefix of a server frame"
            );
        }
    }

    #[test]
    fn an_identifier_with_nothing_behind_it_is_malformed() {
        let mut buf = vec![0u8; 4];
        buf.extend_from_slice(CLIENT_FRAME_ID.as_bytes());
        let err = decode_client(&buf, &Limits::CLIENT).err();
        assert!(
            matches!(err, Some(DecodeError::Malformed(_))),
            "got {err:?}"
        );
        assert_eq!(err.map(|e| e.label()), Some("bad_frame"));
    }

    /// A frame cut anywhere is refused, unless all that was cut is the zero
    /// padding after the last field (at most 7 bytes), which loses nothing.
    /// Cut before the identifier it is the wrong kind; after it, malformed.
    fn assert_truncations_refused(
        frame: &[u8],
        decode: impl Fn(&[u8]) -> Result<String, DecodeError>,
    ) {
        for len in 0..frame.len() {
            let cut = &frame[len..];
            let only_padding_cut = cut.len() < 8 && cut.iter().all(|&b| b == 0);
            match decode(&frame[..len]) {
                Ok(msg) => {
                    assert!(
                        only_padding_cut,
                        "a {len}-byte prefix of a {}-byte frame was accepted as {msg}",
                        frame.len()
                    );
                }
                Err(DecodeError::WrongFrameKind { .. }) if len < 8 => {}
                Err(DecodeError::Malformed(_)) if len >= 8 => {}
                Err(other) => panic!("a {len}-byte prefix was refused with {other:?}"),
            }
        }
    }

    #[test]
    fn truncated_client_frames_are_refused() {
        for frame in client_frames() {
            assert_truncations_refused(&frame, |b| {
                decode_client(b, &Limits::CLIENT).map(|m| format!("{m:?}"))
            });
        }
    }

    #[test]
    fn truncated_server_frames_are_refused() {
        for frame in server_frames() {
            assert_truncations_refused(&frame, |b| {
                decode_server(b, &Limits::SERVER).map(|m| format!("{m:?}"))
            });
        }
    }

    #[test]
    fn random_garbage_never_panics_and_is_refused() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for case in 0..1000 {
            let len = rng.below(256);
            let buf = rng.bytes(len);
            assert_eq!(
                decode_both_ways(&buf),
                0,
                "garbage case {case} was accepted"
            );
        }
    }

    #[test]
    fn random_garbage_behind_a_valid_identifier_never_panics() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
        let mut refused = 0;
        for case in 0..2000 {
            let len = 8 + rng.below(256);
            let mut buf = rng.bytes(len);
            // Small root offsets land inside the buffer and reach the verifier's deeper checks.
            let root = (rng.below(len) as u32).to_le_bytes();
            buf[..4].copy_from_slice(&root);
            let id = if case % 2 == 0 {
                CLIENT_FRAME_ID
            } else {
                SERVER_FRAME_ID
            };
            buf[4..8].copy_from_slice(id.as_bytes());
            if decode_both_ways(&buf) == 0 {
                refused += 1;
            }
        }
        assert!(
            refused >= 1990,
            "only {refused} of 2000 garbage frames were refused"
        );
    }

    #[test]
    fn randomly_corrupted_valid_frames_never_panic() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for frame in client_frames().into_iter().chain(server_frames()) {
            for _ in 0..300 {
                let mut buf = frame.to_vec();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(buf.len());
                    buf[at] = rng.next() as u8;
                }
                decode_both_ways(&buf);
            }
        }
    }

    /// Builds a client frame whose union holds a Ping body under `kind`.
    /// With `write_default_type`, a NONE type is written rather than omitted.
    fn client_frame_with(kind: ClientMessage, write_default_type: bool) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        fbb.force_defaults(write_default_type);
        let ping = wire::Ping::create(
            &mut fbb,
            &wire::PingArgs {
                client_time_us: 1,
                nonce: 2,
            },
        );
        let root = wire::ClientFrame::create(
            &mut fbb,
            &wire::ClientFrameArgs {
                message_type: kind,
                message: Some(ping.as_union_value()),
            },
        );
        fbb.finish(root, Some(CLIENT_FRAME_ID));
        fbb.finished_data().to_vec()
    }

    fn server_frame_with(kind: ServerMessage, write_default_type: bool) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        fbb.force_defaults(write_default_type);
        let pong = wire::Pong::create(&mut fbb, &wire::PongArgs::default());
        let root = wire::ServerFrame::create(
            &mut fbb,
            &wire::ServerFrameArgs {
                message_type: kind,
                message: Some(pong.as_union_value()),
            },
        );
        fbb.finish(root, Some(SERVER_FRAME_ID));
        fbb.finished_data().to_vec()
    }

    #[test]
    fn a_client_frame_whose_union_type_is_none_is_an_unknown_message() {
        let frame = client_frame_with(ClientMessage::NONE, true);
        let err = decode_client(&frame, &Limits::CLIENT).err();
        assert_eq!(err, Some(DecodeError::UnknownMessage(0)));
        assert_eq!(err.map(|e| e.label()), Some("unexpected_message"));
    }

    #[test]
    fn a_client_frame_with_a_body_but_no_union_type_is_malformed() {
        let frame = client_frame_with(ClientMessage::NONE, false);
        let err = decode_client(&frame, &Limits::CLIENT).err();
        assert!(
            matches!(
                err,
                Some(DecodeError::Malformed(
                    InvalidFlatbuffer::InconsistentUnion { .. }
                ))
            ),
            "got {err:?}"
        );
        assert_eq!(err.map(|e| e.label()), Some("bad_frame"));
    }

    #[test]
    fn a_client_frame_without_a_message_is_malformed() {
        // The generated builder refuses to omit the required message, so build the table by hand.
        let mut fbb = FlatBufferBuilder::new();
        let start = fbb.start_table();
        let root = fbb.end_table(start);
        fbb.finish(root, Some(CLIENT_FRAME_ID));
        let err = decode_client(fbb.finished_data(), &Limits::CLIENT).err();
        assert!(
            matches!(
                err,
                Some(DecodeError::Malformed(
                    InvalidFlatbuffer::MissingRequiredField { .. }
                ))
            ),
            "got {err:?}"
        );
    }

    #[test]
    fn a_client_union_type_past_the_last_message_is_an_unknown_message() {
        let past_the_end = ClientMessage::ENUM_MAX + 1;
        for kind in [past_the_end, 100, u8::MAX] {
            let frame = client_frame_with(ClientMessage(kind), false);
            let err = decode_client(&frame, &Limits::CLIENT).err();
            assert_eq!(err, Some(DecodeError::UnknownMessage(kind)));
            assert_eq!(err.map(|e| e.label()), Some("unexpected_message"));
        }
    }

    #[test]
    fn a_body_that_does_not_match_its_union_type_is_malformed() {
        // A Ping body labelled Hello: its u64 time is read as Hello's player_id offset.
        let frame = client_frame_with(ClientMessage::Hello, false);
        let err = decode_client(&frame, &Limits::CLIENT).err();
        assert!(
            matches!(err, Some(DecodeError::Malformed(_))),
            "got {err:?}"
        );
    }

    #[test]
    fn a_server_frame_whose_union_type_is_none_or_unknown_is_an_unknown_message() {
        let frame = server_frame_with(ServerMessage::NONE, true);
        assert_eq!(
            decode_server(&frame, &Limits::SERVER).err(),
            Some(DecodeError::UnknownMessage(0))
        );
        for kind in [ServerMessage::ENUM_MAX + 1, u8::MAX] {
            let frame = server_frame_with(ServerMessage(kind), false);
            assert_eq!(
                decode_server(&frame, &Limits::SERVER).err(),
                Some(DecodeError::UnknownMessage(kind))
            );
        }
    }
}

// -------------------------------------------------------------------- limits

mod limits {
    use super::*;

    fn refusal(frame: &[u8], limits: Limits) -> Option<InvalidFlatbuffer> {
        match decode_client(frame, &limits) {
            Err(DecodeError::Malformed(e)) => Some(e),
            Err(other) => panic!("expected a verifier refusal, got {other:?}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn an_input_payload_over_the_client_size_limit_is_refused() {
        let payload = vec![7u8; Limits::CLIENT.max_apparent_size + 1];
        let frame = ClientEncoder::new().input(1, 1, &payload);
        assert_eq!(
            refusal(&frame, Limits::CLIENT),
            Some(InvalidFlatbuffer::ApparentSizeTooLarge)
        );
        assert_eq!(
            decode_client(&frame, &Limits::CLIENT)
                .err()
                .map(|e| e.label()),
            Some("bad_frame")
        );
    }

    #[test]
    fn a_frame_is_refused_once_max_apparent_size_is_lowered_below_its_size() {
        let frame = ClientEncoder::new().hello("alice", Some("token-123"), "tickforge-test/1");
        let roomy = Limits {
            max_apparent_size: frame.len(),
            ..Limits::CLIENT
        };
        let tight = Limits {
            max_apparent_size: 16,
            ..Limits::CLIENT
        };
        assert_eq!(refusal(&frame, roomy), None);
        assert_eq!(
            refusal(&frame, tight),
            Some(InvalidFlatbuffer::ApparentSizeTooLarge)
        );
    }

    /// Well-formed client frames hold exactly two tables (the frame and its
    /// message) two deep, far inside `Limits::CLIENT`; lowering the limits
    /// below that shows the verifier enforces them.
    #[test]
    fn client_frames_need_two_tables_two_deep_and_are_refused_below_that() {
        let two = Limits {
            max_tables: 2,
            max_depth: 2,
            ..Limits::CLIENT
        };
        let one_table = Limits {
            max_tables: 1,
            ..Limits::CLIENT
        };
        let one_deep = Limits {
            max_depth: 1,
            ..Limits::CLIENT
        };
        for frame in client_frames() {
            assert_eq!(refusal(&frame, two), None);
            assert_eq!(
                refusal(&frame, one_table),
                Some(InvalidFlatbuffer::TooManyTables)
            );
            assert_eq!(
                refusal(&frame, one_deep),
                Some(InvalidFlatbuffer::DepthLimitReached)
            );
        }
    }

    fn joined_with(players: usize) -> Bytes {
        let ids: Vec<String> = (0..players).map(|i| format!("p{i}")).collect();
        let entries = ids.iter().enumerate().map(|(i, id)| PlayerEntry {
            entity_id: i as u32,
            name: id,
        });
        ServerEncoder::new().joined(&joined_fields(&[]), entries)
    }

    #[test]
    fn a_joined_with_more_tables_than_the_server_limit_is_refused() {
        // The frame and Joined are two tables; each member adds one.
        let at_limit = joined_with(Limits::SERVER.max_tables - 2);
        let over_limit = joined_with(Limits::SERVER.max_tables - 1);
        assert!(decode_server(&at_limit, &Limits::SERVER).is_ok());
        assert_eq!(
            decode_server(&over_limit, &Limits::SERVER).err(),
            Some(DecodeError::Malformed(InvalidFlatbuffer::TooManyTables))
        );
    }
}

// --------------------------------------------------------------------- arena

mod arena {
    use super::*;

    #[test]
    fn arena_inputs_round_trip_including_the_axis_extremes() {
        let mut fbb = FlatBufferBuilder::new();
        let moves = [
            Move::default(),
            Move {
                x: -127,
                y: 127,
                buttons: 1,
            },
            Move {
                x: 127,
                y: -127,
                buttons: 0xFF,
            },
            Move {
                x: i8::MIN,
                y: 0,
                buttons: 0,
            },
        ];
        for m in moves {
            let bytes = arena_codec::encode_input(&mut fbb, m).to_vec();
            assert_eq!(arena_codec::decode_input(&bytes), Ok(m));
        }
    }

    #[test]
    fn arena_state_round_trips_size_and_every_entity() {
        let entities: Vec<ArenaEntity> = (0..100u32)
            .map(|i| ArenaEntity::new(i, i as f32 * 1.5, -(i as f32), 0.25, -3.0, (i % 3) as u8))
            .collect();
        let mut fbb = FlatBufferBuilder::new();
        arena_codec::encode_state(&mut fbb, 1024.0, 768.0, &entities);
        let buf = fbb.finished_data();
        assert!(flatbuffers::buffer_has_identifier(
            buf,
            tickforge_protocol::ARENA_STATE_ID,
            false
        ));
        let state = match arena_codec::decode_state(buf) {
            Ok(state) => state,
            Err(e) => panic!("encoded arena state refused: {e:?}"),
        };
        assert_eq!(state.width(), 1024.0);
        assert_eq!(state.height(), 768.0);
        let decoded: Vec<ArenaEntity> = state
            .entities()
            .map(|e| e.iter().copied().collect())
            .unwrap_or_default();
        assert_eq!(decoded.len(), entities.len());
        for (got, want) in decoded.iter().zip(&entities) {
            assert_eq!(
                (
                    got.id(),
                    got.x(),
                    got.y(),
                    got.vx(),
                    got.vy(),
                    got.buttons()
                ),
                (
                    want.id(),
                    want.x(),
                    want.y(),
                    want.vx(),
                    want.vy(),
                    want.buttons()
                )
            );
        }
    }

    #[test]
    fn arena_state_inside_a_state_frame_decodes_after_the_frame() {
        let state = arena_state(32);
        let frame = ServerEncoder::new().state(1, 1, &state, &[]);
        let ServerMsg::State(msg) = server(&frame) else {
            panic!("expected State");
        };
        let Some(bytes) = msg.state() else {
            panic!("State without state bytes");
        };
        let arena = match arena_codec::decode_state(bytes.bytes()) {
            Ok(arena) => arena,
            Err(e) => panic!("nested arena state refused: {e:?}"),
        };
        assert_eq!(arena.entities().map(|e| e.len()), Some(32));
    }

    #[test]
    fn arena_save_round_trips_position_and_distance() {
        for saved in [
            Saved {
                x: 0.0,
                y: 0.0,
                distance: 0.0,
            },
            Saved {
                x: -12.5,
                y: 640.25,
                distance: 1.0e12 + 0.5,
            },
        ] {
            assert_eq!(
                arena_codec::decode_save(&arena_codec::encode_save(saved)),
                Ok(saved)
            );
        }
    }

    #[test]
    fn arena_decoders_refuse_empty_truncated_and_garbage_payloads_without_panicking() {
        assert!(arena_codec::decode_input(&[]).is_err());
        assert!(arena_codec::decode_state(&[]).is_err());
        assert!(arena_codec::decode_save(&[]).is_err());

        let state = arena_state(5);
        for len in 0..state.len() - 8 {
            assert!(
                arena_codec::decode_state(&state[..len]).is_err(),
                "{len}-byte prefix accepted"
            );
        }

        let mut rng = XorShift(0x0123_4567_89AB_CDEF);
        for _ in 0..1000 {
            let len = rng.below(128);
            let buf = rng.bytes(len);
            if let Ok(state) = arena_codec::decode_state(&buf) {
                read_every_field(&state);
            }
            let _input = arena_codec::decode_input(&buf);
            let _save = arena_codec::decode_save(&buf);
        }
    }
}
