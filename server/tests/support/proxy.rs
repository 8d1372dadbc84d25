//! A TCP proxy between a test client and the server that can go silent
//! without closing anything (a real half-open connection: the server's
//! socket stays open and hears nothing), or cut every connection at once
//! (both sides see the TCP connection end, without a WebSocket close).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Silent,
    Cut,
}

/// A proxy on a free loopback port forwarding to one upstream address.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Connections kept open, unread, while silent.
    held: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Forward);
        let held = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let mode = mode.clone();
            let held = held.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    tokio::spawn(pipe(client, server, mode.subscribe(), held.clone()));
                }
            })
        };
        Proxy {
            addr,
            mode,
            held,
            accept,
        }
    }

    /// The WebSocket URL through the proxy.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops forwarding in both directions and keeps every socket open.
    pub fn go_silent(&self) {
        self.mode.send_replace(Mode::Silent);
    }

    /// Closes every connection (TCP FIN to both sides, no WebSocket close).
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        self.held.lock().expect("held").clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pipe(
    mut client: TcpStream,
    mut server: TcpStream,
    mut mode: watch::Receiver<Mode>,
    held: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
) {
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Forward => {}
            Mode::Silent => {
                held.lock().expect("held").push((client, server));
                return;
            }
            Mode::Cut => return,
        }
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            n = client.read(&mut up) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if server.write_all(&up[..n]).await.is_err() { return },
            },
            n = server.read(&mut down) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if client.write_all(&down[..n]).await.is_err() { return },
            },
        }
    }
}
