//! Live room hand-off under the swarm: two in-process nodes share a real
//! `redis-server` for presence; the bots play in two rooms on node A; A
//! drains (`POST /admin/drain`), its rooms move to node B, and every bot
//! follows its room's Redirect into the same seat there. And joins sent
//! to a draining node follow its Redirect to the peer.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

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

/// Players in `node`'s rooms (its admin `/rooms`), and how many rooms.
async fn seated(node: &TestServer) -> (u64, usize) {
    let (status, body) = node.admin("GET", "/rooms").await;
    assert_eq!(status, 200, "{body}");
    let rooms: Vec<serde_json::Value> = serde_json::from_str(&body).expect("rooms json");
    let players = rooms.iter().filter_map(|r| r["players"].as_u64()).sum();
    (players, rooms.len())
}

#[tokio::test]
async fn bots_follow_their_rooms_to_the_peer_when_their_node_drains() {
    bounded(async {
        let (redis, a, b) = cluster("100ms").await;

        let config = a.swarm(&[
            "--bots",
            &BOTS.to_string(),
            "--duration",
            "8s",
            "--input-hz",
            "10",
        ]);
        let swarm = tokio::spawn(run_swarm(config));
        eventually(SEEN, "every bot seated on A", || async {
            (seated(&a).await == (BOTS, 2)).then_some(())
        })
        .await;
        drain(&a).await;
        eventually(SEEN, "every bot seated on B", || async {
            (seated(&b).await.0 == BOTS).then_some(())
        })
        .await;
        tokio::time::timeout(SEEN, a.stopped())
            .await
            .expect("A stopped by itself after its drain");

        let report = swarm.await.expect("the swarm task ran");
        show(&report);
        b.stop().await;
        drop(redis);

        let resume = &report.resume;
        assert_eq!(resume.redirects_followed, BOTS, "{resume:?}");
        assert_eq!(resume.resumes, BOTS, "each redirect resumed: {resume:?}");
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
        assert_eq!(json["resume"]["redirects_followed"], BOTS);
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
