//! The `/play` demo in a real browser: a server on its defaults and
//! `ops/browser/play-check.mjs` driving Debian's chromium through
//! playwright-core with two players. One joins a room, the other follows its
//! invite link; the first holds arrow keys and the second must see its disc
//! travel and stop; both pages must show a live status, RTT and tick. The
//! screenshots are left in `target/test-artifacts/play.png` (the second
//! player's view mid-move) and `play-mover.png`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::node::{require_chromium, require_node_packages, run_node, workspace_root};

/// The check bounds itself to 60 s; this is the backstop.
const CHECK_TIMEOUT: Duration = Duration::from_secs(90);

fn is_png_capture(path: &std::path::Path) -> bool {
    std::fs::read(path).is_ok_and(|png| png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_players_in_a_real_browser_see_each_other_move() {
    let root = workspace_root();
    require_node_packages(&root, &["ops/browser/node_modules/playwright-core"]);
    require_chromium();
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("play.png");
    let mover = artifacts.join("play-mover.png");
    for old in [&screenshot, &mover] {
        match std::fs::remove_file(old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove the old {}: {e}", old.display()),
        }
    }

    let server = support::start(&[]);
    let url = format!("http://{}/play", server.addr);
    let script = root.join("ops/browser/play-check.mjs");
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
    let rooms = server.rooms().await;
    server.stop().await;

    assert!(
        output.status.success(),
        "play-check.mjs failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).expect("play-check.mjs prints a JSON summary");
    assert_eq!(summary["ok"], true, "{summary}");
    let room = summary["room"]
        .as_str()
        .expect("the summary names the room");
    assert!(
        rooms
            .iter()
            .any(|r| r["id"] == room && r["mode"] == "arena"),
        "the page played in {room}, which the server's /rooms does not list: {rooms:?}"
    );
    for path in [&screenshot, &mover] {
        assert!(
            is_png_capture(path),
            "{} is missing or not a real page capture",
            path.display()
        );
    }
}
