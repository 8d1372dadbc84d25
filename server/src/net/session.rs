//! One session per WebSocket connection: a single owner task that reads
//! frames, verifies them, and writes replies and room frames.
//!
//! The loop is written over any `Sink` + `Stream` of WebSocket messages, so
//! it runs on the real socket and on in-memory channels alike. Writes are
//! batched: replies and outbox frames are fed, then flushed once. A write
//! that stalls never blocks the room: the room drops the member when its
//! outbox is full and raises the session's [`Kick`], which the session sees
//! even mid-write.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tickforge_protocol::codec::Limits;
use tickforge_protocol::wire::{ErrorCode, Hello, Input, JoinRoom};
use tickforge_protocol::{ClientMsg, DecodeError, ServerEncoder, decode_client};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite;

use super::close::Disconnect;
use super::kick::Kick;
use crate::auth::IdentityKind;
use crate::clock;
use crate::directory::JoinError;
use crate::metrics::{self, InKind, OutKind, ShardMetrics};
use crate::node::JoinTarget;
use crate::node::Node;
use crate::persist::{LoadError, Loaded};
use crate::room::{JoinRequest, OutboxReceiver, RoomHandle, Seat, SessionId, outbox};

/// Longest player id accepted in Hello, in bytes.
pub const MAX_PLAYER_ID_BYTES: usize = crate::auth::verify::MAX_PLAYER_ID_BYTES;
/// Time allowed to deliver a close frame and read the client's answer.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

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

/// A join whose seat is reserved while the player's saved state loads.
type Joining = Pin<Box<dyn Future<Output = (Seat, Result<Loaded, LoadError>)> + Send>>;

struct Membership {
    room: RoomHandle,
    outbox: OutboxReceiver,
    inputs_queued: Arc<AtomicU32>,
}

/// The state of one connection.
struct Session {
    id: SessionId,
    node: Arc<Node>,
    shard: usize,
    limits: Limits,
    replies: Vec<Message>,
    /// The verified player, from Hello on.
    player: Option<Arc<str>>,
    /// The player's display name.
    name: Arc<str>,
    /// A guest session: the player's saved state expires (`--guest-ttl`).
    guest: bool,
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
pub async fn run<S>(mut socket: S, node: Arc<Node>, shard: usize, client: IpAddr)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let stats = node.shards[shard].metrics.clone();
    stats.add_connections(1);
    let mut session = Session {
        id: node.next_session_id(),
        shard,
        limits: Limits {
            max_apparent_size: node.config.session.max_frame_bytes,
            ..Limits::CLIENT
        },
        replies: Vec::with_capacity(2),
        player: None,
        name: Arc::from(""),
        guest: false,
        room: None,
        joining: None,
        joining_room: None,
        kick: Arc::new(Kick::default()),
        last_inbound: Instant::now(),
        metrics: stats.clone(),
        node,
    };
    tracing::debug!(session = session.id, shard, %client, "session started");
    let cause = session.serve(&mut socket).await;
    session.leave_room();
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
        let shutdown = self.node.shutdown.clone();
        let kick = self.kick.clone();
        // Created once and polled in every select: no waiter registration per message.
        let ended = async {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => Disconnect::Shutdown,
                cause = kick.kicked() => cause,
            }
        };
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
            if !self.replies.is_empty()
                && let Err(cause) = self
                    .write_replies(ws, ended.as_mut(), options.write_timeout())
                    .await
            {
                return cause;
            }
        }
    }

    /// Feeds every queued reply, then flushes once. A write that completes
    /// at once (the common case) arms no timer; one that waits gives up when
    /// the session ends (shutdown, kick) or after `limit` (slow consumer).
    async fn write_replies<S>(
        &mut self,
        ws: &mut S,
        ended: Pin<&mut impl Future<Output = Disconnect>>,
        limit: Duration,
    ) -> Result<(), Disconnect>
    where
        S: Sink<Message, Error = axum::Error> + Unpin,
    {
        let replies = &mut self.replies;
        let write = async {
            for message in replies.drain(..) {
                ws.feed(message).await?;
            }
            ws.flush().await
        };
        tokio::pin!(write);
        if let Some(result) = write.as_mut().now_or_never() {
            return result.map_err(classify);
        }
        tokio::select! {
            biased;
            cause = ended => Err(cause),
            result = write => result.map_err(classify),
            _ = tokio::time::sleep(limit) => Err(Disconnect::SlowConsumer),
        }
    }

    fn on_inbound(&mut self, inbound: Option<Result<Message, axum::Error>>) -> Step {
        self.last_inbound = Instant::now();
        match inbound {
            None => Step::Close(Disconnect::ClientClose),
            Some(Err(e)) => Step::Close(classify(e)),
            Some(Ok(Message::Binary(frame))) => self.on_frame(&frame),
            Some(Ok(Message::Text(text))) => {
                self.metrics.received(InKind::Invalid, text.len());
                Step::Close(Disconnect::TextFrame)
            }
            Some(Ok(Message::Close(_))) => Step::Close(Disconnect::ClientClose),
            // tungstenite queues the Pong answer itself; it goes out with the next flush.
            Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => Step::Continue,
        }
    }

    fn on_outbound(&mut self, frame: Option<Bytes>, batch: usize) -> Step {
        let Some(frame) = frame else {
            // The room let go of us: a slow-consumer kick has already won the
            // select, so the room closed (shutdown, or its game failed).
            self.room = None;
            self.node.directory.unseat_session(self.id);
            self.reply_error(ErrorCode::ServerBusy, "the room closed");
            return Step::Continue;
        };
        self.replies.push(Message::Binary(frame));
        if let Some(m) = self.room.as_mut() {
            m.outbox
                .drain_into(&mut self.replies, batch, Message::Binary);
        }
        Step::Continue
    }

    fn on_ping_timer(&mut self, idle_timeout: Duration) -> Step {
        if self.last_inbound.elapsed() >= idle_timeout {
            return Step::Close(Disconnect::IdleTimeout);
        }
        self.replies.push(Message::Ping(Bytes::new()));
        Step::Continue
    }

    fn on_frame(&mut self, frame: &Bytes) -> Step {
        let msg = match decode_client(frame, &self.limits) {
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

    /// Verifies the Hello's identity before anything else; the player is
    /// the token's subject. A newer session of the same player replaces an
    /// older one (which closes with `replaced`).
    fn on_hello(&mut self, hello: Hello<'_>) -> Step {
        let auth = &self.node.auth;
        let identity = match auth.identify(hello.player_id(), hello.token()) {
            Ok(identity) => identity,
            Err(cause) => {
                metrics::auth_refused(match cause {
                    Disconnect::Banned => metrics::REFUSED_BANNED,
                    other => other.label(),
                });
                tracing::debug!(session = self.id, refused = cause.label(), "hello refused");
                return Step::Close(cause);
            }
        };
        metrics::auth_accepted(identity.kind);
        let since_us = clock::now_micros();
        if auth
            .live
            .claim(&identity.player_id, self.id, &self.kick, since_us)
        {
            metrics::session_replaced();
            tracing::debug!(
                session = self.id,
                "an older session of this player was replaced"
            );
        }
        let presence = &self.node.presence;
        if presence.is_shared() {
            // The node holding an older session of this player closes it.
            presence.access(crate::presence::AccessAction::Replace {
                player: identity.player_id.clone(),
                at_us: since_us,
            });
        }
        let welcome = encode(|e| {
            e.welcome(
                self.id,
                &self.node.node_id,
                self.node.config.room.tick_rate,
                clock::now_micros(),
                &identity.player_id,
                &identity.name,
            )
        });
        self.player = Some(identity.player_id);
        self.name = identity.name;
        self.guest = identity.kind == IdentityKind::Guest;
        self.reply(OutKind::Welcome, welcome);
        Step::Continue
    }

    fn on_join(&mut self, join: JoinRoom<'_>) {
        if self.room.is_some() || self.joining.is_some() {
            return self.reply_error(ErrorCode::AlreadyInRoom, "leave the current room first");
        }
        let seat = match (join.room_id(), join.mode()) {
            (Some(room_id), _) => self.node.join_room(room_id),
            (None, Some(mode)) if join.private() => self.node.create_private(mode, self.shard),
            (None, Some(mode)) => self.node.join_or_create(mode, self.shard),
            (None, None) => Err(JoinError::NothingToJoin),
        };
        let seat = match seat {
            Ok(JoinTarget::Here(seat)) => seat,
            Ok(JoinTarget::Elsewhere { url, room_id }) => {
                tracing::debug!(session = self.id, %room_id, %url, "join redirected");
                let redirect = encode(|e| e.redirect(&url, &room_id));
                return self.reply(OutKind::Redirect, redirect);
            }
            Err(e) => {
                let code = match e {
                    JoinError::RoomNotFound => ErrorCode::RoomNotFound,
                    JoinError::RoomFull => ErrorCode::RoomFull,
                    JoinError::UnknownMode => ErrorCode::UnknownMode,
                    JoinError::NothingToJoin => ErrorCode::InvalidInput,
                    JoinError::Draining => ErrorCode::Draining,
                };
                tracing::debug!(session = self.id, refused = e.label(), "join refused");
                return self.reply_error(code, &e.to_string());
            }
        };
        let Some(player_id) = self.player.clone() else {
            return;
        };
        // The seat is held while the player's saved state loads (the room
        // does not wait: it sees the join only once the state is here).
        let snapshots = self.node.snapshots.clone();
        let node = self.node.clone();
        self.joining_room = Some(seat.room().clone());
        self.joining = Some(Box::pin(async move {
            node.seated_elsewhere_released(&player_id).await;
            let loaded = snapshots.claim_and_load(player_id).await;
            (seat, loaded)
        }));
    }

    /// The saved state of a join arrived (or not in time: the join is
    /// refused and the seat given back).
    fn on_loaded(&mut self, seat: Seat, loaded: Result<Loaded, LoadError>) -> Step {
        self.joining = None;
        self.joining_room = None;
        let (Some(player_id), Ok(loaded)) = (
            self.player.clone(),
            loaded.inspect_err(|e| {
                tracing::debug!(
                    session = self.id,
                    refused = e.label(),
                    "saved state not loaded; join refused"
                );
            }),
        ) else {
            self.reply_error(
                ErrorCode::ServerBusy,
                "saved player state unavailable; try again",
            );
            return Step::Continue;
        };
        let (tx, rx) = outbox(self.node.config.session.outbox_frames);
        let inputs_queued = Arc::new(AtomicU32::new(0));
        let joined = seat.join(JoinRequest {
            session: self.id,
            name: self.name.clone(),
            player_id,
            outbox: tx,
            kick: self.kick.clone(),
            inputs_queued: inputs_queued.clone(),
            saved: loaded.snapshot,
            claim: Some(loaded.claim),
            guest: self.guest,
        });
        match joined {
            Ok(room) => {
                self.node
                    .directory
                    .seat_session(self.id, room.info().id.clone());
                self.room = Some(Membership {
                    room,
                    outbox: rx,
                    inputs_queued,
                });
            }
            Err(e) => self.reply_error(ErrorCode::ServerBusy, &e.to_string()),
        }
        Step::Continue
    }

    fn on_leave(&mut self) {
        match self.leave_room() {
            Some(room_id) => {
                let left = encode(|e| e.left(&room_id));
                self.reply(OutKind::Left, left);
            }
            None => self.reply_error(ErrorCode::NotInRoom, "not in a room"),
        }
    }

    /// Leaves the current room, if any; frames still queued from it are dropped.
    fn leave_room(&mut self) -> Option<Arc<str>> {
        let membership = self.room.take()?;
        // A closed outbox means the room already removed us (and freed the seat).
        if !membership.outbox.is_closed() {
            membership.room.leave(self.id);
        }
        self.node.directory.unseat_session(self.id);
        Some(membership.room.info().id.clone())
    }

    fn on_input(&mut self, input: Input<'_>, frame: &Bytes) -> Step {
        let payload = input.payload().map(|p| p.bytes()).unwrap_or_default();
        let Some(membership) = &self.room else {
            if let Some(room) = &self.joining_room
                && room.validate_input(payload).is_err()
            {
                return Step::Close(Disconnect::BadInput);
            }
            self.metrics.input_dropped(metrics::DROP_NOT_IN_ROOM);
            return Step::Continue;
        };
        if membership.room.validate_input(payload).is_err() {
            return Step::Close(Disconnect::BadInput);
        }
        let payload = if payload.is_empty() {
            Bytes::new()
        } else {
            frame.slice_ref(payload)
        };
        if let Err(refused) =
            membership
                .room
                .send_input(self.id, input.seq(), payload, &membership.inputs_queued)
        {
            self.metrics.input_dropped(refused.label());
        }
        Step::Continue
    }

    fn reply_error(&mut self, code: ErrorCode, message: &str) {
        let error = encode(|e| e.error(code, message));
        self.reply(OutKind::Error, error);
    }

    fn reply(&mut self, kind: OutKind, frame: Bytes) {
        self.metrics.sent(kind, frame.len(), 1);
        self.replies.push(Message::Binary(frame));
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

/// The seat and saved state of a join in progress, or never.
async fn next_loaded(joining: &mut Option<Joining>) -> (Seat, Result<Loaded, LoadError>) {
    match joining {
        Some(load) => load.await,
        None => std::future::pending().await,
    }
}

/// The next frame from the room, or never when not in a room.
async fn next_outbound(room: &mut Option<Membership>) -> Option<Bytes> {
    match room {
        Some(m) => m.outbox.recv().await,
        None => std::future::pending().await,
    }
}

/// Maps a WebSocket error to the cause it ends the session with.
fn classify(e: axum::Error) -> Disconnect {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => match *e {
            tungstenite::Error::Capacity(_) => Disconnect::FrameTooLarge,
            tungstenite::Error::WriteBufferFull(_) => Disconnect::SlowConsumer,
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                Disconnect::ClientClose
            }
            tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_) => {
                Disconnect::ProtocolError
            }
            _ => Disconnect::NetworkError,
        },
        Err(_) => Disconnect::NetworkError,
    }
}

/// Sends the close frame for `cause` (if it has one) and lingers briefly for
/// the client's answer, so the close reason is not lost to a TCP reset.
async fn close<S>(ws: &mut S, cause: Disconnect)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let Some(code) = cause.close_code() else {
        // The client closed: flush tungstenite's queued close answer.
        if tokio::time::timeout(CLOSE_LINGER, ws.flush())
            .await
            .is_err()
        {
            tracing::debug!("close answer not flushed in time");
        }
        return;
    };
    let frame = CloseFrame {
        code,
        reason: cause.label().into(),
    };
    let linger = async {
        ws.send(Message::Close(Some(frame))).await?;
        while let Some(message) = ws.next().await {
            if let Message::Close(_) = message? {
                break;
            }
        }
        Ok::<(), axum::Error>(())
    };
    match tokio::time::timeout(CLOSE_LINGER, linger).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "close handshake failed"),
        Err(_) => tracing::debug!(cause = cause.label(), "close handshake timed out"),
    }
}
