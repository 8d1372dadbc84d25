//! Player snapshots through a real CQL database — the Apache Cassandra 5.0
//! node of `ops/cassandra/` (the test command starts it; these tests fail
//! when it is not there) — driven by real WebSocket clients: many players'
//! latest state is stored, a database crash mid-run loses nothing and
//! costs no tick, a shutdown with the database down spills and the next
//! start replays, and a guest's row carries `--guest-ttl` as its TTL.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::players::{self, assert_store_holds_latest, run_prefix, spill_count};
use support::{TestServer, fresh_data_dir, player_options, position, start};
use tickforge_server::persist::SnapshotStore;
use tickforge_server::persist::cql::{self, CqlStore};
use tickforge_server::persist::options::CqlTarget;
use tokio::sync::Mutex;

const KEYSPACE: &str = "tickforge_test";
/// The CQL node ops/cassandra/start.sh runs (`TICKFORGE_CQL_PORT`, default 9042).
fn node() -> String {
    let port = std::env::var("TICKFORGE_CQL_PORT").unwrap_or_else(|_| "9042".into());
    format!("127.0.0.1:{port}")
}

/// One test at a time: they share (and one of them kills) the node.
static NODE_LOCK: Mutex<()> = Mutex::const_new(());

fn cassandra_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../ops/cassandra/{name}"))
}

fn run_script(name: &str, args: &[&str]) {
    let status = Command::new("bash")
        .arg(cassandra_script(name))
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(status.success(), "ops/cassandra/{name} {args:?} failed");
}

/// Restarts the node if a test leaves it down (a failed assertion mid-outage).
struct NodeUp;

impl Drop for NodeUp {
    fn drop(&mut self) {
        run_script("start.sh", &[]);
    }
}

fn target() -> CqlTarget {
    CqlTarget {
        nodes: vec![node()],
        keyspace: KEYSPACE.to_string(),
    }
}

fn url() -> String {
    format!("scylla://{}/{KEYSPACE}", node())
}

/// The store the server writes to, opened by the test (the node must answer).
async fn store() -> CqlStore {
    CqlStore::open(
        &target(),
        Duration::from_secs(20),
        Duration::from_secs(10),
        64,
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the CQL node on {} must run (ops/cassandra/start.sh; ops/test.sh starts it): {e}",
            node()
        )
    })
}

fn cql_server(dir: &std::path::Path, extra: &[&str]) -> TestServer {
    let dir = dir.to_string_lossy().to_string();
    let url = url();
    let mut args = vec![
        "--snapshots",
        url.as_str(),
        "--data-dir",
        dir.as_str(),
        "--snapshot-interval-ms",
        "50",
        "--snapshot-retry-max-ms",
        "2000",
        "--snapshot-write-timeout-ms",
        "2000",
    ];
    args.extend_from_slice(extra);
    start(&args)
}

async fn overruns(server: &TestServer) -> f64 {
    let mut total = 0.0;
    for shard in 0..2 {
        total += server
            .metric(&format!(
                "tickforge_tick_overruns_total{{shard=\"{shard}\"}}"
            ))
            .await;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_players_each_end_with_exactly_their_latest_snapshot_in_cql() {
    let _one = NODE_LOCK.lock().await;
    let store = store().await;
    let dir = fresh_data_dir();
    // A thousand players from one address: per-IP limits off.
    let server = cql_server(
        &dir,
        &[
            "--shards",
            "2",
            "--tick-rate",
            "20",
            "--max-connections-per-ip",
            "0",
            "--handshakes-per-ip-per-s",
            "0",
        ],
    );
    let left = players::many_updates_then_leave(&server, &run_prefix("cql"), 1000).await;
    server.stop().await;
    assert_eq!(spill_count(&dir), 0, "a graceful stop writes everything");
    assert_store_holds_latest(&store, &left).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_crash_mid_run_loses_nothing_and_no_tick_overruns() {
    let _one = NODE_LOCK.lock().await;
    drop(store().await);
    let _restart_on_failure = NodeUp;
    let dir = fresh_data_dir();
    let server = cql_server(&dir, &["--shards", "2", "--tick-rate", "20"]);
    let joined = players::join(&server.url(), &run_prefix("crash"), 200).await;
    let moved = players::wander(joined, Duration::from_secs(2)).await;
    let overruns_before = overruns(&server).await;
    let errors_before = server
        .metric("tickforge_snapshot_write_errors_total{error=\"unavailable\"}")
        .await
        + server
            .metric("tickforge_snapshot_write_errors_total{error=\"timeout\"}")
            .await;

    run_script("stop.sh", &["--kill"]);
    let moved = players::wander(moved, Duration::from_secs(30)).await;
    let dirty = server.metric("tickforge_snapshot_dirty_players").await;
    assert!(dirty > 0.0, "snapshots wait while the database is down");
    // The outage must not slow a tick. (Restarting the JVM below takes both
    // cores of a 2-core machine for seconds: ticks across the restart would
    // measure the machine, not persistence.)
    assert_eq!(
        overruns(&server).await,
        overruns_before,
        "no tick overran its period while the database was down"
    );
    run_script("start.sh", &[]);
    let moved = players::wander(moved, Duration::from_secs(3)).await;
    let stopped = players::halt(moved).await;
    let left = players::leave(stopped).await;

    let errors = server
        .metric("tickforge_snapshot_write_errors_total{error=\"unavailable\"}")
        .await
        + server
            .metric("tickforge_snapshot_write_errors_total{error=\"timeout\"}")
            .await;
    assert!(errors > errors_before, "the outage was seen by the writer");
    assert!(server.metric("tickforge_snapshot_retries_total").await > 0.0);
    // Recovery: the driver reconnects (its back-off reaches 10 s during a
    // long outage), then the writer drains every dirty player.
    let recovery = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut clean = 0;
    while clean < 2 {
        assert!(
            tokio::time::Instant::now() < recovery,
            "the writer recovers after the restart"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        let dirty = server.metric("tickforge_snapshot_dirty_players").await;
        clean = if dirty == 0.0 { clean + 1 } else { 0 };
    }
    server.stop().await;
    assert_eq!(spill_count(&dir), 0, "everything written after recovery");
    assert_store_holds_latest(&store().await, &left).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_with_the_database_down_spills_and_the_next_start_replays() {
    let _one = NODE_LOCK.lock().await;
    drop(store().await);
    let _restart_on_failure = NodeUp;
    let dir = fresh_data_dir();
    let prefix = run_prefix("down");
    // A generous deadline: under load, rooms must still have time to hand
    // over every final snapshot before the writer spills.
    let server = cql_server(&dir, &["--shutdown-deadline-ms", "10000"]);
    let joined = players::join(&server.url(), &prefix, 100).await;
    let moved = players::wander(joined, Duration::from_secs(1)).await;

    run_script("stop.sh", &["--kill"]);
    let moved = players::wander(moved, Duration::from_secs(1)).await;
    let stopped = players::halt(moved).await;
    let expected: Vec<_> = stopped.iter().map(|(p, at)| (p.id.clone(), *at)).collect();
    server.stop().await;
    drop(stopped);
    let spilled = spill_count(&dir);
    assert!(
        spilled >= 100,
        "every seated player's final snapshot is spilled: {spilled} of 100"
    );

    run_script("start.sh", &[]);
    let server = cql_server(&dir, &[]);
    assert!(server.metric("tickforge_snapshots_replayed_total").await >= 100.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while dir.join("snapshots.spill").exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replayed snapshots are written and the spill file removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_store_holds_latest(&store().await, &expected).await;
    // And a returning player finds their position through a real join.
    let (id, at) = &expected[3];
    let mut back = server.connect(id).await;
    let joined = back.join_or_create("arena").await.expect("joins again");
    let restored = position(&joined.state, joined.entity_id).expect("own entity");
    assert_eq!(restored, (at.x, at.y));
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// `TTL(state)` of a player's row, read with CQL: `None` when it has none.
async fn row_ttl(player: &str) -> Option<i32> {
    let session = cql::connect(&target(), Duration::from_secs(20))
        .await
        .expect("the CQL node answers");
    let result = session
        .query_unpaged(
            format!(
                "SELECT TTL(state) FROM {KEYSPACE}.player_snapshots \
                 WHERE bucket = ? AND player_id = ?"
            ),
            (cql::bucket(player) as i32, player),
        )
        .await
        .expect("select");
    let rows = result.into_rows_result().expect("rows");
    let (ttl,) = rows
        .single_row::<(Option<i32>,)>()
        .unwrap_or_else(|e| panic!("one row for {player}: {e}"));
    ttl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guests_row_is_written_with_the_guest_ttl_and_a_signed_in_players_row_without_one() {
    let _one = NODE_LOCK.lock().await;
    let store = store().await;
    let dir = fresh_data_dir();
    let server = cql_server(&dir, &["--guest-ttl", "1h"]);
    let (guest, guest_options) = server.guest_session().await;
    let player = format!("{}-signed-in", run_prefix("cql-ttl"));
    let both = vec![
        (guest.clone(), guest_options),
        (player.clone(), player_options(&player)),
    ];
    let joined = players::join_each(&server.url(), both).await;
    let moved = players::wander(joined, Duration::from_millis(500)).await;
    let left = players::leave(players::halt(moved).await).await;
    server.stop().await;
    assert_eq!(spill_count(&dir), 0, "a graceful stop writes everything");
    assert_store_holds_latest(&store, &left).await;

    let ttl = row_ttl(&guest).await;
    assert!(
        ttl.is_some_and(|s| (3000..=3600).contains(&s)),
        "the guest's row expires in about an hour: TTL {ttl:?}"
    );
    assert_eq!(
        row_ttl(&player).await,
        None,
        "no TTL for a signed-in player"
    );
    let loaded = store.load(guest.as_str().into()).await.expect("load");
    let expires_in = loaded
        .and_then(|s| s.expires_us)
        .map(|at| at.saturating_sub(tickforge_server::clock::now_micros()) / 1_000_000);
    assert!(
        expires_in.is_some_and(|s| (3000..=3600).contains(&s)),
        "a load reports the guest's expiry: {expires_in:?}"
    );
    let loaded = store.load(player.as_str().into()).await.expect("load");
    assert_eq!(loaded.map(|s| s.expires_us), Some(None));
    let _ = std::fs::remove_dir_all(dir);
}
