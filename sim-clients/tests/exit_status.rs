//! The binary's exit status: 1 when an SLO check fails (and it says
//! which), 2 when the run cannot connect at all.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::start_server;

/// Runs the built binary with `args`, killing it after `bound`.
fn run_binary(args: &[&str], bound: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickforge-swarm"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > bound {
            child.kill().expect("kill");
            panic!("tickforge-swarm {args:?} did not finish within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn an_impossible_slo_exits_with_1_and_names_the_failed_check() {
    let server = start_server(&["--shards", "1"]);
    let url = server.url();
    let key = support::key_file().to_string_lossy().into_owned();
    let out = run_binary(
        &[
            "--url",
            &url,
            "--token-key-file",
            &key,
            "--bots",
            "10",
            "--duration",
            "1s",
            "--quiet",
            "--slo",
            "ack-p99=1us,errors=1000",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("SLO breached: ack-p99"), "{stderr}");
    assert!(!stderr.contains("SLO breached: errors"), "{stderr}");
    assert!(stdout.contains("BREACHED"), "{stdout}");
}

#[test]
fn a_server_that_is_not_there_exits_with_2() {
    // Bind and drop a listener: nothing listens on that port now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let out = run_binary(
        &["--url", &url, "--bots", "5", "--duration", "1s", "--quiet"],
        Duration::from_secs(30),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_usage_error_exits_with_2() {
    let out = run_binary(&["--slo", "ack-p99"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_swarm_without_tokens_is_refused_by_a_server_with_auth_on_and_says_why() {
    let server = start_server(&["--shards", "1"]);
    let url = server.url();
    let out = run_binary(
        &["--url", &url, "--bots", "5", "--duration", "1s", "--quiet"],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("4003") && stderr.contains("auth_missing"),
        "{stderr}"
    );
}
