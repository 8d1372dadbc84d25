//! What checking one Hello's token costs: `Auth::identify` (header, key
//! choice, signature, claims, subject, ban list) for each kind of key a
//! node verifies, plus signing one token with the session key (the swarm's
//! and the guest endpoint's cost).
//!
//! - `verify/session-eddsa`: a token signed with the node's own Ed25519
//!   session key (guests, `tickforge token mint`, the swarm's bots);
//! - `verify/session-hs256`: the same with an HMAC session key;
//! - `verify/jwt-hs256`: a login service's HS256 token (shared secret);
//! - `verify/jwt-rs256`: an identity provider's RS256 token (PEM key);
//! - `verify/jwt-es256`: an identity provider's ES256 token (PEM key);
//! - `verify/refused-signature`: a tampered EdDSA token (the refusal path);
//! - `mint/session-eddsa`: signing one session token.
//!
//! Keys are the test fixtures in server/tests/fixtures. Run:
//! `cargo bench -p tickforge-benches --bench token_verify`. Figures are in
//! `benches/RESULTS.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tickforge_protocol::session_token::{Claims, SessionKeys, unix_now};
use tickforge_server::Config;
use tickforge_server::auth::Auth;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../server/tests/fixtures")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture")
}

/// A node that accepts every kind of key, with `session_key` as its own.
fn auth(session_key: &std::path::Path, public_key: &str, alg: &str) -> Auth {
    let (key, secret, public) = (
        session_key.to_string_lossy().into_owned(),
        fixture("hs256-secret.txt").to_string_lossy().into_owned(),
        fixture(public_key).to_string_lossy().into_owned(),
    );
    let config = Config::load_from([
        "tickforge",
        "--auth",
        "jwt,guest",
        "--session-key-file",
        &key,
        "--jwt-secret-file",
        &secret,
        "--jwt-public-key-file",
        &public,
        "--jwt-public-key-alg",
        alg,
    ])
    .expect("config");
    Auth::new(&config.auth).expect("auth")
}

fn claims(player: &str) -> serde_json::Value {
    serde_json::json!({ "sub": player, "name": "Bench", "exp": unix_now() + 3600, "iat": unix_now() })
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tickforge-token-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ed_key = dir.join("session-ed.json");
    let hs_key = dir.join("session-hs.json");
    std::fs::write(&ed_key, SessionKeys::generate_ed25519_json().expect("key")).expect("write");
    std::fs::write(&hs_key, SessionKeys::generate_hs256_json().expect("key")).expect("write");
    let rsa_node = auth(&ed_key, "rsa-public.pem", "RS256");
    let ec_node = auth(&ed_key, "ec-public.pem", "ES256");
    let hs_node = auth(&hs_key, "rsa-public.pem", "RS256");

    let own = SessionKeys::load(&ed_key).expect("key");
    let own_hs = SessionKeys::load(&hs_key).expect("key");
    let session = Claims::new(
        "bench-player",
        Some("Bench".into()),
        Duration::from_secs(3600),
    );
    let ed_token = own.mint(&session).expect("mint");
    let hs_session_token = own_hs.mint(&session).expect("mint");
    let hs_token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("bench-player"),
        &EncodingKey::from_secret(read("hs256-secret.txt").trim_end().as_bytes()),
    )
    .expect("hs256");
    let rs_token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims("bench-player"),
        &EncodingKey::from_rsa_pem(read("rsa-private.pem").as_bytes()).expect("rsa"),
    )
    .expect("rs256");
    let es_token = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims("bench-player"),
        &EncodingKey::from_ec_pem(read("ec-private.pem").as_bytes()).expect("ec"),
    )
    .expect("es256");
    let mut tampered = ed_token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");

    let mut group = c.benchmark_group("verify");
    let cases: [(&str, &Auth, &str, bool); 6] = [
        ("session-eddsa", &rsa_node, &ed_token, true),
        ("session-hs256", &hs_node, &hs_session_token, true),
        ("jwt-hs256", &rsa_node, &hs_token, true),
        ("jwt-rs256", &rsa_node, &rs_token, true),
        ("jwt-es256", &ec_node, &es_token, true),
        ("refused-signature", &rsa_node, &tampered, false),
    ];
    for (name, node, token, valid) in cases {
        assert_eq!(node.identify("", Some(token)).is_ok(), valid, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| black_box(node.identify(black_box(""), black_box(Some(token)))).is_ok())
        });
    }
    group.finish();
    c.bench_function("mint/session-eddsa", |b| {
        b.iter(|| own.mint(black_box(&session)).expect("mint"))
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// The benchmark group; written out rather than with `criterion_group!`,
/// whose generated `pub fn` trips the workspace's `missing_docs` lint.
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
}

criterion_main!(benches);
