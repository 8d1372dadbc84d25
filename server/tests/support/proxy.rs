//! A TCP proxy between a test client and the server that can make the
//! connections open now go silent without closing anything (a real
//! half-open connection: the server's socket stays open and hears
//! nothing), or cut them (both sides see the TCP connection end, without a
//! WebSocket close). Connections made later are forwarded.

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
    /// One switch per connection made so far.
    modes: Arc<Mutex<Vec<watch::Sender<Mode>>>>,
    /// Connections kept open, unread, while silent.
    held: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let modes = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let modes = modes.clone();
            let held = held.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (mode, rx) = watch::channel(Mode::Forward);
                    modes.lock().expect("modes").push(mode);
                    tokio::spawn(pipe(client, server, rx, held.clone()));
                }
            })
        };
        Proxy {
            addr,
            modes,
            held,
            accept,
        }
    }

    /// The WebSocket URL through the proxy.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops forwarding on the open connections, in both directions, and
    /// keeps their sockets open.
    pub fn go_silent(&self) {
        self.switch(Mode::Silent);
    }

    /// Closes the open connections (TCP FIN to both sides, no WebSocket close).
    pub fn cut(&self) {
        self.switch(Mode::Cut);
        self.held.lock().expect("held").clear();
    }

    fn switch(&self, mode: Mode) {
        for switch in self.modes.lock().expect("modes").drain(..) {
            switch.send_replace(mode);
        }
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
