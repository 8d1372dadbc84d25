//! The soak's 60-second version: the real server, the real swarms and the
//! in-process abusers through two 20-second phases with small counts and
//! short server timeouts (so the slowloris and the held flood upgrades are
//! closed several times within the phase). After each phase rooms, seats,
//! sessions and connections must be back to zero and the server's open
//! descriptors back to their starting count (at most `--fd-tolerance`,
//! 4, above it: the runtime may open a descriptor lazily, e.g. the
//! snapshot store's first write); the flood must have been refused and the
//! slowloris closed by the header timeout, both counted by the server.
//!
//! Latency ratios and RSS drift are reported but not asserted here: 20
//! seconds on a shared machine says nothing about them (the long run in
//! `RESULTS.md` does). The binaries come from the test's own profile, as
//! in `capacity_end_to_end.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::ChildGuard;

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_soak"))
        .parent()
        .expect("the binary has a directory")
        .to_path_buf()
}

fn build_server_and_swarm(dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args([
            "build",
            "-p",
            "tickforge-server",
            "--bin",
            "tickforge",
            "-p",
            "tickforge-swarm",
            "--bin",
            "tickforge-swarm",
        ]);
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    let status = build.status().expect("running cargo build");
    assert!(status.success(), "cargo build failed: {status}");
}

#[test]
fn rooms_seats_and_descriptors_return_to_their_start_after_a_short_soak_with_abusers() {
    let dir = bin_dir();
    build_server_and_swarm(&dir);
    let out = std::env::temp_dir().join(format!("soak-short-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let json = out.join("soak.json");
    let args = [
        "--no-build",
        "--bin-dir",
        dir.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--phase-secs",
        "20",
        "--warmup-secs",
        "5",
        "--rss-window-secs",
        "3",
        "--arena-bots",
        "20",
        "--churn-bots",
        "8",
        "--garbage-bots",
        "4",
        "--garbage-hz",
        "2",
        "--slowloris",
        "40",
        "--slowloris-addrs",
        "2",
        "--flood-rate",
        "100",
        "--flood-hold",
        "128",
        "--max-connections-per-ip",
        "64",
        "--handshakes-per-ip-per-s",
        "20",
        "--handshake-burst",
        "40",
        "--http-header-timeout-ms",
        "3000",
        "--handshake-timeout-ms",
        "3000",
        "--empty-room-grace-ms",
        "1000",
        "--settle-secs",
        "15",
    ];
    let started = Instant::now();
    let mut soak = ChildGuard::spawn(env!("CARGO_BIN_EXE_soak"), &args);
    // Exit 1 (a latency or drift check failed on a busy machine) still
    // leaves a full report; 2 would mean it could not run at all.
    let _passed = soak.exits_successfully_within(Duration::from_secs(110));
    eprintln!("soak_short: the harness ran {:?}", started.elapsed());
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no report at {} ({e}): see the stderr above",
            json.display()
        )
    });
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let checks = report["checks"].as_array().expect("checks");
    let verdict = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
    };
    for name in [
        "swarms_finished (baseline)",
        "rooms_and_seats_zero (baseline)",
        "fds_returned (baseline)",
        "swarms_finished (abuse)",
        "rooms_and_seats_zero (abuse)",
        "fds_returned (abuse)",
        "flood_refused",
        "slowloris_closed",
    ] {
        let check = verdict(name);
        assert_eq!(check["passed"], true, "{check:#}");
    }
    // The descriptors did move during the abuse (the abusers were let in
    // up to their limits) and came back.
    let abuse = &report["phases"][1];
    let start_fds = report["start"]["fds"].as_u64().expect("fds at start");
    assert!(
        abuse["fds_peak"]
            .as_u64()
            .is_some_and(|p| p > start_fds + 40),
        "{abuse:#}"
    );
    assert!(
        abuse["abuse"]["flood_refused_503"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    std::fs::remove_dir_all(&out).ok();
}
