//! The built-in dashboard in a real browser: a server with two shards under a
//! small bot load, and `ops/browser/dashboard-check.mjs` driving Debian's
//! chromium through playwright-core to open the dashboard on the admin
//! listener and check that the page fills in and keeps updating, with no
//! console or page errors. The screenshot it takes is left in
//! `target/test-artifacts/dashboard.png` for a person to look at.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::node::{require_chromium, require_node_packages, run_node, workspace_root};

/// The check bounds itself to 60 s; this is the backstop.
const CHECK_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_charts_live_load_in_a_real_browser_without_errors() {
    let root = workspace_root();
    require_node_packages(&root, &["ops/browser/node_modules/playwright-core"]);
    require_chromium();
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("dashboard.png");
    match std::fs::remove_file(&screenshot) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot remove the old {}: {e}", screenshot.display()),
    }

    let server = support::start(&["--shards", "2"]);
    let bots = support::bots(&server, 20, "arena", 20).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // a few samples with load in them

    let url = format!("http://{}/dashboard", server.admin_addr);
    let shot = screenshot.to_string_lossy();
    let args = [
        "ops/browser/dashboard-check.mjs",
        "--url",
        &url,
        "--screenshot",
        &shot,
    ];
    let output = run_node(&root, &args, &[], CHECK_TIMEOUT).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    drop(bots);
    server.stop().await;

    assert!(
        output.status.success(),
        "dashboard-check.mjs failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).expect("dashboard-check.mjs prints a JSON summary");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(
        summary["shards"], 2,
        "the page shows both shards: {summary}"
    );
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 30_000,
        "the screenshot {} is not a real page capture ({} bytes)",
        screenshot.display(),
        png.len()
    );
}
