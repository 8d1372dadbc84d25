//! A 50-bot arena swarm against a real in-process server: every latency
//! and count is recorded, and the JSON report is complete.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::Value;
use support::{bounded, run_swarm, show, start_server, temp_path};

/// Keys the JSON report must have at each level.
const TOP: &[&str] = &[
    "tool",
    "version",
    "config",
    "timing",
    "bots",
    "latency",
    "messages",
    "errors",
    "disconnects",
    "garbage",
    "slo",
];
const CONFIG: &[&str] = &[
    "url",
    "bots",
    "measuring_bots",
    "sample",
    "ramp_per_sec",
    "mode",
    "input_hz",
    "duration_ms",
    "scenario",
    "threads",
    "seed",
    "recv_buffer",
    "slo",
];
const TIMING: &[&str] = &[
    "started_at_unix_ms",
    "ramp_secs",
    "measured_secs",
    "total_secs",
    "interrupted",
    "window",
];
const SUMMARY: &[&str] = &[
    "count",
    "min_ms",
    "mean_ms",
    "stdev_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "p9999_ms",
    "max_ms",
    "percentiles",
    "spectrum",
];
const TRAFFIC: &[&str] = &[
    "seconds",
    "messages_in",
    "messages_out",
    "bytes_in",
    "bytes_out",
    "states_in",
    "inputs_sent",
    "messages_in_per_sec",
    "messages_out_per_sec",
];

fn has_keys(value: &Value, keys: &[&str], at: &str) {
    for key in keys {
        assert!(value.get(key).is_some(), "report.{at} has `{key}`: {value}");
    }
}

#[tokio::test]
async fn fifty_arena_bots_record_acks_jitter_and_counts_and_the_json_report_is_complete() {
    bounded(async {
        let server = start_server(&["--shards", "1"]);
        let json_path = temp_path("arena.json");
        let config = server.swarm(&[
            "--bots",
            "50",
            "--duration",
            "3s",
            "--input-hz",
            "10",
            "--seed",
            "7",
            "--slo",
            "ack-p99=5s,errors=0,disconnects=0",
        ]);
        let report = run_swarm(config).await;
        show(&report);
        report.write_json(&json_path).expect("json written");
        server.stop().await;

        // Latencies and counts.
        let ack = &report.latency.ack;
        assert!(ack.count > 0 && ack.p99_ms > 0.0, "acks recorded: {ack:?}");
        assert!(ack.p50_ms <= ack.p99_ms && ack.p99_ms <= ack.max_ms);
        assert!(report.latency.jitter.count > 0);
        assert!(report.latency.connect.count >= 50);
        assert_eq!(report.latency.join.count, 50);
        assert_eq!(report.errors.total, 0, "{:?}", report.errors.by_kind);
        assert_eq!(report.disconnects.total, 0, "{:?}", report.disconnects);
        assert!(report.slo.passed);

        // Every bot gets a State per tick (30 Hz) through the window.
        let window = &report.messages.window;
        let expected = 50.0 * 30.0 * window.seconds;
        let states = window.states_in as f64;
        assert!(
            (states - expected).abs() <= expected * 0.15,
            "{states} states in {:.2} s, expected about {expected:.0}",
            window.seconds
        );
        let inputs = 50.0 * 10.0 * window.seconds;
        assert!((window.inputs_sent as f64 - inputs).abs() <= inputs * 0.15);

        // The JSON report holds everything.
        let text = std::fs::read_to_string(&json_path).expect("json read");
        let _ = std::fs::remove_file(&json_path);
        let json: Value = serde_json::from_str(&text).expect("valid json");
        has_keys(&json, TOP, "");
        has_keys(&json["config"], CONFIG, "config");
        has_keys(&json["timing"], TIMING, "timing");
        for latency in ["ack", "jitter", "connect", "join"] {
            has_keys(&json["latency"][latency], SUMMARY, latency);
        }
        has_keys(&json["messages"]["window"], TRAFFIC, "messages.window");
        has_keys(&json["messages"]["total"], TRAFFIC, "messages.total");
        assert_eq!(json["config"]["bots"], 50);
        assert_eq!(json["config"]["seed"], 7);
        assert!(json["latency"]["ack"]["count"].as_u64().unwrap() > 0);
        assert!(json["latency"]["ack"]["p99_ms"].as_f64().unwrap() > 0.0);
        assert!(
            !json["latency"]["ack"]["spectrum"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert_eq!(json["errors"]["total"], 0);
        assert!(
            json["errors"]["by_kind"]
                .as_object()
                .unwrap()
                .contains_key("connect")
        );
        assert_eq!(json["slo"]["passed"], true);
        assert_eq!(json["slo"]["checks"].as_array().unwrap().len(), 3);
    })
    .await;
}
