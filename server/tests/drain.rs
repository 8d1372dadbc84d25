//! Draining one node (no peer to take its rooms): `/readyz` turns 503 and
//! new joins are refused with `Draining` at once; after `--drain-delay` the
//! rooms close, every player's latest state is saved before the node stops,
//! and clients are closed with 1001.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use support::players::{self, assert_store_holds_latest, halt, join, wander};
use support::{client_close_of, http, start};
use tickforge_protocol::client::ClientError;
use tickforge_protocol::wire::ErrorCode;
use tickforge_server::persist::embedded::EmbeddedStore;

const DELAY: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_stops_taking_players_then_saves_everyone_and_closes_with_1001() {
    let data_dir = support::fresh_data_dir();
    let dir = data_dir.to_string_lossy().into_owned();
    let server = start(&[
        "--shards",
        "1",
        "--drain-delay",
        "1500ms",
        "--data-dir",
        &dir,
    ]);
    let prefix = players::run_prefix("drain");
    let seated = join(&server.url(), &prefix, 3).await;
    let moved = wander(seated, Duration::from_millis(600)).await;
    let stopped = halt(moved).await;
    assert_eq!(
        server.metric("tickforge_draining").await,
        0.0,
        "not draining yet"
    );

    let (status, body) = http(server.admin_addr, "POST", "/admin/drain", None)
        .await
        .expect("POST /admin/drain");
    let began_at = Instant::now();
    assert_eq!(status, 200, "{body}");
    let outcome: serde_json::Value = serde_json::from_str(&body).expect("drain JSON");
    assert_eq!(outcome["began"], true, "{body}");
    assert_eq!(outcome["delay_ms"], 1500, "{body}");

    // At once: not ready, and no new player is seated.
    let (ready, _) = server.get("/readyz").await;
    assert_eq!(ready, 503, "/readyz during the drain");
    let mut late = server.connect(&format!("{prefix}-late")).await;
    match late.join_or_create("arena").await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::Draining),
        other => panic!("a join during the drain: {other:?}"),
    }
    let (_, again) = http(server.admin_addr, "POST", "/admin/drain", None)
        .await
        .expect("second POST /admin/drain");
    assert!(again.contains("\"began\":false"), "{again}");
    assert_eq!(server.metric("tickforge_draining").await, 1.0);
    assert_eq!(
        server
            .metric("tickforge_drains_total{cause=\"admin\"}")
            .await,
        1.0
    );

    // The seated players keep playing until the delay is over, then 1001.
    let mut expected = Vec::new();
    for (mut player, where_stopped) in stopped {
        let (code, _) = client_close_of(&mut player.client, Duration::from_secs(10)).await;
        assert_eq!(code, 1001, "{} closed with {code}", player.id);
        expected.push((player.id, where_stopped));
    }
    let closed_after = began_at.elapsed();
    assert!(
        closed_after >= DELAY - Duration::from_millis(100),
        "clients closed {closed_after:?} after the drain began, before the {DELAY:?} delay"
    );
    assert!(
        server.is_shutting_down(),
        "the drain shut the node down by itself"
    );

    server.stop().await;
    let store = EmbeddedStore::open(&data_dir.join("snapshots.redb")).expect("store opens");
    assert_store_holds_latest(&store, &expected).await;
    drop(store);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn drain_delay_is_read_as_a_duration_and_bounded() {
    use tickforge_server::Config;
    let config = Config::load_from(["tickforge", "--drain-delay", "250ms"]).expect("parses");
    assert_eq!(config.drain.drain_delay, Duration::from_millis(250));
    assert!(Config::load_from(["tickforge", "--drain-delay", "11m"]).is_err());
    assert!(Config::load_from(["tickforge", "--drain-delay", "soon"]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readyz_away_before_the_first_1001_and_the_process_exits_0() {
    let port = support::cluster::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let data_dir = support::fresh_data_dir();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tickforge"))
        .args([
            "--listen",
            &addr.to_string(),
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--shards", "1", "--pin-cores", "false", "--log", "warn"])
        .args(["--drain-delay", "1s"])
        .args(["--data-dir".as_ref(), data_dir.as_os_str()])
        .args([
            "--session-key-file".as_ref(),
            support::session_key_file().as_os_str(),
        ])
        .spawn()
        .expect("tickforge runs");
    let url = format!("ws://{addr}/ws");
    support::cluster::eventually(Duration::from_secs(20), "node ready", || async {
        let (status, _) = support::http(addr, "GET", "/readyz", None).await.ok()?;
        (status == 200).then_some(())
    })
    .await;
    let mut alice =
        tickforge_protocol::client::Client::connect(&url, support::player_options("alice"))
            .await
            .expect("connects");
    alice.join_or_create("arena").await.expect("joins");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    support::cluster::eventually(Duration::from_secs(5), "/readyz 503", || async {
        let (status, _) = support::http(addr, "GET", "/readyz", None).await.ok()?;
        (status == 503).then_some(())
    })
    .await;
    // Not ready, yet the seated player still receives States.
    support::next_state(&mut alice, Duration::from_millis(500)).await;
    let (code, _) = client_close_of(&mut alice, Duration::from_secs(10)).await;
    assert_eq!(code, 1001);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("waits")
        .expect("exit status");
    assert!(exit.success(), "tickforge exited with {exit}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
