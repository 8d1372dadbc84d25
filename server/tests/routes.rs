//! What each listener serves. The public listener (`--listen`) is reachable
//! from the internet: every path it serves must be on the allow-list below,
//! and operators' endpoints answer 404 there and 200 on the admin listener
//! (`--admin-listen`), checked over real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::cluster::eventually;
use support::start;
use tickforge_server::net::admin::ADMIN_ROUTES;
use tickforge_server::net::public::PUBLIC_ROUTES;

/// The only paths the public listener may serve. Adding one is a decision
/// about what the internet can reach: make it here, on purpose.
const PUBLIC_ALLOW_LIST: &[&str] = &[
    "/ws",
    "/healthz",
    "/readyz",
    "/rooms",
    "/play",
    "/play/app.js",
    "/play/app.css",
    "/auth/guest",
];

/// Operators' endpoints: on the admin listener, never on the public one.
const OPERATOR_PATHS: &[&str] = &[
    "/metrics",
    "/dashboard",
    "/dashboard/app.js",
    "/dashboard/app.css",
    "/dashboard/stream",
    "/presence/{player}",
    "/admin/kick",
    "/admin/ban",
    "/admin/unban",
];

fn public_paths() -> Vec<&'static str> {
    PUBLIC_ROUTES.iter().map(|r| r.path).collect()
}

fn admin_paths() -> Vec<&'static str> {
    ADMIN_ROUTES.iter().map(|r| r.path).collect()
}

#[test]
fn every_public_route_is_on_the_allow_list() {
    println!("public routes: {:?}", public_paths());
    println!("admin routes:  {:?}", admin_paths());
    let not_allowed: Vec<&str> = public_paths()
        .into_iter()
        .filter(|p| !PUBLIC_ALLOW_LIST.contains(p))
        .collect();
    assert!(
        not_allowed.is_empty(),
        "public routes not on the allow-list: {not_allowed:?} (operators' endpoints belong on \
         the admin listener, tickforge_server::net::admin::ADMIN_ROUTES)"
    );
    let unique: BTreeSet<&str> = public_paths().into_iter().collect();
    assert_eq!(
        unique.len(),
        PUBLIC_ROUTES.len(),
        "a public path is listed twice"
    );
}

#[test]
fn the_admin_listener_serves_every_operator_endpoint_and_the_health_checks() {
    let admin = admin_paths();
    for path in OPERATOR_PATHS
        .iter()
        .chain(&["/rooms", "/healthz", "/readyz"])
    {
        assert!(admin.contains(path), "{path} missing from {admin:?}");
    }
    for path in OPERATOR_PATHS {
        assert!(!public_paths().contains(path), "{path} is public");
    }
}

#[tokio::test]
async fn operator_endpoints_answer_404_on_the_public_address_and_200_on_the_admin_address() {
    let server = start(&[]);
    let mut x = server.connect("x").await;
    x.join_or_create("arena").await.expect("joins");
    eventually(Duration::from_secs(5), "x in presence", || async {
        (server.admin_get("/presence/x").await.0 == 200).then_some(())
    })
    .await;

    for path in [
        "/metrics",
        "/dashboard",
        "/presence/x",
        "/rooms?scope=cluster",
    ] {
        let (public, body) = server.get(path).await;
        assert_eq!(public, 404, "{path} on the public address: {body}");
        let (admin, body) = server.admin_get(path).await;
        assert_eq!(admin, 200, "{path} on the admin address: {body}");
    }
    for path in ["/admin/kick", "/admin/ban", "/admin/unban", "/admin/drain"] {
        let (public, _) = support::http(server.addr, "POST", path, Some(r#"{"player":"x"}"#))
            .await
            .expect("http");
        assert_eq!(public, 404, "{path} on the public address");
    }
    assert_eq!(server.get("/no-such-path").await.0, 404);
    assert_eq!(server.admin_get("/no-such-path").await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn every_listed_route_is_served_on_its_own_listener() {
    let server = start(&[]);
    let mut x = server.connect("x").await;
    x.join_or_create("arena").await.expect("joins");
    eventually(Duration::from_secs(5), "x in presence", || async {
        (server.admin_get("/presence/x").await.0 == 200).then_some(())
    })
    .await;

    for path in public_paths() {
        // `/ws` without an upgrade is refused, but it is there.
        let (status, body) = server.get(path).await;
        assert_ne!(status, 404, "public {path}: {body}");
    }
    // The dashboard stream never ends by itself; it is checked in a browser
    // (dashboard_browser.rs).
    // Operator actions on players take a POST with a JSON body: an empty
    // one is a 400. The drain (no body) is checked last: it stops the node.
    for path in admin_paths()
        .into_iter()
        .filter(|p| p.starts_with("/admin/") && *p != "/admin/drain")
    {
        let (status, body) = support::http(server.admin_addr, "POST", path, Some(""))
            .await
            .expect("http");
        assert_eq!(status, 400, "admin {path}: {body}");
    }
    for path in admin_paths()
        .into_iter()
        .filter(|p| *p != "/dashboard/stream" && !p.starts_with("/admin/"))
    {
        let path = path.replace("{player}", "x");
        let (status, body) = server.admin_get(&path).await;
        assert_eq!(status, 200, "admin {path}: {body}");
    }
    let (status, body) = support::http(server.admin_addr, "POST", "/admin/drain", None)
        .await
        .expect("http");
    assert_eq!(status, 200, "admin /admin/drain: {body}");
    assert_eq!(server.get("/readyz").await.0, 503, "draining");
    server.stop().await;
}

#[tokio::test]
async fn the_public_room_list_shows_counts_but_no_shard_tick_or_player_ids() {
    let server = start(&["--shards", "2"]);
    assert!(server.public_rooms().await.is_empty());
    let mut c = server.connect("carol").await;
    let joined = c.join_or_create("arena").await.expect("joins");
    let rooms = server.public_rooms().await;
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    let room = rooms[0].as_object().expect("a room is an object");
    let fields: BTreeSet<&str> = room.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        BTreeSet::from(["id", "mode", "players", "capacity", "tick_rate"])
    );
    assert_eq!(room["id"], joined.room_id.as_str());
    assert_eq!(room["mode"], "arena");
    assert_eq!(room["players"], 1);
    assert_eq!(room["capacity"], 32);
    assert_eq!(room["tick_rate"], 30);
    let (_, body) = server.get("/rooms").await;
    assert!(
        !body.contains("carol"),
        "a player id in the public list: {body}"
    );
    server.stop().await;
}
