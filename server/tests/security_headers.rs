//! Security headers on every page either listener serves: the `/play` demo
//! and its script and styles (public), the dashboard and its assets
//! (admin). The policy is read from the wire, directive by directive, and
//! the pages are checked to need nothing it refuses (no inline script or
//! style); the browser tests (`play_browser.rs`, `dashboard_browser.rs`)
//! fail on any CSP violation a real browser reports.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use support::{HttpResponse, http_request, start};

/// The directives of a `Content-Security-Policy` value.
fn directives(policy: &str) -> BTreeMap<String, Vec<String>> {
    policy
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

/// True when `html` has an attribute like ` onclick=`.
fn has_inline_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_request(addr, "GET", path, &[], None)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn assert_secure(path: &str, response: &HttpResponse, content_type: &str) {
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    let served = response.header("content-type").unwrap_or_default();
    assert!(
        served.starts_with(content_type),
        "{path} served as {served}"
    );
    assert_eq!(
        response.header("x-content-type-options"),
        Some("nosniff"),
        "{path}"
    );
    assert_eq!(
        response.header("referrer-policy"),
        Some("no-referrer"),
        "{path}"
    );
    let policy = response
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"));
    let csp = directives(policy);
    let only = |name: &str, value: &[&str]| {
        assert_eq!(
            csp.get(name)
                .map(|v| v.iter().map(String::as_str).collect()),
            Some(value.to_vec()),
            "{path}: {name} in {policy}"
        );
    };
    only("default-src", &["'none'"]);
    only("script-src", &["'self'"]);
    only("style-src", &["'self'"]);
    only("connect-src", &["'self'"]);
    only("frame-ancestors", &["'none'"]);
    only("base-uri", &["'none'"]);
    assert!(
        !policy.contains("unsafe") && !policy.contains('*'),
        "{path}: {policy}"
    );
}

#[tokio::test]
async fn every_page_script_and_stylesheet_carries_the_security_headers() {
    let server = start(&[]);
    let pages = [
        (server.addr, "/play", "text/html"),
        (server.addr, "/play/app.js", "text/javascript"),
        (server.addr, "/play/app.css", "text/css"),
        (server.admin_addr, "/dashboard", "text/html"),
        (server.admin_addr, "/dashboard/app.js", "text/javascript"),
        (server.admin_addr, "/dashboard/app.css", "text/css"),
        (server.addr, "/rooms", "application/json"),
        (server.admin_addr, "/metrics", "text/plain"),
    ];
    for (addr, path, content_type) in pages {
        assert_secure(path, &get(addr, path).await, content_type);
    }
    // Refusals too: a 404 and a refused upgrade.
    for (addr, path) in [(server.addr, "/no-such-page"), (server.admin_addr, "/nope")] {
        let response = get(addr, path).await;
        assert_eq!(response.status, 404);
        assert!(response.header("content-security-policy").is_some());
    }
    server.stop().await;
}

#[tokio::test]
async fn the_pages_need_no_inline_script_or_style() {
    let server = start(&[]);
    for (addr, page) in [(server.addr, "/play"), (server.admin_addr, "/dashboard")] {
        let html = get(addr, page).await.body.to_ascii_lowercase();
        assert!(!html.contains("<style"), "{page} has an inline <style>");
        assert!(!html.contains(" style="), "{page} has a style attribute");
        assert!(
            !html.contains("javascript:"),
            "{page} has a javascript: URL"
        );
        for script in html.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or_default();
            assert!(tag.contains("src=\"/"), "{page} has an inline script");
        }
        assert!(
            !has_inline_handler(&html),
            "{page} has an inline event handler"
        );
    }
    for (addr, script) in [
        (server.addr, "/play/app.js"),
        (server.admin_addr, "/dashboard/app.js"),
    ] {
        let js = get(addr, script).await.body;
        assert!(
            !js.contains(" style=\"") && !js.contains(" style='"),
            "{script} builds markup with a style attribute"
        );
        assert!(!js.contains("eval("), "{script} calls eval");
    }
    server.stop().await;
}
