//! A one-shot "close this session" signal that a room (on any thread) can
//! raise without blocking, and the session observes even while it is stuck
//! writing to a client that does not read.

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

use super::close::Disconnect;

/// Raised by a room, awaited by the session.
pub struct Kick {
    cause: AtomicU8,
    notify: Notify,
}

const NONE: u8 = u8::MAX;

impl Default for Kick {
    fn default() -> Self {
        Kick {
            cause: AtomicU8::new(NONE),
            notify: Notify::new(),
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
            self.notify.notify_one();
        }
    }

    /// Resolves once [`Kick::kick`] was called, with its cause.
    pub async fn kicked(&self) -> Disconnect {
        loop {
            let cause = self.cause.load(Ordering::Acquire);
            if cause != NONE {
                return Disconnect::from_index(cause);
            }
            self.notify.notified().await;
        }
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
}
