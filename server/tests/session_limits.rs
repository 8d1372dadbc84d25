//! Per-session limits and bounded storage work, crossed from loopback: each
//! limit (set small here) refuses, counts on the admin listener's
//! `/metrics` and, for a client that keeps exceeding it, closes with 1008
//! and the reason from README's table — while an honest member of the same
//! room keeps (nearly) every State. Also: the rejoin regression, a leave
//! without change writes no snapshot, and the store-load bound.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use support::{TestServer, arena_input, close_of, start};
use tickforge_protocol::ClientEncoder;
use tickforge_protocol::client::{ClientError, Event, Socket};
use tickforge_protocol::wire::ErrorCode;
use tickforge_server::persist::SnapshotStore;
use tickforge_server::persist::embedded::EmbeddedStore;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);
/// Share of its States an honest member must keep during the abuse.
const HONEST_SHARE: f64 = 0.95;
/// Ticks the honest member's count covers at least (it plays on after the
/// abuse until then).
const HONEST_TICKS: u64 = 15;

/// The sum over every series of `name` whose labels include `label`.
async fn total(server: &TestServer, name: &str, label: &str) -> f64 {
    let (_, body) = server.admin_get("/metrics").await;
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An honest member: plays in a room at 10 inputs/s and counts the States
/// it receives against the ticks they cover.
struct Honest {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl Honest {
    async fn join(server: &TestServer, player: &str, room: Option<&str>) -> (Honest, String) {
        let mut client = server.connect(player).await;
        let joined = match room {
            Some(id) => client.join(id).await.expect("honest joins"),
            None => client.join_or_create("arena").await.expect("honest joins"),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            let mut inputs = tokio::time::interval(Duration::from_millis(100));
            let (mut received, mut first, mut last) = (0u64, None, 0u64);
            let covered = |first: Option<u64>, last: u64| first.map_or(0, |f| last - f + 1);
            while !(stopping.load(Ordering::Acquire) && covered(first, last) >= HONEST_TICKS) {
                tokio::select! {
                    _ = inputs.tick() => {
                        client.send_input(&arena_input(50, 0)).await.expect("input sent");
                    }
                    event = client.next_event() => {
                        if let Event::State(s) = event.expect("honest member stays connected") {
                            received += 1;
                            first.get_or_insert(s.tick);
                            last = s.tick;
                        }
                    }
                }
            }
            (received, covered(first, last))
        });
        (Honest { stop, task }, joined.room_id)
    }

    /// Stops and checks the share of States received.
    async fn kept_its_states(self) {
        self.stop.store(true, Ordering::Release);
        let (received, ticks) = self.task.await.expect("honest task");
        let share = received as f64 / ticks as f64;
        assert!(
            share >= HONEST_SHARE,
            "honest member got {received} States over {ticks} ticks"
        );
    }
}

/// A raw connection past Hello, seated in `room`.
async fn abuser_in(server: &TestServer, player: &str, room: &str) -> Socket {
    let mut ws = server.raw().await;
    let mut enc = ClientEncoder::new();
    let hello = enc.hello(player, Some(&support::token(player)), "test");
    ws.send(Message::Binary(hello)).await.expect("hello");
    ws.send(Message::Binary(enc.join_room(room)))
        .await
        .expect("join");
    ws
}

/// Sends `frames` as fast as the socket takes them, until the server closes.
async fn flood(ws: &mut Socket, frames: impl Iterator<Item = Bytes>) {
    for frame in frames {
        if ws.feed(Message::Binary(frame)).await.is_err() {
            return;
        }
    }
    let _ = ws.flush().await;
}

#[tokio::test]
async fn a_client_that_keeps_flooding_frames_is_closed_while_its_room_plays_on() {
    let server = start(&[
        "--frames-per-second",
        "50",
        "--frames-burst",
        "50",
        "--rate-limit-strikes",
        "20",
    ]);
    let (honest, room) = Honest::join(&server, "honest", None).await;
    let mut ws = abuser_in(&server, "flooder", &room).await;
    let mut enc = ClientEncoder::new();
    let payload = arena_input(-50, 0);
    flood(&mut ws, (0..2_000).map(|seq| enc.input(seq, 1, &payload))).await;
    let close = close_of(&mut ws, WAIT).await;
    assert_eq!(close, (1008, "frame_rate_exceeded".to_string()));
    assert!(
        total(
            &server,
            "tickforge_frames_refused_total",
            "reason=\"frame_rate\""
        )
        .await
            >= 20.0
    );
    assert_eq!(
        server
            .metric("tickforge_disconnects_total{cause=\"frame_rate_exceeded\"}")
            .await,
        1.0
    );
    honest.kept_its_states().await;
}

#[tokio::test]
async fn a_ping_flood_is_refused_then_closed_and_counted() {
    let server = start(&[
        "--pings-per-second",
        "5",
        "--pings-burst",
        "5",
        "--rate-limit-strikes",
        "10",
    ]);
    let (honest, room) = Honest::join(&server, "honest", None).await;
    let mut ws = abuser_in(&server, "pinger", &room).await;
    let mut enc = ClientEncoder::new();
    flood(&mut ws, (0..200).map(|nonce| enc.ping(1, nonce))).await;
    let close = close_of(&mut ws, WAIT).await;
    assert_eq!(close, (1008, "ping_rate_exceeded".to_string()));
    assert!(
        total(
            &server,
            "tickforge_frames_refused_total",
            "reason=\"ping_rate\""
        )
        .await
            >= 10.0
    );
    assert_eq!(
        server
            .metric("tickforge_disconnects_total{cause=\"ping_rate_exceeded\"}")
            .await,
        1.0
    );
    honest.kept_its_states().await;
}

#[tokio::test]
async fn join_and_leave_churn_is_answered_busy_then_closed_and_counted() {
    let server = start(&[
        "--joins-per-second",
        "2",
        "--joins-burst",
        "4",
        "--rate-limit-strikes",
        "10",
    ]);
    let (honest, room) = Honest::join(&server, "honest", None).await;
    let mut ws = abuser_in(&server, "churner", &room).await;
    let mut enc = ClientEncoder::new();
    let churn = (0..400).map(|i| {
        if i % 2 == 0 {
            enc.leave_room()
        } else {
            enc.join_room(&room)
        }
    });
    flood(&mut ws, churn).await;
    let close = close_of(&mut ws, WAIT).await;
    assert_eq!(close, (1008, "join_rate_exceeded".to_string()));
    assert!(
        total(
            &server,
            "tickforge_frames_refused_total",
            "reason=\"join_rate\""
        )
        .await
            >= 10.0
    );
    honest.kept_its_states().await;
}

#[tokio::test]
async fn room_creation_is_rate_limited_per_session_and_capped_per_node() {
    let server = start(&[
        "--room-creates-per-minute",
        "1",
        "--room-creates-burst",
        "2",
        "--max-rooms",
        "4",
    ]);
    let (honest, _) = Honest::join(&server, "honest", None).await;
    let mut creator = server.connect("creator").await;
    for _ in 0..2 {
        creator
            .create_private("arena")
            .await
            .expect("within the burst");
        creator.leave().await.expect("leaves");
    }
    match creator.create_private("arena").await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::ServerBusy),
        other => panic!("expected ServerBusy, got {other:?}"),
    }
    assert_eq!(
        server
            .metric("tickforge_joins_refused_total{reason=\"room_create_rate\"}")
            .await,
        1.0
    );
    // The honest room, two private ones and one more: the node is full.
    let mut other = server.connect("other").await;
    other
        .create_private("arena")
        .await
        .expect("the fourth room");
    let mut third = server.connect("third").await;
    match third.create_private("arena").await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::ServerBusy),
        other => panic!("expected ServerBusy, got {other:?}"),
    }
    assert_eq!(
        server
            .metric("tickforge_joins_refused_total{reason=\"max_rooms\"}")
            .await,
        1.0
    );
    honest.kept_its_states().await;
}

#[tokio::test]
async fn store_loads_past_the_bound_are_refused_busy_and_counted() {
    let server = start(&["--shards", "1", "--snapshot-loads-max", "1"]);
    let (honest, _) = Honest::join(&server, "honest", None).await;
    let mut joiners = Vec::new();
    for i in 0..24 {
        joiners.push(server.connect(&format!("joiner{i}")).await);
    }
    let mut enc = ClientEncoder::new();
    let mut refused = 0;
    for _round in 0..20 {
        // Every join frame is on the wire before the first load is answered.
        for joiner in &mut joiners {
            joiner
                .send_frame(enc.join_or_create("arena"))
                .await
                .expect("join sent");
        }
        for joiner in &mut joiners {
            let answer = loop {
                match tokio::time::timeout(WAIT, joiner.next_event()).await {
                    Ok(Ok(Event::Joined(_))) => break true,
                    Ok(Ok(Event::Error(code, _))) => {
                        assert_eq!(code, ErrorCode::ServerBusy);
                        break false;
                    }
                    Ok(Ok(_)) => continue,
                    other => panic!("no answer to a join: {other:?}"),
                }
            };
            if answer {
                joiner.leave().await.expect("leaves");
            } else {
                refused += 1;
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "some join found the only load permit taken");
    assert_eq!(
        server
            .metric("tickforge_joins_refused_total{reason=\"store_loads\"}")
            .await,
        f64::from(refused)
    );
    assert_eq!(
        server
            .metric("tickforge_snapshot_loads_refused_total")
            .await,
        f64::from(refused)
    );
    honest.kept_its_states().await;
}

/// Sends one input and waits until a State acks it for `entity`.
async fn acked(
    client: &mut tickforge_protocol::client::Client,
    entity: u32,
    payload: &[u8],
) -> bool {
    let seq = client.send_input(payload).await.expect("input");
    tokio::time::timeout(WAIT, async {
        loop {
            if let Event::State(s) = client.next_event().await.expect("event")
                && s.ack_for(entity) == Some(seq)
            {
                return;
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn inputs_sent_before_a_quick_rejoin_never_starve_the_new_seat() {
    let server = start(&["--joins-per-second", "0", "--frames-per-second", "0"]);
    let mut client = server.connect("rejoiner").await;
    let room = client.join_or_create("arena").await.expect("joins").room_id;
    let mut enc = ClientEncoder::new();
    let payload = arena_input(10, 10);
    for round in 0..1_000 {
        client.send_input(&payload).await.expect("input");
        // Leave and rejoin back to back: within one tick of the input.
        client.send_frame(enc.leave_room()).await.expect("leave");
        let entity = client.join(&room).await.expect("rejoins").entity_id;
        if round >= 990 {
            // The seat's budget survived the earlier membership's input:
            // inputs over the next ticks are all applied.
            for probe in 0..2 {
                assert!(
                    acked(&mut client, entity, &payload).await,
                    "round {round}: probe {probe} was applied"
                );
            }
        }
    }
    assert!(
        total(
            &server,
            "tickforge_inputs_dropped_total",
            "reason=\"stale_membership\""
        )
        .await
            > 0.0,
        "inputs of earlier memberships were dropped, not applied to the new seat"
    );
}

#[tokio::test]
async fn a_leave_without_a_change_writes_no_snapshot() {
    let dir = support::fresh_data_dir();
    let dir_arg = dir.to_string_lossy().to_string();
    let server = start(&["--data-dir", &dir_arg]);
    let unchanged = || server.metric("tickforge_snapshots_unchanged_on_leave_total");
    let before = unchanged().await;
    let mut client = server.connect("still").await;
    // A new player's state is written once; then it never moves.
    client.join_or_create("arena").await.expect("joins");
    client.leave().await.expect("leaves");
    client.join_or_create("arena").await.expect("rejoins");
    client.leave().await.expect("leaves");
    let counted = tokio::time::timeout(WAIT, async {
        while unchanged().await < before + 1.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(counted.is_ok(), "the unchanged leave is counted");
    server.stop().await;
    let store = EmbeddedStore::open(&dir.join("snapshots.redb")).expect("store opens");
    let saved = store
        .load(Arc::from("still"))
        .await
        .expect("store reads")
        .expect("the player's state was written");
    assert_eq!(
        saved.version, 1,
        "two leaves, one write: the state never changed"
    );
    let _ = std::fs::remove_dir_all(dir);
}
