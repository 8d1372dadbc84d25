//! Live room hand-off under the swarm: in-process nodes share a real
//! `redis-server` for presence. A rolling restart: the bots play in two
//! rooms on node A; A drains (`POST /admin/drain`), its rooms move to node
//! B, every bot follows its room's Redirect into the same seat there, and
//! A stops by itself; a new node A' starts, B drains, and every bot ends
//! on A' in the room it started in. And joins sent to a draining node
//! follow its Redirect to the peer.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::redis::{Redis, eventually};
use support::{TestServer, bounded, run_swarm, show, start_server};

const BOTS: u64 = 64;
const SEEN: Duration = Duration::from_secs(20);

/// Node `id` of a cluster whose presence is on `redis_url`; a drain
/// turns into a shutdown after `drain_delay`.
fn start_node(id: &str, redis_url: &str, drain_delay: &str) -> TestServer {
    start_server(&[
        "--node-id",
        id,
        "--presence",
        redis_url,
        "--shards",
        "1",
        "--drain-delay",
        drain_delay,
        "--resume-grace",
        "10s",
        "--allow-node-local-snapshots",
    ])
}

/// Waits until `node` sees a peer that takes rooms.
async fn sees_its_peer(node: &TestServer) {
    eventually(SEEN, "a peer that takes rooms", || async {
        let peers = node.server().node().presence.view().peers_taking_rooms();
        (!peers.is_empty()).then_some(())
    })
    .await;
}

/// A redis-server and two nodes on it that see each other: A (whose drain
/// turns into a shutdown after `a_drain_delay`) and B.
async fn cluster(a_drain_delay: &str) -> (Redis, TestServer, TestServer) {
    let redis = Redis::start().await;
    let a = start_node("a", &redis.url(), a_drain_delay);
    let b = start_node("b", &redis.url(), "100ms");
    sees_its_peer(&a).await;
    sees_its_peer(&b).await;
    (redis, a, b)
}

/// `POST /admin/drain` on `node`.
async fn drain(node: &TestServer) {
    let (status, body) = node.admin("POST", "/admin/drain").await;
    assert_eq!(status, 200, "{body}");
}

/// `node`'s rooms (its admin `/rooms`), sorted by id.
async fn rooms(node: &TestServer) -> Vec<serde_json::Value> {
    let (status, body) = node.admin("GET", "/rooms").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("rooms json")
}

/// Ids of `node`'s rooms, sorted.
async fn room_ids(node: &TestServer) -> Vec<String> {
    let rooms = rooms(node).await;
    rooms
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

/// The room of each player seated on `node`, as its presence publishes it.
fn places(node: &TestServer) -> BTreeMap<String, String> {
    let view = node.server().node().presence.view();
    view.own_state()
        .players
        .into_iter()
        .map(|(player, place)| (player.to_string(), place.room.to_string()))
        .collect()
}

/// Players in `node`'s rooms, and how many rooms.
async fn seated(node: &TestServer) -> (u64, usize) {
    let rooms = rooms(node).await;
    let players = rooms.iter().filter_map(|r| r["players"].as_u64()).sum();
    (players, rooms.len())
}

#[tokio::test]
async fn a_rolling_restart_moves_every_bot_to_b_and_back_to_a_new_node_without_a_failure() {
    bounded(async {
        let (redis, a, b) = cluster("100ms").await;

        // Long enough for both moves on a loaded machine; the checks on
        // A' run while the bots still play.
        let config = a.swarm(&[
            "--bots",
            &BOTS.to_string(),
            "--duration",
            "20s",
            "--input-hz",
            "10",
        ]);
        let swarm = tokio::spawn(run_swarm(config));
        eventually(SEEN, "every bot seated on A", || async {
            (seated(&a).await == (BOTS, 2)).then_some(())
        })
        .await;
        let on_a = eventually(SEEN, "every bot placed on A", || async {
            let places = places(&a);
            (places.len() as u64 == BOTS).then_some(places)
        })
        .await;
        let rooms_on_a = room_ids(&a).await;

        // A drains: every bot follows its room to B, and A stops by itself.
        drain(&a).await;
        eventually(SEEN, "every bot seated on B", || async {
            (seated(&b).await == (BOTS, 2)).then_some(())
        })
        .await;
        tokio::time::timeout(SEEN, a.stopped())
            .await
            .expect("A stopped by itself after its drain");

        // A new node A' (same redis, a new id) replaces it; then B drains.
        let a2 = start_node("a2", &redis.url(), "100ms");
        eventually(SEEN, "B sees A' taking rooms", || async {
            let peers = b.server().node().presence.view().peers_taking_rooms();
            peers.iter().any(|(node, _)| &**node == "a2").then_some(())
        })
        .await;
        drain(&b).await;
        eventually(SEEN, "every bot seated on A'", || async {
            (seated(&a2).await == (BOTS, 2)).then_some(())
        })
        .await;
        assert_eq!(room_ids(&a2).await, rooms_on_a, "the same rooms on A'");
        let on_a2 = eventually(SEEN, "every bot placed on A'", || async {
            let places = places(&a2);
            (places == on_a).then_some(places)
        })
        .await;
        assert_eq!(on_a2.len() as u64, BOTS);
        tokio::time::timeout(SEEN, b.stopped())
            .await
            .expect("B stopped by itself after its drain");

        let report = swarm.await.expect("the swarm task ran");
        show(&report);
        a2.stop().await;
        drop(redis);

        let resume = &report.resume;
        assert_eq!(resume.redirects_followed, 2 * BOTS, "{resume:?}");
        // Each resume records its gap (redirect to resumed Joined).
        assert_eq!(
            resume.resumes,
            2 * BOTS,
            "each redirect resumed: {resume:?}"
        );
        assert_eq!(resume.failed, 0, "{resume:?}");
        assert_eq!(resume.drops, 0, "no provoked drops: {resume:?}");
        assert_eq!(report.errors.total, 0, "{:?}", report.errors.by_kind);
        assert_eq!(report.latency.join.count, BOTS, "resumes are not joins");
        assert!(
            resume.gap_ticks.max <= 60,
            "a hand-off on loopback takes well under two seconds: {resume:?}"
        );
        assert!(report.table().contains("redirects"));
        let json = serde_json::to_value(&report).expect("report as json");
        assert_eq!(json["resume"]["redirects_followed"], 2 * BOTS);
    })
    .await;
}

#[tokio::test]
async fn joins_on_a_draining_node_follow_its_redirect_to_the_peer() {
    bounded(async {
        // A stays draining (no rooms to hand off) for the whole run.
        let (redis, a, b) = cluster("60s").await;
        drain(&a).await;

        let bots = 8;
        let config = a.swarm(&["--bots", &bots.to_string(), "--duration", "2s"]);
        let report = run_swarm(config).await;
        show(&report);
        a.stop().await;
        b.stop().await;
        drop(redis);

        assert_eq!(report.errors.total, 0, "{:?}", report.errors.by_kind);
        assert_eq!(
            report.resume.redirects_followed, bots,
            "{:?}",
            report.resume
        );
        assert_eq!(report.resume.resumes, 0, "a join is not a resume");
        assert_eq!(report.latency.join.count, bots, "every bot joined on B");
    })
    .await;
}
