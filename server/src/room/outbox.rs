//! A member's outbox: the bounded queue of frames from its room to its
//! session. Policy when full: the member is a slow consumer and is
//! disconnected (the room never waits).
//!
//! It is a small `VecDeque` behind an uncontended mutex plus an
//! `AtomicWaker`, sized by what it holds (usually one or two frames), not by
//! its bound: a member costs a few hundred bytes instead of the two 1 KiB
//! blocks a `tokio::sync::mpsc` channel keeps, and a push is one short lock
//! and one wake.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use atomic_waker::AtomicWaker;
use bytes::Bytes;

struct Shared {
    frames: Mutex<VecDeque<Bytes>>,
    capacity: usize,
    waker: AtomicWaker,
    session_gone: AtomicBool,
    room_gone: AtomicBool,
    /// The session went away expecting a resume: the room holds the seat.
    held: AtomicBool,
}

impl Shared {
    fn frames(&self) -> MutexGuard<'_, VecDeque<Bytes>> {
        // No code path panics while holding the lock; recover the data if one ever did.
        self.frames
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The outbox holds `capacity` frames: the session is not keeping up.
    Full,
    /// The session has gone.
    Closed,
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
        frames: Mutex::new(VecDeque::new()),
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
    /// Queues `frame` and wakes the session, or says why not. Never blocks.
    pub fn try_send(&self, frame: Bytes) -> Result<(), SendError> {
        if self.shared.session_gone.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        {
            let mut frames = self.shared.frames();
            if frames.len() >= self.shared.capacity {
                return Err(SendError::Full);
            }
            frames.push_back(frame);
        }
        self.shared.waker.wake();
        Ok(())
    }
}

impl OutboxSender {
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
    /// The next frame; `None` once the room let go and the queue is empty.
    pub async fn recv(&mut self) -> Option<Bytes> {
        poll_fn(|cx| {
            self.shared.waker.register(cx.waker());
            match self.shared.frames().pop_front() {
                Some(frame) => Poll::Ready(Some(frame)),
                None if self.shared.room_gone.load(Ordering::Acquire) => Poll::Ready(None),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Moves up to `max` queued frames into `out` under one lock.
    pub fn drain_into<T>(&mut self, out: &mut Vec<T>, max: usize, wrap: impl Fn(Bytes) -> T) {
        let mut frames = self.shared.frames();
        while out.len() < max {
            match frames.pop_front() {
                Some(frame) => out.push(wrap(frame)),
                None => break,
            }
        }
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
        self.shared.frames().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_arrive_in_order_until_the_bound_then_the_sender_hears_full() {
        let (tx, mut rx) = outbox(2);
        assert_eq!(tx.try_send(Bytes::from_static(b"a")), Ok(()));
        assert_eq!(tx.try_send(Bytes::from_static(b"b")), Ok(()));
        assert_eq!(tx.try_send(Bytes::from_static(b"c")), Err(SendError::Full));
        assert_eq!(rx.recv().await.as_deref(), Some(&b"a"[..]));
        let mut rest = Vec::new();
        rx.drain_into(&mut rest, 8, |b| b);
        assert_eq!(rest, vec![Bytes::from_static(b"b")]);
    }

    #[tokio::test]
    async fn each_side_sees_the_other_go() {
        let (tx, mut rx) = outbox(4);
        assert_eq!(tx.try_send(Bytes::from_static(b"last")), Ok(()));
        drop(tx);
        assert!(rx.is_closed());
        assert_eq!(
            rx.recv().await.as_deref(),
            Some(&b"last"[..]),
            "queued frames still arrive"
        );
        assert_eq!(rx.recv().await, None);

        let (tx, rx) = outbox(4);
        drop(rx);
        assert_eq!(tx.try_send(Bytes::new()), Err(SendError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_the_room() {
        let (tx, mut rx) = outbox(4);
        let waiter = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert_eq!(tx.try_send(Bytes::from_static(b"x")), Ok(()));
        let got = waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.as_deref(), Some(&b"x"[..]));
    }
}
