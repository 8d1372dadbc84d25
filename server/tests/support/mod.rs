//! Test support: start a real server on 127.0.0.1:0 (public and admin
//! listeners), connect real clients, read `/rooms` and `/metrics` from the
//! admin listener over HTTP, and count panics on the server's shard threads.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod node;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tickforge_protocol::arena_codec::{self, Move};
use tickforge_protocol::client::{Client, ClientError, ConnectOptions, Event, Socket, StateInfo};
use tickforge_protocol::session_token::{Claims, SessionKeys};
use tickforge_server::{Config, GameRegistry, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

pub mod abuse;
pub mod cluster;
pub mod players;
pub mod proxy;
pub mod redis;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Only the server's threads: a failing assertion in another test is not a server panic.
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("tickforge-shard"))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Panics seen on server threads in this test process so far.
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// The session key every test server of this process signs and verifies
/// tokens with (written once to a temporary file).
pub fn session_key_file() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("tickforge-test-key-{}.json", std::process::id()));
        let key = SessionKeys::generate_ed25519_json().expect("key generates");
        std::fs::write(&path, key).expect("key file written");
        path
    })
}

/// A session token for `player` (display name: the player id), valid for an hour.
pub fn token(player: &str) -> String {
    static KEYS: OnceLock<SessionKeys> = OnceLock::new();
    let keys = KEYS.get_or_init(|| SessionKeys::load(session_key_file()).expect("test key loads"));
    keys.mint(&Claims::new(
        player,
        Some(player.to_string()),
        Duration::from_secs(3600),
    ))
    .expect("token signs")
}

/// Connects to `server` with `options` (e.g. a guest's token).
pub async fn connect_with(server: &TestServer, options: ConnectOptions) -> Client {
    Client::connect(&server.url(), options)
        .await
        .expect("client connects")
}

/// Connect options for `player` with a token signed by the test key.
pub fn player_options(player: &str) -> ConnectOptions {
    ConnectOptions {
        player_id: player.to_string(),
        ..ConnectOptions::token(token(player))
    }
}

pub struct TestServer {
    server: Option<Server>,
    /// The public listener (`/ws`, `/healthz`, `/readyz`, public `/rooms`, `/play`).
    pub addr: SocketAddr,
    /// The admin listener (`/metrics`, `/dashboard`, `/presence`, operators' `/rooms`).
    pub admin_addr: SocketAddr,
    /// The server's data directory when the test did not choose one (removed on drop).
    own_data_dir: Option<std::path::PathBuf>,
}

/// A fresh, empty directory for one server's data (embedded store, spill file).
pub fn fresh_data_dir() -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tickforge-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts a server with the given extra flags, both listeners on free
/// loopback ports.
pub fn start(extra: &[&str]) -> TestServer {
    count_panics();
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
    args.extend_from_slice(extra);
    let key_file = session_key_file().to_string_lossy().into_owned();
    if !extra.contains(&"--session-key-file") {
        args.extend(["--session-key-file", key_file.as_str()]);
    }
    let own_data_dir = (!extra.contains(&"--data-dir")).then(fresh_data_dir);
    let dir_arg = own_data_dir
        .as_ref()
        .map(|d| d.to_string_lossy().into_owned());
    if let Some(dir) = &dir_arg {
        args.extend(["--data-dir", dir.as_str()]);
    }
    let config = Config::load_from(args).expect("test config");
    let server = Server::start(config, GameRegistry::default()).expect("server starts");
    let addr = server.local_addr();
    let admin_addr = server.admin_addr();
    TestServer {
        server: Some(server),
        addr,
        admin_addr,
        own_data_dir,
    }
}

impl TestServer {
    /// Whether the node has begun shutting down (by itself, after a drain).
    pub fn is_shutting_down(&self) -> bool {
        self.server
            .as_ref()
            .is_some_and(|s| s.node().shutdown.is_cancelled())
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn connect(&self, player: &str) -> Client {
        Client::connect(&self.url(), player_options(player))
            .await
            .expect("client connects")
    }

    /// A WebSocket with the subprotocol negotiated and nothing sent.
    pub async fn raw(&self) -> Socket {
        Client::open(&self.url(), &ConnectOptions::player("raw"))
            .await
            .expect("raw connect")
    }

    /// `GET path` on the public listener.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }

    /// `GET path` on the admin listener.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin_addr, path).await
    }

    /// The operators' `/rooms` (admin listener): every room with its shard and tick.
    pub async fn rooms(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.admin_get("/rooms").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("rooms json")
    }

    /// The public `/rooms` (public listener).
    pub async fn public_rooms(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.get("/rooms").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("rooms json")
    }

    pub async fn room(&self, id: &str) -> Option<serde_json::Value> {
        self.rooms().await.into_iter().find(|r| r["id"] == id)
    }

    /// The value of one series in `/metrics` (admin listener), e.g.
    /// `tickforge_disconnects_total{cause="bad_frame"}`.
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.admin_get("/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// A new guest session from `POST /auth/guest` on the public listener:
    /// the guest's player id and connect options with its token.
    pub async fn guest_session(&self) -> (String, ConnectOptions) {
        let (status, body) = http(self.addr, "POST", "/auth/guest", Some("{}"))
            .await
            .expect("POST /auth/guest");
        assert_eq!(status, 200, "{body}");
        let session: serde_json::Value = serde_json::from_str(&body).expect("guest json");
        let player = session["player_id"]
            .as_str()
            .expect("player_id")
            .to_string();
        let token = session["token"].as_str().expect("token");
        (player, ConnectOptions::token(token))
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
        if let Some(dir) = self.own_data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, None).await.expect("http get")
}

/// One HTTP/1.0 request (optionally a form POST), bounded in time. HTTP/1.0
/// answers carry no chunked encoding and close the connection (tickforge and
/// Prometheus alike), so the body is everything after the headers.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    form: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let headers: &[(&str, &str)] = match form {
        Some(_) => &[("Content-Type", "application/x-www-form-urlencoded")],
        None => &[],
    };
    let response = http_request(addr, method, path, headers, form).await?;
    Ok((response.status, response.body))
}

/// An HTTP answer: status, headers (names in lower case, in order) and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 request with extra `headers` and an optional body, bounded
/// in time (see [`http`]).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<HttpResponse> {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await?;
        let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        request.push_str(body.unwrap_or_default());
        tcp.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        tcp.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(HttpResponse {
            status,
            headers,
            body: body.to_string(),
        })
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "HTTP exchange timed out",
            ))
        })
}

/// An arena input payload.
pub fn arena_input(x: i8, y: i8) -> Vec<u8> {
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    arena_codec::encode_input(&mut fbb, Move { x, y, buttons: 0 }).to_vec()
}

/// Position of `entity` in an arena state.
pub fn position(state: &[u8], entity: u32) -> Option<(f32, f32)> {
    let state = arena_codec::decode_state(state).ok()?;
    state
        .entities()?
        .iter()
        .find(|e| e.id() == entity)
        .map(|e| (e.x(), e.y()))
}

/// Next State event, skipping others; fails after `within`.
pub async fn next_state(client: &mut Client, within: Duration) -> StateInfo {
    tokio::time::timeout(within, async {
        loop {
            match client.next_event().await.expect("event") {
                Event::State(s) => return s,
                _ => continue,
            }
        }
    })
    .await
    .expect("a State in time")
}

/// Reads until the server closes; returns (code, reason).
pub async fn close_of(ws: &mut Socket, within: Duration) -> (u16, String) {
    tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return (1006, e.to_string()),
                None => return (1006, "eof".to_string()),
            }
        }
    })
    .await
    .expect("server closed in time")
}

/// Reads events until the server closes; returns (code, reason).
pub async fn client_close_of(client: &mut Client, within: Duration) -> (u16, String) {
    tokio::time::timeout(within, async {
        loop {
            match client.next_event().await {
                Ok(_) => continue,
                Err(
                    e @ (ClientError::Closed { .. }
                    | ClientError::AccessDenied { .. }
                    | ClientError::RateLimited { .. }),
                ) => {
                    let (code, reason) = e.close().unwrap_or((1006, ""));
                    return (code, reason.to_string());
                }
                Err(e) => return (1006, e.to_string()),
            }
        }
    })
    .await
    .expect("server closed in time")
}

/// A small bot load: `count` clients join `mode` and send arena inputs at
/// `input_hz` while reading everything, until the returned guard is dropped.
pub struct Bots {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Bots {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub async fn bots(server: &TestServer, count: usize, mode: &str, input_hz: u32) -> Bots {
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let mut client = server.connect(&format!("bot{i}")).await;
        client.join_or_create(mode).await.expect("bot joins");
        let period = Duration::from_secs_f64(1.0 / f64::from(input_hz.max(1)));
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            let mut step = 0u32;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        step = step.wrapping_add(1);
                        let x = if (step / 30 + i as u32).is_multiple_of(2) { 100 } else { -100 };
                        if client.send_input(&arena_input(x, 40)).await.is_err() {
                            return;
                        }
                        if step.is_multiple_of(10) && client.ping().await.is_err() {
                            return;
                        }
                    }
                    event = client.next_event() => if event.is_err() { return },
                }
            }
        }));
    }
    Bots { tasks }
}
