//! One live session per player across nodes, and operators' kick and ban
//! cluster-wide: two tickforge processes sharing a real `redis-server` for
//! presence and the CQL node the test command starts for saved state.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::cluster::{NodeProcess, Redis, eventually};
use support::{client_close_of, http, next_state, position};
use tickforge_protocol::client::{Client, ClientError};

/// Presence is asynchronous and the machine is shared.
const SEEN: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(5);
const KEYSPACE: &str = "tickforge_test_identity";

fn cql_store() -> String {
    let port = std::env::var("TICKFORGE_CQL_PORT").unwrap_or_else(|_| "9042".into());
    format!("scylla://127.0.0.1:{port}/{KEYSPACE}")
}

async fn nodes(redis: &Redis) -> (NodeProcess, NodeProcess) {
    let store = cql_store();
    let extra = [
        "--snapshots",
        store.as_str(),
        "--snapshot-interval-ms",
        "100",
    ];
    let a = NodeProcess::start("node-a", &redis.url(), &extra).await;
    let b = NodeProcess::start("node-b", &redis.url(), &extra).await;
    a.wait_presence("connected", SEEN).await;
    b.wait_presence("connected", SEEN).await;
    (a, b)
}

async fn connect(node: &NodeProcess, player: &str) -> Result<Client, ClientError> {
    Client::connect(&node.url(), support::player_options(player)).await
}

/// Moves `client` up for a while, stops, waits until the stop is applied
/// and a periodic snapshot has certainly been taken; returns the position.
async fn walk_and_stop(client: &mut Client, entity: u32, y: i8) -> (f32, f32) {
    for _ in 0..10 {
        client
            .send_input(&support::arena_input(0, y))
            .await
            .unwrap();
        next_state(client, WAIT).await;
    }
    let stop = client
        .send_input(&support::arena_input(0, 0))
        .await
        .unwrap();
    let at = loop {
        let state = next_state(client, WAIT).await;
        if state.ack_for(entity).is_some_and(|acked| acked >= stop) {
            break position(&state.state, entity).unwrap();
        }
    };
    // Keep reading for a few snapshot intervals (the session stays healthy).
    for _ in 0..15 {
        next_state(client, WAIT).await;
    }
    at
}

/// `player` logs in on `node`, which closes `first` (4005 `replaced`), and
/// continues in a private room there (join-or-create would be sent to the
/// old node's room) exactly at `at`, where the old session stopped.
/// Returns the new, seated client.
async fn replace_on(
    node: &NodeProcess,
    player: &str,
    first: &mut Client,
    at: (f32, f32),
) -> Client {
    let mut second = connect(node, player).await.unwrap();
    assert_eq!(
        client_close_of(first, SEEN).await,
        (4005, "replaced".to_string())
    );
    let rejoined = second.create_private("arena").await.unwrap();
    let back = position(&rejoined.state, rejoined.entity_id).unwrap();
    assert!(
        (back.0 - at.0).abs() < 0.01 && (back.1 - at.1).abs() < 0.01,
        "left the old node at {at:?}, continued on {} at {back:?}",
        node.id
    );
    second
}

async fn admin_post(node: &NodeProcess, path: &str, body: &str) -> (u16, String) {
    http(node.admin_addr, "POST", path, Some(body))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_on_another_node_replaces_the_old_session_and_continues_from_its_state() {
    let redis = Redis::start().await;
    let (a, b) = nodes(&redis).await;
    let player = support::players::run_prefix("replaced");

    let mut first = connect(&a, &player).await.unwrap();
    let joined = first.join_or_create("arena").await.unwrap();
    let at = walk_and_stop(&mut first, joined.entity_id, 100).await;
    eventually(
        SEEN,
        "the player placed on node-a, seen from node-b",
        || async { (b.placements(&player).await.len() == 1).then_some(()) },
    )
    .await;

    let _second = replace_on(&b, &player, &mut first, at).await;
    let placements = eventually(SEEN, "exactly one placement, on node-b", || async {
        let p = a.placements(&player).await;
        (p.len() == 1 && p[0]["node"] == "node-b").then_some(p)
    })
    .await;
    assert_eq!(placements.len(), 1);
    assert!(
        b.metric("tickforge_presence_access_out_total{action=\"replace\"}")
            .await
            >= 1.0
    );
    assert!(
        a.metric("tickforge_presence_access_in_total{action=\"replace\"}")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_and_ban_from_one_admin_listener_reach_the_player_on_another_node() {
    let redis = Redis::start().await;
    let (a, b) = nodes(&redis).await;
    let (kicked, banned) = (
        support::players::run_prefix("kicked"),
        support::players::run_prefix("banned"),
    );

    let mut k = connect(&a, &kicked).await.unwrap();
    k.join_or_create("arena").await.unwrap();
    let (status, body) =
        admin_post(&b, "/admin/kick", &format!(r#"{{"player":"{kicked}"}}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        client_close_of(&mut k, SEEN).await,
        (4006, "kicked".to_string())
    );
    connect(&a, &kicked)
        .await
        .expect("a kicked player may come back");

    let mut v = connect(&a, &banned).await.unwrap();
    v.join_or_create("arena").await.unwrap();
    let (status, body) = admin_post(
        &b,
        "/admin/ban",
        &format!(r#"{{"player":"{banned}","duration":"1h"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        client_close_of(&mut v, SEEN).await,
        (4004, "banned".to_string())
    );
    for node in [&a, &b] {
        match connect(node, &banned).await {
            Err(ClientError::AccessDenied { code: 4004, reason }) => assert_eq!(reason, "banned"),
            Err(e) => panic!("{}: a banned player was refused with {e}", node.id),
            Ok(_) => panic!("{}: a banned player was accepted", node.id),
        }
    }
    // A node that starts after the ban learns it from Redis.
    let c = NodeProcess::start("node-c", &redis.url(), &["--snapshots", &cql_store()]).await;
    c.wait_presence("connected", SEEN).await;
    assert!(matches!(
        connect(&c, &banned).await,
        Err(ClientError::AccessDenied { code: 4004, .. })
    ));

    let (status, body) =
        admin_post(&a, "/admin/unban", &format!(r#"{{"player":"{banned}"}}"#)).await;
    assert_eq!(status, 200, "{body}");
    eventually(SEEN, "the ban lifted on every node", || async {
        let mut all = true;
        for node in [&a, &b, &c] {
            all &= connect(node, &banned).await.is_ok();
        }
        all.then_some(())
    })
    .await;
    let (status, _) = admin_post(&a, "/admin/ban", &format!(r#"{{"player":"{banned}"}}"#)).await;
    assert_eq!(status, 400, "a ban needs a duration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_on_another_node_loads_the_final_snapshot_even_before_it_is_written() {
    let redis = Redis::start().await;
    let store = cql_store();
    // No periodic snapshot during the test, and node-a's writer flushes
    // only every 1.5 s: the final snapshot of the move below waits in its
    // queue while node-b loads the player.
    let a = NodeProcess::start(
        "node-a",
        &redis.url(),
        &[
            "--snapshots",
            &store,
            "--snapshot-interval-ms",
            "600000",
            "--snapshot-flush-ms",
            "1500",
        ],
    )
    .await;
    let b = NodeProcess::start(
        "node-b",
        &redis.url(),
        &["--snapshots", &store, "--snapshot-load-timeout-ms", "8000"],
    )
    .await;
    a.wait_presence("connected", SEEN).await;
    b.wait_presence("connected", SEEN).await;
    let player = support::players::run_prefix("moved");

    let mut first = connect(&a, &player).await.unwrap();
    let joined = first.join_or_create("arena").await.unwrap();
    let at = walk_and_stop(&mut first, joined.entity_id, -100).await;
    eventually(
        SEEN,
        "the player placed on node-a, seen from node-b",
        || async { (b.placements(&player).await.len() == 1).then_some(()) },
    )
    .await;

    let behind_before = b.metric("tickforge_snapshot_loads_behind_total").await;
    let _second = replace_on(&b, &player, &mut first, at).await;
    assert!(
        b.metric("tickforge_snapshot_loads_behind_total").await > behind_before,
        "node-b waited for node-a's writer"
    );
}
