//! What each bot does, per `--scenario`, from start to stop.
//!
//! | scenario | loop |
//! |---|---|
//! | arena | connect, join, send inputs on the open-loop schedule; resume (or reconnect) after a disconnect |
//! | idle | connect, join, only read (ballast drains every [`IDLE_DRAIN`]) |
//! | churn | as arena, but leave after 1–5 s and join again, on the same connection |
//! | slow | connect, join, keep sending but never read; once the server drops the connection (a write fails) or the run ends, read what is left and record the close code; reconnect |
//! | garbage | at `--input-hz`: connect, Hello, one invalid frame, record the close code |
//!
//! **Open loop.** Inputs come from a `tokio::time::interval` with
//! `MissedTickBehavior::Burst`: an input is sent at its scheduled time
//! whether or not earlier ones were acked, and a bot that fell behind
//! catches up with a burst instead of silently sending fewer. Each bot's
//! schedule starts at a random phase within the period, so a swarm's
//! inputs are spread over time rather than synchronised.
//!
//! **Resume.** In arena, idle and churn, a connection that drops while in
//! a room (not closed with 1000/1001, 4003–4006 or a rate-limit 1008) is
//! resumed: the bot reconnects with the Welcome's resume token within the
//! server's grace and goes on in the same seat; the gap in ticks (the
//! resumed Joined's tick minus the tick at the drop) is recorded.
//! `--drop-every` provokes such drops: the bot closes its TCP connection
//! without a WebSocket close that long after joining or resuming. A drop
//! that cannot be resumed is counted as `resume_failed` and the bot starts
//! over.
//!
//! **Redirect.** A Redirect with a resume token in a room (the room moved
//! to another node: a hand-off in a drain) is followed like a drop: the bot
//! connects to the Redirect's URL and resumes its seat there; from then on
//! it connects to that node ([`crate::bot::Redirected`]). A Redirect
//! answering a join is followed too. Both count as `redirects_followed`.
//!
//! **Reading.** Measuring bots wait for readability and decode every
//! message (ack latency, jitter). Ballast bots read only on their timer —
//! right after sending an input, or every [`IDLE_DRAIN`] when idle — and
//! skip payloads: one `try_read` usually brings every frame since the
//! last one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::bot::{Bot, Failure, Joined, Redirected, Session};
use crate::config::Scenario;
use crate::garbage::GarbageKind;
use crate::measure::Measure;
use crate::stats::ErrorKind;
use crate::ws::{Ended, io_reason};

/// How often idle ballast bots drain their socket.
pub const IDLE_DRAIN: Duration = Duration::from_millis(200);
/// Shortest and longest stay in a room (churn), in milliseconds.
pub const CHURN_STAY_MS: (i64, i64) = (1000, 5000);
/// Time a slow bot allows to read what is left once the run ends.
pub const SLOW_FINAL_READ: Duration = Duration::from_secs(2);
/// Time a slow bot allows to read what is left after a failed write.
pub const SLOW_DROPPED_READ: Duration = Duration::from_secs(1);
/// Pause before a slow bot reconnects.
pub const SLOW_RECONNECT: Duration = Duration::from_millis(250);
/// Time the server has to close a connection after a garbage frame.
pub const GARBAGE_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a bot reads while in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// On readability, decoding every message.
    Eager,
    /// On the bot's timer, skipping payloads.
    Lazy,
    /// Not at all (slow consumers).
    Never,
}

/// Why a bot stopped playing in a room.
enum RoomExit {
    /// Churn: the stay is over; leave and join again.
    StayOver,
    /// The swarm is stopping.
    Stop,
    /// The connection failed.
    Failed(Failure),
    /// `--drop-every`: the bot drops the connection on purpose.
    Drop,
    /// The room moved to another node.
    Redirected(Redirected),
}

/// Runs bot `bot` until the swarm stops.
pub async fn run(mut bot: Bot) {
    match bot.shared.config.scenario {
        Scenario::Arena | Scenario::Idle | Scenario::Churn => play(&mut bot).await,
        Scenario::Slow => slow(&mut bot).await,
        Scenario::Garbage => garbage(&mut bot).await,
    }
}

/// How a session in a room ended: for good, or by a drop worth resuming.
enum SessionEnd {
    /// Counted (or the swarm stops); the bot starts over.
    Over(Failure),
    /// The connection dropped in a room: resume with its token.
    Dropped {
        /// How it ended (`None`: dropped on purpose).
        cause: Option<Failure>,
        /// The Welcome's resume token.
        token: String,
        /// The server's grace.
        grace: Duration,
        /// The room's tick at the drop.
        tick: u64,
    },
    /// The room moved to another node: follow it there.
    Redirected {
        /// The Redirect.
        redirect: Redirected,
        /// The old node's resume grace.
        grace: Duration,
        /// The room's tick at the Redirect.
        tick: u64,
    },
}

/// Whether a connection that ended with `failure` is resumed.
fn resumable(failure: &Failure) -> bool {
    match failure {
        Failure::Ended(Ended::Closed { code, reason }) => {
            let for_good = matches!(code, 1000 | 1001 | 4003..=4006);
            let rate_limited = *code == 1008 && reason.ends_with("_rate_exceeded");
            !(for_good || rate_limited)
        }
        Failure::Ended(Ended::Dropped(_)) => true,
        _ => false,
    }
}

/// Arena, idle and churn: sessions until the swarm stops.
async fn play(bot: &mut Bot) {
    let mut resumed: Option<(Session, Joined)> = None;
    while !bot.stopping() {
        let (mut session, joined) = match resumed.take() {
            Some((session, joined)) => (session, Some(joined)),
            None => match bot.open().await {
                Ok(session) => (session, None),
                Err(failure) => {
                    bot.back_off(&failure).await;
                    continue;
                }
            },
        };
        match play_session(bot, &mut session, joined).await {
            SessionEnd::Over(Failure::Stopped) => bot.goodbye(session).await,
            SessionEnd::Over(failure) => {
                drop(session);
                bot.back_off(&failure).await;
            }
            SessionEnd::Dropped {
                cause,
                token,
                grace,
                tick,
            } => {
                // An abrupt end: the TCP connection closes without a WebSocket close.
                drop(session);
                match cause {
                    Some(failure) => bot.fail(&failure),
                    None => {
                        bot.shared.stats.drops.fetch_add(1, Ordering::Relaxed);
                    }
                }
                match bot.resume(&token, grace, tick).await {
                    Ok(seat) => resumed = Some(seat),
                    Err(failure) => bot.back_off(&failure).await,
                }
            }
            SessionEnd::Redirected {
                redirect,
                grace,
                tick,
            } => {
                // The old node waits for its redirected clients to go.
                drop(session);
                match bot.follow(&redirect, grace, tick).await {
                    Ok(seat) => resumed = Some(seat),
                    Err(failure) => bot.back_off(&failure).await,
                }
            }
        }
    }
}

/// Rooms on one connection: one for arena and idle, one after the other
/// for churn. `resumed`: the session already sits in a room (a resume).
async fn play_session(bot: &mut Bot, session: &mut Session, resumed: Option<Joined>) -> SessionEnd {
    let scenario = bot.shared.config.scenario;
    let mut resumed = resumed;
    loop {
        let joined = match resumed.take() {
            Some(joined) => joined,
            None => match bot.join(session).await {
                Ok(joined) => joined,
                Err(failure) => return SessionEnd::Over(failure),
            },
        };
        bot.settle();
        let stay = (scenario == Scenario::Churn).then(|| {
            let (lo, hi) = CHURN_STAY_MS;
            Instant::now() + Duration::from_millis(bot.rng.between(lo, hi) as u64)
        });
        let mut measure = bot
            .measuring
            .then(|| Measure::new(joined.entity, joined.period()));
        let reading = if measure.is_some() {
            Reading::Eager
        } else {
            Reading::Lazy
        };
        let sends = scenario != Scenario::Idle;
        let drop_at = bot.shared.config.drop_every.map(|d| Instant::now() + d);
        let exit = in_room(
            bot,
            session,
            sends,
            reading,
            measure.as_mut(),
            stay,
            drop_at,
        )
        .await;
        if let Some(m) = measure.as_mut() {
            m.forget(&bot.shared.stats);
        }
        let can_resume = !session.resume_token.is_empty() && !session.resume_grace.is_zero();
        let dropped = |cause: Option<Failure>| SessionEnd::Dropped {
            cause,
            token: session.resume_token.clone(),
            grace: session.resume_grace,
            tick: session.tick_now(joined.period()),
        };
        match exit {
            RoomExit::StayOver => {
                if let Err(failure) = bot.leave(session).await {
                    return SessionEnd::Over(failure);
                }
            }
            RoomExit::Stop => return SessionEnd::Over(Failure::Stopped),
            RoomExit::Redirected(redirect) => {
                return SessionEnd::Redirected {
                    redirect,
                    grace: session.resume_grace,
                    tick: session.tick_now(joined.period()),
                };
            }
            RoomExit::Drop if can_resume => return dropped(None),
            RoomExit::Drop => return SessionEnd::Over(Failure::Error(ErrorKind::ResumeFailed)),
            RoomExit::Failed(failure) if can_resume && resumable(&failure) => {
                return dropped(Some(failure));
            }
            RoomExit::Failed(failure) => return SessionEnd::Over(failure),
        }
    }
}

/// The steady state in a room: the input (or drain) timer, and reading.
async fn in_room(
    bot: &mut Bot,
    session: &mut Session,
    sends: bool,
    reading: Reading,
    mut measure: Option<&mut Measure>,
    stay: Option<Instant>,
    drop_at: Option<Instant>,
) -> RoomExit {
    let period = if sends {
        Duration::from_secs_f64(1.0 / f64::from(bot.shared.config.input_hz))
    } else {
        IDLE_DRAIN
    };
    let phase = period.mul_f64(bot.rng.unit());
    let mut ticker = tokio::time::interval_at(Instant::now() + phase, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    session.conn.set_collect(reading == Reading::Eager);
    // Only eager readers wait for readability; the others leave the reactor.
    let placed = if reading == Reading::Eager {
        session.conn.attach()
    } else {
        session.conn.detach()
    };
    if let Err(e) = placed {
        return RoomExit::Failed(Failure::Ended(Ended::Dropped(io_reason(&e))));
    }
    loop {
        if bot.stopping() {
            return RoomExit::Stop;
        }
        let eager = reading == Reading::Eager;
        // A detached socket retries its backlog on the next tick instead.
        let backlog = session.conn.backlog() > 0 && session.conn.attached();
        tokio::select! {
            biased;
            scheduled = ticker.tick() => {
                if stay.is_some_and(|until| scheduled >= until) {
                    return RoomExit::StayOver;
                }
                if drop_at.is_some_and(|at| scheduled >= at) {
                    return RoomExit::Drop;
                }
                if sends
                    && let Err(end) = bot.send_input(session, scheduled, measure.as_deref_mut())
                {
                    return RoomExit::Failed(Failure::Ended(end));
                }
                if reading == Reading::Lazy && let Some(end) = bot.read_lazily(session) {
                    return RoomExit::Failed(Failure::Ended(end));
                }
                if let Some(redirect) = session.redirect.take() {
                    return RoomExit::Redirected(redirect);
                }
            }
            ready = session.conn.readable(), if eager => {
                if let Err(e) = ready {
                    return RoomExit::Failed(Failure::Ended(Ended::Dropped(io_reason(&e))));
                }
                if let Some(m) = measure.as_deref_mut()
                    && let Some(end) = bot.read_eagerly(session, m)
                {
                    return RoomExit::Failed(Failure::Ended(end));
                }
                if let Some(redirect) = session.redirect.take() {
                    return RoomExit::Redirected(redirect);
                }
            }
            ready = session.conn.writable(), if backlog => {
                let flushed = ready.and_then(|()| session.conn.flush_now());
                if let Err(e) = flushed {
                    return RoomExit::Failed(Failure::Ended(Ended::Dropped(io_reason(&e))));
                }
            }
        }
    }
}

/// Slow consumers: join, stop reading, find out how the server ends it.
async fn slow(bot: &mut Bot) {
    while !bot.stopping() {
        let mut session = match bot.open().await {
            Ok(session) => session,
            Err(failure) => {
                bot.back_off(&failure).await;
                continue;
            }
        };
        if let Err(failure) = bot.join(&mut session).await {
            bot.back_off(&failure).await;
            continue;
        }
        bot.settle();
        let exit = in_room(bot, &mut session, true, Reading::Never, None, None, None).await;
        match exit {
            RoomExit::Stop => match bot.read_to_end(&mut session, SLOW_FINAL_READ).await {
                Some(end) => bot.ended(&end),
                None => {
                    bot.shared
                        .stats
                        .slow_still_open
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    bot.goodbye(session).await;
                }
            },
            RoomExit::Failed(Failure::Ended(write_failed)) => {
                // The server dropped us; what it sent before (maybe a close
                // frame) is still in our receive buffer.
                let end = bot.read_to_end(&mut session, SLOW_DROPPED_READ).await;
                bot.ended(&end.unwrap_or(write_failed));
                drop(session);
                bot.pause(SLOW_RECONNECT).await;
            }
            RoomExit::Failed(failure) => {
                bot.back_off(&failure).await;
            }
            // A slow bot has neither a stay nor provoked drops, and does
            // not read Redirects.
            RoomExit::StayOver | RoomExit::Drop | RoomExit::Redirected(_) => {}
        }
    }
}

/// Garbage: one invalid frame per connection, at `--input-hz` connections per second.
async fn garbage(bot: &mut Bot) {
    let period = Duration::from_secs_f64(1.0 / f64::from(bot.shared.config.input_hz));
    let phase = period.mul_f64(bot.rng.unit());
    let mut ticker = tokio::time::interval_at(Instant::now() + phase, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = bot.shared.stop.cancelled() => return,
        }
        let mut session = match bot.open().await {
            Ok(session) => session,
            Err(failure) => {
                bot.fail(&failure);
                continue;
            }
        };
        bot.settle();
        let kind = GarbageKind::pick(&mut bot.rng);
        let mask = session.conn.mask();
        let n = kind.write(session.conn.queue(), mask, &mut bot.rng);
        let stats = &bot.shared.stats;
        stats.sent(n, false);
        stats.garbage_sent(kind.label());
        let end = match session.conn.flush().await {
            Ok(()) => bot.read_to_end(&mut session, GARBAGE_CLOSE_TIMEOUT).await,
            Err(e) => {
                let dropped = Ended::Dropped(io_reason(&e));
                Some(
                    bot.read_to_end(&mut session, SLOW_DROPPED_READ)
                        .await
                        .unwrap_or(dropped),
                )
            }
        };
        match end {
            Some(end) => {
                bot.shared.stats.garbage_closed(kind.label(), end.code());
                bot.ended(&end);
            }
            None => bot
                .shared
                .stats
                .error(crate::stats::ErrorKind::GarbageIgnored),
        }
        bot.goodbye(session).await;
    }
}
