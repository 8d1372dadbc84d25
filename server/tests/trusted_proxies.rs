//! The client IP behind a proxy, seen through the guest-login rate limit
//! (`--guest-logins-per-minute 1`): `X-Forwarded-For` counts only when the
//! peer is on `--trusted-proxies`, and then only its rightmost untrusted
//! entry. Every request here comes from 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{TestServer, http_request, start};

/// `POST /auth/guest` with `forwarded` as X-Forwarded-For (none if `None`);
/// returns the status.
async fn guest_login(server: &TestServer, forwarded: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = forwarded
        .map(|f| vec![("X-Forwarded-For", f)])
        .unwrap_or_default();
    http_request(server.addr, "POST", "/auth/guest", &headers, Some("{}"))
        .await
        .expect("POST /auth/guest")
        .status
}

#[tokio::test]
async fn a_forwarded_header_from_an_untrusted_peer_changes_nothing() {
    let server = start(&["--guest-logins-per-minute", "1"]);
    assert_eq!(guest_login(&server, Some("198.51.100.1")).await, 200);
    // Another forwarded address, same peer: the peer's budget is spent.
    assert_eq!(guest_login(&server, Some("198.51.100.2")).await, 429);
    assert_eq!(guest_login(&server, None).await, 429);
    server.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_is_rate_limited_per_forwarded_address() {
    let server = start(&[
        "--guest-logins-per-minute",
        "1",
        "--trusted-proxies",
        "127.0.0.1,10.0.0.0/8",
    ]);
    assert_eq!(guest_login(&server, Some("198.51.100.1")).await, 200);
    assert_eq!(guest_login(&server, Some("198.51.100.2")).await, 200);
    assert_eq!(guest_login(&server, Some("198.51.100.1")).await, 429);
    // A client cannot hide behind entries it wrote itself: the rightmost
    // untrusted hop (198.51.100.2) is the one counted, a trusted hop after
    // it (10.0.0.7) is skipped.
    assert_eq!(
        guest_login(&server, Some("203.0.113.50, 198.51.100.2, 10.0.0.7")).await,
        429
    );
    assert_eq!(
        guest_login(&server, Some("198.51.100.2, 203.0.113.51")).await,
        200
    );
    // Without the header, the proxy itself is the client.
    assert_eq!(guest_login(&server, None).await, 200);
    assert_eq!(guest_login(&server, None).await, 429);
    server.stop().await;
}
