//! A public connection's socket as the HTTP server and, after an upgrade,
//! the WebSocket session see it: the stream, the admission slots it holds
//! for exactly as long as it is open, and its [`Activity`] (progress and
//! requests in flight), which the connection's watchdog reads to close
//! idle keep-alive connections.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::limits::{ConnSlot, IpSlot};

/// What a connection's watchdog reads (one connection, one shard).
#[derive(Debug, Default)]
pub struct Activity {
    progress: AtomicU64,
    in_flight: AtomicU32,
    answered: AtomicU64,
    ws_requested: AtomicBool,
}

impl Activity {
    /// Reads and writes that moved bytes so far.
    pub fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }
    /// Requests being handled now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }
    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
    /// True once the connection asked for a WebSocket.
    pub fn ws_requested(&self) -> bool {
        self.ws_requested.load(Ordering::Relaxed)
    }
    /// Marks the connection as asking for a WebSocket (upgrade deadline).
    pub fn request_ws(&self) {
        self.ws_requested.store(true, Ordering::Relaxed);
    }
    /// A request is being handled until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// One request being handled (see [`Activity::begin`]).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.answered.fetch_add(1, Ordering::Relaxed);
    }
}

/// A stream holding its connection's admission slots (see the module docs).
pub struct Tracked<S> {
    io: S,
    activity: Arc<Activity>,
    _slots: (ConnSlot, IpSlot),
}

impl<S> Tracked<S> {
    /// `io`, holding `conn` and `ip` until it is dropped.
    pub fn new(io: S, activity: Arc<Activity>, conn: ConnSlot, ip: IpSlot) -> Tracked<S> {
        Tracked {
            io,
            activity,
            _slots: (conn, ip),
        }
    }

    fn moved(&self) {
        self.activity.progress.fetch_add(1, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        polled
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        polled
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
