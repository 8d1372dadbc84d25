//! Taking the seat back after a drop: reconnect with backoff within the
//! server's grace, present the resume token, and swap the new connection in
//! once the server answers `Joined { resumed }`. Also follows an unasked
//! `Redirect` with a resume token (the room moved to another node).

use std::time::{Duration, Instant};

use crate::replication::Replica;

use super::{Client, ClientError, Event, JoinedInfo, within};

/// First wait between attempts; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Grace assumed for a moved room when the Welcome named none.
const DEFAULT_GRACE: Duration = Duration::from_secs(15);

impl Client {
    /// Keeps track of the room and its tick as events arrive.
    pub(super) fn track(&mut self, event: &Event) {
        match event {
            Event::Joined(j) => {
                self.in_room = true;
                self.last_tick = j.tick;
                // Every Joined starts a new replica: keyframes follow.
                self.replica = (j.view_radius_cells > 0)
                    .then(|| (Replica::new(j.view_radius_cells), j.entity_id));
                if j.resumed {
                    // Acks continue from the last input the room applied.
                    self.next_seq = j.last_input_seq.wrapping_add(1);
                }
            }
            Event::State(s) => self.last_tick = s.tick,
            Event::Left(_) => {
                self.in_room = false;
                self.replica = None;
            }
            _ => {}
        }
    }

    /// Whether `error` is a drop this client resumes from.
    pub(super) fn can_resume(&self, error: &ClientError) -> bool {
        self.options.auto_resume
            && self.in_room
            && error.is_unexpected_drop()
            && !self.welcome.resume_token.is_empty()
            && self.welcome.resume_grace_ms > 0
    }

    /// Resumes on the same server after `cause` dropped the connection.
    pub(super) async fn resume_after(&mut self, cause: ClientError) -> Result<Event, ClientError> {
        let grace = Duration::from_millis(u64::from(self.welcome.resume_grace_ms));
        let url = self.url.clone();
        let token = self.welcome.resume_token.clone();
        self.reattach(url, token, Instant::now() + grace, false, cause)
            .await
    }

    /// Follows a room that moved to `url` (a drain's hand-off).
    pub(super) async fn follow_moved_room(
        &mut self,
        url: String,
        resume_token: String,
    ) -> Result<Event, ClientError> {
        let grace = match self.welcome.resume_grace_ms {
            0 => DEFAULT_GRACE,
            ms => Duration::from_millis(u64::from(ms)),
        };
        // Let go of the old node (its room has moved); a connection that is
        // already gone needs no close.
        self.ws.close(None).await.ok();
        let cause = ClientError::Redirected {
            url: url.clone(),
            room_id: String::new(),
        };
        self.reattach(url, resume_token, Instant::now() + grace, true, cause)
            .await
    }

    async fn reattach(
        &mut self,
        url: String,
        resume_token: String,
        deadline: Instant,
        moved: bool,
        cause: ClientError,
    ) -> Result<Event, ClientError> {
        let lost = |cause: ClientError| ClientError::SeatLost {
            cause: Box::new(cause),
        };
        let mut options = self.options.clone();
        options.resume_token = Some(resume_token);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(lost(cause));
            }
            let attempt = within(
                remaining.min(self.timeout),
                "resume",
                Self::connect_now(&url, &options),
            )
            .await;
            match attempt {
                Ok(mut fresh) => {
                    if !fresh.welcome.resumed {
                        return Err(lost(cause));
                    }
                    let joined = fresh.resumed_joined().await?;
                    let gap_ticks = joined.tick.saturating_sub(self.last_tick);
                    std::mem::swap(&mut self.ws, &mut fresh.ws);
                    self.welcome = fresh.welcome.clone();
                    self.url = url;
                    self.track(&Event::Joined(joined.clone()));
                    return Ok(Event::Resumed {
                        joined,
                        gap_ticks,
                        moved,
                    });
                }
                Err(ClientError::AccessDenied { code, reason })
                    if reason == "auth_resume_expired" =>
                {
                    return Err(lost(ClientError::AccessDenied { code, reason }));
                }
                Err(e) if e.is_unexpected_drop() || matches!(e, ClientError::Timeout(_)) => {
                    tokio::time::sleep(jittered(backoff).min(remaining)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The Joined that follows a resumed Welcome.
    async fn resumed_joined(&mut self) -> Result<JoinedInfo, ClientError> {
        let limit = self.timeout;
        within(limit, "resumed Joined", async {
            loop {
                match self.read_event().await? {
                    Event::Joined(j) if j.resumed => return Ok(j),
                    Event::Error(code, message) => {
                        return Err(ClientError::Refused { code, message });
                    }
                    _ => {}
                }
            }
        })
        .await
    }
}

/// `base` plus up to half of it again, from the clock's low bits (enough to
/// spread reconnects of many clients; not a random number generator).
fn jittered(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let half = base.as_micros() as u64 / 2;
    base + Duration::from_micros(u64::from(nanos) % half.max(1))
}
