//! Room lists built at most once per `--rooms-refresh-ms`, encoded once
//! and shared by every request: the public `/rooms` and the operators'
//! `/rooms?scope=cluster` sort every room, so a flood of requests would
//! otherwise cost a sort and an encoding each. A request takes the last
//! build when it was made after the request arrived; otherwise it waits
//! for the next build slot (at most the refresh interval) and the first
//! request there rebuilds. So an answer never shows a state older than its
//! request, and the lists are built at most once per interval however many
//! ask.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// One list: the last encoding and when it was built.
pub struct RoomsView {
    every: Duration,
    last: Mutex<Option<(Instant, Bytes)>>,
}

impl RoomsView {
    /// A view rebuilt at most every `every`.
    pub fn new(every: Duration) -> RoomsView {
        RoomsView {
            every,
            last: Mutex::new(None),
        }
    }

    /// The list as of a moment no earlier than this call, built by `build`
    /// (JSON) when the last build is older.
    pub async fn get(&self, build: impl Fn() -> Bytes) -> Bytes {
        let arrived = Instant::now();
        loop {
            let wait = {
                let mut last = match self.last.lock() {
                    Ok(last) => last,
                    Err(poisoned) => poisoned.into_inner(),
                };
                match &*last {
                    Some((built, body)) if *built >= arrived => return body.clone(),
                    Some((built, _)) if Instant::now() < *built + self.every => *built + self.every,
                    _ => {
                        let body = build();
                        *last = Some((Instant::now(), body.clone()));
                        return body;
                    }
                }
            };
            tokio::time::sleep_until(wait).await;
        }
    }
}

/// The node's shared lists.
pub struct RoomLists {
    /// The public `/rooms`.
    pub public: RoomsView,
    /// The operators' `/rooms?scope=cluster`.
    pub cluster: RoomsView,
}

impl RoomLists {
    /// Both lists, rebuilt at most every `every`.
    pub fn new(every: Duration) -> RoomLists {
        RoomLists {
            public: RoomsView::new(every),
            cluster: RoomsView::new(every),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn many_requests_share_one_build_per_interval_and_none_sees_a_stale_list() {
        let view = RoomsView::new(Duration::from_millis(100));
        let builds = AtomicU32::new(0);
        let build = || Bytes::from(builds.fetch_add(1, Ordering::SeqCst).to_string());
        assert_eq!(view.get(build).await, "0");
        // Asked again at once: waits for the next slot, then rebuilds.
        let started = Instant::now();
        let (a, b) = tokio::join!(view.get(build), view.get(build));
        assert_eq!((a.as_ref(), b.as_ref()), (&b"1"[..], &b"1"[..]));
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }
}
