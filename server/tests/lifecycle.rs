//! Connection lifecycle over real sockets: slow consumers, handshake and
//! idle timeouts, and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use support::{client_close_of, close_of, next_state, start};
use tickforge_protocol::ClientEncoder;
use tickforge_protocol::client::{Client, Event};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_while_the_others_keep_receiving_state() {
    let server = start(&[
        "--shards",
        "1",
        "--mode",
        "arena,tick=60,capacity=3",
        "--outbox-frames",
        "8",
        "--max-write-buffer-bytes",
        "16384",
        "--socket-send-buffer",
        "4096",
    ]);
    let mut reader = server.connect("reader").await;
    let joined = reader.join_or_create("arena").await.expect("joins");
    let mut options = support::player_options("sleeper");
    options.recv_buffer_bytes = Some(4096);
    let mut sleeper = Client::connect(&server.url(), options)
        .await
        .expect("connects");
    let sleeping = sleeper.join(&joined.room_id).await.expect("joins");
    let slow_before = server
        .metric("tickforge_disconnects_total{cause=\"slow_consumer\"}")
        .await;

    // The sleeper now reads nothing; the reader watches the room.
    let started = Instant::now();
    let first = next_state(&mut reader, WAIT).await;
    let mut states = 0u64;
    let mut last_tick = first.tick;
    let mut largest_gap = 0;
    let removed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match reader.next_event().await.expect("reader stays connected") {
                Event::State(s) => {
                    states += 1;
                    largest_gap = largest_gap.max(s.tick - last_tick);
                    last_tick = s.tick;
                }
                Event::PlayerLeft(entity, _) if entity == sleeping.entity_id => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(
        removed.is_ok(),
        "the slow consumer is removed from the room"
    );
    // The reader keeps receiving after the removal, on time.
    for _ in 0..30 {
        let s = next_state(&mut reader, WAIT).await;
        states += 1;
        largest_gap = largest_gap.max(s.tick - last_tick);
        last_tick = s.tick;
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(largest_gap, 1, "the reader missed no tick");
    assert!(
        states as f64 >= elapsed * 60.0 * 0.8,
        "{states} states in {elapsed:.2}s at 60 Hz"
    );
    let slow_after = server
        .metric("tickforge_disconnects_total{cause=\"slow_consumer\"}")
        .await;
    assert_eq!(slow_after - slow_before, 1.0, "counted as slow_consumer");
    // The sleeper's connection is gone: reading drains what was buffered, then ends.
    let (code, _) = client_close_of(&mut sleeper, WAIT).await;
    assert!(code == 4000 || code == 1006, "sleeper closed with {code}");
    assert_eq!(support::panics(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_says_hello_is_closed_at_the_handshake_timeout() {
    let server = start(&["--shards", "1", "--handshake-timeout-ms", "300"]);
    let mut ws = server.raw().await;
    let started = Instant::now();
    assert_eq!(
        close_of(&mut ws, WAIT).await,
        (4002, "handshake_timeout".to_string())
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    server.stop().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_at_the_idle_timeout_and_an_answering_one_is_not() {
    let server = start(&[
        "--shards",
        "1",
        "--ping-interval-ms",
        "100",
        "--idle-timeout-ms",
        "400",
    ]);
    let mut silent = server.raw().await;
    silent
        .send(Message::Binary(ClientEncoder::new().hello(
            "silent",
            Some(&support::token("silent")),
            "t",
        )))
        .await
        .expect("sent");
    let mut alive = server.connect("alive").await;
    // The silent client reads nothing, so it answers no server ping; the
    // alive one keeps talking (and its library answers pings while it reads).
    for _ in 0..9 {
        assert!(
            alive.ping().await.is_ok(),
            "the alive client stays connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        close_of(&mut silent, WAIT).await,
        (4001, "idle_timeout".to_string())
    );
    assert!(alive.ping().await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_client_with_1001_within_the_deadline() {
    let server = start(&["--shards", "2", "--shutdown-deadline-ms", "3000"]);
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut c = server.connect(&format!("p{i}")).await;
        if i % 2 == 0 {
            c.join_or_create("arena").await.expect("joins");
        }
        clients.push(c);
    }
    let started = Instant::now();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| tokio::spawn(async move { client_close_of(&mut c, WAIT).await }))
        .collect();
    server.stop().await;
    let stopped = started.elapsed();
    for reader in readers {
        assert_eq!(
            reader.await.expect("reader"),
            (1001, "shutdown".to_string())
        );
    }
    assert!(
        stopped < Duration::from_millis(3000),
        "stopped in {stopped:?}"
    );
}
