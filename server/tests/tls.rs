//! TLS on the public listener, over real sockets, with certificates made at
//! test time (rcgen, self-signed for `localhost` and 127.0.0.1): the Rust
//! client plays over `wss://` trusting that certificate, plain `ws://` to
//! the TLS port fails, SIGHUP puts a new certificate in service for new
//! connections while open ones keep playing, and a reload with unreadable
//! files keeps the old certificate.
//!
//! SIGHUP goes to this whole test process; only one test here sends it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, DnType, KeyPair, SerialNumber};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use support::cluster::eventually;
use support::{TestServer, arena_input, next_state, player_options, start};
use tickforge_protocol::client::{Client, ConnectOptions};
use tickforge_server::Config;
use tokio_tungstenite::MaybeTlsStream;

/// A self-signed certificate for `localhost` and 127.0.0.1.
struct TestCert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn certificate(serial: u64) -> TestCert {
    let key = KeyPair::generate().expect("key pair");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("certificate parameters");
    params.serial_number = Some(SerialNumber::from(serial));
    params
        .distinguished_name
        .push(DnType::CommonName, format!("tickforge test {serial}"));
    let cert = params.self_signed(&key).expect("self-signed certificate");
    TestCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

/// A fresh directory holding `cert.pem` and `key.pem`.
struct CertDir(PathBuf);

impl CertDir {
    fn new(cert: &TestCert) -> CertDir {
        let dir = support::fresh_data_dir();
        std::fs::create_dir_all(&dir).expect("cert dir");
        let dir = CertDir(dir);
        dir.write(cert);
        dir
    }
    fn cert(&self) -> PathBuf {
        self.0.join("cert.pem")
    }
    fn key(&self) -> PathBuf {
        self.0.join("key.pem")
    }
    fn write(&self, cert: &TestCert) {
        std::fs::write(self.cert(), &cert.cert_pem).expect("cert written");
        std::fs::write(self.key(), &cert.key_pem).expect("key written");
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_tls(dir: &CertDir) -> TestServer {
    let (cert, key) = (dir.cert(), dir.key());
    start(&[
        "--tls-cert",
        cert.to_str().expect("utf-8 path"),
        "--tls-key",
        key.to_str().expect("utf-8 path"),
    ])
}

fn wss(server: &TestServer) -> String {
    format!("wss://127.0.0.1:{}/ws", server.addr.port())
}

/// `player`'s options trusting exactly `certs`.
fn trusting(player: &str, certs: &[&TestCert]) -> ConnectOptions {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert.der.clone()).expect("a usable trust anchor");
    }
    ConnectOptions {
        tls_roots: Some(Arc::new(roots)),
        ..player_options(player)
    }
}

/// The certificate the server presents to a new connection.
async fn served_certificate(url: &str, options: &ConnectOptions) -> Vec<u8> {
    let ws = Client::open(url, options).await.expect("wss opens");
    match ws.get_ref() {
        MaybeTlsStream::Rustls(tls) => tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| cert.to_vec())
            .expect("the server presents a certificate"),
        _ => panic!("{url} did not speak TLS"),
    }
}

fn sighup() {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -HUP failed: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_client_plays_over_wss_and_sighup_swaps_the_certificate_for_new_connections() {
    let (first, second) = (certificate(1), certificate(2));
    let dir = CertDir::new(&first);
    let server = start_tls(&dir);
    let url = wss(&server);
    let both = [&first, &second];

    let mut alice = Client::connect(&url, trusting("alice", &both))
        .await
        .expect("alice connects over wss");
    let joined = alice.join_or_create("arena").await.expect("alice joins");
    next_state(&mut alice, Duration::from_secs(5)).await;
    assert_eq!(
        served_certificate(&url, &trusting("probe", &both)).await,
        first.der.to_vec()
    );
    // Redirects from other nodes name this node's wss:// URL.
    let cluster = server.admin_get("/rooms?scope=cluster").await.1;
    assert!(cluster.contains(&format!("\"url\":\"{url}\"")), "{cluster}");

    // A new certificate in the files, then SIGHUP.
    dir.write(&second);
    sighup();
    eventually(
        Duration::from_secs(10),
        "the new certificate served",
        || async {
            (served_certificate(&url, &trusting("probe", &both)).await == second.der.to_vec())
                .then_some(())
        },
    )
    .await;
    assert!(server.metric("tickforge_tls_reloads_total").await >= 1.0);
    // The open connection keeps playing on the old one.
    alice
        .send_input(&arena_input(10, 0))
        .await
        .expect("alice still sends");
    alice.ping().await.expect("alice still gets answers");
    let state = next_state(&mut alice, Duration::from_secs(5)).await;
    assert!(state.ack_for(joined.entity_id).is_some());

    // Files that do not load: the node keeps serving the second certificate.
    std::fs::write(dir.cert(), "not a certificate").expect("cert overwritten");
    let failures = server.metric("tickforge_tls_reload_failures_total").await;
    sighup();
    eventually(
        Duration::from_secs(10),
        "the failed reload counted",
        || async {
            (server.metric("tickforge_tls_reload_failures_total").await > failures).then_some(())
        },
    )
    .await;
    assert_eq!(
        served_certificate(&url, &trusting("probe", &both)).await,
        second.der.to_vec()
    );
    let mut bob = Client::connect(&url, trusting("bob", &[&second]))
        .await
        .expect("bob connects after the failed reload");
    bob.join(&joined.room_id).await.expect("bob joins alice");
    server.stop().await;
}

#[tokio::test]
async fn plain_ws_and_untrusted_clients_are_refused_on_the_tls_port() {
    let cert = certificate(7);
    let dir = CertDir::new(&cert);
    let server = start_tls(&dir);
    let failures = server
        .metric("tickforge_tls_handshake_failures_total")
        .await;

    let plain = format!("ws://{}/ws", server.addr);
    let refused = Client::connect(&plain, trusting("plain", &[&cert])).await;
    assert!(refused.is_err(), "plain ws:// to the TLS port connected");
    // The default trust (webpki roots) does not know a self-signed certificate.
    let untrusted = Client::connect(&wss(&server), player_options("stranger")).await;
    assert!(
        untrusted.is_err(),
        "a client that does not trust it connected"
    );
    eventually(
        Duration::from_secs(5),
        "the failed handshakes counted",
        || async {
            (server
                .metric("tickforge_tls_handshake_failures_total")
                .await
                >= failures + 2.0)
                .then_some(())
        },
    )
    .await;

    // The same client trusting the certificate (as PEM) plays.
    let options = player_options("friend")
        .trust_pem(cert.cert_pem.as_bytes())
        .expect("PEM trusted");
    let mut friend = Client::connect(&wss(&server), options)
        .await
        .expect("a trusting client connects");
    friend.join_or_create("arena").await.expect("joins");
    server.stop().await;
}

#[tokio::test]
async fn a_handshake_that_never_comes_times_out_without_holding_up_others() {
    let cert = certificate(8);
    let dir = CertDir::new(&cert);
    let (cert_path, key_path) = (dir.cert(), dir.key());
    let server = start(&[
        "--shards",
        "1",
        "--tls-cert",
        cert_path.to_str().expect("utf-8 path"),
        "--tls-key",
        key_path.to_str().expect("utf-8 path"),
        "--tls-handshake-timeout-ms",
        "500",
    ]);
    let timeouts = server
        .metric("tickforge_tls_handshake_timeouts_total")
        .await;
    // Connections that say nothing, on the only shard.
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(
            tokio::net::TcpStream::connect(server.addr)
                .await
                .expect("tcp connects"),
        );
    }
    let mut player = Client::connect(&wss(&server), trusting("p", &[&cert]))
        .await
        .expect("a real client is served meanwhile");
    player.join_or_create("arena").await.expect("joins");
    eventually(
        Duration::from_secs(5),
        "the silent handshakes timed out",
        || async {
            (server
                .metric("tickforge_tls_handshake_timeouts_total")
                .await
                >= timeouts + 5.0)
                .then_some(())
        },
    )
    .await;
    drop(silent);
    server.stop().await;
}

fn config_error(args: &[&str]) -> String {
    let mut all = vec!["tickforge", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    match Config::load_from(all) {
        Ok(_) => panic!("{args:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn tls_needs_both_files_and_files_that_load() {
    let error = config_error(&["--tls-cert", "cert.pem"]);
    assert!(error.contains("--tls-key"), "{error}");
    let error = config_error(&["--tls-key", "key.pem"]);
    assert!(error.contains("--tls-cert"), "{error}");

    let (cert, other) = (certificate(3), certificate(4));
    let dir = CertDir::new(&cert);
    let start_with = |cert: &Path, key: &Path| {
        let config = Config::load_from([
            "tickforge",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ])
        .expect("config");
        match tickforge_server::Server::start(config, Default::default()) {
            Ok(_) => panic!("started with {} and {}", cert.display(), key.display()),
            Err(e) => e.to_string(),
        }
    };
    let missing = dir.0.join("missing.pem");
    let error = start_with(&missing, &dir.key());
    assert!(error.contains("--tls-cert"), "{error}");
    // A key that is not the certificate's.
    let wrong_key = dir.0.join("other-key.pem");
    std::fs::write(&wrong_key, &other.key_pem).expect("other key written");
    let error = start_with(&dir.cert(), &wrong_key);
    assert!(error.contains("does not fit"), "{error}");
    // The certificate where the key should be.
    let error = start_with(&dir.cert(), &dir.cert());
    assert!(error.contains("--tls-key"), "{error}");
}
