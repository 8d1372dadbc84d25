//! HTTP deadlines and the bounds around them, over real sockets: half-open
//! requests (slowloris) closed after the header timeout (both listeners), idle keep-alive
//! connections, the upgrade deadline, the dashboard-stream cap, and a node
//! under a low file-descriptor limit (`prlimit --nofile`) that keeps
//! answering `/healthz` and writing snapshots while its connection cap is
//! reached.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::abuse::{Honest, closed_within, connect_from, exchange, upgrade_request};
use support::cluster::{eventually, free_port};
use support::{http_get, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ABUSER: [u8; 4] = [127, 0, 0, 2];

fn timeouts(kind: &str) -> String {
    format!("tickforge_http_timeouts_total{{kind=\"{kind}\"}}")
}

#[tokio::test]
async fn a_thousand_half_open_requests_are_closed_after_the_header_timeout() {
    let server = start(&[
        "--http-header-timeout-ms",
        "600",
        "--max-connections-per-ip",
        "0",
    ]);
    let honest = Honest::start(&server, "honest").await;
    let mark = honest.mark();
    let started = Instant::now();
    let mut half_open = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut tcp = connect_from(ABUSER, server.addr).await.expect("connects");
        tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: tickforge\r\n")
            .await
            .expect("writes");
        half_open.push(tcp);
    }
    // The admin listener has the same head deadline.
    let mut admin = connect_from([127, 0, 0, 1], server.admin_addr)
        .await
        .unwrap();
    admin.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
    half_open.push(admin);
    let opened = started.elapsed();
    // None is answered, and every one is closed once its head is overdue.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut closed = 0;
    let mut buf = [0u8; 64];
    for tcp in &mut half_open {
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            closed += 1;
        }
    }
    let all_closed = started.elapsed();
    assert_eq!(closed, 1001, "closed after {all_closed:?}");
    assert!(
        all_closed >= Duration::from_millis(600),
        "closed too early: {all_closed:?}"
    );
    assert!(server.metric(&timeouts("header")).await >= 1000.0);
    honest.assert_kept_playing(mark, 20);
    eprintln!("1000 half-open requests opened in {opened:?}, all closed after {all_closed:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout() {
    let server = start(&["--http-keepalive-timeout-ms", "300"]);
    let mut tcp = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    let healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(exchange(&mut tcp, healthz).await.map(|a| a.0), Some(200));
    let mut body = [0u8; 2];
    tcp.read_exact(&mut body).await.unwrap();
    // A second request in time is served on the same connection.
    assert_eq!(exchange(&mut tcp, healthz).await.map(|a| a.0), Some(200));
    tcp.read_exact(&mut body).await.unwrap();
    let quiet = Instant::now();
    assert!(closed_within(&mut tcp, Duration::from_secs(3)).await);
    assert!(
        quiet.elapsed() >= Duration::from_millis(250),
        "{:?}",
        quiet.elapsed()
    );
    assert!(server.metric(&timeouts("keepalive")).await >= 1.0);
    server.stop().await;
}

#[tokio::test]
async fn a_websocket_request_after_the_upgrade_deadline_is_refused() {
    let server = start(&["--upgrade-timeout-ms", "300"]);
    let mut late = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = exchange(&mut late, &upgrade_request(server.addr)).await;
    assert_eq!(answer.map(|a| a.0), Some(408));
    let mut prompt = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    let answer = exchange(&mut prompt, &upgrade_request(server.addr)).await;
    assert_eq!(answer.map(|a| a.0), Some(101));
    assert!(server.metric(&timeouts("upgrade")).await >= 1.0);
    server.stop().await;
}

#[tokio::test]
async fn dashboard_streams_are_capped_and_share_one_history() {
    let server = start(&["--dashboard-streams", "2"]);
    let stream = "GET /dashboard/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from([127, 0, 0, 1], server.admin_addr)
            .await
            .unwrap();
        let (status, head) = exchange(&mut tcp, stream).await.expect("an answer");
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("text/event-stream"), "{head}");
        let mut first = vec![0u8; 64];
        let n = tcp.read(&mut first).await.unwrap();
        let text = String::from_utf8_lossy(&first[..n]).into_owned();
        assert!(text.contains("event: history"), "{text}");
        streams.push(tcp);
    }
    // Each stream then gets every new sample (one a second), framed as an
    // EventSource expects.
    let mut next = vec![0u8; 4096];
    let sample = tokio::time::timeout(Duration::from_secs(3), async {
        let mut seen = String::new();
        while !seen.contains("event: sample\ndata: {") {
            let n = streams[0].read(&mut next).await.unwrap();
            seen.push_str(&String::from_utf8_lossy(&next[..n]));
        }
    })
    .await;
    assert!(sample.is_ok(), "no sample event within 3 s");
    let mut third = connect_from([127, 0, 0, 1], server.admin_addr)
        .await
        .unwrap();
    assert_eq!(exchange(&mut third, stream).await.map(|a| a.0), Some(503));
    assert!(
        server
            .metric("tickforge_connections_refused_total{reason=\"dashboard_streams\"}")
            .await
            >= 1.0
    );
    assert_eq!(server.metric("tickforge_dashboard_streams").await, 2.0);
    // A closed stream gives its place back (noticed at its next event).
    streams.pop();
    eventually(Duration::from_secs(5), "a free stream place", || async {
        let mut tcp = connect_from([127, 0, 0, 1], server.admin_addr).await.ok()?;
        let (status, _) = exchange(&mut tcp, stream).await?;
        (status == 200).then_some(())
    })
    .await;
    server.stop().await;
}

/// The server binary under `prlimit --nofile=LIMIT`, on free loopback ports.
struct Limited {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    data_dir: std::path::PathBuf,
}

impl Limited {
    async fn start(nofile: u32) -> Limited {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let data_dir = support::fresh_data_dir();
        let child = Command::new("prlimit")
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_tickforge"))
            .args([
                "--listen",
                &addr.to_string(),
                "--admin-listen",
                &admin.to_string(),
            ])
            .args(["--shards", "1", "--pin-cores", "false", "--log", "warn"])
            .args([
                "--max-connections-per-ip",
                "0",
                "--snapshot-interval-ms",
                "100",
            ])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--session-key-file")
            .arg(support::session_key_file())
            .stdout(Stdio::null())
            .spawn()
            .expect("prlimit runs the server (util-linux)");
        let limited = Limited {
            child,
            addr,
            admin,
            data_dir,
        };
        eventually(Duration::from_secs(20), "the limited server", || async {
            let ready = support::http(limited.admin, "GET", "/readyz", None).await;
            ready.is_ok_and(|(status, _)| status == 200).then_some(())
        })
        .await;
        limited
    }

    async fn metric(&self, series: &str) -> f64 {
        let (_, body) = http_get(self.admin, "/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

#[tokio::test]
async fn under_a_low_descriptor_limit_the_node_caps_connections_and_keeps_serving() {
    // 300 descriptors minus the default reserve of 128: 172 connections.
    let server = Limited::start(300).await;
    assert_eq!(server.metric("tickforge_max_connections").await, 172.0);
    let options = support::player_options("survivor");
    let url = format!("ws://{}/ws", server.addr);
    let mut player = tickforge_protocol::client::Client::connect(&url, options)
        .await
        .expect("connects");
    player.join_or_create("arena").await.expect("joins");
    let mut flood = Vec::new();
    for _ in 0..400 {
        match connect_from(ABUSER, server.addr).await {
            Ok(tcp) => flood.push(tcp),
            Err(e) => panic!("the kernel refused a connection: {e}"),
        }
    }
    eventually(Duration::from_secs(10), "the cap reached", || async {
        (server.metric("tickforge_public_connections").await >= 172.0).then_some(())
    })
    .await;
    assert!(
        server
            .metric("tickforge_connections_refused_total{reason=\"max_connections\"}")
            .await
            >= 1.0
    );
    // The admin listener still answers, and the player's snapshots are
    // still written: move, leave (a snapshot), join again, leave again.
    assert_eq!(http_get(server.admin, "/healthz").await.0, 200);
    let written = server.metric("tickforge_snapshots_written_total").await;
    for x in [60, -60] {
        player
            .send_input(&support::arena_input(x, 0))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        player.leave().await.unwrap();
        player.join_or_create("arena").await.expect("joins again");
    }
    eventually(Duration::from_secs(5), "snapshots written", || async {
        (server.metric("tickforge_snapshots_written_total").await >= written + 2.0).then_some(())
    })
    .await;
    assert_eq!(http_get(server.admin, "/healthz").await.0, 200);
    // Once the flood leaves, the public listener serves again.
    flood.clear();
    eventually(Duration::from_secs(10), "the public /healthz", || async {
        let mut tcp = connect_from([127, 0, 0, 1], server.addr).await.ok()?;
        let (status, _) = exchange(&mut tcp, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await?;
        (status == 200).then_some(())
    })
    .await;
}
