//! One bot and the steps of its sessions: connect (TCP, upgrade, Hello →
//! Welcome), join (JoinRoom → Joined), leave (LeaveRoom → Left), send an
//! input, read (eagerly and decoding, or lazily and skipping), say goodbye.
//!
//! What a bot does with these steps is its scenario ([`crate::scenario`]).
//! Request/reply steps read eagerly and decode every message until their
//! answer comes; steady-state reading is the scenario's choice.
//!
//! A [`Session`] is one open connection; dropping it updates the swarm's
//! `connected` and `in_room` gauges, whichever way it ends.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tickforge_protocol::ServerMsg;
use tickforge_protocol::arena_codec::Move;
use tickforge_protocol::client::now_micros;
use tickforge_protocol::replication::message::is_interest_state;
use tokio::time::Instant;

use crate::measure::Measure;
use crate::outbound;
use crate::rng::Rng;
use crate::stats::ErrorKind;
use crate::swarm::Shared;
use crate::ws::{ConnectError, ConnectOptions, Ended, Until, WsConn, io_reason};

mod redirect;
mod resume;
mod tally;

pub use redirect::{Endpoint, Redirected};
use tally::Tally;

/// TCP connect + upgrade + Hello → Welcome must finish within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// JoinRoom → Joined must finish within this.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// LeaveRoom → Left must finish within this.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the close handshake when a bot says goodbye.
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Pause before reconnecting after a failure or a disconnect.
pub const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// Largest message accepted from the server.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Unsent bytes a bot may queue; inputs beyond it are dropped and counted.
pub const MAX_BACKLOG: usize = 64 * 1024;

/// Why a step failed.
#[derive(Debug)]
pub enum Failure {
    /// Counted as an error of this kind.
    Error(ErrorKind),
    /// The connection ended (counted as a disconnect by its close code).
    Ended(Ended),
    /// The swarm is stopping.
    Stopped,
}

/// What Joined told the bot.
#[derive(Debug, Clone, Copy)]
pub struct Joined {
    /// The bot's entity (its ack is listed under it).
    pub entity: u32,
    /// The room's tick rate.
    pub tick_rate_hz: u16,
    /// The room's tick at Joined.
    pub tick: u64,
}

impl Joined {
    /// The room's tick period.
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.tick_rate_hz.max(1)))
    }
}

/// One open connection; dropping it keeps the gauges right.
pub struct Session {
    /// The WebSocket.
    pub conn: WsConn,
    shared: Arc<Shared>,
    welcomed: bool,
    in_room: bool,
    /// The Welcome's resume token (empty: the server has resume off).
    pub resume_token: String,
    /// How long the server holds a dropped seat.
    pub resume_grace: Duration,
    /// The Welcome answered a resume.
    pub resumed: bool,
    /// A resumed Joined that arrived in the same read as the Welcome, and
    /// its last applied input sequence.
    pub early_joined: Option<(Joined, u32)>,
    /// The last tick seen in this room (Joined, then decoded States), and
    /// when; lazy readers do not decode States, so the tick at a drop is
    /// estimated from the time since.
    pub last_tick: (u64, Instant),
    /// An unasked Redirect read in the room: the room moved to another node.
    pub redirect: Option<Redirected>,
}

impl Session {
    /// The room's tick now, as far as this session knows (`period`: the
    /// room's tick period).
    pub fn tick_now(&self, period: Duration) -> u64 {
        let (tick, at) = self.last_tick;
        let since = at.elapsed().as_secs_f64() / period.as_secs_f64().max(1e-6);
        tick + since as u64
    }
}

impl Session {
    fn set_in_room(&mut self, in_room: bool) {
        if self.in_room != in_room {
            let delta = if in_room { 1 } else { -1 };
            self.shared
                .stats
                .in_room
                .fetch_add(delta, Ordering::Relaxed);
            self.in_room = in_room;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.set_in_room(false);
        if self.welcomed {
            self.shared.stats.connected.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A random walk over the arena's input axes.
#[derive(Debug, Clone, Copy, Default)]
struct Walk {
    x: i8,
    y: i8,
}

impl Walk {
    fn step(&mut self, rng: &mut Rng) -> Move {
        let nudge =
            |v: i8, rng: &mut Rng| (i64::from(v) + rng.between(-32, 32)).clamp(-127, 127) as i8;
        self.x = nudge(self.x, rng);
        self.y = nudge(self.y, rng);
        Move {
            x: self.x,
            y: self.y,
            buttons: u8::from(rng.below(10) == 0),
        }
    }
}

/// One bot.
pub struct Bot {
    /// Index in the swarm (0-based).
    pub index: u32,
    /// Whether it reads eagerly and decodes every State.
    pub measuring: bool,
    /// Its random choices.
    pub rng: Rng,
    /// The swarm.
    pub shared: Arc<Shared>,
    /// Where it connects, once a Redirect moved it (`None`: `--url`).
    endpoint: Option<Endpoint>,
    shard: usize,
    pub(super) next_seq: u32,
    walk: Walk,
    settled: bool,
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.settle();
    }
}

impl Bot {
    /// Bot `index` of the swarm.
    pub fn new(index: u32, measuring: bool, shared: Arc<Shared>) -> Bot {
        Bot {
            index,
            measuring,
            rng: Rng::new(shared.config.seed, u64::from(index)),
            shard: shared.stats.shard_of(index as usize),
            shared,
            endpoint: None,
            next_seq: 1,
            walk: Walk::default(),
            settled: false,
        }
    }

    /// A bot that is not part of the swarm (the pre-flight check): it never settles.
    pub fn probe(shared: Arc<Shared>) -> Bot {
        let mut bot = Bot::new(u32::MAX, false, shared);
        bot.settled = true;
        bot
    }

    /// Tells the swarm this bot's start-up is over (joined, or failed):
    /// the measurement window opens when every bot has settled.
    pub fn settle(&mut self) {
        if !self.settled {
            self.settled = true;
            self.shared.settle();
        }
    }

    /// Whether the swarm is stopping.
    pub fn stopping(&self) -> bool {
        self.shared.stopping()
    }

    /// Counts a failure (error or disconnect) and settles the bot.
    pub fn fail(&mut self, failure: &Failure) {
        match failure {
            Failure::Error(kind) => self.shared.stats.error(*kind),
            Failure::Ended(end) => self.ended(end),
            Failure::Stopped => {}
        }
        self.settle();
    }

    /// Counts the end of a connection: a disconnect by code, or a
    /// framing violation by the server.
    pub fn ended(&self, end: &Ended) {
        match end {
            Ended::Protocol(_) => self.shared.stats.error(ErrorKind::Protocol),
            _ => self.shared.stats.disconnect(end.code(), end.reason()),
        }
    }

    /// Counts `failure`, then waits [`RECONNECT_BACKOFF`] before the next try.
    pub async fn back_off(&mut self, failure: &Failure) {
        self.fail(failure);
        self.pause(RECONNECT_BACKOFF).await;
    }

    /// Sleeps `d`, or less if the swarm stops.
    pub async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shared.stop.cancelled() => {}
        }
    }

    /// Opens a session: TCP, upgrade, Hello → Welcome. Records the connect time.
    pub async fn open(&mut self) -> Result<Session, Failure> {
        self.open_with(None).await
    }

    /// Opens a session whose Hello carries `resume_token`, if any.
    pub(super) async fn open_with(
        &mut self,
        resume_token: Option<&str>,
    ) -> Result<Session, Failure> {
        let started = Instant::now();
        let shared = self.shared.clone();
        let options = ConnectOptions {
            recv_buffer: shared.config.effective_recv_buffer(),
            max_message: MAX_MESSAGE,
        };
        let (addr, target) = match &self.endpoint {
            Some(e) => (e.addr, &e.target),
            None => (shared.addr, &shared.target),
        };
        let connect = tokio::time::timeout(
            CONNECT_TIMEOUT,
            WsConn::connect(addr, target, options, &mut self.rng),
        );
        let conn = tokio::select! {
            r = connect => match r {
                Ok(Ok(conn)) => conn,
                Ok(Err(ConnectError::Tcp(_))) => return Err(Failure::Error(ErrorKind::Connect)),
                Ok(Err(ConnectError::Handshake(_))) => return Err(Failure::Error(ErrorKind::Upgrade)),
                Err(_) => return Err(Failure::Error(ErrorKind::Timeout)),
            },
            _ = shared.stop.cancelled() => return Err(Failure::Stopped),
        };
        let mut session = Session {
            conn,
            shared: shared.clone(),
            welcomed: false,
            in_room: false,
            resume_token: String::new(),
            resume_grace: Duration::ZERO,
            resumed: false,
            early_joined: None,
            last_tick: (0, Instant::now()),
            redirect: None,
        };
        let player_id = format!("{}-{}", shared.run_id, self.index);
        let mask = session.conn.mask();
        let token = shared.token_for(&player_id, self.index);
        let n = outbound::hello(
            session.conn.queue(),
            mask,
            &player_id,
            token.as_deref(),
            resume_token,
        );
        shared.stats.sent(n, false);
        let remaining = CONNECT_TIMEOUT.saturating_sub(started.elapsed());
        let mut early_joined = None;
        let (token, grace_ms, resumed) = self
            .await_reply(&mut session, remaining, |msg| match msg {
                ServerMsg::Welcome(w) => Some(Ok((
                    w.resume_token().unwrap_or_default().to_string(),
                    w.resume_grace_ms(),
                    w.resumed(),
                ))),
                ServerMsg::Joined(j) if j.resumed() => {
                    early_joined = Some(resumed_fields(j));
                    None
                }
                _ => None,
            })
            .await?;
        session.early_joined = early_joined;
        session.resume_token = token;
        session.resume_grace = Duration::from_millis(u64::from(grace_ms));
        session.resumed = resumed;
        session.welcomed = true;
        shared.stats.connected.fetch_add(1, Ordering::Relaxed);
        shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
        shared.stats.record_connect(self.shard, started.elapsed());
        Ok(session)
    }

    /// Joins (or creates) a room of the configured mode, following up to
    /// [`redirect::MAX_JOIN_REDIRECTS`] Redirects to other nodes (`session`
    /// is then the one opened there). Records the join time.
    pub async fn join(&mut self, session: &mut Session) -> Result<Joined, Failure> {
        let started = Instant::now();
        let shared = self.shared.clone();
        let mut room_id = String::new();
        let mut redirects = 0;
        let joined = loop {
            let mask = session.conn.mask();
            let n = if room_id.is_empty() {
                outbound::join_or_create(session.conn.queue(), mask, &shared.config.mode)
            } else {
                outbound::join_room(session.conn.queue(), mask, &room_id)
            };
            shared.stats.sent(n, false);
            let answer = self
                .await_reply(session, JOIN_TIMEOUT, |msg| match msg {
                    ServerMsg::Joined(j) => Some(Ok(Ok(Joined {
                        entity: j.entity_id(),
                        tick_rate_hz: j.tick_rate_hz(),
                        tick: j.tick(),
                    }))),
                    ServerMsg::Redirect(r) => Some(Ok(Err(Redirected::from_wire(r)))),
                    ServerMsg::Error(_) => Some(Err(ErrorKind::JoinRefused)),
                    _ => None,
                })
                .await?;
            match answer {
                Ok(joined) => break joined,
                Err(_) if redirects == redirect::MAX_JOIN_REDIRECTS => {
                    return Err(Failure::Error(ErrorKind::JoinRefused));
                }
                Err(redirect) => {
                    redirects += 1;
                    self.follow_join(&redirect, session).await?;
                    room_id = redirect.room_id;
                }
            }
        };
        session.set_in_room(true);
        session.last_tick = (joined.tick, Instant::now());
        shared.stats.joins.fetch_add(1, Ordering::Relaxed);
        shared.stats.record_join(self.shard, started.elapsed());
        Ok(joined)
    }

    /// Leaves the current room.
    pub async fn leave(&mut self, session: &mut Session) -> Result<(), Failure> {
        let mask = session.conn.mask();
        let n = outbound::leave_room(session.conn.queue(), mask);
        self.shared.stats.sent(n, false);
        self.await_reply(session, LEAVE_TIMEOUT, |msg| match msg {
            ServerMsg::Left(_) => Some(Ok(())),
            ServerMsg::Error(_) => Some(Err(ErrorKind::ServerError)),
            _ => None,
        })
        .await?;
        session.set_in_room(false);
        Ok(())
    }

    /// Writes what is queued, then reads eagerly, decoding every message,
    /// until `pick` returns an answer, the connection ends, `within`
    /// passes or the swarm stops.
    pub(super) async fn await_reply<T>(
        &mut self,
        session: &mut Session,
        within: Duration,
        mut pick: impl FnMut(&ServerMsg<'_>) -> Option<Result<T, ErrorKind>>,
    ) -> Result<T, Failure> {
        let shared = self.shared.clone();
        let deadline = Instant::now() + within;
        session.conn.set_collect(true);
        if let Err(e) = session
            .conn
            .attach()
            .and_then(|()| session.conn.flush_now())
        {
            return Err(Failure::Ended(Ended::Dropped(io_reason(&e))));
        }
        loop {
            let mut found = None;
            // Errors are the answer's business here (`pick`), not counted twice.
            let mut tally = Tally::answering();
            // Every message goes to `pick` (it may note one that came in the
            // same read as its answer); the first answer counts.
            let drained = session.conn.drain(Until::WouldBlock, &mut |m| {
                if let Some(msg) = tally.decode(m) {
                    let answer = pick(&msg);
                    if found.is_none() {
                        found = answer;
                    }
                }
            });
            tally.count(&shared, drained.messages, drained.bytes);
            if let Some(end) = drained.ended {
                return Err(Failure::Ended(end));
            }
            if let Some(answer) = found {
                return answer.map_err(Failure::Error);
            }
            let wait = async {
                if session.conn.backlog() > 0 {
                    session.conn.flush().await?;
                }
                session.conn.readable().await
            };
            tokio::select! {
                r = tokio::time::timeout_at(deadline, wait) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(Failure::Ended(Ended::Dropped(io_reason(&e)))),
                    Err(_) => return Err(Failure::Error(ErrorKind::Timeout)),
                },
                _ = shared.stop.cancelled() => return Err(Failure::Stopped),
            }
        }
    }

    /// Queues and writes one arena input scheduled at `scheduled`.
    pub fn send_input(
        &mut self,
        session: &mut Session,
        scheduled: Instant,
        measure: Option<&mut Measure>,
    ) -> Result<(), Ended> {
        let stats = &self.shared.stats;
        if session.conn.backlog() > MAX_BACKLOG {
            stats.error(ErrorKind::SendBacklog);
            return Ok(());
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        let movement = self.walk.step(&mut self.rng);
        let mask = session.conn.mask();
        let n = outbound::arena_input(session.conn.queue(), mask, seq, now_micros(), movement);
        stats.sent(n, true);
        if let Some(m) = measure {
            m.sent(seq, scheduled, stats);
        }
        session
            .conn
            .flush_now()
            .map(|_| ())
            .map_err(|e| Ended::Dropped(io_reason(&e)))
    }

    /// Reads what is there without decoding payloads (ballast): counts
    /// messages and States, answers pings. `Some` when the connection
    /// ended; a Redirect is left in `session.redirect`.
    pub fn read_lazily(&self, session: &mut Session) -> Option<Ended> {
        let mut tally = Tally::default();
        let drained = session.conn.drain(Until::ShortRead, &mut |m| tally.peek(m));
        tally.count(&self.shared, drained.messages, drained.bytes);
        session.redirect = session.redirect.take().or(tally.redirect);
        drained.ended
    }

    /// Reads what is there and decodes every message (measuring bots):
    /// each State goes to `measure`. `Some` when the connection ended; a
    /// Redirect is left in `session.redirect`.
    pub fn read_eagerly(&self, session: &mut Session, measure: &mut Measure) -> Option<Ended> {
        let mut tally = Tally::default();
        let mut arrived: Option<Instant> = None;
        let stats = &self.shared.stats;
        let shard = self.shard;
        let mut last_tick = None;
        let drained = session.conn.drain(Until::WouldBlock, &mut |m| {
            let now = *arrived.get_or_insert_with(Instant::now);
            if let Some(payload) = m.payload.filter(|p| is_interest_state(p)) {
                if let Some((tick, ack)) = tally.interest_state(payload) {
                    last_tick = Some(tick);
                    measure.on_state(Some(ack), now, stats, shard);
                }
                return;
            }
            if let Some(ServerMsg::State(state)) = tally.decode(m) {
                last_tick = Some(state.tick());
                let ack = measure.ack_in(&state);
                measure.on_state(ack, now, stats, shard);
            }
        });
        if let (Some(tick), Some(at)) = (last_tick, arrived) {
            session.last_tick = (tick, at);
        }
        tally.count(&self.shared, drained.messages, drained.bytes);
        session.redirect = session.redirect.take().or(tally.redirect);
        drained.ended
    }

    /// Reads (skipping payloads) until the connection ends or `within`
    /// passes; `Some` with how it ended.
    pub async fn read_to_end(&self, session: &mut Session, within: Duration) -> Option<Ended> {
        session.conn.set_collect(false);
        if let Err(e) = session.conn.attach() {
            return Some(Ended::Dropped(io_reason(&e)));
        }
        let read = async {
            loop {
                if let Err(e) = session.conn.readable().await {
                    return Ended::Dropped(io_reason(&e));
                }
                let mut tally = Tally::default();
                let drained = session
                    .conn
                    .drain(Until::WouldBlock, &mut |m| tally.peek(m));
                tally.count(&self.shared, drained.messages, drained.bytes);
                if let Some(end) = drained.ended {
                    return end;
                }
            }
        };
        tokio::time::timeout(within, read).await.ok()
    }

    /// Closes the session with 1000 and waits briefly for the server's close.
    pub async fn goodbye(&self, mut session: Session) {
        let drained = session.conn.close(1000, "bye", CLOSE_LINGER).await;
        self.shared
            .stats
            .received(u64::from(drained.messages), drained.bytes as u64, 0);
    }
}

/// A resumed Joined: the seat, and the last input the room applied.
pub(crate) fn resumed_fields(j: &tickforge_protocol::wire::Joined<'_>) -> (Joined, u32) {
    let joined = Joined {
        entity: j.entity_id(),
        tick_rate_hz: j.tick_rate_hz(),
        tick: j.tick(),
    };
    (joined, j.last_input_seq())
}
