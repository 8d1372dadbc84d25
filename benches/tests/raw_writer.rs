//! The raw_writer probe runs end to end: it starts its reader process,
//! writes for the given time and reports valid JSON with a non-zero count.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::ChildGuard;

#[test]
fn raw_writer_with_50_connections_for_1_s_reports_writes_as_json() {
    let mut probe = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_raw_writer"),
        &[
            "--connections",
            "50",
            "--frame-bytes",
            "850",
            "--duration",
            "1",
        ],
    );
    let line = probe.next_line(Duration::from_secs(30));
    assert!(probe.exits_successfully_within(Duration::from_secs(10)));
    let report: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(report["connections"], 50);
    assert_eq!(report["frame_bytes"], 850);
    let writes = report["writes"].as_u64().expect("writes");
    let seconds = report["seconds"].as_f64().expect("seconds");
    let rate = report["writes_per_s"].as_f64().expect("writes_per_s");
    assert!(writes > 0, "{line}");
    assert!((1.0..5.0).contains(&seconds), "{line}");
    assert!((rate - writes as f64 / seconds).abs() < 1.0, "{line}");
    assert_eq!(report["bytes_read"], report["bytes_written"], "{line}");
}
