//! The garbage scenario against a real server: every invalid frame gets
//! its connection closed with the documented code, and the report counts
//! them by kind and code.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{bounded, run_swarm, show, start_server};

const DOCUMENTED: [u16; 4] = [1003, 1007, 1008, 1009];

#[tokio::test]
async fn the_server_closes_every_garbage_connection_with_its_documented_code() {
    bounded(async {
        let server = start_server(&["--shards", "1"]);
        let config = server.swarm(&[
            "--scenario",
            "garbage",
            "--bots",
            "10",
            "--input-hz",
            "5",
            "--duration",
            "3s",
        ]);
        let report = run_swarm(config).await;
        show(&report);
        server.stop().await;

        assert_eq!(report.errors.total, 0, "{:?}", report.errors.by_kind);
        assert_eq!(report.garbage.len(), 4, "every kind was sent");
        let mut sent = 0;
        for g in &report.garbage {
            assert!(g.sent > 0, "{} sent", g.kind);
            let closed: u64 = g.closes.values().sum();
            assert_eq!(closed, g.sent, "{}: every connection was closed", g.kind);
            assert_eq!(
                g.closes.keys().copied().collect::<Vec<_>>(),
                vec![g.expected_code],
                "{} closed with its documented code",
                g.kind
            );
            sent += g.sent;
        }
        assert_eq!(report.disconnects.total, sent);
        assert!(
            report
                .disconnects
                .by_code
                .keys()
                .all(|c| DOCUMENTED.contains(c))
        );
    })
    .await;
}
