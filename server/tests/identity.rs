//! Identity over real sockets: every way a forged or unusable token is
//! refused (with its close code and reason, and without ever reaching the
//! victim's saved state), third-party JWTs of each supported algorithm,
//! guest sessions, the newest login replacing the old one, browser origins,
//! and the start-up refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::{TestServer, http, next_state, position, start, token};
use tickforge_protocol::client::{Client, ClientError, ConnectOptions};
use tickforge_protocol::session_token::{Claims, SessionKeys, unix_now};
use tickforge_server::{Config, auth};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture")
}

/// Connects with `token` (and `player_id` in Hello); the server's answer.
async fn hello(
    server: &TestServer,
    player_id: &str,
    token: Option<String>,
) -> Result<Client, ClientError> {
    let options = ConnectOptions {
        player_id: player_id.to_string(),
        token,
        ..ConnectOptions::player("")
    };
    Client::connect(&server.url(), options).await
}

/// The close code and reason of a refused Hello.
async fn refusal(server: &TestServer, player_id: &str, token: Option<String>) -> (u16, String) {
    match hello(server, player_id, token).await {
        Ok(client) => panic!("accepted as {:?}", client.welcome.player_id),
        Err(ClientError::AccessDenied { code, reason }) => (code, reason),
        Err(e) => panic!("refused without an access-denied close: {e}"),
    }
}

/// A JWT with `claims` signed by `key` with header `header`.
fn sign(header: Header, claims: &serde_json::Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

fn claims_for(player: &str) -> serde_json::Value {
    json!({ "sub": player, "name": "Someone", "exp": unix_now() + 600, "iat": unix_now() })
}

/// Moves `player` right for a while, stops, and returns where it stopped
/// (saved when it leaves).
async fn walk_and_leave(client: &mut Client) -> (f32, f32) {
    let joined = client.join_or_create("arena").await.expect("joins");
    for _ in 0..10 {
        client
            .send_input(&support::arena_input(127, 0))
            .await
            .expect("input");
        next_state(client, WAIT).await;
    }
    let stop = client
        .send_input(&support::arena_input(0, 0))
        .await
        .expect("input");
    let at = loop {
        let state = next_state(client, WAIT).await;
        if state
            .ack_for(joined.entity_id)
            .is_some_and(|acked| acked >= stop)
        {
            break position(&state.state, joined.entity_id).expect("own entity");
        }
    };
    client.leave().await.expect("leaves");
    at
}

/// Joins and returns the entity's position in Joined (the saved state).
async fn position_after_join(client: &mut Client) -> (f32, f32) {
    let joined = client.join_or_create("arena").await.expect("joins");
    position(&joined.state, joined.entity_id).expect("own entity")
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_refused_and_never_reach_the_victims_state() {
    let server = start(&["--shards", "1"]);
    let mut alice = server.connect("alice").await;
    let saved = walk_and_leave(&mut alice).await;
    drop(alice);

    let own = SessionKeys::load(support::session_key_file()).expect("test key");
    let own_kid = own.signing().kid.clone();
    let other = SessionKeys::ephemeral().expect("another key");
    let valid = token("alice");
    let (head, rest) = valid.split_once('.').expect("jwt");
    let (body, signature) = rest.split_once('.').expect("jwt");
    let mut flipped = URL_SAFE_NO_PAD.decode(signature).expect("b64");
    flipped[0] ^= 1;
    let bad_signature = format!("{head}.{body}.{}", URL_SAFE_NO_PAD.encode(flipped));
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims_for("alice").to_string())
    );
    let mut expired = Claims::new("alice", None, Duration::ZERO);
    expired.exp = unix_now() - 3600;
    let mut early = Claims::new("alice", None, Duration::from_secs(600));
    early.nbf = Some(unix_now() + 3600);
    let mut foreign_issuer = Claims::new("alice", None, Duration::from_secs(600));
    foreign_issuer.iss = Some("someone-else".into());
    // An HS256 token "signed" with the server's own kid but a guessed secret.
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some(own_kid);
    let confused = sign(
        confused,
        &claims_for("alice"),
        &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
    );

    let cases: Vec<(&str, &str, Option<String>, &str)> = vec![
        ("no token", "alice", None, "auth_missing"),
        (
            "not a JWT",
            "alice",
            Some("not-a-token".into()),
            "auth_malformed",
        ),
        (
            "a tampered signature",
            "alice",
            Some(bad_signature),
            "auth_signature",
        ),
        ("alg none", "alice", Some(unsigned), "auth_algorithm"),
        (
            "HS256 under an Ed25519 kid",
            "alice",
            Some(confused),
            "auth_algorithm",
        ),
        (
            "an expired token",
            "alice",
            Some(own.mint(&expired).expect("mint")),
            "auth_expired",
        ),
        (
            "a token not valid yet",
            "alice",
            Some(own.mint(&early).expect("mint")),
            "auth_not_yet_valid",
        ),
        (
            "another issuer",
            "alice",
            Some(own.mint(&foreign_issuer).expect("mint")),
            "auth_issuer",
        ),
        (
            "an unknown key",
            "alice",
            Some(
                other
                    .mint(&Claims::new("alice", None, Duration::from_secs(600)))
                    .expect("mint"),
            ),
            "auth_unknown_key",
        ),
        (
            "someone else's valid token",
            "alice",
            Some(token("mallory")),
            "auth_subject_mismatch",
        ),
    ];
    for (what, player, token, reason) in cases {
        assert_eq!(
            refusal(&server, player, token).await,
            (4003, reason.to_string()),
            "{what}"
        );
    }
    for reason in ["auth_missing", "auth_subject_mismatch"] {
        assert!(
            server
                .metric(&format!(
                    "tickforge_auth_refused_total{{reason=\"{reason}\"}}"
                ))
                .await
                >= 1.0,
            "{reason} counted"
        );
    }

    // Alice's saved state is as she left it.
    let mut alice = server.connect("alice").await;
    assert_eq!(alice.welcome.player_id, "alice");
    let back = position_after_join(&mut alice).await;
    assert!(
        (back.0 - saved.0).abs() < 0.01 && (back.1 - saved.1).abs() < 0.01,
        "saved {saved:?}, restored {back:?}"
    );
}

#[tokio::test]
async fn tokens_from_a_login_service_or_identity_provider_are_verified_with_their_own_algorithm() {
    let jwks_path =
        std::env::temp_dir().join(format!("tickforge-jwks-{}.json", std::process::id()));
    let ed_public = fixture_text("ed-public.pem");
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            ed_public
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("pem body");
    let x = URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]);
    let jwks = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "idp-1", "alg": "EdDSA" }] });
    std::fs::write(&jwks_path, jwks.to_string()).expect("jwks written");
    let secret = fixture("hs256-secret.txt");
    let rsa_public = fixture("rsa-public.pem");
    let jwks_arg = jwks_path.to_string_lossy().into_owned();
    let (secret_arg, rsa_arg) = (
        secret.to_string_lossy().into_owned(),
        rsa_public.to_string_lossy().into_owned(),
    );
    let server = start(&[
        "--auth",
        "jwt",
        "--jwt-secret-file",
        &secret_arg,
        "--jwt-public-key-file",
        &rsa_arg,
        "--jwt-public-key-alg",
        "RS256",
        "--jwks-file",
        &jwks_arg,
        "--jwt-audience",
        "my-game",
        "--jwt-issuer",
        "https://login.example.com",
    ]);
    let claims = |player: &str| {
        json!({ "sub": player, "name": "Pat\u{202E}ient", "exp": unix_now() + 600,
                "aud": "my-game", "iss": "https://login.example.com" })
    };
    let hs = EncodingKey::from_secret(fixture_text("hs256-secret.txt").trim_end().as_bytes());
    let rsa = EncodingKey::from_rsa_pem(fixture_text("rsa-private.pem").as_bytes()).expect("rsa");
    let ed = EncodingKey::from_ed_pem(fixture_text("ed-private.pem").as_bytes()).expect("ed");
    let mut ed_header = Header::new(Algorithm::EdDSA);
    ed_header.kid = Some("idp-1".into());

    let hs_token = sign(Header::new(Algorithm::HS256), &claims("pat"), &hs);
    let mut client = hello(&server, "", Some(hs_token))
        .await
        .expect("HS256 accepted");
    assert_eq!(client.welcome.player_id, "pat");
    assert_eq!(
        client.welcome.name, "Patient",
        "the bidi override is removed"
    );
    let joined = client.join_or_create("arena").await.expect("joins");
    assert!(
        joined.players.iter().all(|(_, name)| name != "pat"),
        "others see the name, not the id"
    );
    drop(client);
    hello(
        &server,
        "rae",
        Some(sign(Header::new(Algorithm::RS256), &claims("rae"), &rsa)),
    )
    .await
    .expect("RS256 accepted");
    hello(
        &server,
        "",
        Some(sign(ed_header.clone(), &claims("eddie"), &ed)),
    )
    .await
    .expect("EdDSA from the JWKS accepted");

    // The RSA public key used as an HS256 secret: algorithm confusion.
    let confusion = sign(
        Header::new(Algorithm::HS256),
        &claims("rae"),
        &EncodingKey::from_secret(fixture_text("rsa-public.pem").as_bytes()),
    );
    let mut wrong_aud = claims("pat");
    wrong_aud["aud"] = json!("another-game");
    let mut wrong_iss = claims("pat");
    wrong_iss["iss"] = json!("https://evil.example");
    let mut unknown_kid = ed_header.clone();
    unknown_kid.kid = Some("idp-9".into());
    let ec = EncodingKey::from_ec_pem(fixture_text("ec-private.pem").as_bytes()).expect("ec");
    let cases = [
        (
            "an RSA public key as HS256 secret",
            confusion,
            "auth_signature",
        ),
        (
            "another audience",
            sign(Header::new(Algorithm::HS256), &wrong_aud, &hs),
            "auth_audience",
        ),
        (
            "another issuer",
            sign(Header::new(Algorithm::HS256), &wrong_iss, &hs),
            "auth_issuer",
        ),
        (
            "an ES256 token no key allows",
            sign(Header::new(Algorithm::ES256), &claims("pat"), &ec),
            "auth_algorithm",
        ),
        (
            "an unknown kid",
            sign(unknown_kid, &claims("pat"), &ed),
            "auth_unknown_key",
        ),
    ];
    for (what, token, reason) in cases {
        assert_eq!(
            refusal(&server, "", Some(token)).await,
            (4003, reason.to_string()),
            "{what}"
        );
    }
    // Guest sessions are off in `jwt` mode.
    let (status, _) = http(server.addr, "POST", "/auth/guest", Some("{}"))
        .await
        .expect("http");
    assert_eq!(status, 404);
    let _ = std::fs::remove_file(jwks_path);
}

#[tokio::test]
async fn a_guest_session_plays_under_a_fresh_id_and_guest_logins_are_rate_limited_per_ip() {
    let server = start(&["--guest-logins-per-minute", "3"]);
    let (status, body) = http(
        server.addr,
        "POST",
        "/auth/guest",
        Some(r#"{"name": "Ada \u0007"}"#),
    )
    .await
    .expect("http");
    assert_eq!(status, 200, "{body}");
    let guest: serde_json::Value = serde_json::from_str(&body).expect("json");
    let player = guest["player_id"].as_str().expect("player_id").to_string();
    assert!(player.starts_with("g_"), "{player}");
    assert_eq!(guest["name"], "Ada");
    let token = guest["token"].as_str().expect("token").to_string();
    let mut client = hello(&server, "", Some(token))
        .await
        .expect("guest token accepted");
    assert_eq!(client.welcome.player_id, player);
    assert_eq!(client.welcome.name, "Ada");
    client.join_or_create("arena").await.expect("a guest plays");

    let (status, _) = http(server.addr, "POST", "/auth/guest", Some("not json"))
        .await
        .expect("http");
    assert_eq!(status, 400);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            http(server.addr, "POST", "/auth/guest", None)
                .await
                .expect("http")
                .0,
        );
    }
    assert_eq!(
        statuses,
        [200, 200, 429],
        "a burst of 3 per minute, the first one spent"
    );
    assert_eq!(
        server
            .metric("tickforge_guest_sessions_refused_total{reason=\"rate\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn the_newest_login_replaces_the_old_session_and_gets_its_latest_state() {
    let server = start(&["--shards", "1"]);
    let mut first = server.connect("alice").await;
    let joined = first.join_or_create("arena").await.expect("joins");
    for _ in 0..10 {
        first
            .send_input(&support::arena_input(0, 127))
            .await
            .expect("input");
        next_state(&mut first, WAIT).await;
    }
    let stop = first
        .send_input(&support::arena_input(0, 0))
        .await
        .expect("input");
    let at = loop {
        let state = next_state(&mut first, WAIT).await;
        if state
            .ack_for(joined.entity_id)
            .is_some_and(|acked| acked >= stop)
        {
            break position(&state.state, joined.entity_id).expect("own entity");
        }
    };
    let mut second = server.connect("alice").await;
    assert_eq!(
        support::client_close_of(&mut first, WAIT).await,
        (4005, "replaced".to_string())
    );
    let back = position_after_join(&mut second).await;
    assert!(
        (back.0 - at.0).abs() < 0.01 && (back.1 - at.1).abs() < 0.01,
        "{at:?} → {back:?}"
    );

    // 200 replacements in a row: one seat, and the state of the last mover.
    let mut last = second;
    let mut expected = back;
    for i in 0..200 {
        let mut next = server.connect("alice").await;
        let code = support::client_close_of(&mut last, WAIT).await;
        assert_eq!(code.0, 4005, "replacement {i}");
        if i % 50 == 49 {
            expected = walk_and_leave(&mut next).await;
        }
        last = next;
    }
    let back = position_after_join(&mut last).await;
    assert!(
        (back.0 - expected.0).abs() < 0.01 && (back.1 - expected.1).abs() < 0.01,
        "{expected:?} → {back:?}"
    );
    let players: u64 = server
        .rooms()
        .await
        .iter()
        .map(|r| r["players"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(players, 1, "exactly one seat");
    assert!(server.metric("tickforge_sessions_replaced_total").await >= 201.0);
}

/// Sends a WebSocket upgrade with `origin`; returns the status code.
async fn upgrade_status(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut tcp = TcpStream::connect(server.addr).await.expect("tcp");
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: tickforge.v1\r\n",
        server.addr
    );
    if let Some(origin) = origin {
        request.push_str(&format!("Origin: {origin}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.expect("sent");
    let mut head = [0u8; 12];
    tokio::time::timeout(WAIT, tcp.read_exact(&mut head))
        .await
        .expect("answered")
        .expect("read");
    String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("status")
}

#[tokio::test]
async fn only_allowed_browser_origins_may_open_a_session() {
    let server = start(&[
        "--allowed-origins",
        "https://game.example.com,https://*.cdn.example.net",
    ]);
    let own = format!("http://{}", server.addr);
    assert_eq!(
        upgrade_status(&server, None).await,
        101,
        "native clients send no Origin"
    );
    assert_eq!(
        upgrade_status(&server, Some(&own)).await,
        101,
        "the server's own pages"
    );
    assert_eq!(
        upgrade_status(&server, Some("https://game.example.com")).await,
        101
    );
    assert_eq!(
        upgrade_status(&server, Some("https://eu.cdn.example.net")).await,
        101
    );
    assert_eq!(
        upgrade_status(&server, Some("https://evil.example")).await,
        403
    );
    assert_eq!(
        upgrade_status(&server, Some("https://game.example.com.evil.example")).await,
        403
    );
    assert_eq!(server.metric("tickforge_origin_refused_total").await, 2.0);
}

#[test]
fn trust_hello_refuses_to_start_on_a_public_address_and_redis_needs_a_session_key() {
    let public = Config::load_from([
        "tickforge",
        "--listen",
        "0.0.0.0:0",
        "--auth",
        "trust-hello",
    ]);
    assert!(public.is_err_and(|e| e.to_string().contains("trust-hello")));
    let loopback = Config::load_from([
        "tickforge",
        "--listen",
        "127.0.0.1:0",
        "--auth",
        "trust-hello",
    ]);
    assert!(loopback.is_ok());
    let redis = Config::load_from([
        "tickforge",
        "--presence",
        "redis://127.0.0.1:6379",
        "--allow-node-local-snapshots",
    ]);
    assert!(redis.is_err_and(|e| e.to_string().contains("--session-key-file")));
    let jwt_without_key = Config::load_from(["tickforge", "--auth", "jwt"]);
    assert!(jwt_without_key.is_err_and(|e| e.to_string().contains("needs a key")));
}

#[tokio::test]
async fn trust_hello_believes_hello_and_says_so_on_readyz() {
    let server = start(&["--auth", "trust-hello"]);
    let mut client = Client::connect(&server.url(), ConnectOptions::player("dev"))
        .await
        .expect("trusted");
    assert_eq!(client.welcome.player_id, "dev");
    client.join_or_create("arena").await.expect("joins");
    let (_, body) = server.get("/readyz").await;
    assert!(
        body.contains("auth: trust-hello (development only"),
        "{body}"
    );
    assert_eq!(server.metric("tickforge_auth_trust_hello").await, 1.0);
}

/// Serves `document()` at every path over HTTP/1.1 on a loopback port.
async fn serve_jwks(document: std::sync::Arc<std::sync::Mutex<String>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let body = document.lock().expect("document").clone();
            tokio::spawn(async move {
                let mut request = [0u8; 2048];
                let _ = tcp.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

/// The bytes after the PEM armour of a public key (its DER encoding).
fn public_der(name: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(
            fixture_text(name)
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("pem body")
}

#[tokio::test]
async fn keys_fetched_from_a_jwks_url_are_used_and_a_rotation_is_picked_up_on_an_unknown_kid() {
    let ed = public_der("ed-public.pem");
    let ec = public_der("ec-public.pem");
    let (x, y) = (&ec[ec.len() - 64..ec.len() - 32], &ec[ec.len() - 32..]);
    let first = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "kid": "idp-1",
        "x": URL_SAFE_NO_PAD.encode(&ed[ed.len() - 32..]) }] });
    let rotated = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "idp-2", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y) }] });
    let document = std::sync::Arc::new(std::sync::Mutex::new(first.to_string()));
    let jwks = serve_jwks(document.clone()).await;
    let url = format!("http://{jwks}/.well-known/jwks.json");
    let server = start(&[
        "--auth",
        "jwt",
        "--jwks-url",
        &url,
        "--jwks-refresh-s",
        "3600",
    ]);

    let claims = json!({ "sub": "idris", "exp": unix_now() + 600 });
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("idp-1".into());
    let ed_key = EncodingKey::from_ed_pem(fixture_text("ed-private.pem").as_bytes()).expect("ed");
    let token = sign(header, &claims, &ed_key);
    support::cluster::eventually(WAIT, "the JWKS fetched at start", || async {
        hello(&server, "", Some(token.clone()))
            .await
            .ok()
            .map(|_| ())
    })
    .await;

    *document.lock().expect("document") = rotated.to_string();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("idp-2".into());
    let ec_key = EncodingKey::from_ec_pem(fixture_text("ec-private.pem").as_bytes()).expect("ec");
    let token = sign(header, &claims, &ec_key);
    assert_eq!(
        refusal(&server, "", Some(token.clone())).await,
        (4003, "auth_unknown_key".to_string()),
        "the new kid is not known before the refetch it triggers"
    );
    // Forced refetches are at most 10 s apart (UNKNOWN_KID_REFRESH); the
    // first fetch may have been forced moments ago by the loop above.
    let rotation = auth::jwks::UNKNOWN_KID_REFRESH + Duration::from_secs(10);
    support::cluster::eventually(rotation, "the rotated key after a refetch", || async {
        hello(&server, "", Some(token.clone()))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(
        server
            .metric("tickforge_jwks_refreshes_total{result=\"ok\"}")
            .await
            >= 2.0
    );
}
