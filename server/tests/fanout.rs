//! Fan-out over real sockets: States written by the room's shard straight
//! to its members' sockets arrive whole and in order, interleaved with the
//! session's own answers (Pong), and the deliveries are counted by path;
//! join-or-create keeps members on their room's shard.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::{TestServer, next_state, start};
use tickforge_protocol::client::Event;

const WAIT: Duration = Duration::from_secs(5);

/// The sum of `tickforge_deliveries_total` series with `path="<path>"`.
async fn deliveries(server: &TestServer, path: &str) -> f64 {
    let (_, body) = server.admin_get("/metrics").await;
    let label = format!("path=\"{path}\"");
    body.lines()
        .filter(|l| l.starts_with("tickforge_deliveries_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn members_on_the_rooms_shard_get_every_state_written_directly_and_in_order() {
    let server = start(&["--shards", "1"]);
    let mut alice = server.connect("alice").await;
    let mut bob = server.connect("bob").await;
    alice.join_or_create("arena").await.expect("alice joins");
    bob.join_or_create("arena").await.expect("bob joins");

    let mut last = next_state(&mut alice, WAIT).await.tick;
    for round in 0..30 {
        if round % 5 == 0 {
            // The session's own answer goes out between two States, whole.
            alice.ping().await.expect("Pong between States");
        }
        let state = next_state(&mut alice, WAIT).await;
        assert!(
            state.tick > last,
            "ticks go forward: {} after {last}",
            state.tick
        );
        last = state.tick;
        let _ = next_state(&mut bob, WAIT).await;
    }
    let direct = deliveries(&server, "direct").await;
    assert!(direct >= 30.0, "States written directly: {direct}");
    assert_eq!(
        deliveries(&server, "cross_shard").await,
        0.0,
        "one shard: nothing crosses"
    );
}

#[tokio::test]
async fn a_client_that_pings_every_frame_still_reads_a_clean_stream() {
    let server = start(&["--shards", "1"]);
    let mut carol = server.connect("carol").await;
    carol.join_or_create("arena").await.expect("carol joins");
    let mut states = 0;
    let mut pongs = 0;
    while states < 15 {
        pongs += u32::from(carol.ping().await.is_ok());
        match tokio::time::timeout(WAIT, carol.next_event()).await {
            Ok(Ok(Event::State(_))) => states += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("the stream broke: {e}"),
            Err(_) => panic!("no event in time"),
        }
    }
    assert_eq!(pongs, 15, "every Ping answered");
}

#[tokio::test]
async fn join_or_create_keeps_every_member_on_its_rooms_shard() {
    let server = start(&["--shards", "2"]);
    let mut players = Vec::new();
    for i in 0..12 {
        let mut p = server.connect(&format!("p{i}")).await;
        p.join_or_create("arena").await.expect("joins");
        players.push(p);
    }
    for p in &mut players {
        let _ = next_state(p, WAIT).await;
        let _ = next_state(p, WAIT).await;
    }
    assert_eq!(
        deliveries(&server, "cross_shard").await,
        0.0,
        "no member is served across shards"
    );
    assert!(deliveries(&server, "direct").await > 0.0);
}
