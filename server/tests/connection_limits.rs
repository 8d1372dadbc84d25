//! Connection limits on the public listener, each crossed from loopback:
//! the refusal a client sees, the counter on the admin listener's
//! `/metrics`, and an honest player in the same room who keeps at least
//! 95% of its States while the abuse runs. Abusers connect from 127.0.0.2
//! (another client IP to the server); the honest player from 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::abuse::{Honest, closed_within, connect_from, exchange, read_head, upgrade_request};
use support::start;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const ABUSER: [u8; 4] = [127, 0, 0, 2];

fn refused(reason: &str) -> String {
    format!("tickforge_connections_refused_total{{reason=\"{reason}\"}}")
}

/// Connects from the abuser until a connection is closed without an
/// answer (refused at accept); the ones the server kept go to `held`.
async fn refused_at_accept(addr: std::net::SocketAddr, held: &mut Vec<TcpStream>) -> bool {
    for _ in 0..5 {
        let mut tcp = connect_from(ABUSER, addr).await.expect("tcp connects");
        if closed_within(&mut tcp, Duration::from_millis(500)).await {
            return true;
        }
        held.push(tcp);
    }
    false
}

/// Lets the honest player play for a moment, so its window spans the abuse.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn a_node_at_max_connections_closes_new_ones_at_accept_while_its_players_keep_playing() {
    let server = start(&["--max-connections", "20", "--max-connections-per-ip", "0"]);
    let honest = Honest::start(&server, "honest").await;
    let mark = honest.mark();
    let mut held = Vec::new();
    for _ in 0..19 {
        held.push(connect_from(ABUSER, server.addr).await.expect("connects"));
    }
    // The 21st connection (the honest player holds one) is closed at once.
    // The kernel completes connects before the server accepts them, so the
    // one refused may be an earlier one: try until a new one is refused.
    assert!(refused_at_accept(server.addr, &mut held).await);
    settle().await;
    assert!(server.metric(&refused("max_connections")).await >= 1.0);
    assert_eq!(server.admin_get("/healthz").await.0, 200);
    honest.assert_kept_playing(mark, 15);
    // A place comes back when a connection closes.
    held.clear();
    support::cluster::eventually(Duration::from_secs(5), "a place back", || async {
        let mut again = connect_from(ABUSER, server.addr).await.ok()?;
        let answer = exchange(&mut again, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        (answer?.0 == 200).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn one_ip_over_its_connection_limit_gets_503_while_other_ips_connect_and_play() {
    let server = start(&["--max-connections-per-ip", "4"]);
    let honest = Honest::start(&server, "honest").await;
    let mark = honest.mark();
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let mut tcp = connect_from(ABUSER, server.addr).await.expect("connects");
        let answer = exchange(&mut tcp, &upgrade_request(server.addr)).await;
        assert_eq!(answer.map(|a| a.0), Some(101));
        sessions.push(tcp);
    }
    let mut fifth = connect_from(ABUSER, server.addr).await.expect("connects");
    let (status, head) = exchange(&mut fifth, &upgrade_request(server.addr))
        .await
        .expect("an answer");
    assert_eq!(status, 503, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    // Another address is not affected.
    let other = server.connect("other").await;
    settle().await;
    assert!(server.metric(&refused("per_ip")).await >= 1.0);
    honest.assert_kept_playing(mark, 15);
    drop(other);
    server.stop().await;
}

#[tokio::test]
async fn a_burst_of_handshakes_from_one_ip_is_refused_past_its_bucket_with_retry_after() {
    let server = start(&[
        "--handshakes-per-ip-per-s",
        "1",
        "--handshake-burst",
        "5",
        "--max-connections-per-ip",
        "0",
    ]);
    let honest = Honest::start(&server, "honest").await;
    let mark = honest.mark();
    let mut statuses = Vec::new();
    let mut open = Vec::new();
    for _ in 0..12 {
        let mut tcp = connect_from(ABUSER, server.addr).await.expect("connects");
        let (status, head) = exchange(&mut tcp, &upgrade_request(server.addr))
            .await
            .expect("an answer");
        if status == 503 {
            assert!(
                head.to_ascii_lowercase().contains("retry-after: 1"),
                "{head}"
            );
        }
        statuses.push(status);
        open.push(tcp);
    }
    let upgraded = statuses.iter().filter(|s| **s == 101).count();
    assert!((5..=6).contains(&upgraded), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        12 - upgraded
    );
    // The honest player's address has its own bucket.
    let newcomer = server.connect("newcomer").await;
    settle().await;
    assert!(server.metric(&refused("handshake_rate")).await >= 6.0);
    honest.assert_kept_playing(mark, 15);
    drop(newcomer);
    server.stop().await;
}

#[tokio::test]
async fn the_plain_http_cap_closes_new_connections_while_sessions_do_not_count() {
    let server = start(&[
        "--max-http-connections",
        "10",
        "--max-connections-per-ip",
        "0",
    ]);
    let honest = Honest::start(&server, "honest").await;
    let mark = honest.mark();
    // The honest player's session is not plain HTTP: ten idle connections fit.
    let mut idle = Vec::new();
    for _ in 0..10 {
        let mut tcp = connect_from(ABUSER, server.addr).await.expect("connects");
        tcp.write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .expect("writes");
        idle.push(tcp);
    }
    assert!(refused_at_accept(server.addr, &mut idle).await);
    settle().await;
    assert!(server.metric(&refused("http_connections")).await >= 1.0);
    honest.assert_kept_playing(mark, 15);
    server.stop().await;
}

#[tokio::test]
async fn a_proxy_header_names_the_client_only_from_a_trusted_peer() {
    let server = start(&[
        "--proxy-protocol",
        "true",
        "--trusted-proxies",
        "127.0.0.1",
        "--max-connections-per-ip",
        "2",
    ]);
    let via_proxy = |client: &str| format!("PROXY TCP4 {client} 127.0.0.1 40000 7700\r\n");
    let healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    // Two connections of 198.51.100.1 through the trusted proxy fill its share.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
        let request = format!("{}{healthz}", via_proxy("198.51.100.1"));
        assert_eq!(exchange(&mut tcp, &request).await.map(|a| a.0), Some(200));
        held.push(tcp);
    }
    let mut third = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    let request = format!("{}{healthz}", via_proxy("198.51.100.1"));
    assert_eq!(exchange(&mut third, &request).await.map(|a| a.0), Some(503));
    // Another client behind the same proxy is counted on its own.
    let mut other = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    let request = format!("{}{healthz}", via_proxy("198.51.100.2"));
    assert_eq!(exchange(&mut other, &request).await.map(|a| a.0), Some(200));
    // From an untrusted peer the header is not believed: it is not HTTP.
    let mut untrusted = connect_from(ABUSER, server.addr).await.unwrap();
    let request = format!("{}{healthz}", via_proxy("198.51.100.3"));
    assert_eq!(
        exchange(&mut untrusted, &request).await.map(|a| a.0),
        Some(400)
    );
    // A trusted peer that sends no header is closed.
    let mut bare = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    bare.write_all(b"GARBAGE\r\n\r\n").await.unwrap();
    assert!(read_head(&mut bare).await.is_none());
    assert!(server.metric(&refused("proxy_header")).await >= 1.0);
    assert!(server.metric(&refused("per_ip")).await >= 1.0);
    server.stop().await;
}

#[tokio::test]
async fn forwarded_clients_of_a_trusted_proxy_are_limited_per_forwarded_address() {
    let server = start(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--max-connections-per-ip",
        "1",
    ]);
    let upgrade_for = |client: &str| {
        upgrade_request(server.addr).replacen(
            "\r\n\r\n",
            &format!("\r\nX-Forwarded-For: {client}\r\n\r\n"),
            1,
        )
    };
    let mut first = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    let answer = exchange(&mut first, &upgrade_for("198.51.100.1")).await;
    assert_eq!(answer.map(|a| a.0), Some(101));
    let mut second = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    let answer = exchange(&mut second, &upgrade_for("198.51.100.1")).await;
    assert_eq!(answer.map(|a| a.0), Some(503));
    let mut third = connect_from([127, 0, 0, 1], server.addr).await.unwrap();
    let answer = exchange(&mut third, &upgrade_for("198.51.100.2")).await;
    assert_eq!(answer.map(|a| a.0), Some(101));
    // The same header from an untrusted peer changes nothing: 127.0.0.2 is
    // the client, with its one place.
    let mut spoofed = connect_from(ABUSER, server.addr).await.unwrap();
    let answer = exchange(&mut spoofed, &upgrade_for("198.51.100.9")).await;
    assert_eq!(answer.map(|a| a.0), Some(101));
    let mut spoofed_again = connect_from(ABUSER, server.addr).await.unwrap();
    let answer = exchange(&mut spoofed_again, &upgrade_for("198.51.100.10")).await;
    assert_eq!(answer.map(|a| a.0), Some(503));
    server.stop().await;
}
