//! Test support: a real tickforge server on 127.0.0.1:0 in this process,
//! swarm settings pointed at it, and a time bound for every test; a real
//! `redis-server` for nodes that share presence ([`redis`], the server
//! tests' own).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tickforge_server::{Config, GameRegistry, Server};
use tickforge_swarm::{Report, SwarmConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../../../server/tests/support/redis.rs"]
pub mod redis;

/// Longest any swarm test may take.
pub const TEST_BOUND: Duration = Duration::from_secs(90);

/// The session key of this process's test servers; the swarm signs each
/// bot's token with it.
pub fn key_file() -> &'static std::path::Path {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = temp_path("session-key.json");
        let key = tickforge_protocol::session_token::SessionKeys::generate_ed25519_json()
            .expect("key generates");
        std::fs::write(&path, key).expect("key file written");
        path
    })
}

pub struct TestServer {
    server: Option<Server>,
    pub addr: SocketAddr,
    /// The admin listener (`/rooms`, `/admin/drain`).
    pub admin_addr: SocketAddr,
}

/// Starts a server with the given extra flags on a free loopback port.
pub fn start_server(extra: &[&str]) -> TestServer {
    let mut args = vec![
        "tickforge",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--pin-cores",
        "false",
        "--log",
        "warn",
    ];
    let key = key_file().to_string_lossy().into_owned();
    args.extend(["--session-key-file", key.as_str()]);
    // Each server its own embedded store: two in one process would share a lock.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data_dir = temp_path(&format!("data-{n}"))
        .to_string_lossy()
        .into_owned();
    args.extend(["--data-dir", data_dir.as_str()]);
    args.extend_from_slice(extra);
    let config = Config::load_from(args).expect("test server config");
    let server = Server::start(config, GameRegistry::default()).expect("server starts");
    let addr = server.local_addr();
    let admin_addr = server.admin_addr();
    TestServer {
        server: Some(server),
        addr,
        admin_addr,
    }
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Swarm settings for this server: `flags` on top of the defaults,
    /// quiet (no progress bar in test output).
    pub fn swarm(&self, flags: &[&str]) -> SwarmConfig {
        let url = self.url();
        let key = key_file().to_string_lossy().into_owned();
        let mut args = vec![
            "tickforge-swarm",
            "--url",
            &url,
            "--quiet",
            "--token-key-file",
            &key,
        ];
        args.extend_from_slice(flags);
        <SwarmConfig as clap::Parser>::try_parse_from(args).expect("swarm flags")
    }

    /// The server (its node, directory, presence).
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    /// One HTTP/1.0 request to the admin listener: status and body.
    pub async fn admin(&self, method: &str, path: &str) -> (u16, String) {
        let mut tcp = tokio::net::TcpStream::connect(self.admin_addr)
            .await
            .expect("admin listener");
        let request = format!("{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.expect("request");
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.expect("response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        (status.unwrap_or(0), body.to_string())
    }

    /// Waits until the server has stopped by itself (a drain ends in a
    /// shutdown), every thread joined and every snapshot written.
    pub async fn stopped(mut self) {
        if let Some(server) = self.server.take() {
            tokio::task::spawn_blocking(move || server.wait())
                .await
                .expect("the server's threads stopped");
        }
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
            server.wait();
        }
    }
}

/// Runs a swarm to its report, failing the test on a run error.
pub async fn run_swarm(config: SwarmConfig) -> Report {
    match tickforge_swarm::run(config).await {
        Ok(report) => report,
        Err(e) => panic!("swarm run failed: {e}"),
    }
}

/// Fails the test if `f` takes longer than [`TEST_BOUND`].
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_BOUND, f)
        .await
        .expect("the test finished within its time bound")
}

/// A path in the temp directory unique to this process and `name`.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tickforge-swarm-{}-{name}", std::process::id()))
}

/// Prints the report's table (shown when a test fails).
pub fn show(report: &Report) {
    println!("{}", report.table());
}
