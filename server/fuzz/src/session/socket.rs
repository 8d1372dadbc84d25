//! An in-memory WebSocket for the session loop: the client's side pushes
//! messages (or stream errors) into an unbounded channel; everything the
//! session writes lands in a shared list the driver reads. The write side
//! can be stalled, like a client that stops reading, so write timeouts and
//! full outboxes are reachable.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::extract::ws::Message;
use futures_util::task::AtomicWaker;
use futures_util::{Sink, Stream};
use tokio::sync::mpsc;

/// What the client sends: a message, or the error a real socket would
/// report instead of one.
pub type Inbound = Result<Message, axum::Error>;

/// The server's side of the connection, handed to the session loop.
pub struct Socket {
    inbound: mpsc::UnboundedReceiver<Inbound>,
    wire: Arc<Wire>,
}

/// What the session wrote, and whether its writes currently wait.
#[derive(Default)]
pub struct Wire {
    written: Mutex<Vec<Message>>,
    stalled: AtomicBool,
    waker: AtomicWaker,
}

impl Wire {
    /// Every message written so far.
    pub fn written(&self) -> MutexGuard<'_, Vec<Message>> {
        match self.written.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Stops (`true`) or resumes (`false`) the session's writes.
    pub fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::Release);
        if !stalled {
            self.waker.wake();
        }
    }

    /// Whether the session's writes currently wait.
    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        if !self.is_stalled() {
            return Poll::Ready(Ok(()));
        }
        self.waker.register(cx.waker());
        if self.is_stalled() {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

/// A connected pair: the session's [`Socket`] and the client's sender.
pub fn pair() -> (Socket, mpsc::UnboundedSender<Inbound>, Arc<Wire>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let wire = Arc::new(Wire::default());
    let socket = Socket {
        inbound: rx,
        wire: wire.clone(),
    };
    (socket, tx, wire)
}

impl Stream for Socket {
    type Item = Inbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Inbound>> {
        self.inbound.poll_recv(cx)
    }
}

impl Sink<Message> for Socket {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.wire.poll_writable(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), axum::Error> {
        self.wire.written().push(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.wire.poll_writable(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        Poll::Ready(Ok(()))
    }
}
