//! The built-in dashboard in a real browser: a server with two shards under a
//! small bot load, and `ops/browser/dashboard-check.mjs` driving Debian's
//! chromium through playwright-core to check that the page fills in and keeps
//! updating, with no console or page errors. The screenshot it takes is left
//! in `target/test-artifacts/dashboard.png` for a person to look at.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The check bounds itself to 60 s; this is the backstop.
const CHECK_TIMEOUT: Duration = Duration::from_secs(90);
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str = "the test command ./ops/test.sh installs it \
     (apt-get install chromium; npm ci --prefix ops/browser)";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// Fails (never skips) when something the browser check needs is missing.
fn require_browser_tools(root: &Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "node is not installed or not on PATH; {INSTALL_HINT}"
    );
    let chromium = std::env::var("TICKFORGE_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_string());
    assert!(
        Path::new(&chromium).exists(),
        "chromium is missing at {chromium}; {INSTALL_HINT}"
    );
    let playwright = root.join("ops/browser/node_modules/playwright-core/package.json");
    assert!(
        playwright.exists(),
        "ops/browser/node_modules (playwright-core) is missing; {INSTALL_HINT}"
    );
}

/// Runs the check, killing it if it outlives `CHECK_TIMEOUT`.
async fn run_check(root: &Path, url: &str, screenshot: &Path) -> std::process::Output {
    let mut child = Command::new("node")
        .arg(root.join("ops/browser/dashboard-check.mjs"))
        .arg("--url")
        .arg(url)
        .arg("--screenshot")
        .arg(screenshot)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        tokio::task::spawn_blocking(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).map(|_| text)
        })
    };
    let (stdout, stderr) = (read(Box::new(stdout)), read(Box::new(stderr)));

    let deadline = Instant::now() + CHECK_TIMEOUT;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let status = loop {
        poll.tick().await;
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().expect("kill node");
            child.wait().expect("reap node");
            panic!("dashboard-check.mjs did not finish within {CHECK_TIMEOUT:?}; it was killed");
        }
    };
    std::process::Output {
        status,
        stdout: stdout
            .await
            .expect("stdout reader")
            .expect("read node's stdout"),
        stderr: stderr
            .await
            .expect("stderr reader")
            .expect("read node's stderr"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_charts_live_load_in_a_real_browser_without_errors() {
    let root = workspace_root();
    require_browser_tools(&root);
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

    let url = format!("http://{}/dashboard", server.addr);
    let output = run_check(&root, &url, &screenshot).await;
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
