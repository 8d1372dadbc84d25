//! A one-shot "close this session" signal that a room (on any thread) can
//! raise without blocking, and the session observes even while it is stuck
//! writing to a client that does not read. Lock-free: an atomic cause and
//! an `AtomicWaker` (the session is its only waiter).
//!
//! Shutdown is folded into it: each shard keeps its sessions' kicks
//! ([`ShardKicks`]) and raises them all, once, when its listener stops,
//! so a session's wake polls no node-wide cancellation token (whose poll
//! takes a node-wide mutex).

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;

use atomic_waker::AtomicWaker;

use super::close::Disconnect;

/// Raised by a room (or the shard at shutdown), awaited by the session.
pub struct Kick {
    cause: AtomicU8,
    waker: AtomicWaker,
}

const NONE: u8 = u8::MAX;

impl Default for Kick {
    fn default() -> Self {
        Kick {
            cause: AtomicU8::new(NONE),
            waker: AtomicWaker::new(),
        }
    }
}

impl Kick {
    /// Asks the session to close with `cause`; the first cause wins.
    pub fn kick(&self, cause: Disconnect) {
        if self
            .cause
            .compare_exchange(NONE, cause.index(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.waker.wake();
        }
    }

    /// Resolves once [`Kick::kick`] was called, with its cause. One waiter
    /// at a time (the session).
    pub async fn kicked(&self) -> Disconnect {
        poll_fn(|cx| {
            self.waker.register(cx.waker());
            match self.cause.load(Ordering::Acquire) {
                NONE => Poll::Pending,
                cause => Poll::Ready(Disconnect::from_index(cause)),
            }
        })
        .await
    }
}

/// The kicks of one shard's sessions, raised with
/// [`Disconnect::Shutdown`] when the shard stops (see the module docs).
#[derive(Default)]
pub struct ShardKicks {
    inner: Mutex<KickList>,
}

#[derive(Default)]
struct KickList {
    stopped: bool,
    kicks: HashMap<u64, Weak<Kick>>,
}

impl ShardKicks {
    fn list(&self) -> std::sync::MutexGuard<'_, KickList> {
        // No code path panics while holding the lock; recover the data if one ever did.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers session `id`'s kick until the guard drops; kicked at once
    /// if the shard has already stopped.
    pub fn register(self: &Arc<Self>, id: u64, kick: &Arc<Kick>) -> Registered {
        let mut list = self.list();
        if list.stopped {
            kick.kick(Disconnect::Shutdown);
        } else {
            list.kicks.insert(id, Arc::downgrade(kick));
        }
        Registered {
            kicks: self.clone(),
            id,
        }
    }

    /// Kicks every registered session with [`Disconnect::Shutdown`], and
    /// every session registered from now on.
    pub fn stop(&self) {
        let kicks = {
            let mut list = self.list();
            list.stopped = true;
            std::mem::take(&mut list.kicks)
        };
        for kick in kicks.into_values().filter_map(|k| k.upgrade()) {
            kick.kick(Disconnect::Shutdown);
        }
    }
}

/// A session's place in [`ShardKicks`]; dropping it removes it.
pub struct Registered {
    kicks: Arc<ShardKicks>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.kicks.list().kicks.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_cause_wins_and_is_seen_after_the_fact() {
        let kick = Kick::default();
        kick.kick(Disconnect::SlowConsumer);
        kick.kick(Disconnect::Shutdown);
        assert_eq!(kick.kicked().await, Disconnect::SlowConsumer);
    }

    #[tokio::test]
    async fn a_stopping_shard_kicks_its_sessions_and_every_later_one() {
        let kicks = Arc::new(ShardKicks::default());
        let early = Arc::new(Kick::default());
        let _early = kicks.register(1, &early);
        let waiting = tokio::spawn({
            let early = early.clone();
            async move { early.kicked().await }
        });
        tokio::task::yield_now().await;
        kicks.stop();
        let cause = waiting.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cause, Disconnect::Shutdown);
        let late = Arc::new(Kick::default());
        let _late = kicks.register(2, &late);
        assert_eq!(late.kicked().await, Disconnect::Shutdown);
    }

    #[test]
    fn a_session_that_ended_leaves_no_entry_behind() {
        let kicks = Arc::new(ShardKicks::default());
        let kick = Arc::new(Kick::default());
        drop(kicks.register(7, &kick));
        assert!(kicks.list().kicks.is_empty());
    }
}
