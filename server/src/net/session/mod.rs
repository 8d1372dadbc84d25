//! One session per WebSocket connection: a single owner task that reads
//! frames, charges them to the session's rate limits, verifies them, and
//! writes replies and room frames.
//!
//! The loop is written over any `Sink` + `Stream` of WebSocket messages, so
//! it runs on the real socket and on in-memory channels alike. Writes are
//! batched: replies and outbox frames are fed, then flushed once. A write
//! that stalls never blocks the room: the room drops the member when its
//! outbox is full and raises the session's [`Kick`], which the session sees
//! even mid-write. Nothing on the per-frame path allocates.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the loop, inbound frames and their limits, replies |
//! | [`hello`] | Hello: identity, one live session per player, Welcome |
//! | [`membership`] | joins, saved state, leaves, inputs to the room |
//! | [`resume`] | a resume token's seat taken back; a dropped session's seat held |
//! | [`socket`] | batched writes, WebSocket errors, the closing handshake |

mod hello;
mod membership;
mod resume;
mod socket;

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use bytes::Bytes;
use futures_util::{Sink, Stream, StreamExt};
use tickforge_protocol::codec::Limits;
use tickforge_protocol::wire::ErrorCode;
use tickforge_protocol::{ClientMsg, DecodeError, ServerEncoder, decode_client};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};

use super::close::Disconnect;
use super::kick::Kick;
use super::peek::frame_class;
use super::session_limits::{FrameClass, SessionLimits};
use crate::clock;
use crate::metrics::{self, InKind, OutKind, ShardMetrics};
use crate::node::Node;
use crate::room::outbox::Queued;
use crate::room::{RoomHandle, SessionId};
use membership::{Joining, Membership, next_loaded, next_outbound};
use socket::{Out, classify, close, wire};

/// Longest player id accepted in Hello, in bytes.
pub const MAX_PLAYER_ID_BYTES: usize = crate::auth::verify::MAX_PLAYER_ID_BYTES;

thread_local! {
    /// One encoder per shard thread for the sessions' own replies (Welcome,
    /// Pong, Error, Left): a builder per connection would cost memory per bot.
    static ENCODER: RefCell<ServerEncoder> = RefCell::new(ServerEncoder::new());
}

fn encode(build: impl FnOnce(&mut ServerEncoder) -> Bytes) -> Bytes {
    ENCODER.with_borrow_mut(build)
}

/// What the session loop does next.
enum Step {
    Continue,
    Close(Disconnect),
}

/// The state of one connection.
struct Session {
    id: SessionId,
    node: Arc<Node>,
    shard: usize,
    decode_limits: Limits,
    /// Frame rates and room creations allowed to this client.
    limits: SessionLimits,
    /// Joins so far: the generation of the next membership.
    joins: u64,
    replies: Vec<Out>,
    /// tungstenite queued an answer of its own (a Pong): flush it.
    flush_pending: bool,
    /// The plain TCP socket: room frames are written to it directly, by
    /// the room when the session is idle and by the session otherwise.
    direct: Option<Arc<TcpStream>>,
    /// The verified player, from Hello on.
    player: Option<Arc<str>>,
    /// The client closed with 1000: it left for good (no seat is held).
    closed_normally: bool,
    /// The player's display name.
    name: Arc<str>,
    /// A guest session: the player's saved state expires (`--guest-ttl`).
    guest: bool,
    /// The client negotiated `tickforge.v2`: interest state messages in
    /// rooms whose game replicates.
    interest: bool,
    room: Option<Membership>,
    joining: Option<Joining>,
    /// The room of the join in progress: inputs sent before Joined are
    /// still checked against its game (and then dropped, `not_in_room`).
    joining_room: Option<RoomHandle>,
    kick: Arc<Kick>,
    last_inbound: Instant,
    metrics: Arc<ShardMetrics>,
}

/// Runs the session on `socket` until it ends, then cleans up and counts
/// the cause. `client` is the connection's client IP
/// ([`super::client_ip`]), named in the session's start and end logs.
/// `direct`: the connection's plain TCP socket under `socket`, which room
/// frames are written to directly (`None` over TLS or in-memory sockets:
/// they go through `socket`).
pub async fn run<S>(
    socket: S,
    node: Arc<Node>,
    shard: usize,
    client: IpAddr,
    direct: Option<Arc<TcpStream>>,
) where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    run_negotiated(socket, node, shard, client, direct, false).await;
}

/// [`run`] for a connection that negotiated `tickforge.v2` (`interest`):
/// in rooms whose game replicates it gets interest state messages instead
/// of State (see `protocol/schema/replication.fbs`).
pub async fn run_negotiated<S>(
    mut socket: S,
    node: Arc<Node>,
    shard: usize,
    client: IpAddr,
    direct: Option<Arc<TcpStream>>,
    interest: bool,
) where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let stats = node.shards[shard].metrics.clone();
    stats.add_connections(1);
    let now = Instant::now();
    let mut session = Session {
        id: node.next_session_id(),
        shard,
        decode_limits: Limits {
            max_apparent_size: node.config.session.max_frame_bytes,
            ..Limits::CLIENT
        },
        limits: SessionLimits::new(&node.config.session_limits, now),
        joins: 0,
        replies: Vec::with_capacity(2),
        flush_pending: false,
        direct,
        player: None,
        closed_normally: false,
        name: Arc::from(""),
        guest: false,
        interest,
        room: None,
        joining: None,
        joining_room: None,
        kick: Arc::new(Kick::default()),
        last_inbound: now,
        metrics: stats.clone(),
        node,
    };
    tracing::debug!(session = session.id, shard, %client, "session started");
    let cause = session.serve(&mut socket).await;
    session.end_membership(cause);
    if let Some(player) = &session.player {
        session.node.auth.live.release(player, session.id);
    }
    tracing::debug!(
        session = session.id,
        %client,
        cause = cause.label(),
        "session ended"
    );
    metrics::disconnected(cause);
    close(&mut socket, cause).await;
    stats.add_connections(-1);
}

impl Session {
    async fn serve<S>(&mut self, ws: &mut S) -> Disconnect
    where
        S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
    {
        let options = self.node.config.session.clone();
        let kick = self.kick.clone();
        // Shutdown arrives as a kick too (the shard raises every session's
        // kick): one lock-free future, created once, polled in every select.
        let _registered = self.node.shards[self.shard].kicks.register(self.id, &kick);
        let ended = kick.kicked();
        tokio::pin!(ended);
        let handshake = tokio::time::sleep(options.handshake_timeout());
        tokio::pin!(handshake);
        let mut pinger = tokio::time::interval_at(
            Instant::now() + options.ping_interval(),
            options.ping_interval(),
        );
        pinger.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                biased;
                cause = &mut ended => Step::Close(cause),
                _ = &mut handshake, if self.player.is_none() => Step::Close(Disconnect::HandshakeTimeout),
                inbound = ws.next() => self.on_inbound(inbound),
                frame = next_outbound(&mut self.room) => self.on_outbound(frame, options.write_batch),
                (seat, loaded) = next_loaded(&mut self.joining) => self.on_loaded(seat, loaded),
                _ = pinger.tick() => self.on_ping_timer(options.idle_timeout()),
            };
            if let Step::Close(cause) = step {
                return cause;
            }
            if (!self.replies.is_empty() || self.flush_pending)
                && let Err(cause) = self
                    .write_replies(ws, ended.as_mut(), options.write_timeout())
                    .await
            {
                return cause;
            }
        }
    }

    fn on_inbound(&mut self, inbound: Option<Result<Message, axum::Error>>) -> Step {
        let now = Instant::now();
        self.last_inbound = now;
        let class = match &inbound {
            Some(Ok(Message::Binary(frame))) => frame_class(frame),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return self.on_message(inbound),
            Some(Ok(_)) => FrameClass::Other,
        };
        match self.limits.admit(class, now) {
            Ok(()) => self.on_message(inbound),
            Err(refused) => {
                self.metrics.refusals.refused(refused.reason);
                if let Some(cause) = refused.close {
                    tracing::debug!(
                        session = self.id,
                        cause = cause.label(),
                        "rate limit exceeded"
                    );
                    return Step::Close(cause);
                }
                if class == FrameClass::JoinLeave {
                    // A client waiting for Joined or Left gets an answer.
                    self.reply_error(
                        ErrorCode::ServerBusy,
                        "too many joins and leaves; slow down",
                    );
                }
                Step::Continue
            }
        }
    }

    fn on_message(&mut self, inbound: Option<Result<Message, axum::Error>>) -> Step {
        match inbound {
            None => Step::Close(Disconnect::ClientClose),
            Some(Err(e)) => Step::Close(classify(e)),
            Some(Ok(Message::Binary(frame))) => self.on_frame(&frame),
            Some(Ok(Message::Text(text))) => {
                self.metrics.received(InKind::Invalid, text.len());
                Step::Close(Disconnect::TextFrame)
            }
            Some(Ok(Message::Close(frame))) => {
                self.closed_normally = frame.is_some_and(|f| f.code == 1000);
                Step::Close(Disconnect::ClientClose)
            }
            // tungstenite queues the Pong answer itself; it is flushed at
            // once, before the room may write directly again.
            Some(Ok(Message::Ping(_))) => {
                self.flush_pending = true;
                Step::Continue
            }
            Some(Ok(Message::Pong(_))) => Step::Continue,
        }
    }

    fn on_outbound(&mut self, frame: Option<Queued>, batch: usize) -> Step {
        let Some(frame) = frame else {
            // The room let go of us: a slow-consumer kick has already won the
            // select, so the room closed (shutdown, or its game failed).
            self.room_closed();
            return Step::Continue;
        };
        self.replies.push(wire(frame));
        if let Some(m) = self.room.as_mut() {
            m.outbox.drain_into(&mut self.replies, batch, wire);
        }
        Step::Continue
    }

    fn on_ping_timer(&mut self, idle_timeout: Duration) -> Step {
        if self.last_inbound.elapsed() >= idle_timeout {
            return Step::Close(Disconnect::IdleTimeout);
        }
        self.replies.push(Out::Message(Message::Ping(Bytes::new())));
        Step::Continue
    }

    fn on_frame(&mut self, frame: &Bytes) -> Step {
        let msg = match decode_client(frame, &self.decode_limits) {
            Ok(msg) => msg,
            Err(e) => {
                self.metrics.received(InKind::Invalid, frame.len());
                return Step::Close(match e {
                    DecodeError::Malformed(_) => Disconnect::BadFrame,
                    DecodeError::WrongFrameKind { .. } | DecodeError::UnknownMessage(_) => {
                        Disconnect::UnexpectedMessage
                    }
                });
            }
        };
        self.metrics.received(in_kind(&msg), frame.len());
        if self.player.is_none() {
            return match msg {
                ClientMsg::Hello(hello) => self.on_hello(hello),
                _ => Step::Close(Disconnect::HelloRequired),
            };
        }
        match msg {
            ClientMsg::Hello(_) => {
                self.reply_error(ErrorCode::AlreadyHello, "Hello was already received")
            }
            ClientMsg::JoinRoom(join) => self.on_join(join),
            ClientMsg::LeaveRoom => self.on_leave(),
            ClientMsg::Input(input) => return self.on_input(input, frame),
            ClientMsg::Ping(ping) => {
                let pong =
                    encode(|e| e.pong(ping.client_time_us(), clock::now_micros(), ping.nonce()));
                self.reply(OutKind::Pong, pong);
            }
        }
        Step::Continue
    }

    fn reply_error(&mut self, code: ErrorCode, message: &str) {
        let error = encode(|e| e.error(code, message));
        self.reply(OutKind::Error, error);
    }

    fn reply(&mut self, kind: OutKind, frame: Bytes) {
        self.metrics.sent(kind, frame.len(), 1);
        self.replies.push(Out::Message(Message::Binary(frame)));
    }
}

fn in_kind(msg: &ClientMsg<'_>) -> InKind {
    match msg {
        ClientMsg::Hello(_) => InKind::Hello,
        ClientMsg::JoinRoom(_) => InKind::JoinRoom,
        ClientMsg::LeaveRoom => InKind::LeaveRoom,
        ClientMsg::Input(_) => InKind::Input,
        ClientMsg::Ping(_) => InKind::Ping,
    }
}
