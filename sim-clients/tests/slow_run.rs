//! Slow consumers next to well-behaved players: the server drops the bots
//! that stop reading, and the measuring arena bots in the same rooms keep
//! receiving without a single error or disconnect.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{bounded, run_swarm, show, start_server};

#[tokio::test]
async fn slow_bots_are_disconnected_while_measuring_arena_bots_keep_zero_errors() {
    bounded(async {
        // Small buffers everywhere so a client that stops reading is noticed
        // within a second or two (outbox ≥ 2 × capacity + 2 per the server).
        let server = start_server(&[
            "--shards",
            "1",
            "--mode",
            "arena,capacity=3,tick=60",
            "--outbox-frames",
            "8",
            "--max-write-buffer-bytes",
            "16384",
            "--socket-send-buffer",
            "4096",
        ]);
        let slow = server.swarm(&[
            "--scenario",
            "slow",
            "--bots",
            "6",
            "--duration",
            "6s",
            "--seed",
            "1",
        ]);
        let arena = server.swarm(&[
            "--scenario",
            "arena",
            "--bots",
            "12",
            "--sample",
            "100%",
            "--duration",
            "6s",
            "--seed",
            "2",
        ]);
        let (slow, arena) = tokio::join!(run_swarm(slow), run_swarm(arena));
        show(&slow);
        show(&arena);
        server.stop().await;

        // Every slow bot lost at least its first connection, as a slow consumer
        // (4000, when the close frame gets through) or without a close frame (1006).
        assert!(
            slow.disconnects.total >= 6,
            "slow bots disconnected: {:?}",
            slow.disconnects
        );
        assert!(
            slow.disconnects
                .by_code
                .keys()
                .all(|code| *code == 4000 || *code == 1006),
            "{:?}",
            slow.disconnects
        );
        assert_eq!(slow.errors.total, 0, "{:?}", slow.errors.by_kind);

        // The players next to them noticed nothing.
        assert_eq!(arena.errors.total, 0, "{:?}", arena.errors.by_kind);
        assert_eq!(arena.disconnects.total, 0, "{:?}", arena.disconnects);
        assert!(arena.latency.ack.count > 0);
        let window = &arena.messages.window;
        let expected = 12.0 * 60.0 * window.seconds;
        assert!(
            window.states_in as f64 >= expected * 0.85,
            "{} states in {:.2} s at 60 Hz for 12 bots",
            window.states_in,
            window.seconds
        );
    })
    .await;
}
