//! Live room hand-off in a drain: tickforge processes share a real
//! `redis-server`; players move in a room on node A; A drains; the room,
//! with its whole game state, moves to node B and every player follows the
//! Redirect into the same seat (and on to a new node when B drains in turn:
//! a rolling restart). The failure paths: a peer that does not answer or
//! refuses leaves the room to close as on a single node (snapshots, 1001);
//! a member that does not follow is an ordinary leave on the target. And
//! the draining flag: peers send a draining node nobody, and its new joins
//! go to a peer.

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

/// What one player saw around one move.
#[derive(Debug, Default)]
struct Trace {
    /// Last position and tick in a State from the node before the move.
    last_before: (f32, f32),
    last_tick_before: u64,
    /// Highest ack of its own inputs seen there.
    last_ack_before: u32,
    /// The resumed Joined from the node after the move.
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
/// at the first State 50 ms after the previous one, until it has followed
/// `moves` moves of its room and seen 30 States after the last. One trace
/// per move. `next_event` is never cancelled: it follows the Redirect
/// inside (reconnect, resume) and must run to the end.
async fn play(
    mut client: Client,
    entity: u32,
    index: usize,
    moves: usize,
) -> Result<Vec<Trace>, String> {
    let direction = [(20, 10), (-20, 10), (10, -20), (-10, -20)][index % 4];
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut traces: Vec<Trace> = Vec::new();
    let mut current = Trace::default();
    let mut next_input = Instant::now();
    while traces.len() < moves || traces.last().is_some_and(|t| t.states_after < 30) {
        if Instant::now() > give_up {
            return Err(format!(
                "player {index}: {} of {moves} moves in 60 s",
                traces.len()
            ));
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
                current.last_before = at;
                current.last_tick_before = s.tick;
                current.last_ack_before = current.last_ack_before.max(ack);
                if let Some(last) = traces.last_mut() {
                    last.states_after += 1;
                    last.last_ack_after = last.last_ack_after.max(ack);
                    last.last_after = at;
                }
            }
            Event::Resumed { joined, moved, .. } => {
                if !moved || current.last_tick_before == 0 {
                    return Err(format!("player {index}: resumed without a move"));
                }
                let mut trace = std::mem::take(&mut current);
                trace.resumed_at =
                    position(&joined.state, joined.entity_id).ok_or("entity in Joined")?;
                trace.resumed_room = joined.room_id;
                trace.resumed_entity = joined.entity_id;
                trace.resumed_tick = joined.tick;
                trace.resumed_seq = joined.last_input_seq;
                traces.push(trace);
            }
            _ => {}
        }
    }
    Ok(traces)
}

/// Every player plays (see [`play`]) until its room moved `moves` times.
fn start_playing(
    seated: Vec<players::Player>,
    moves: usize,
) -> Vec<tokio::task::JoinHandle<Result<Vec<Trace>, String>>> {
    seated
        .into_iter()
        .enumerate()
        .map(|(i, p)| tokio::spawn(play(p.client, p.entity, i, moves)))
        .collect()
}

/// Every player's traces, once all are done.
async fn finish(
    moving: Vec<tokio::task::JoinHandle<Result<Vec<Trace>, String>>>,
) -> Vec<Vec<Trace>> {
    let mut all = Vec::with_capacity(moving.len());
    for task in moving {
        all.push(
            task.await
                .expect("player task")
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    all
}

/// Asserts that `trace` (player `i`) continued in the same room with the
/// same entity, at the same position, with ticks and acks continuing.
fn assert_continued(i: usize, trace: &Trace, room: &str, entity: u32) {
    assert_eq!(trace.resumed_room, room, "player {i}: same room");
    assert_eq!(trace.resumed_entity, entity, "player {i}: same entity");
    let (dx, dy) = (
        trace.resumed_at.0 - trace.last_before.0,
        trace.resumed_at.1 - trace.last_before.1,
    );
    assert!(
        dx.abs() < 0.01 && dy.abs() < 0.01,
        "player {i}: resumed at {:?}, the node before showed {:?} last (no reset)",
        trace.resumed_at,
        trace.last_before
    );
    assert!(
        trace.resumed_tick >= trace.last_tick_before,
        "player {i}: ticks continue ({} after {})",
        trace.resumed_tick,
        trace.last_tick_before
    );
    assert!(
        trace.resumed_seq >= trace.last_ack_before && trace.last_ack_before > 0,
        "player {i}: acks continue ({} after {})",
        trace.resumed_seq,
        trace.last_ack_before
    );
    assert!(
        trace.last_ack_after > trace.resumed_seq,
        "player {i}: inputs sent after the move are acknowledged ({trace:?})"
    );
    // (30 after the last move; a room that moves on sooner shows fewer.)
    assert!(
        trace.last_after != trace.resumed_at && trace.states_after >= 10,
        "player {i}: moves on from where it was ({trace:?})"
    );
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
    let moving = start_playing(seated, 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    drain(&a).await;

    for (i, traces) in finish(moving).await.iter().enumerate() {
        assert_continued(i, &traces[0], &room, entities[i]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_moves_the_room_to_b_and_then_to_a_new_node_without_kicking_anyone() {
    let redis = Redis::start().await;
    let mut a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    let mut b = NodeProcess::start("node-b", &redis.url(), &[]).await;
    let prefix = players::run_prefix("rolling");
    let seated = join(&a.url(), &prefix, PLAYERS).await;
    let room = seated[0].room.clone();
    let entities: Vec<u32> = seated.iter().map(|p| p.entity).collect();
    let moving = start_playing(seated, 2);
    sees_its_peer(&a).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Node A drains: the room moves to B; A exits.
    drain(&a).await;
    let status = a.exit_status(Duration::from_secs(20)).await;
    assert!(status.success(), "node A exits 0: {status}");
    eventually(SEEN, "every player arrived on node B", || async {
        let arrived = b.metric("tickforge_handoff_members_arrived_total").await;
        (arrived == PLAYERS as f64).then_some(())
    })
    .await;

    // A new node takes A's place; then node B drains: the room moves there.
    let a2 = NodeProcess::start("node-a2", &redis.url(), &[]).await;
    sees_its_peer(&b).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&b).await;
    for (i, traces) in finish(moving).await.iter().enumerate() {
        assert_eq!(traces.len(), 2, "player {i}: two moves");
        for trace in traces {
            assert_continued(i, trace, &room, entities[i]);
        }
    }
    let status = b.exit_status(Duration::from_secs(20)).await;
    assert!(status.success(), "node B exits 0: {status}");
    assert_eq!(
        a2.metric("tickforge_handoff_members_arrived_total").await,
        PLAYERS as f64
    );
    let rooms = a2.cluster_rooms().await;
    assert!(
        rooms
            .iter()
            .any(|r| r["id"] == room.as_str() && r["node"] == "node-a2" && r["players"] == PLAYERS),
        "the room with every player is on the new node: {rooms:?}"
    );
}
