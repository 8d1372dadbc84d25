//! The TypeScript SDK against the real server: compiles `protocol/ts` and
//! runs `protocol/ts/test/live/server.test.ts` under Node with
//! `TICKFORGE_BIN` set to the `tickforge` binary cargo built. That file
//! starts and stops servers itself, and every player in it is a guest with a
//! token from the server's `POST /auth/guest`: a player joins, moves and
//! sees its acks; two players see each other's display names come and go;
//! refused joins carry the server's error codes; a server restart surfaces
//! as `1001 shutdown`, followed by backoff while the server is down and a
//! rejoin once it is back; and a private room is joined only by its id,
//! while a second login of the same player closes the first with `4005
//! replaced`; a connection cut without a close frame (through a TCP relay)
//! is resumed into the same room and entity, the other member seeing the
//! player away and back.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::node::{require_node_packages, run_node, workspace_root};

const TSC_TIMEOUT: Duration = Duration::from_secs(120);
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// The tests in server.test.ts; fewer passing means some did not run.
const LIVE_TESTS: usize = 6;

/// `node:test`'s summary count for `label` (`# pass 4`), if printed.
fn tap_count(tap: &str, label: &str) -> Option<usize> {
    tap.lines()
        .find_map(|l| l.strip_prefix(&format!("# {label} ")))
        .and_then(|n| n.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_plays_against_the_real_server() {
    let root = workspace_root();
    require_node_packages(
        &root,
        &[
            "protocol/ts/node_modules/typescript",
            "protocol/ts/node_modules/flatbuffers",
        ],
    );

    // Compile the SDK and its tests, so the run never uses stale JavaScript.
    let tsc = run_node(
        &root,
        &[
            "protocol/ts/node_modules/typescript/bin/tsc",
            "-p",
            "protocol/ts/tsconfig.test.json",
        ],
        &[],
        TSC_TIMEOUT,
    )
    .await;
    assert!(
        tsc.status.success(),
        "tsc failed:\n{}{}",
        String::from_utf8_lossy(&tsc.stdout),
        String::from_utf8_lossy(&tsc.stderr)
    );

    // Node 20 exposes WebSocket behind a flag; later releases have it on by default.
    let has_websocket = Command::new("node")
        .args([
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    let mut args = Vec::new();
    if !has_websocket {
        args.push("--experimental-websocket");
    }
    args.push("protocol/ts/build/test/live/server.test.js");
    let output = run_node(
        &root,
        &args,
        &[("TICKFORGE_BIN", env!("CARGO_BIN_EXE_tickforge"))],
        RUN_TIMEOUT,
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the live SDK tests failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(
        tap_count(&stdout, "pass"),
        Some(LIVE_TESTS),
        "every live test must run and pass:\n{stdout}"
    );
    assert_eq!(tap_count(&stdout, "fail"), Some(0), "{stdout}");
    assert_eq!(tap_count(&stdout, "skipped"), Some(0), "{stdout}");
}
