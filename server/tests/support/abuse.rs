//! Abuse from loopback beside an honest player: raw sockets from a chosen
//! loopback source address (127.0.0.2 is another client IP to the server),
//! WebSocket upgrade requests written by hand, and an honest player whose
//! share of States is measured while the abuse runs.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickforge_protocol::client::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::{TestServer, arena_input};

/// A TCP connection to `addr` from source address `from` (any port).
pub async fn connect_from(from: [u8; 4], addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::from(from), 0))?;
    socket.connect(addr).await
}

/// A WebSocket upgrade request for `/ws` with the tickforge subprotocol.
pub fn upgrade_request(addr: SocketAddr) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: tickforge.v1\r\n\r\n"
    )
}

/// Sends `request` on `tcp` and reads the answer's head: the status code
/// and the head's text; `None` when the connection closed without one.
pub async fn exchange(tcp: &mut TcpStream, request: &str) -> Option<(u16, String)> {
    tcp.write_all(request.as_bytes()).await.ok()?;
    read_head(tcp).await
}

/// Reads an answer's head (within 5 s): status code and text.
pub async fn read_head(tcp: &mut TcpStream) -> Option<(u16, String)> {
    let mut head = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match tcp.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
    });
    read.await.ok()?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

/// True when the server closes `tcp` (end of stream or reset) within `within`.
pub async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    tokio::time::timeout(within, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// An honest player in an arena room: sends inputs at 10 Hz and records the
/// tick of every State it receives.
pub struct Honest {
    ticks: Arc<Mutex<Vec<u64>>>,
    task: tokio::task::JoinHandle<()>,
    /// The room it plays in.
    pub room: String,
}

impl Honest {
    /// Connects `player` and joins an arena room.
    pub async fn start(server: &TestServer, player: &str) -> Honest {
        let mut client = server.connect(player).await;
        let room = client.join_or_create("arena").await.expect("joins").room_id;
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let seen = ticks.clone();
        let task = tokio::spawn(async move {
            let mut inputs = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = inputs.tick() => {
                        if client.send_input(&arena_input(50, 0)).await.is_err() {
                            return;
                        }
                    }
                    event = client.next_event() => match event {
                        Ok(Event::State(state)) => seen.lock().unwrap().push(state.tick),
                        Ok(_) => {}
                        Err(_) => return,
                    },
                }
            }
        });
        Honest { ticks, task, room }
    }

    /// States received so far (a mark for [`Honest::share_since`]).
    pub fn mark(&self) -> usize {
        self.ticks.lock().unwrap().len()
    }

    /// States received since `mark` over the ticks they span (1.0: none
    /// missed), and how many were received.
    pub fn share_since(&self, mark: usize) -> (f64, usize) {
        let ticks = self.ticks.lock().unwrap();
        let window = &ticks[mark.min(ticks.len())..];
        match (window.first(), window.last()) {
            (Some(first), Some(last)) => {
                let span = (last - first + 1) as f64;
                (window.len() as f64 / span, window.len())
            }
            _ => (0.0, 0),
        }
    }

    /// Asserts that at least 95% of the States since `mark` arrived, and at
    /// least `min` of them.
    pub fn assert_kept_playing(&self, mark: usize, min: usize) {
        let (share, received) = self.share_since(mark);
        assert!(
            share >= 0.95 && received >= min,
            "honest player got {received} States, {:.1}% of the ticks they span",
            share * 100.0
        );
    }
}

impl Drop for Honest {
    fn drop(&mut self) {
        self.task.abort();
    }
}
