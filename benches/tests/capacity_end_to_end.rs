//! The capacity harness runs end to end with tiny steps: real servers of
//! both kinds pinned to one CPU, the real swarm pinned to the other, and a
//! JSON result with every kind and every step measured.
//!
//! The servers and the swarm come from other packages, so the test builds
//! them first (`cargo build`, same profile and target dir as this test,
//! quick when `cargo test --workspace` has already built them) and points
//! the harness at that directory with `--no-build --bin-dir`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::ChildGuard;

/// The directory holding this package's binaries (target/debug under `cargo test`).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_capacity"))
        .parent()
        .expect("the binary has a directory")
        .to_path_buf()
}

/// Builds the tickforge server and the swarm into `dir`'s profile.
fn build_servers_and_swarm(dir: &Path) {
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
fn a_tiny_run_measures_both_kinds_at_every_step_and_writes_json() {
    let dir = bin_dir();
    build_servers_and_swarm(&dir);
    let out = tempdir("capacity-e2e");
    let json = out.join("capacity.json");
    let results = out.join("RESULTS.md");
    std::fs::write(&results, "# Results\n").unwrap();

    let mut harness = ChildGuard::spawn(
        env!("CARGO_BIN_EXE_capacity"),
        &[
            "--steps",
            "20,40",
            "--step-secs",
            "2",
            "--no-build",
            "--no-raw",
            "--keep-going",
            "--bin-dir",
            dir.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ],
    );
    assert!(
        harness.exits_successfully_within(Duration::from_secs(120)),
        "the harness failed (its stderr is above)"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let steps = report["steps"].as_array().expect("steps");
    for kind in ["tickforge", "baseline"] {
        for bots in [20, 40] {
            let step = steps
                .iter()
                .find(|s| s["kind"] == kind && s["bots"] == bots)
                .unwrap_or_else(|| panic!("no {kind} step with {bots} bots in {report:#}"));
            assert_ne!(step["verdict"], "failed", "{step:#}");
            let server_cpu = step["cpu"]["server_pct"].as_f64();
            assert!(server_cpu.is_some_and(|c| c > 0.0), "{step:#}");
            let deliveries = step["deliveries_per_s"].as_f64().unwrap_or(0.0);
            // About 30 States per bot per second.
            assert!(deliveries > f64::from(bots) * 20.0, "{step:#}");
            assert!(step["rss_kib"].as_u64().is_some_and(|r| r > 0), "{step:#}");
        }
    }
    // tickforge's tick figures come from /metrics, scraped on the admin
    // listener it was started with; the baseline has none.
    let tickforge_40 = steps
        .iter()
        .find(|s| s["kind"] == "tickforge" && s["bots"] == 40)
        .unwrap();
    assert!(tickforge_40["ticks"]["ticks"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(
        tickforge_40["server_command"]
            .as_str()
            .is_some_and(|c| c.contains("--admin-listen 127.0.0.1:")),
        "{tickforge_40:#}"
    );
    assert!(
        steps
            .iter()
            .filter(|s| s["kind"] == "baseline")
            .all(|s| s["ticks"].is_null())
    );
    assert_eq!(
        report["summary"]["maxima"].as_array().map(Vec::len),
        Some(2)
    );

    let markdown = std::fs::read_to_string(&results).unwrap();
    assert!(
        markdown.starts_with("# Results\n\n## Capacity"),
        "{markdown}"
    );
    assert!(markdown.contains("### tickforge") && markdown.contains("### baseline"));
    assert!(markdown.contains("### Targets"));
    std::fs::remove_dir_all(&out).ok();
}

/// A fresh directory under the system temp dir.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
