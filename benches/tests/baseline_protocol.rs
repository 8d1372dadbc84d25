//! The baseline server speaks the real tickforge protocol: the Rust client
//! that works against tickforge works against it. Each test starts the
//! `baseline` binary on a free loopback port and talks to it with
//! `tickforge_protocol::client::Client`; the process is killed when the
//! test ends, and every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::ChildGuard;
use tickforge_protocol::arena_codec::{self, Move};
use tickforge_protocol::client::{Client, ClientError, ConnectOptions, Event, StateInfo};
use tickforge_protocol::wire::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bound on a whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// States a client may read before its input must be acknowledged ("a few ticks").
const ACK_WITHIN_STATES: usize = 10;

struct Baseline {
    _process: ChildGuard,
    addr: String,
}

impl Baseline {
    fn start() -> Baseline {
        Baseline::start_with(&[])
    }

    /// Starts the binary on a free port with `extra` flags.
    fn start_with(extra: &[&str]) -> Baseline {
        let mut args = vec!["--listen", "127.0.0.1:0", "--threads", "2"];
        args.extend_from_slice(extra);
        let process = ChildGuard::spawn(env!("CARGO_BIN_EXE_baseline"), &args);
        let line = process.next_line(Duration::from_secs(10));
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Baseline {
            _process: process,
            addr,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn connect(&self, player: &str) -> Client {
        Client::connect(&self.url(), ConnectOptions::player(player))
            .await
            .unwrap_or_else(|e| panic!("{player} connects: {e}"))
    }
}

fn arena_input(x: i8, y: i8) -> Vec<u8> {
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    arena_codec::encode_input(&mut fbb, Move { x, y, buttons: 0 }).to_vec()
}

fn position(state: &[u8], entity: u32) -> (f32, f32) {
    let state = arena_codec::decode_state(state).expect("arena state");
    state
        .entities()
        .and_then(|es| es.iter().find(|e| e.id() == entity))
        .map(|e| (e.x(), e.y()))
        .unwrap_or_else(|| panic!("entity {entity} in state"))
}

/// Reads States until one satisfies `done`, at most `limit` of them.
async fn state_where(
    client: &mut Client,
    limit: usize,
    done: impl Fn(&StateInfo) -> bool,
) -> StateInfo {
    let mut seen = 0;
    loop {
        if let Event::State(state) = client.next_event().await.expect("event") {
            if done(&state) {
                return state;
            }
            seen += 1;
            assert!(seen < limit, "no matching State within {limit} ticks");
        }
    }
}

/// Reads events until one satisfies `wanted`, skipping States.
async fn event_where(client: &mut Client, wanted: impl Fn(&Event) -> bool) -> Event {
    loop {
        let event = client.next_event().await.expect("event");
        if wanted(&event) {
            return event;
        }
    }
}

#[tokio::test]
async fn two_players_share_a_room_and_see_each_others_input_acks_within_a_few_ticks() {
    let server = Baseline::start();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut alice = server.connect("alice").await;
        let mut bob = server.connect("bob").await;
        assert_eq!(alice.welcome.tick_rate_hz, 30);
        assert_ne!(alice.welcome.session_id, bob.welcome.session_id);

        let ja = alice.join_or_create("arena").await.expect("alice joins");
        let jb = bob.join_or_create("arena").await.expect("bob joins");
        assert_eq!(ja.room_id, jb.room_id, "join-or-create fills one room");
        assert_eq!(
            (jb.mode.as_str(), jb.capacity, jb.tick_rate_hz),
            ("arena", 32, 30)
        );
        assert_eq!(ja.players, vec![(ja.entity_id, "alice".to_string())]);
        assert_eq!(jb.players.len(), 2);
        assert!(jb.players.contains(&(ja.entity_id, "alice".to_string())));
        event_where(
            &mut alice,
            |e| matches!(e, Event::PlayerJoined(id, p) if *id == jb.entity_id && p == "bob"),
        )
        .await;

        let alice_start = position(&ja.state, ja.entity_id);
        let sa = alice.send_input(&arena_input(127, 0)).await.expect("input");
        let sb = bob.send_input(&arena_input(0, 127)).await.expect("input");
        let both_acked = |s: &StateInfo| {
            s.ack_for(ja.entity_id) == Some(sa) && s.ack_for(jb.entity_id) == Some(sb)
        };
        let seen_by_alice = state_where(&mut alice, ACK_WITHIN_STATES, both_acked).await;
        state_where(&mut bob, ACK_WITHIN_STATES, both_acked).await;
        // The same arena rules: alice moves right at full stick.
        let later = state_where(&mut alice, ACK_WITHIN_STATES, |s| {
            s.tick > seen_by_alice.tick
        })
        .await;
        let (x, y) = position(&later.state, ja.entity_id);
        assert!(
            x > alice_start.0 && y == alice_start.1,
            "{alice_start:?} -> {:?}",
            (x, y)
        );

        let rtt = alice.ping().await.expect("alice's ping is answered");
        assert!(rtt < Duration::from_secs(1));
        bob.ping().await.expect("bob's ping is answered");

        bob.leave().await.expect("bob leaves");
        event_where(
            &mut alice,
            |e| matches!(e, Event::PlayerLeft(id, p) if *id == jb.entity_id && p == "bob"),
        )
        .await;
        match bob.join_or_create("chess").await {
            Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::UnknownMode),
            other => panic!("an unknown mode is refused, got {other:?}"),
        }
        bob.close().await.expect("bob closes");
        alice.close().await.expect("alice closes");
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn a_bad_frame_closes_only_its_connection_and_healthz_answers() {
    let server = Baseline::start();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut good = server.connect("good").await;
        good.join_or_create("arena").await.expect("joins");

        let mut bad = server.connect("mallory").await;
        let mut garbage = vec![0u8; 64];
        garbage[4..8].copy_from_slice(b"TFC1");
        garbage[0] = 0xff; // root offset far past the end
        bad.send_frame(Bytes::from(garbage)).await.expect("sent");
        let closed = loop {
            match bad.next_event().await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        match closed {
            ClientError::Closed { code, reason } => {
                assert_eq!((code, reason.as_str()), (1007, "bad_frame"));
            }
            other => panic!("closed with 1007, got {other}"),
        }
        // The other connection is unaffected.
        good.ping().await.expect("still served");

        let mut tcp = tokio::net::TcpStream::connect(&server.addr)
            .await
            .expect("tcp");
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.expect("response");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");
    })
    .await
    .expect("the test finishes in time");
}

#[tokio::test]
async fn join_or_create_opens_a_new_room_when_every_seat_is_taken() {
    let server = Baseline::start_with(&["--capacity", "2"]);
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut clients = Vec::new();
        let mut rooms = Vec::new();
        for player in ["p1", "p2", "p3"] {
            let mut client = server.connect(player).await;
            let joined = client.join_or_create("arena").await.expect("joins");
            assert_eq!(joined.capacity, 2);
            rooms.push(joined.room_id);
            clients.push(client);
        }
        assert_eq!(rooms[0], rooms[1]);
        assert_ne!(rooms[1], rooms[2]);
        match clients[2].join(&rooms[0]).await {
            Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::AlreadyInRoom),
            other => panic!("a member cannot join a second room, got {other:?}"),
        }
        clients[2].leave().await.expect("leaves");
        match clients[2].join(&rooms[0]).await {
            Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::RoomFull),
            other => panic!("a full room refuses a join by id, got {other:?}"),
        }
        clients[1].leave().await.expect("leaves");
        let joined = clients[2]
            .join(&rooms[0])
            .await
            .expect("a freed seat is taken");
        assert_eq!(joined.players.len(), 2);
    })
    .await
    .expect("the test finishes in time");
}
