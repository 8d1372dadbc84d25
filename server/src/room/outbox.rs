//! A member's outbox: the ordered path of frames from its room to its
//! session, and the direct path that skips it. Policy when full: the
//! member is a slow consumer and is disconnected (the room never waits).
//!
//! **Direct path.** A session on plain TCP attaches its socket
//! ([`OutboxReceiver::attach_socket`]). While the session's writer is idle
//! (nothing buffered, nothing queued) and the room runs on the socket's own
//! shard thread, [`OutboxSender::deliver`] writes the pre-framed frame
//! straight to the socket with one non-blocking `writev`: no task wake-up,
//! no copy. A write that would block, or that is partial, queues the frame
//! (with the offset already written) and wakes the session, which writes
//! the rest before anything else: frames never interleave, and everything
//! the session sends itself (Pong, errors, close) waits behind the queue.
//!
//! **Queued path.** A small `VecDeque` behind an uncontended mutex plus an
//! `AtomicWaker`, sized by what it holds (usually nothing), not by its
//! bound.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::thread::ThreadId;

use atomic_waker::AtomicWaker;
use tokio::net::TcpStream;

use crate::net::wire::WireFrame;

/// A frame waiting for the session, with the bytes of it already on the
/// wire (a partial direct write): the session writes the rest first.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The frame.
    pub frame: WireFrame,
    /// Bytes of it already written to the socket.
    pub written: usize,
}

/// The session's shard thread and, on plain TCP, its socket: a room may
/// write to it directly from that thread only (the session cannot be
/// mid-write then).
struct Direct {
    socket: Option<Arc<TcpStream>>,
    thread: ThreadId,
}

struct Inner {
    frames: VecDeque<Queued>,
    direct: Option<Direct>,
    /// The session has nothing buffered: a direct write cannot interleave.
    writer_idle: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    capacity: usize,
    waker: AtomicWaker,
    session_gone: AtomicBool,
    room_gone: AtomicBool,
    /// The session went away expecting a resume: the room holds the seat.
    held: AtomicBool,
}

impl Shared {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock; recover the data if one ever did.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why a frame was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The outbox holds `capacity` frames: the session is not keeping up.
    Full,
    /// The session has gone.
    Closed,
}

/// How a frame was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Written whole to the socket by the room.
    Direct,
    /// Queued for the session (no direct path, or a backlog).
    Queued,
    /// Part written directly; the rest queued (the socket's buffer filled).
    Partial,
    /// Queued because the session lives on another shard than the room.
    CrossShard,
}

/// The room's end. Dropping it tells the session the room let go.
pub struct OutboxSender {
    shared: Arc<Shared>,
}

/// The session's end. Dropping it tells the room the session has gone.
pub struct OutboxReceiver {
    shared: Arc<Shared>,
}

/// A new outbox holding at most `capacity` frames.
pub fn outbox(capacity: usize) -> (OutboxSender, OutboxReceiver) {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            frames: VecDeque::new(),
            direct: None,
            writer_idle: false,
        }),
        capacity: capacity.max(1),
        waker: AtomicWaker::new(),
        session_gone: AtomicBool::new(false),
        room_gone: AtomicBool::new(false),
        held: AtomicBool::new(false),
    });
    (
        OutboxSender {
            shared: shared.clone(),
        },
        OutboxReceiver { shared },
    )
}

impl OutboxSender {
    /// Delivers `frame`: written directly when the session's socket allows
    /// it from `thread` (see the module docs), else queued with a wake.
    /// Never blocks.
    pub fn deliver(&self, frame: &WireFrame, thread: ThreadId) -> Result<Delivered, SendError> {
        if self.shared.session_gone.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        let delivered = {
            let mut inner = self.shared.inner();
            let mut written = 0;
            let cross_shard = inner.direct.as_ref().is_some_and(|d| d.thread != thread);
            if inner.writer_idle
                && inner.frames.is_empty()
                && let Some(direct) = inner.direct.as_ref().filter(|d| d.thread == thread)
                && let Some(socket) = &direct.socket
            {
                match frame.try_write_from(0, socket) {
                    Ok(n) if n == frame.len() => return Ok(Delivered::Direct),
                    Ok(n) => written = n,
                    // The session's own write will see the error, if any.
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                        tracing::trace!(error = %e, "direct write failed; queued");
                    }
                    Err(_) => {}
                }
            }
            if written == 0 && inner.frames.len() >= self.shared.capacity {
                return Err(SendError::Full);
            }
            inner.writer_idle = false;
            inner.frames.push_back(Queued {
                frame: frame.clone(),
                written,
            });
            if written > 0 {
                Delivered::Partial
            } else if cross_shard {
                Delivered::CrossShard
            } else {
                Delivered::Queued
            }
        };
        self.shared.waker.wake();
        Ok(delivered)
    }

    /// Queues `frame` for the session (never written directly): for
    /// frames built outside a broadcast.
    pub fn try_send(&self, frame: WireFrame) -> Result<(), SendError> {
        if self.shared.session_gone.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        {
            let mut inner = self.shared.inner();
            if inner.frames.len() >= self.shared.capacity {
                return Err(SendError::Full);
            }
            inner.writer_idle = false;
            inner.frames.push_back(Queued { frame, written: 0 });
        }
        self.shared.waker.wake();
        Ok(())
    }

    /// The session closed this outbox with [`OutboxReceiver::close_for_resume`].
    pub fn closed_for_resume(&self) -> bool {
        self.shared.held.load(Ordering::Acquire)
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        self.shared.room_gone.store(true, Ordering::Release);
        self.shared.waker.wake();
    }
}

impl OutboxReceiver {
    /// Records the current thread as the session's shard and, with a
    /// plain TCP `socket`, lets the room write to it directly from this
    /// thread whenever the session reports itself idle.
    pub fn attach_socket(&self, socket: Option<Arc<TcpStream>>) {
        self.shared.inner().direct = Some(Direct {
            socket,
            thread: std::thread::current().id(),
        });
    }

    /// The next frame; `None` once the room let go and the queue is empty.
    pub async fn recv(&mut self) -> Option<Queued> {
        poll_fn(|cx| {
            self.shared.waker.register(cx.waker());
            match self.shared.inner().frames.pop_front() {
                Some(frame) => Poll::Ready(Some(frame)),
                None if self.shared.room_gone.load(Ordering::Acquire) => Poll::Ready(None),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Moves up to `max` queued frames into `out` under one lock.
    pub fn drain_into<T>(&mut self, out: &mut Vec<T>, max: usize, wrap: impl Fn(Queued) -> T) {
        let mut inner = self.shared.inner();
        while out.len() < max {
            match inner.frames.pop_front() {
                Some(frame) => out.push(wrap(frame)),
                None => break,
            }
        }
    }

    /// The session is about to write: the room must queue from now on.
    pub fn writer_busy(&self) {
        self.shared.inner().writer_idle = false;
    }

    /// The session has written everything it had: if nothing is queued,
    /// the room may write directly again. Returns whether it may.
    pub fn writer_idle(&self) -> bool {
        let mut inner = self.shared.inner();
        inner.writer_idle = inner.frames.is_empty();
        inner.writer_idle
    }

    /// Closes the outbox because the connection dropped: the room holds
    /// the seat for a resume instead of letting the member go.
    pub fn close_for_resume(self) {
        self.shared.held.store(true, Ordering::Release);
        drop(self);
    }

    /// Whether the room has let go of this member.
    pub fn is_closed(&self) -> bool {
        self.shared.room_gone.load(Ordering::Acquire)
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.shared.session_gone.store(true, Ordering::Release);
        let mut inner = self.shared.inner();
        inner.frames.clear();
        // The room never writes to a socket its session let go of.
        inner.direct = None;
        inner.writer_idle = false;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    fn frame(payload: &'static [u8]) -> WireFrame {
        WireFrame::binary(Bytes::from_static(payload))
    }

    fn payload(q: Option<Queued>) -> Option<Bytes> {
        q.map(|q| q.frame.payload())
    }

    async fn socket_pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let client = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (server, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
        server.writable().await.unwrap_or_else(|e| panic!("{e}"));
        (Arc::new(server), client)
    }

    #[tokio::test]
    async fn frames_arrive_in_order_until_the_bound_then_the_sender_hears_full() {
        let (tx, mut rx) = outbox(2);
        assert_eq!(tx.try_send(frame(b"a")), Ok(()));
        assert_eq!(tx.try_send(frame(b"b")), Ok(()));
        assert_eq!(tx.try_send(frame(b"c")), Err(SendError::Full));
        assert_eq!(payload(rx.recv().await).as_deref(), Some(&b"a"[..]));
        let mut rest = Vec::new();
        rx.drain_into(&mut rest, 8, |q| q.frame.payload());
        assert_eq!(rest, vec![Bytes::from_static(b"b")]);
    }

    #[tokio::test]
    async fn each_side_sees_the_other_go() {
        let (tx, mut rx) = outbox(4);
        assert_eq!(tx.try_send(frame(b"last")), Ok(()));
        drop(tx);
        assert!(rx.is_closed());
        assert_eq!(
            payload(rx.recv().await).as_deref(),
            Some(&b"last"[..]),
            "queued frames still arrive"
        );
        assert!(rx.recv().await.is_none());

        let (tx, rx) = outbox(4);
        drop(rx);
        assert_eq!(tx.try_send(frame(b"")), Err(SendError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_the_room() {
        let (tx, mut rx) = outbox(4);
        let waiter = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert_eq!(tx.try_send(frame(b"x")), Ok(()));
        let got = waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload(got).as_deref(), Some(&b"x"[..]));
    }

    #[tokio::test]
    async fn an_idle_session_on_the_rooms_thread_gets_frames_written_directly() {
        let (server, mut client) = socket_pair().await;
        let (tx, rx) = outbox(4);
        rx.attach_socket(Some(server));
        let here = std::thread::current().id();
        assert_eq!(
            tx.deliver(&frame(b"queued"), here),
            Ok(Delivered::Queued),
            "a session that has not reported idle is not written to"
        );
        let mut rx = rx;
        let mut backlog = Vec::new();
        rx.drain_into(&mut backlog, 8, |q| q);
        assert!(rx.writer_idle());
        assert_eq!(tx.deliver(&frame(b"direct"), here), Ok(Delivered::Direct));
        let mut got = [0u8; 8];
        client
            .read_exact(&mut got)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&got, b"\x82\x06direct");
    }

    #[tokio::test]
    async fn a_backlog_or_another_thread_takes_the_queue_so_frames_keep_their_order() {
        let (server, _client) = socket_pair().await;
        let (tx, mut rx) = outbox(4);
        rx.attach_socket(Some(server));
        assert!(rx.writer_idle());
        let elsewhere = std::thread::spawn(|| std::thread::current().id())
            .join()
            .unwrap_or_else(|_| panic!("thread"));
        assert_eq!(
            tx.deliver(&frame(b"1"), elsewhere),
            Ok(Delivered::CrossShard),
            "never written from another thread"
        );
        let here = std::thread::current().id();
        assert_eq!(
            tx.deliver(&frame(b"2"), here),
            Ok(Delivered::Queued),
            "behind a backlog"
        );
        assert!(!rx.writer_idle(), "not idle while frames wait");
        let mut order = Vec::new();
        rx.drain_into(&mut order, 8, |q| q.frame.payload());
        assert_eq!(
            order,
            vec![Bytes::from_static(b"1"), Bytes::from_static(b"2")]
        );
    }

    #[tokio::test]
    async fn a_partial_direct_write_queues_the_rest_and_the_stream_stays_whole() {
        let (server, mut client) = socket_pair().await;
        socket2::SockRef::from(&*server)
            .set_send_buffer_size(4096)
            .unwrap_or_else(|e| panic!("{e}"));
        let (tx, mut rx) = outbox(64);
        rx.attach_socket(Some(server.clone()));
        let here = std::thread::current().id();
        let big = WireFrame::binary(Bytes::from(vec![9u8; 1 << 20]));
        assert!(rx.writer_idle());
        let first = tx.deliver(&big, here);
        assert!(
            matches!(first, Ok(Delivered::Partial)),
            "a 1 MiB frame does not fit a 4 KiB send buffer: {first:?}"
        );
        let next = frame(b"next");
        assert_eq!(tx.deliver(&next, here), Ok(Delivered::Queued));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            let want = (1 << 20) + 10 + 6;
            while all.len() < want {
                let mut chunk = vec![0u8; 65536];
                let n = client
                    .read(&mut chunk)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(n > 0);
                all.extend_from_slice(&chunk[..n]);
            }
            all
        });
        while let Some(q) = {
            let mut one = Vec::new();
            rx.drain_into(&mut one, 1, |q| q);
            one.pop()
        } {
            q.frame
                .write_from(q.written, &server)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let all = reader.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&all[..10], &big.to_vec()[..10]);
        assert!(all[10..(1 << 20) + 10].iter().all(|b| *b == 9));
        assert_eq!(&all[(1 << 20) + 10..], b"\x82\x04next");
    }
}
