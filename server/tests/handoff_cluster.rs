//! Live room hand-off in a drain: two tickforge processes share a real
//! `redis-server`; players move in a room on node A; A drains; the room,
//! with its whole game state, moves to node B and every player follows the
//! Redirect into the same seat. And the failure path: a peer that does not
//! answer leaves the room to close as on a single node (snapshots, 1001).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::cluster::{NodeProcess, Redis, eventually};
use support::players::{self, assert_store_holds_latest, halt, join, wander};
use support::{arena_input, client_close_of, http, position};
use tickforge_protocol::client::{Client, Event};
use tickforge_server::persist::embedded::EmbeddedStore;
use tokio::time::Instant;

const SEEN: Duration = Duration::from_secs(15);
const PLAYERS: usize = 4;

/// Waits until `node` counts two nodes in the cluster.
async fn sees_its_peer(node: &NodeProcess) {
    eventually(SEEN, &format!("{} sees its peer", node.id), || async {
        let (_, body) = node.admin_get("/metrics").await;
        body.contains("tickforge_presence_nodes 2").then_some(())
    })
    .await;
}

/// `POST /admin/drain` on `node`.
async fn drain(node: &NodeProcess) {
    let (status, body) = http(node.admin_addr, "POST", "/admin/drain", None)
        .await
        .expect("POST /admin/drain");
    assert_eq!(status, 200, "{body}");
}

/// What one player saw around the move.
#[derive(Debug)]
struct Trace {
    /// Last position and tick in a State from node A.
    last_on_a: (f32, f32),
    last_tick_on_a: u64,
    /// Highest ack of its own inputs seen from node A.
    last_ack_on_a: u32,
    /// The resumed Joined from node B.
    resumed_room: String,
    resumed_entity: u32,
    resumed_at: (f32, f32),
    resumed_tick: u64,
    resumed_seq: u32,
    /// After the move: States seen, highest ack, last position.
    states_after: usize,
    last_ack_after: u32,
    last_after: (f32, f32),
}

/// Moves `client` (entity `entity`) with a slow constant input, sending one
/// at the first State 50 ms after the previous one, until it has followed a
/// moved room and seen 30 States there. `next_event` is never cancelled: it
/// follows the Redirect inside (reconnect, resume) and must run to the end.
async fn play(mut client: Client, entity: u32, index: usize) -> Result<Trace, String> {
    let direction = [(20, 10), (-20, 10), (10, -20), (-10, -20)][index % 4];
    let give_up = Instant::now() + Duration::from_secs(40);
    let mut before = (None, 0, 0);
    let mut resumed = None;
    let (mut states_after, mut last_ack_after, mut last_after) = (0, 0, (0.0, 0.0));
    let mut next_input = Instant::now();
    while states_after < 30 {
        if Instant::now() > give_up {
            return Err(format!("player {index}: no move within 40 s"));
        }
        if Instant::now() >= next_input {
            client
                .send_input(&arena_input(direction.0, direction.1))
                .await
                .map_err(|e| format!("player {index}: input: {e}"))?;
            next_input = Instant::now() + Duration::from_millis(50);
        }
        let event = tokio::time::timeout(Duration::from_secs(30), client.next_event())
            .await
            .map_err(|_| format!("player {index}: no event within 30 s"))?;
        match event.map_err(|e| format!("player {index}: {e}"))? {
            Event::State(s) => {
                let at = position(&s.state, entity).ok_or("own entity in state")?;
                let ack = s.ack_for(entity).unwrap_or(0);
                if resumed.is_none() {
                    before = (Some(at), s.tick, ack.max(before.2));
                } else {
                    states_after += 1;
                    last_ack_after = last_ack_after.max(ack);
                    last_after = at;
                }
            }
            Event::Resumed { joined, moved, .. } => {
                if !moved {
                    return Err(format!("player {index}: resumed without a move"));
                }
                resumed = Some(joined);
            }
            _ => {}
        }
    }
    let joined = resumed.ok_or("resumed")?;
    Ok(Trace {
        last_on_a: before.0.ok_or("a State on node A")?,
        last_tick_on_a: before.1,
        last_ack_on_a: before.2,
        resumed_at: position(&joined.state, joined.entity_id).ok_or("entity in Joined")?,
        resumed_room: joined.room_id,
        resumed_entity: joined.entity_id,
        resumed_tick: joined.tick,
        resumed_seq: joined.last_input_seq,
        states_after,
        last_ack_after,
        last_after,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_hands_its_room_to_the_peer_and_every_player_continues_there_in_the_same_seat()
 {
    let redis = Redis::start().await;
    let mut a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    let b = NodeProcess::start("node-b", &redis.url(), &[]).await;
    let prefix = players::run_prefix("handoff");
    let seated = join(&a.url(), &prefix, PLAYERS).await;
    let room = seated[0].room.clone();
    assert!(seated.iter().all(|p| p.room == room), "one room on node A");
    eventually(SEEN, "node-b sees the room on node-a", || async {
        let rooms = b.cluster_rooms().await;
        rooms
            .iter()
            .any(|r| r["id"] == room.as_str() && r["node"] == "node-a" && r["players"] == PLAYERS)
            .then_some(())
    })
    .await;

    let entities: Vec<u32> = seated.iter().map(|p| p.entity).collect();
    let moving: Vec<_> = seated
        .into_iter()
        .enumerate()
        .map(|(i, p)| tokio::spawn(play(p.client, p.entity, i)))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    drain(&a).await;

    for (i, task) in moving.into_iter().enumerate() {
        let trace = task
            .await
            .expect("player task")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(trace.resumed_room, room, "player {i}: same room");
        assert_eq!(trace.resumed_entity, entities[i], "player {i}: same entity");
        let (dx, dy) = (
            trace.resumed_at.0 - trace.last_on_a.0,
            trace.resumed_at.1 - trace.last_on_a.1,
        );
        assert!(
            dx.abs() < 0.01 && dy.abs() < 0.01,
            "player {i}: resumed at {:?}, node A last showed {:?} (no reset)",
            trace.resumed_at,
            trace.last_on_a
        );
        assert!(
            trace.resumed_tick >= trace.last_tick_on_a,
            "player {i}: ticks continue ({} after {})",
            trace.resumed_tick,
            trace.last_tick_on_a
        );
        assert!(
            trace.resumed_seq >= trace.last_ack_on_a && trace.last_ack_on_a > 0,
            "player {i}: acks continue ({} after {})",
            trace.resumed_seq,
            trace.last_ack_on_a
        );
        assert!(
            trace.last_ack_after > trace.resumed_seq,
            "player {i}: inputs sent on node B are acknowledged ({:?})",
            trace
        );
        assert!(
            trace.last_after != trace.resumed_at && trace.states_after >= 30,
            "player {i}: moves on from where it was ({trace:?})"
        );
    }
    let status = a.exit_status(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "node A exits 0 after its room left: {status}"
    );
    assert_eq!(
        b.metric("tickforge_handoff_rooms_received_total{result=\"restored\"}")
            .await,
        1.0
    );
    assert_eq!(
        b.metric("tickforge_handoff_members_arrived_total").await,
        PLAYERS as f64
    );
    assert_eq!(b.metric("tickforge_handoff_pause_seconds_count").await, 1.0);
    let on_b = b.cluster_rooms().await;
    assert!(
        on_b.iter()
            .any(|r| r["id"] == room.as_str() && r["node"] == "node-b" && r["players"] == PLAYERS),
        "node B owns the room with every player: {on_b:?}"
    );
    let owner = redis
        .command(&format!("GET tf:room:{room}"))
        .await
        .unwrap_or_default();
    assert!(owner.contains("node-b"), "ownership key moved: {owner}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_whose_peer_does_not_answer_saves_every_player_and_closes_with_1001() {
    let redis = Redis::start().await;
    let mut a = NodeProcess::start("node-a", &redis.url(), &["--handoff-timeout", "500ms"]).await;
    let b = NodeProcess::start("node-b", &redis.url(), &[]).await;
    let prefix = players::run_prefix("handoff-fail");
    let seated = join(&a.url(), &prefix, 3).await;
    let moved = wander(seated, Duration::from_millis(400)).await;
    let stopped = halt(moved).await;
    sees_its_peer(&a).await;

    // Node B still looks alive (its heartbeat has not expired) but answers nothing.
    b.signal("STOP");
    drain(&a).await;
    let mut expected = Vec::new();
    for (mut player, where_stopped) in stopped {
        let (code, _) = client_close_of(&mut player.client, Duration::from_secs(15)).await;
        assert_eq!(code, 1001, "{} closed with {code}", player.id);
        expected.push((player.id, where_stopped));
    }
    let status = a.exit_status(Duration::from_secs(20)).await;
    assert!(status.success(), "node A exits 0: {status}");
    b.signal("CONT");

    let store = EmbeddedStore::open(&a.data_dir().join("snapshots.redb")).expect("store opens");
    assert_store_holds_latest(&store, &expected).await;
    drop(store);
    eventually(SEEN, "node B refuses the stale offer", || async {
        let late = b
            .metric("tickforge_handoff_rooms_received_total{result=\"timeout\"}")
            .await;
        (late == 1.0).then_some(())
    })
    .await;
    assert_eq!(
        b.metric("tickforge_handoff_rooms_received_total{result=\"restored\"}")
            .await,
        0.0,
        "no room was restored from a withdrawn record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_refuses_the_room_leaves_it_to_close_with_1001_and_restores_nothing() {
    let redis = Redis::start().await;
    let mut a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    // Resume off: B cannot hold the members' seats, so it refuses rooms.
    let b = NodeProcess::start("node-b", &redis.url(), &["--resume-grace", "0s"]).await;
    let prefix = players::run_prefix("handoff-refused");
    let seated = join(&a.url(), &prefix, 2).await;
    sees_its_peer(&a).await;
    drain(&a).await;
    for mut player in seated {
        let (code, _) = client_close_of(&mut player.client, Duration::from_secs(15)).await;
        assert_eq!(code, 1001, "{} closed with {code}", player.id);
    }
    let status = a.exit_status(Duration::from_secs(20)).await;
    assert!(status.success(), "node A exits 0: {status}");
    assert_eq!(
        b.metric("tickforge_handoff_rooms_received_total{result=\"refused\"}")
            .await,
        1.0
    );
    assert!(b.cluster_rooms().await.is_empty(), "no room on node B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_node_drains_peers_send_it_nobody_and_its_new_joins_go_to_a_peer() {
    let redis = Redis::start().await;
    let a = NodeProcess::start("node-a", &redis.url(), &["--drain-delay", "30s"]).await;
    let b = NodeProcess::start("node-b", &redis.url(), &[]).await;
    let prefix = players::run_prefix("draining");
    let alice = join(&a.url(), &format!("{prefix}-alice"), 1).await;
    let room_on_a = alice[0].room.clone();
    eventually(SEEN, "node-b sees the free room on node-a", || async {
        let rooms = b.cluster_rooms().await;
        rooms
            .iter()
            .any(|r| r["id"] == room_on_a.as_str())
            .then_some(())
    })
    .await;
    drain(&a).await;

    // A new join on the draining node is redirected to the peer, to join
    // or create a room of the mode there (no room id: node-b has none yet).
    let mut carol = Client::connect(
        &a.url(),
        support::player_options(&format!("{prefix}-carol")),
    )
    .await
    .expect("connects");
    match carol.join_or_create("arena").await {
        Err(tickforge_protocol::client::ClientError::Redirected { url, room_id }) => {
            assert_eq!(url, b.url());
            assert!(room_id.is_empty(), "{room_id}");
        }
        other => panic!("a join on a draining node with a peer: {other:?}"),
    }

    // Once node-b hears that node-a drains, its join-or-create stops
    // sending players to node-a's free seats and creates a room itself.
    let joined_on_b = eventually(SEEN, "a join on node-b that stays there", || async {
        let mut bob = Client::connect(&b.url(), support::player_options(&format!("{prefix}-bob")))
            .await
            .ok()?;
        let joined = bob.join_or_create("arena").await.ok()?;
        Some((bob, joined))
    })
    .await;
    assert_ne!(joined_on_b.1.room_id, room_on_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_does_not_follow_its_room_is_an_ordinary_leave_on_the_target_after_the_grace()
{
    let redis = Redis::start().await;
    let mut a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    let b = NodeProcess::start("node-b", &redis.url(), &["--resume-grace", "1s"]).await;
    let id = format!("{}-0", players::run_prefix("handoff-stray"));
    let options = tickforge_protocol::client::ConnectOptions {
        auto_resume: false,
        ..support::player_options(&id)
    };
    let seated = players::join_each(&a.url(), vec![(id.clone(), options)]).await;
    let moved = wander(seated, Duration::from_millis(400)).await;
    let mut stopped = halt(moved).await;
    sees_its_peer(&a).await;

    drain(&a).await;
    // The client does not follow: it only sees the Redirect.
    let (player, where_stopped) = &mut stopped[0];
    let redirect = tokio::time::timeout(SEEN, async {
        loop {
            match player.client.next_event().await {
                Ok(Event::Redirect {
                    url, resume_token, ..
                }) => return (url, resume_token),
                Ok(_) => continue,
                Err(e) => panic!("before the Redirect: {e}"),
            }
        }
    })
    .await
    .expect("a Redirect in time");
    assert_eq!(redirect.0, b.url());
    assert!(!redirect.1.is_empty(), "with a resume token");
    let status = a.exit_status(Duration::from_secs(20)).await;
    assert!(status.success(), "node A exits 0: {status}");

    // Node B held the seat for its grace, then let the player go.
    eventually(SEEN, "the held seat's grace ends on node B", || async {
        let expired = b.metric("tickforge_resume_grace_expired_total").await;
        (expired == 1.0 && b.placements(&id).await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        b.metric("tickforge_handoff_members_arrived_total").await,
        0.0
    );
    // The freeze handed the player's latest state to node A's writer.
    let store = EmbeddedStore::open(&a.data_dir().join("snapshots.redb")).expect("store opens");
    assert_store_holds_latest(&store, &[(id.clone(), *where_stopped)]).await;
}
