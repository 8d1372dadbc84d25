//! A minimal WebSocket client connection over a tokio `TcpStream`, built
//! for thousands of connections per thread.
//!
//! - The handshake is written by hand ([`crate::handshake`]); frames are
//!   masked and parsed by [`crate::frame`].
//! - Reading never waits: [`WsConn::drain`] calls `try_read` into one
//!   per-thread scratch buffer (so idle connections hold no read buffer),
//!   feeds the parser and hands each complete message to a callback. One
//!   read usually carries several frames. Pings are answered and close
//!   frames echoed inside `drain`.
//! - Writing never waits either: frames are appended to a small per-connection
//!   queue and written with `try_write`; what the socket does not take stays
//!   queued until [`WsConn::writable`] fires.
//!
//! Callers decide when to read: eagerly after [`WsConn::readable`], or
//! lazily from a timer. A connection read lazily is best [`detached`]
//! from tokio's reactor: its socket then stays non-blocking but leaves
//! epoll, so the packets it receives (30 States a second) no longer wake
//! the runtime thread only to record a readiness nobody waits for. It is
//! attached again for the next request/reply exchange or the goodbye.
//!
//! [`detached`]: WsConn::detach

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::frame::{self, Frame, FrameError, FrameParser, Opcode};
use crate::handshake::{self, HandshakeError, MAX_RESPONSE_HEAD, Target};
use crate::rng::Rng;

/// Size of the per-thread read buffer shared by every connection on it.
pub const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_BYTES]);
}

/// Why opening a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect (or socket set-up) failed.
    #[error("tcp connect: {0}")]
    Tcp(std::io::Error),
    /// The WebSocket upgrade failed.
    #[error("websocket upgrade: {0}")]
    Handshake(#[from] HandshakeError),
}

/// How a connection ended, as far as this client can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The server sent a close frame.
    Closed {
        /// Close code (1005 when the frame carried none).
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The connection ended without a close frame (EOF, reset, write
    /// failure): recorded as 1006 with this reason.
    Dropped(&'static str),
    /// The server broke WebSocket framing.
    Protocol(FrameError),
}

impl Ended {
    /// The close code to record: the frame's, 1006 without one, 1002 for
    /// a framing violation.
    pub fn code(&self) -> u16 {
        match self {
            Ended::Closed { code, .. } => *code,
            Ended::Dropped(_) => 1006,
            Ended::Protocol(_) => 1002,
        }
    }

    /// The reason to record.
    pub fn reason(&self) -> &str {
        match self {
            Ended::Closed { reason, .. } => reason,
            Ended::Dropped(why) => why,
            Ended::Protocol(e) => e.label(),
        }
    }
}

/// One complete data message handed to a [`WsConn::drain`] callback.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Text (the tickforge protocol is binary only) or binary.
    pub text: bool,
    /// Payload length.
    pub len: usize,
    /// The payload, when the parser collects (measuring bots, handshakes)
    /// or the message is small ([`crate::frame::ALWAYS_COLLECT`]).
    pub payload: Option<&'a [u8]>,
    /// The payload's first bytes, always.
    pub prefix: &'a [u8],
}

/// When [`WsConn::drain`] stops reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Until `try_read` would block (clears the readiness that woke us).
    WouldBlock,
    /// Until a read returns less than the buffer: the socket is most
    /// likely empty, and one syscall is saved (timer-driven readers).
    ShortRead,
}

/// What one [`WsConn::drain`] did.
#[derive(Debug, Default)]
pub struct Drained {
    /// Bytes read from the socket.
    pub bytes: usize,
    /// Data messages delivered to the callback.
    pub messages: u32,
    /// Set when the connection is over.
    pub ended: Option<Ended>,
}

/// The socket, registered with tokio's reactor or not.
#[derive(Debug)]
enum Socket {
    /// Registered: readiness can be awaited.
    Reactor(TcpStream),
    /// Not registered: non-blocking reads and writes only.
    Detached(std::net::TcpStream),
    /// Lost in a failed attach or detach.
    Lost,
}

impl Socket {
    fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Reactor(s) => s.try_read(buf),
            Socket::Detached(s) => retry_interrupted(|| (&*s).read(buf)),
            Socket::Lost => Err(ErrorKind::NotConnected.into()),
        }
    }

    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Reactor(s) => s.try_write(buf),
            Socket::Detached(s) => retry_interrupted(|| (&*s).write(buf)),
            Socket::Lost => Err(ErrorKind::NotConnected.into()),
        }
    }

    fn registered(&self) -> std::io::Result<&TcpStream> {
        match self {
            Socket::Reactor(s) => Ok(s),
            _ => Err(std::io::Error::other("socket not attached to the reactor")),
        }
    }
}

fn retry_interrupted(mut f: impl FnMut() -> std::io::Result<usize>) -> std::io::Result<usize> {
    loop {
        match f() {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// One WebSocket connection, client side.
#[derive(Debug)]
pub struct WsConn {
    socket: Socket,
    parser: FrameParser,
    /// Bytes that arrived together with the upgrade response.
    early: Vec<u8>,
    out: Vec<u8>,
    mask: [u8; 4],
    closed_by_server: bool,
}

/// Options for [`WsConn::connect`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// SO_RCVBUF in bytes; 0 keeps the kernel's autotuning.
    pub recv_buffer: u32,
    /// Largest message accepted from the server.
    pub max_message: usize,
}

impl WsConn {
    /// Connects to `addr`, upgrades to WebSocket with the tickforge
    /// subprotocol and returns the open connection (nothing sent yet).
    pub async fn connect(
        addr: SocketAddr,
        target: &Target,
        options: ConnectOptions,
        rng: &mut Rng,
    ) -> Result<WsConn, ConnectError> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(ConnectError::Tcp)?;
        if options.recv_buffer > 0 {
            socket
                .set_recv_buffer_size(options.recv_buffer)
                .map_err(ConnectError::Tcp)?;
        }
        let mut stream = socket.connect(addr).await.map_err(ConnectError::Tcp)?;
        stream.set_nodelay(true).map_err(ConnectError::Tcp)?;
        let key = handshake::new_key(rng);
        let request = handshake::request(target, &key);
        write_all(&stream, request.as_bytes())
            .await
            .map_err(ConnectError::Tcp)?;
        let mut head = Vec::with_capacity(512);
        let head_end = loop {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.map_err(ConnectError::Tcp)?;
            if n == 0 {
                return Err(HandshakeError::Closed.into());
            }
            head.extend_from_slice(&chunk[..n]);
            if let Some(end) = handshake::head_len(&head) {
                break end;
            }
            if head.len() > MAX_RESPONSE_HEAD {
                return Err(HandshakeError::Malformed.into());
            }
        };
        handshake::check_response(&head[..head_end], &key)?;
        let early = head.split_off(head_end);
        Ok(WsConn {
            socket: Socket::Reactor(stream),
            parser: FrameParser::new(options.max_message, true),
            early,
            out: Vec::new(),
            mask: rng.mask(),
            closed_by_server: false,
        })
    }

    /// Takes the socket out of tokio's reactor (see the module docs);
    /// reads and writes stay non-blocking, readiness can no longer be
    /// awaited until [`WsConn::attach`].
    pub fn detach(&mut self) -> std::io::Result<()> {
        if let Socket::Reactor(_) = self.socket
            && let Socket::Reactor(s) = std::mem::replace(&mut self.socket, Socket::Lost)
        {
            self.socket = Socket::Detached(s.into_std()?);
        }
        Ok(())
    }

    /// Registers the socket with tokio's reactor again.
    pub fn attach(&mut self) -> std::io::Result<()> {
        if let Socket::Detached(_) = self.socket
            && let Socket::Detached(s) = std::mem::replace(&mut self.socket, Socket::Lost)
        {
            self.socket = Socket::Reactor(TcpStream::from_std(s)?);
        }
        match self.socket {
            Socket::Lost => Err(ErrorKind::NotConnected.into()),
            _ => Ok(()),
        }
    }

    /// Whether readiness can be awaited (the socket is attached).
    pub fn attached(&self) -> bool {
        matches!(self.socket, Socket::Reactor(_))
    }

    /// Whether message payloads are collected (handed to the callback) or
    /// skipped; takes effect from the next message.
    pub fn set_collect(&mut self, collect: bool) {
        self.parser.collect = collect;
        if !collect {
            self.parser.release_buffer();
        }
    }

    /// This connection's masking key.
    pub fn mask(&self) -> [u8; 4] {
        self.mask
    }

    /// The outgoing queue: encoders append complete frames, then call
    /// [`WsConn::flush_now`].
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Bytes queued and not yet written.
    pub fn backlog(&self) -> usize {
        self.out.len()
    }

    /// Writes as much of the queue as the socket takes without waiting;
    /// `Ok(true)` when the queue is empty afterwards.
    pub fn flush_now(&mut self) -> std::io::Result<bool> {
        let mut written = 0;
        while written < self.out.len() {
            match self.socket.try_write(&self.out[written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if written == self.out.len() {
            self.out.clear();
        } else {
            self.out.drain(..written);
        }
        Ok(self.out.is_empty())
    }

    /// Writes the whole queue, waiting for the socket as needed (attaches it).
    pub async fn flush(&mut self) -> std::io::Result<()> {
        while !self.flush_now()? {
            self.attach()?;
            self.socket.registered()?.writable().await?;
        }
        Ok(())
    }

    /// Resolves when the socket may have bytes to read. Fails at once on a
    /// detached socket.
    pub async fn readable(&self) -> std::io::Result<()> {
        if !self.early.is_empty() {
            return Ok(());
        }
        self.socket.registered()?.readable().await
    }

    /// Resolves when the socket may take more bytes. Fails at once on a
    /// detached socket.
    pub async fn writable(&self) -> std::io::Result<()> {
        self.socket.registered()?.writable().await
    }

    /// Reads what is available now, hands every complete data message to
    /// `on_message`, answers pings and echoes a close frame.
    pub fn drain(&mut self, until: Until, on_message: &mut dyn FnMut(Incoming<'_>)) -> Drained {
        let mut drained = Drained::default();
        let early = std::mem::take(&mut self.early);
        if !early.is_empty() {
            drained.bytes += early.len();
            self.parse(&early, &mut drained, on_message);
        }
        while drained.ended.is_none() {
            let got = SCRATCH.with_borrow_mut(|buf| {
                let n = match self.socket.try_read(buf) {
                    Ok(0) => return Err(Ended::Dropped("eof")),
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(0),
                    Err(e) => return Err(Ended::Dropped(io_reason(&e))),
                };
                drained.bytes += n;
                self.parse(&buf[..n], &mut drained, on_message);
                Ok(n)
            });
            match got {
                Ok(0) => break,
                Ok(n) if until == Until::ShortRead && n < SCRATCH_BYTES => break,
                Ok(_) => {}
                Err(end) => drained.ended = Some(end),
            }
        }
        if !self.out.is_empty()
            && let Err(e) = self.flush_now()
            && drained.ended.is_none()
        {
            drained.ended = Some(Ended::Dropped(io_reason(&e)));
        }
        drained
    }

    fn parse(
        &mut self,
        data: &[u8],
        drained: &mut Drained,
        on_message: &mut dyn FnMut(Incoming<'_>),
    ) {
        let mut input = data;
        loop {
            let frame = match self.parser.next(&mut input) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    drained.ended = Some(Ended::Protocol(e));
                    return;
                }
            };
            match frame {
                Frame::Message {
                    text,
                    len,
                    payload,
                    prefix,
                } => {
                    drained.messages += 1;
                    on_message(Incoming {
                        text,
                        len,
                        payload,
                        prefix,
                    });
                }
                Frame::Ping(payload) => {
                    frame::encode_frame(&mut self.out, Opcode::Pong, payload, self.mask);
                }
                Frame::Pong(_) => {}
                Frame::Close { code, reason } => {
                    let reason = String::from_utf8_lossy(reason).into_owned();
                    // Echo the close (RFC 6455 §5.5.1); 1005/1006 must not be sent.
                    let echo = if matches!(code, 1005 | 1006) {
                        1000
                    } else {
                        code
                    };
                    frame::encode_close(&mut self.out, echo, "", self.mask);
                    self.closed_by_server = true;
                    drained.ended = Some(Ended::Closed { code, reason });
                    return;
                }
            }
        }
    }

    /// Sends a close frame (unless the server already closed) and reads,
    /// skipping payloads, until the server's close or EOF or `linger`
    /// passes. Returns the bytes and messages read meanwhile.
    pub async fn close(&mut self, code: u16, reason: &str, linger: Duration) -> Drained {
        let mut total = Drained::default();
        if self.closed_by_server {
            // Our echo is queued; a best-effort write is all it needs.
            if let Err(e) = self.flush_now() {
                total.ended = Some(Ended::Dropped(io_reason(&e)));
            }
            return total;
        }
        self.set_collect(false);
        frame::encode_close(&mut self.out, code, reason, self.mask);
        if let Err(e) = self.attach() {
            total.ended = Some(Ended::Dropped(io_reason(&e)));
            return total;
        }
        let wait = async {
            self.flush().await?;
            loop {
                self.readable().await?;
                let d = self.drain(Until::WouldBlock, &mut |_| {});
                total.bytes += d.bytes;
                total.messages += d.messages;
                if d.ended.is_some() {
                    total.ended = d.ended;
                    return Ok::<(), std::io::Error>(());
                }
            }
        };
        match tokio::time::timeout(linger, wait).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => total.ended = Some(Ended::Dropped(io_reason(&e))),
            Err(_) => total.ended = Some(Ended::Dropped("close_timeout")),
        }
        total
    }
}

/// Writes all of `bytes` (used for the upgrade request only).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A stable reason for an I/O error that ended a connection.
pub fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::ConnectionReset => "connection_reset",
        ErrorKind::ConnectionAborted => "connection_aborted",
        ErrorKind::BrokenPipe => "broken_pipe",
        ErrorKind::UnexpectedEof => "eof",
        ErrorKind::TimedOut => "timed_out",
        ErrorKind::WriteZero => "write_zero",
        _ => "io_error",
    }
}
