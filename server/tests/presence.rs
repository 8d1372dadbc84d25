//! Cross-node presence and room ownership against a real `redis-server`,
//! with tickforge nodes as real processes on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::cluster::{NodeProcess, Redis, eventually};
use tickforge_protocol::client::{Client, ClientError};

/// Generous: presence is asynchronous, and the machine is shared.
const SEEN: Duration = Duration::from_secs(15);

async fn player(node: &NodeProcess, id: &str) -> Client {
    Client::connect(&node.url(), support::player_options(id))
        .await
        .expect("client connects")
}

/// Players of `node`'s rooms as `observer` sees them (sum of room counts).
async fn players_seen(observer: &NodeProcess, node: &str) -> u64 {
    observer
        .cluster_rooms()
        .await
        .iter()
        .filter(|r| r["node"] == node)
        .map(|r| r["players"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_joining_on_one_node_is_visible_from_another() {
    let redis = Redis::start().await;
    let a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    let b = NodeProcess::start("node-b", &redis.url(), &[]).await;
    let mut alice = player(&a, "alice").await;
    let joined = alice.join_or_create("arena").await.unwrap();

    let placements = eventually(SEEN, "alice visible from B", || async {
        let p = b.placements("alice").await;
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0]["node"], "node-a");
    assert_eq!(placements[0]["room"], joined.room_id.as_str());
    let room = b
        .cluster_rooms()
        .await
        .into_iter()
        .find(|r| r["id"] == joined.room_id.as_str())
        .expect("A's room listed by B");
    assert_eq!(room["players"], 1);
    assert_eq!(room["url"], a.url().as_str());

    alice.leave().await.unwrap();
    eventually(SEEN, "alice gone from B's view", || async {
        b.placements("alice").await.is_empty().then_some(())
    })
    .await;
    assert_eq!(players_seen(&b, "node-a").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_for_a_room_owned_elsewhere_is_redirected_to_its_owner() {
    let redis = Redis::start().await;
    let a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    let b = NodeProcess::start("node-b", &redis.url(), &[]).await;
    let mut alice = player(&a, "alice").await;
    let room = alice.join_or_create("arena").await.unwrap().room_id;
    eventually(SEEN, "A's room visible from B", || async {
        b.cluster_rooms()
            .await
            .iter()
            .any(|r| r["id"] == room.as_str())
            .then_some(())
    })
    .await;

    let mut bob = player(&b, "bob").await;
    let (url, room_id) = match bob.join(&room).await {
        Err(ClientError::Redirected { url, room_id }) => (url, room_id),
        other => panic!("expected a redirect, got {other:?}"),
    };
    assert_eq!(url, a.url());
    assert_eq!(room_id, room);

    let mut bob = Client::connect(&url, support::player_options("bob"))
        .await
        .unwrap();
    let joined = bob.join(&room_id).await.unwrap();
    assert_eq!(joined.room_id, room);
    eventually(SEEN, "two players in A's room, seen from B", || async {
        (players_seen(&b, "node-a").await == 2).then_some(())
    })
    .await;

    // Join-or-create on B fills A's room (it has free seats) before creating one.
    let mut carol = player(&b, "carol").await;
    match carol.join_or_create("arena").await {
        Err(ClientError::Redirected { url, room_id }) => {
            assert_eq!(url, a.url());
            assert_eq!(room_id, room);
        }
        other => panic!("expected a redirect to A's room, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_disappears_cluster_wide_after_its_ttl() {
    let redis = Redis::start().await;
    let ttl = ["--presence-ttl-ms", "2000", "--presence-timeout-ms", "500"];
    let mut a = NodeProcess::start("node-a", &redis.url(), &ttl).await;
    let b = NodeProcess::start("node-b", &redis.url(), &ttl).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c = player(&a, &format!("p{i}")).await;
        c.join_or_create("arena").await.unwrap();
        clients.push(c);
    }
    eventually(SEEN, "three players of A seen from B", || async {
        (players_seen(&b, "node-a").await == 3).then_some(())
    })
    .await;

    a.kill();
    eventually(SEEN, "A's rooms and players gone from B", || async {
        let rooms = b.cluster_rooms().await;
        let gone =
            rooms.iter().all(|r| r["node"] != "node-a") && b.placements("p0").await.is_empty();
        gone.then_some(())
    })
    .await;
    assert!(b.metric("tickforge_presence_nodes_reaped_total").await >= 1.0);
    // After the hand-off A waits (up to --handoff-timeout) for the
    // redirected client, which this test never reads, then says goodbye.
    eventually(SEEN, "A no longer listed", || async {
        let listed = redis.command("SMEMBERS tf:nodes").await?;
        (!listed.contains("node-a")).then_some(())
    })
    .await;
    assert!(
        redis
            .command("EXISTS tf:players:node-a")
            .await
            .unwrap()
            .starts_with(":0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_shut_down_gracefully_leaves_the_cluster_at_once() {
    let redis = Redis::start().await;
    // A long TTL: only the node's own goodbye can explain a quick removal.
    let ttl = ["--presence-ttl-ms", "120000"];
    let a = NodeProcess::start("node-a", &redis.url(), &ttl).await;
    let b = NodeProcess::start("node-b", &redis.url(), &ttl).await;
    let mut alice = player(&a, "alice").await;
    alice.join_or_create("arena").await.unwrap();
    eventually(SEEN, "alice seen from B", || async {
        (!b.placements("alice").await.is_empty()).then_some(())
    })
    .await;

    a.signal("TERM");
    // A's room is handed to B in the drain (alice's seat is held there):
    // nothing of A is left in B's view.
    eventually(SEEN, "A gone from B's view", || async {
        let rooms = b.cluster_rooms().await;
        let placed_on_a = b
            .placements("alice")
            .await
            .iter()
            .any(|p| p["node"] == "node-a");
        (rooms.iter().all(|r| r["node"] != "node-a") && !placed_on_a).then_some(())
    })
    .await;
    // After the hand-off A waits (up to --handoff-timeout) for the
    // redirected client, which this test never reads, then says goodbye.
    eventually(SEEN, "A no longer listed", || async {
        let listed = redis.command("SMEMBERS tf:nodes").await?;
        (!listed.contains("node-a")).then_some(())
    })
    .await;
    assert!(
        redis
            .command("EXISTS tf:node:node-a")
            .await
            .unwrap()
            .starts_with(":0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_leads_to_a_full_and_correct_resync() {
    let mut redis = Redis::start().await;
    // One-seat rooms: each node creates its own instead of filling the other's.
    let solo = ["--mode", "solo,game=arena,capacity=1"];
    let a = NodeProcess::start("node-a", &redis.url(), &solo).await;
    let b = NodeProcess::start("node-b", &redis.url(), &solo).await;
    let mut alice = player(&a, "alice").await;
    alice.join_or_create("solo").await.unwrap();
    // Once B sees A's room full, B creates its own.
    eventually(SEEN, "alice seen from B", || async {
        (!b.placements("alice").await.is_empty()).then_some(())
    })
    .await;
    let mut bob = player(&b, "bob").await;
    bob.join_or_create("solo").await.unwrap();
    eventually(SEEN, "both players seen from both nodes", || async {
        let seen = !a.placements("bob").await.is_empty() && !b.placements("alice").await.is_empty();
        seen.then_some(())
    })
    .await;

    redis.kill();
    a.wait_presence("degraded", SEEN).await;
    // The node keeps serving its own rooms while Redis is away.
    let mut carol = player(&a, "carol").await;
    carol.join_or_create("solo").await.unwrap();
    assert!(!a.placements("carol").await.is_empty());
    // A change the other nodes cannot hear about yet.
    bob.leave().await.unwrap();

    redis.restart().await;
    a.wait_presence("connected", SEEN).await;
    b.wait_presence("connected", SEEN).await;
    eventually(SEEN, "both nodes agree after the restart", || async {
        let agree = !b.placements("alice").await.is_empty()
            && !b.placements("carol").await.is_empty()
            && a.placements("bob").await.is_empty();
        agree.then_some(())
    })
    .await;
    assert_eq!(players_seen(&b, "node-a").await, 2);
    assert_eq!(players_seen(&a, "node-b").await, 0);
    let resyncs = b
        .metric("tickforge_presence_resyncs_total{reason=\"reconnect\"}")
        .await;
    assert!(resyncs >= 1.0, "B resynced after the reconnect ({resyncs})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_stay_exact_after_a_thousand_join_leave_cycles() {
    let redis = Redis::start().await;
    // Each churning client joins and leaves as fast as it can: past the
    // default join/leave rate, which this test is not about.
    let churn = ["--joins-per-second", "0"];
    let a = NodeProcess::start("node-a", &redis.url(), &churn).await;
    let b = NodeProcess::start("node-b", &redis.url(), &churn).await;
    let mut stayers = Vec::new();
    for i in 0..3 {
        let mut c = player(&a, &format!("stay{i}")).await;
        c.join_or_create("arena").await.unwrap();
        stayers.push(c);
    }
    let mut workers = Vec::new();
    for w in 0..10 {
        let url = a.url();
        workers.push(tokio::spawn(async move {
            let mut c = Client::connect(&url, support::player_options(&format!("churn{w}")))
                .await
                .unwrap();
            for _ in 0..100 {
                c.join_or_create("arena").await.unwrap();
                c.leave().await.unwrap();
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    eventually(
        SEEN,
        "B counts exactly A's three remaining players",
        || async { (players_seen(&b, "node-a").await == 3).then_some(()) },
    )
    .await;
    for w in 0..10 {
        assert!(b.placements(&format!("churn{w}")).await.is_empty());
    }
    assert_eq!(players_seen(&a, "node-a").await, 3);
    let hlen = redis.command("HLEN tf:players:node-a").await.unwrap();
    assert_eq!(hlen, ":3\r\n", "Redis holds exactly three players");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagged_subscription_is_detected_and_resynced() {
    let redis = Redis::start().await;
    let a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    // A one-slot bulletin buffer: B lags as soon as two bulletins wait.
    let b = NodeProcess::start("node-b", &redis.url(), &["--presence-channel", "1"]).await;
    b.signal("STOP");
    let mut clients = Vec::new();
    for i in 0..8 {
        let mut c = player(&a, &format!("p{i}")).await;
        c.join_or_create("arena").await.unwrap();
        clients.push(c);
        // Separate bulletins.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    b.signal("CONT");
    eventually(SEEN, "B resynced after lagging", || async {
        let lagged = b
            .metric("tickforge_presence_resyncs_total{reason=\"lagged\"}")
            .await;
        (lagged >= 1.0).then_some(())
    })
    .await;
    eventually(SEEN, "B sees all eight players", || async {
        (players_seen(&b, "node-a").await == 8).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_node_whose_keys_vanish_puts_them_back() {
    let redis = Redis::start().await;
    let fast = ["--presence-ttl-ms", "4000", "--presence-timeout-ms", "1000"];
    let a = NodeProcess::start("node-a", &redis.url(), &fast).await;
    let mut alice = player(&a, "alice").await;
    alice.join_or_create("arena").await.unwrap();
    eventually(SEEN, "alice written to Redis", || async {
        let n = redis.command("HLEN tf:players:node-a").await?;
        (n == ":1\r\n").then_some(())
    })
    .await;

    // As if another node had reaped A while it was alive (or Redis evicted keys).
    redis
        .command("DEL tf:players:node-a tf:rooms:node-a")
        .await
        .unwrap();
    redis.command("SREM tf:nodes node-a").await.unwrap();
    eventually(
        SEEN,
        "A's keys and listing restored by its heartbeat",
        || async {
            let players = redis.command("HLEN tf:players:node-a").await?;
            let listed = redis.command("SISMEMBER tf:nodes node-a").await?;
            (players == ":1\r\n" && listed == ":1\r\n").then_some(())
        },
    )
    .await;
    assert!(
        a.metric("tickforge_presence_republishes_total{reason=\"keys_lost\"}")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_never_overwrites_a_heartbeat_another_process_holds() {
    let redis = Redis::start().await;
    let fast = ["--presence-ttl-ms", "4000", "--presence-timeout-ms", "1000"];
    let a = NodeProcess::start("node-a", &redis.url(), &fast).await;

    // Another process with the same node id takes the key.
    let taken = redis
        .command("SET tf:node:node-a \"other ws://other/ws\" PX 60000")
        .await
        .unwrap();
    assert_eq!(taken, "+OK\r\n");
    a.wait_presence("degraded", SEEN).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let holder = redis.command("GET tf:node:node-a").await.unwrap();
    assert!(
        holder.contains("other ws://other/ws"),
        "A overwrote it: {holder}"
    );
    assert!(a.get("/readyz").await.1.contains("presence: degraded"));
}
