//! A page from another origin cannot open `/ws`, in a real browser: a server
//! on its defaults and `ops/browser/origin-check.mjs`, which serves a page
//! from a second loopback port whose script tries
//! `new WebSocket("ws://127.0.0.1:PORT/ws", "tickforge.v1")`. That socket
//! must fail (HTTP 403 before the upgrade) while the server's own `/play`
//! connects, and the server must have counted the refusal. The screenshots
//! are left in `target/test-artifacts/origin.png` (/play) and
//! `origin-foreign.png`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::node::{require_chromium, require_node_packages, run_node, workspace_root};

/// The check bounds itself to 60 s; this is the backstop.
const CHECK_TIMEOUT: Duration = Duration::from_secs(90);

const ORIGIN_REFUSED: &str = "tickforge_origin_refused_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_from_another_origin_cannot_open_a_session_but_play_can() {
    let root = workspace_root();
    require_node_packages(&root, &["ops/browser/node_modules/playwright-core"]);
    require_chromium();
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("origin.png");

    let server = support::start(&[]);
    let refused_before = server.metric(ORIGIN_REFUSED).await;
    let url = format!("http://{}/play", server.addr);
    let script = root.join("ops/browser/origin-check.mjs");
    let output = run_node(
        &root,
        &[
            script.to_str().expect("utf-8 path"),
            "--url",
            &url,
            "--screenshot",
            screenshot.to_str().expect("utf-8 path"),
        ],
        &[],
        CHECK_TIMEOUT,
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let refused = server.metric(ORIGIN_REFUSED).await - refused_before;
    let rooms = server.rooms().await;
    server.stop().await;

    assert!(
        output.status.success(),
        "origin-check.mjs failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).expect("origin-check.mjs prints a JSON summary");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["foreign_socket"]["opened"], false, "{summary}");
    assert!(
        refused >= 1.0,
        "the server did not count the foreign page's refused upgrade ({ORIGIN_REFUSED} rose by {refused})"
    );
    let room = summary["play"]["room"]
        .as_str()
        .expect("the summary names /play's room");
    assert!(
        rooms.iter().any(|r| r["id"] == room),
        "/play joined {room}, which the server does not list: {rooms:?}"
    );
}
