//! Player snapshots through the embedded store (the default), driven by
//! real WebSocket clients: many players' latest state survives, a shutdown
//! that runs out of time spills and the next start replays, a player
//! who comes back finds their position, and a guest's position is gone
//! once `--guest-ttl` has passed while a signed-in player's stays.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::players::{self, assert_store_holds_latest, run_prefix, saved_position};
use support::{fresh_data_dir, player_options, position, start};
use tickforge_server::persist::SnapshotStore;
use tickforge_server::persist::embedded::EmbeddedStore;

fn store_in(dir: &std::path::Path) -> EmbeddedStore {
    EmbeddedStore::open(&dir.join("snapshots.redb")).expect("embedded store opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_players_each_end_with_exactly_their_latest_snapshot_on_disk() {
    let dir = fresh_data_dir();
    let dir_arg = dir.to_string_lossy().to_string();
    let server = start(&[
        "--data-dir",
        &dir_arg,
        "--tick-rate",
        "20",
        "--snapshot-interval-ms",
        "50",
        // A thousand players from one address.
        "--max-connections-per-ip",
        "0",
        "--handshakes-per-ip-per-s",
        "0",
    ]);
    let left = players::many_updates_then_leave(&server, &run_prefix("embedded"), 1000).await;
    server.stop().await;
    assert!(
        !dir.join("snapshots.spill").exists(),
        "a graceful stop writes everything"
    );
    assert_store_holds_latest(&store_in(&dir), &left).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_shutdown_out_of_time_spills_and_the_next_start_replays_everything() {
    let dir = fresh_data_dir();
    let dir_arg = dir.to_string_lossy().to_string();
    let prefix = run_prefix("spill");
    // One periodic snapshot (at the room's first tick), then none: what the
    // players did afterwards is unwritten when the server stops.
    let server = start(&[
        "--data-dir",
        &dir_arg,
        "--snapshot-interval-ms",
        "60000",
        "--shutdown-deadline-ms",
        "0",
    ]);
    let joined = players::join(&server.url(), &prefix, 50).await;
    let moved = players::wander(joined, Duration::from_secs(1)).await;
    let stopped = players::halt(moved).await;
    let expected: Vec<_> = stopped.iter().map(|(p, at)| (p.id.clone(), *at)).collect();
    // Still seated: the rooms hand over the final snapshots while stopping,
    // after the writer's deadline has passed.
    server.stop().await;
    drop(stopped);
    assert!(
        dir.join("snapshots.spill").exists(),
        "no time to write: the snapshots are spilled"
    );
    // A player's final snapshot is written only when the state changed
    // since the last one: the spill file holds whatever was not durable yet
    // (the store check below shows nobody's latest state is lost).
    let spilled = support::players::spill_count(&dir);
    assert!(
        spilled >= 1,
        "the unwritten snapshots are in the spill file"
    );

    let server = start(&["--data-dir", &dir_arg]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dir.join("snapshots.spill").exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replayed snapshots are written and the spill file removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.metric("tickforge_snapshots_replayed_total").await >= spilled as f64);
    // A returning player finds their position (loaded before the room sees the join).
    let (id, at) = &expected[7];
    let mut back = server.connect(id).await;
    let joined = back.join_or_create("arena").await.expect("joins again");
    let restored = position(&joined.state, joined.entity_id).expect("own entity");
    assert_eq!(restored, (at.x, at.y));
    back.leave().await.expect("leaves");
    server.stop().await;
    assert_store_holds_latest(&store_in(&dir), &expected).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_player_who_leaves_and_rejoins_at_once_continues_where_they_stopped() {
    let server = start(&["--snapshot-interval-ms", "20"]);
    let joined = players::join(&server.url(), &run_prefix("rejoin"), 4).await;
    let moved = players::wander(joined, Duration::from_millis(600)).await;
    for (mut player, at) in players::halt(moved).await {
        player.client.leave().await.expect("leaves");
        // The final snapshot may still be on its way to the writer: the
        // join waits for it (claim), then loads it from the unwritten ones.
        let joined = player
            .client
            .join_or_create("arena")
            .await
            .expect("rejoins");
        let restored = position(&joined.state, joined.entity_id).expect("own entity");
        assert_eq!(restored, (at.x, at.y), "{}", player.id);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_guests_state_is_restored_while_fresh_and_gone_after_the_guest_ttl_while_a_players_stays()
{
    let dir = fresh_data_dir();
    let dir_arg = dir.to_string_lossy().to_string();
    let flags = [
        "--data-dir",
        &dir_arg,
        "--snapshot-interval-ms",
        "20",
        "--guest-ttl",
        "2s",
        "--guest-sweep-ms",
        "100",
    ];
    let server = start(&flags);
    let (guest, guest_options) = server.guest_session().await;
    let player = format!("{}-signed-in", run_prefix("ttl"));
    let both = vec![
        (guest.clone(), guest_options.clone()),
        (player.clone(), player_options(&player)),
    ];
    let joined = players::join_each(&server.url(), both).await;
    let moved = players::wander(joined, Duration::from_millis(400)).await;
    let left = players::leave(players::halt(moved).await).await;
    let (guest_at, player_at) = (left[0].1, left[1].1);

    // Fresh: the guest comes back to where they stopped.
    let mut back = support::connect_with(&server, guest_options.clone()).await;
    let joined = back.join_or_create("arena").await.expect("guest rejoins");
    let restored = position(&joined.state, joined.entity_id).expect("own entity");
    assert_eq!(restored, (guest_at.x, guest_at.y), "restored while fresh");
    back.leave().await.expect("leaves");
    back.close().await.ok();

    // The sweep removes the guest's record once its 2 s have passed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while server
        .metric("tickforge_guest_snapshots_expired_total")
        .await
        < 1.0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the guest's snapshot is swept after it expires"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
    let store = store_in(&dir);
    let gone = store.load(guest.as_str().into()).await.expect("load");
    assert_eq!(gone, None, "the guest's state has expired");
    let kept = store.load(player.as_str().into()).await.expect("load");
    assert_eq!(
        kept.as_ref().map(saved_position),
        Some((player_at.x, player_at.y)),
        "a signed-in player's state of the same age stays"
    );
    assert_eq!(kept.and_then(|s| s.expires_us), None);
    drop(store);

    // Through real joins: the guest starts afresh, the player where they stopped.
    let server = start(&flags);
    let mut guest_client = support::connect_with(&server, guest_options).await;
    let joined = guest_client
        .join_or_create("arena")
        .await
        .expect("guest joins");
    let fresh = position(&joined.state, joined.entity_id).expect("own entity");
    assert_ne!(fresh, (guest_at.x, guest_at.y), "the guest starts afresh");
    let mut player_client = server.connect(&player).await;
    let joined = player_client
        .join_or_create("arena")
        .await
        .expect("player joins");
    let restored = position(&joined.state, joined.entity_id).expect("own entity");
    assert_eq!(restored, (player_at.x, player_at.y));
    server.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
