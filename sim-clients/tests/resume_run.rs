//! Provoked drops (`--drop-every`) against a real in-process server: every
//! bot drops its connection abruptly, takes its seat back with the
//! Welcome's resume token, and the report counts the resumes and their gap
//! in ticks.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::Value;
use support::{bounded, run_swarm, show, start_server, temp_path};

#[tokio::test]
async fn bots_that_drop_their_connection_resume_their_seat_and_the_report_shows_the_gap() {
    bounded(async {
        let server = start_server(&["--shards", "1", "--resume-grace", "10s"]);
        let json_path = temp_path("resume.json");
        let config = server.swarm(&[
            "--bots",
            "8",
            "--duration",
            "3s",
            "--input-hz",
            "10",
            "--drop-every",
            "1s",
            "--slo",
            "errors=0",
        ]);
        let report = run_swarm(config).await;
        show(&report);
        report.write_json(&json_path).expect("json written");
        server.stop().await;

        let resume = &report.resume;
        assert!(
            resume.drops >= 8,
            "every bot dropped at least once: {resume:?}"
        );
        assert!(
            resume.resumes + 8 >= resume.drops,
            "each drop but the last ones resumed: {resume:?}"
        );
        assert_eq!(resume.failed, 0);
        let gap = &resume.gap_ticks;
        assert!(gap.p50 <= gap.p99 && gap.p99 <= gap.max);
        assert!(
            gap.max <= 30,
            "a resume on loopback takes well under a second (30 ticks): {gap:?}"
        );
        assert_eq!(report.errors.total, 0, "{:?}", report.errors.by_kind);
        assert_eq!(report.latency.join.count, 8, "resumes are not joins");
        assert!(report.table().contains("resumes"));

        let text = std::fs::read_to_string(&json_path).expect("json read");
        let _ = std::fs::remove_file(&json_path);
        let json: Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(json["config"]["drop_every_ms"], 1000);
        for key in ["drops", "resumes", "failed", "gap_ticks"] {
            assert!(json["resume"].get(key).is_some(), "resume.{key}: {json}");
        }
        for key in ["p50", "p99", "max"] {
            assert!(json["resume"]["gap_ticks"][key].as_u64().is_some());
        }
    })
    .await;
}
