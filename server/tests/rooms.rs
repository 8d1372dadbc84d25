//! Rooms over real sockets: shared state, matchmaking capacity, leaving and
//! disposal.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::{arena_input, next_state, position, start};
use tickforge_protocol::client::{ClientError, Event};
use tickforge_protocol::wire::ErrorCode;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn two_clients_in_one_room_see_each_others_inputs_within_two_ticks() {
    let server = start(&["--shards", "2"]);
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    let a = alice.join_or_create("arena").await.expect("alice joins");
    // By id: with two shards, bob's connection may live on the other one.
    let b = bob.join(&a.room_id).await.expect("bob joins");
    assert_eq!(a.room_id, b.room_id, "bob is in alice's room");
    assert_eq!(a.capacity, 32);

    let before = next_state(&mut bob, WAIT).await;
    let (x0, _) = position(&before.state, a.entity_id).expect("alice in state");
    let seq = alice
        .send_input(&arena_input(127, 0))
        .await
        .expect("input sent");

    let seen = tokio::time::timeout(WAIT, async {
        loop {
            let s = next_state(&mut bob, WAIT).await;
            if s.ack_for(a.entity_id).is_some_and(|ack| ack >= seq) {
                return s;
            }
        }
    })
    .await
    .expect("bob sees alice's ack");
    assert!(
        seen.tick <= before.tick + 2,
        "input sent after tick {} applied at tick {}",
        before.tick,
        seen.tick
    );
    let later = next_state(&mut bob, WAIT).await;
    let (x1, _) = position(&later.state, a.entity_id).expect("alice in state");
    assert!(x1 > x0, "alice moved right in bob's view: {x0} -> {x1}");

    // And the other way round, once alice has read her backlog up to now.
    let now = next_state(&mut bob, WAIT).await.tick;
    let before = loop {
        let s = next_state(&mut alice, WAIT).await;
        if s.tick >= now {
            break s;
        }
    };
    let seq = bob
        .send_input(&arena_input(0, 127))
        .await
        .expect("input sent");
    let seen = tokio::time::timeout(WAIT, async {
        loop {
            let s = next_state(&mut alice, WAIT).await;
            if s.ack_for(b.entity_id).is_some_and(|ack| ack >= seq) {
                return s;
            }
        }
    })
    .await
    .expect("alice sees bob's ack");
    assert!(
        seen.tick <= before.tick + 2,
        "applied at {} after {}",
        seen.tick,
        before.tick
    );
    assert_eq!(support::panics(), 0);
    server.stop().await;
}

#[tokio::test]
async fn the_33rd_joiner_of_a_full_mode_gets_a_new_room() {
    // One shard: join-or-create fills rooms of the connection's own shard.
    let server = start(&["--shards", "1"]);
    let mut clients = Vec::new();
    let mut first_room = None;
    for i in 0..32 {
        let mut c = server.connect(&format!("p{i}")).await;
        let joined = c.join_or_create("arena").await.expect("joins");
        let room = first_room.get_or_insert_with(|| joined.room_id.clone());
        assert_eq!(&joined.room_id, room, "player {i} joins the open room");
        clients.push(c);
    }
    let mut late = server.connect("p32").await;
    let joined = late.join_or_create("arena").await.expect("33rd joins");
    let first_room = first_room.expect("room");
    assert_ne!(
        joined.room_id, first_room,
        "a full room takes no 33rd player"
    );

    let full = server.room(&first_room).await.expect("listed");
    assert_eq!(full["players"], 32);
    assert_eq!(full["capacity"], 32);
    let mut direct = server.connect("direct").await;
    match direct.join(&first_room).await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::RoomFull),
        other => panic!("joining a full room by id must fail: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn leaving_frees_the_seat_and_an_empty_room_is_disposed_after_its_grace() {
    let server = start(&["--shards", "1", "--empty-room-grace-ms", "300"]);
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    let a = alice.join_or_create("arena").await.expect("joins");
    let b = bob.join_or_create("arena").await.expect("joins");
    assert_eq!(a.room_id, b.room_id);
    assert_eq!(b.players.len(), 2, "Joined lists both members");

    alice.leave().await.expect("alice leaves");
    let left = tokio::time::timeout(WAIT, async {
        loop {
            if let Event::PlayerLeft(entity, player) = bob.next_event().await.expect("event") {
                return (entity, player);
            }
        }
    })
    .await
    .expect("bob is told");
    assert_eq!(left, (a.entity_id, "alice".to_string()));
    assert_eq!(
        server.room(&a.room_id).await.expect("still live")["players"],
        1
    );

    match alice.leave().await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::NotInRoom),
        other => panic!("leaving twice must fail: {other:?}"),
    }

    bob.leave().await.expect("bob leaves");
    tokio::time::timeout(WAIT, async {
        while server.room(&a.room_id).await.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("empty room disposed");
    match alice.join(&a.room_id).await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::RoomNotFound),
        other => panic!("a disposed room cannot be joined: {other:?}"),
    }
    let fresh = alice.join_or_create("arena").await.expect("a new room");
    assert_ne!(fresh.room_id, a.room_id);
    server.stop().await;
}

#[tokio::test]
async fn unknown_modes_and_double_joins_are_refused_without_closing() {
    let server = start(&[
        "--shards",
        "1",
        "--mode",
        "arena;duel,game=arena,tick=60,capacity=2",
    ]);
    let mut c = server.connect("c").await;
    match c.join_or_create("nope").await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::UnknownMode),
        other => panic!("{other:?}"),
    }
    let duel = c.join_or_create("duel").await.expect("duel exists");
    assert_eq!(
        (duel.capacity, duel.tick_rate_hz, duel.mode.as_str()),
        (2, 60, "duel")
    );
    match c.join_or_create("arena").await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::AlreadyInRoom),
        other => panic!("{other:?}"),
    }
    let rtt = c.ping().await.expect("still connected");
    assert!(rtt < WAIT);
    server.stop().await;
}

#[tokio::test]
async fn health_readiness_and_the_room_list_answer_over_http() {
    let server = start(&["--shards", "2"]);
    assert_eq!(server.get("/healthz").await, (200, "ok".to_string()));
    assert_eq!(server.get("/readyz").await.0, 200);
    assert!(server.rooms().await.is_empty());
    let mut c = server.connect("c").await;
    let joined = c.join_or_create("arena").await.expect("joins");
    let room = server.room(&joined.room_id).await.expect("listed");
    assert_eq!(room["mode"], "arena");
    assert_eq!(room["players"], 1);
    assert_eq!(room["tick_rate"], 30);
    assert!(room["shard"].as_u64().is_some_and(|s| s < 2));
    server.stop().await;
}

#[tokio::test]
async fn rooms_on_every_shard_can_be_joined_by_id_from_any_shard() {
    let server = start(&["--shards", "2", "--mode", "solo,game=arena,capacity=1"]);
    // Single-seat rooms: each join-or-create makes a room on its
    // connection's shard; the kernel spreads 16 connections over both.
    let mut room_ids = Vec::new();
    let mut creators = Vec::new();
    for i in 0..16 {
        let mut c = server.connect(&format!("creator{i}")).await;
        room_ids.push(c.join_or_create("solo").await.expect("creates").room_id);
        creators.push(c);
    }
    for c in &mut creators {
        c.leave().await.expect("leaves");
    }
    let rooms = server.rooms().await;
    let shards: std::collections::BTreeSet<u64> =
        rooms.iter().filter_map(|r| r["shard"].as_u64()).collect();
    assert_eq!(
        shards.len(),
        2,
        "rooms were placed on both shards: {rooms:?}"
    );

    // One visitor lives on one shard; it joins a room of each shard by id,
    // so one of these joins crosses shards.
    let one_per_shard: std::collections::BTreeMap<u64, String> = rooms
        .iter()
        .filter_map(|r| Some((r["shard"].as_u64()?, r["id"].as_str()?.to_string())))
        .filter(|(_, id)| room_ids.contains(id))
        .collect();
    let mut visitor = server.connect("visitor").await;
    for id in one_per_shard.values() {
        let joined = visitor.join(id).await.expect("joins by id");
        assert_eq!(&joined.room_id, id);
        let state = next_state(&mut visitor, WAIT).await;
        assert!(position(&state.state, joined.entity_id).is_some());
        visitor.leave().await.expect("leaves");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_private_room_is_never_listed_or_matched_and_is_joined_only_by_its_unguessable_id() {
    let server = start(&["--shards", "1"]);
    let mut host = server.connect("host").await;
    let private = host.create_private("arena").await.expect("private room");
    let mut stranger = server.connect("stranger").await;
    let public = stranger.join_or_create("arena").await.expect("joins");
    assert_ne!(
        public.room_id, private.room_id,
        "join-or-create never picks a private room"
    );
    let listed: Vec<String> = server
        .public_rooms()
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        listed.contains(&public.room_id) && !listed.contains(&private.room_id),
        "{listed:?}"
    );
    let mut friend = server.connect("friend").await;
    let joined = friend.join(&private.room_id).await.expect("joined by id");
    assert_eq!(joined.room_id, private.room_id);
    // Ids share only the node's prefix; the rest is random.
    let (a, b) = (
        private.room_id.rsplit('-').next().unwrap_or_default(),
        public.room_id.rsplit('-').next().unwrap_or_default(),
    );
    assert!(a.len() == 24 && b.len() == 24 && a != b, "{a} {b}");
}
