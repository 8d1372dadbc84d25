//! Taking a dropped session's seat back: reconnect with the Welcome's
//! resume token, with backoff, within the server's grace; the resumed
//! Joined gives the seat, the tick (for the gap) and the last input the
//! room applied (the input sequence goes on from it).

use std::time::Duration;

use tickforge_protocol::ServerMsg;
use tokio::time::Instant;

use super::{Bot, Failure, JOIN_TIMEOUT, Joined, Session};
use crate::stats::ErrorKind;
use crate::ws::Ended;

/// First pause between attempts; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Bot {
    /// Takes the seat of a dropped session back: reconnects with its
    /// resume token, with backoff, until the server's grace is over.
    /// `dropped_at_tick` is the room's tick at the drop. Records the gap.
    pub async fn resume(
        &mut self,
        resume_token: &str,
        grace: Duration,
        dropped_at_tick: u64,
    ) -> Result<(Session, Joined), Failure> {
        let deadline = Instant::now() + grace;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let failure = match self.open_with(Some(resume_token)).await {
                Ok(mut session) if session.resumed => {
                    let joined = self.resumed_joined(&mut session, dropped_at_tick).await?;
                    return Ok((session, joined));
                }
                // An ordinary Welcome (the bot's identity token was valid):
                // the seat is gone.
                Ok(_) => return Err(Failure::Error(ErrorKind::ResumeFailed)),
                Err(Failure::Stopped) => return Err(Failure::Stopped),
                Err(Failure::Ended(Ended::Closed { code: 4003, .. })) => {
                    return Err(Failure::Error(ErrorKind::ResumeFailed));
                }
                Err(failure) => failure,
            };
            if Instant::now() + backoff >= deadline {
                return Err(failure);
            }
            self.pause(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The Joined that follows a resumed Welcome.
    async fn resumed_joined(
        &mut self,
        session: &mut Session,
        dropped_at_tick: u64,
    ) -> Result<Joined, Failure> {
        let (joined, last_input_seq) = self
            .await_reply(session, JOIN_TIMEOUT, |msg| match msg {
                ServerMsg::Joined(j) if j.resumed() => Some(Ok((
                    Joined {
                        entity: j.entity_id(),
                        tick_rate_hz: j.tick_rate_hz(),
                        tick: j.tick(),
                    },
                    j.last_input_seq(),
                ))),
                ServerMsg::Error(_) => Some(Err(ErrorKind::ResumeFailed)),
                _ => None,
            })
            .await?;
        session.set_in_room(true);
        session.last_tick = (joined.tick, Instant::now());
        // Acks continue from the last input the room applied.
        self.next_seq = last_input_seq.wrapping_add(1).max(1);
        self.shared
            .stats
            .record_resume(self.shard, joined.tick.saturating_sub(dropped_at_tick));
        Ok(joined)
    }
}
