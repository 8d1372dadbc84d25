//! One baseline connection, the ordinary way: the WebSocket is `split()`;
//! the connection's task reads, verifies and handles frames; a writer task
//! owns the sink and sends every queued message with its own
//! `sink.send(msg).await` (one flush, so one write syscall, per message).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tickforge_protocol::client::now_micros;
use tickforge_protocol::codec::Limits;
use tickforge_protocol::wire::{ErrorCode, Input, JoinRoom};
use tickforge_protocol::{ClientMsg, DecodeError, ServerEncoder, decode_client};
use tickforge_server::game::arena;
use tickforge_server::net::close::Disconnect;
use tickforge_server::net::session::MAX_PLAYER_ID_BYTES;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::room::{JoinRefused, Joiner, Lobby, Outbox, SharedRoom, lock};

/// Frames queued for one client before it counts as not reading (about 30 s
/// of State at 30 Hz): generous, as ordinary servers are.
pub const OUTBOX_FRAMES: usize = 1024;
/// Largest client frame the verifier accepts (tickforge's default `--max-frame-bytes`).
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Time the writer gets to deliver what is queued and the close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// The node id announced in Welcome.
const NODE_ID: &str = "baseline";

struct Membership {
    room: SharedRoom,
    id: Arc<str>,
}

/// The state of one connection.
struct Session {
    id: u64,
    lobby: Arc<Lobby>,
    outbox: Outbox,
    enc: ServerEncoder,
    limits: Limits,
    player: Option<Arc<str>>,
    room: Option<Membership>,
}

/// Serves one upgraded WebSocket until it ends.
pub async fn run(socket: WebSocket, lobby: Arc<Lobby>, id: u64) {
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(OUTBOX_FRAMES);
    let end = CancellationToken::new();
    let mut writer = tokio::spawn(write_loop(sink, rx, end.clone()));
    let mut session = Session {
        id,
        lobby,
        outbox: Outbox::new(tx, end.clone()),
        enc: ServerEncoder::new(),
        limits: Limits {
            max_apparent_size: MAX_FRAME_BYTES,
            ..Limits::CLIENT
        },
        player: None,
        room: None,
    };
    let cause = tokio::select! {
        cause = session.read_loop(&mut stream) => cause,
        _ = end.cancelled() => Disconnect::SlowConsumer,
    };
    session.leave_room();
    tracing::debug!(connection = id, cause = cause.label(), "connection ended");
    if let Some(code) = cause.close_code() {
        session.outbox.push(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(cause.label()),
        })));
    }
    // The writer ends once every sender is gone (ours here, the room's at leave).
    drop(session);
    if tokio::time::timeout(CLOSE_LINGER, &mut writer)
        .await
        .is_err()
    {
        end.cancel();
    }
}

/// Sends queued messages one by one, each with its own flush.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    end: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = end.cancelled() => return,
            message = rx.recv() => message,
        };
        let Some(message) = message else { break };
        let closing = matches!(message, Message::Close(_));
        let sent = tokio::select! {
            _ = end.cancelled() => return,
            sent = sink.send(message) => sent,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "write failed");
            end.cancel();
            return;
        }
        if closing {
            break;
        }
    }
    tokio::select! {
        _ = end.cancelled() => {}
        closed = sink.close() => if let Err(e) = closed {
            tracing::debug!(error = %e, "close failed");
        },
    }
}

impl Session {
    async fn read_loop(&mut self, stream: &mut SplitStream<WebSocket>) -> Disconnect {
        while let Some(message) = stream.next().await {
            let handled = match message {
                Ok(Message::Binary(frame)) => self.on_frame(&frame),
                Ok(Message::Text(_)) => Err(Disconnect::TextFrame),
                Ok(Message::Close(_)) => Err(Disconnect::ClientClose),
                // tungstenite answers pings itself.
                Ok(Message::Ping(_) | Message::Pong(_)) => Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    Err(Disconnect::NetworkError)
                }
            };
            if let Err(cause) = handled {
                return cause;
            }
        }
        Disconnect::ClientClose
    }

    fn on_frame(&mut self, frame: &Bytes) -> Result<(), Disconnect> {
        let msg = decode_client(frame, &self.limits).map_err(|e| match e {
            DecodeError::Malformed(_) => Disconnect::BadFrame,
            DecodeError::WrongFrameKind { .. } | DecodeError::UnknownMessage(_) => {
                Disconnect::UnexpectedMessage
            }
        })?;
        if self.player.is_none() {
            return match msg {
                ClientMsg::Hello(hello) => self.on_hello(hello.player_id()),
                _ => Err(Disconnect::HelloRequired),
            };
        }
        match msg {
            ClientMsg::Hello(_) => {
                self.send_error(ErrorCode::AlreadyHello, "Hello was already received")
            }
            ClientMsg::JoinRoom(join) => self.on_join(join),
            ClientMsg::LeaveRoom => self.on_leave(),
            ClientMsg::Input(input) => return self.on_input(input),
            ClientMsg::Ping(ping) => {
                let pong = self
                    .enc
                    .pong(ping.client_time_us(), now_micros(), ping.nonce());
                self.send(pong);
            }
        }
        Ok(())
    }

    fn on_hello(&mut self, player_id: &str) -> Result<(), Disconnect> {
        if player_id.is_empty() || player_id.len() > MAX_PLAYER_ID_BYTES {
            return Err(Disconnect::InvalidHello);
        }
        self.player = Some(Arc::from(player_id));
        let tick_rate = self.lobby.tick_rate_hz();
        let welcome = self.enc.welcome(
            self.id,
            NODE_ID,
            tick_rate,
            now_micros(),
            player_id,
            player_id,
        );
        self.send(welcome);
        Ok(())
    }

    fn on_join(&mut self, join: JoinRoom<'_>) {
        if self.room.is_some() {
            return self.send_error(ErrorCode::AlreadyInRoom, "leave the current room first");
        }
        let Some(player_id) = self.player.clone() else {
            return;
        };
        let joiner = Joiner {
            connection: self.id,
            player_id,
            outbox: self.outbox.clone(),
        };
        let joined = match (join.room_id(), join.mode()) {
            (Some(room_id), _) => self.lobby.join(room_id, &joiner),
            (None, Some(mode)) => self.lobby.join_or_create(mode, &joiner),
            (None, None) => Err(JoinRefused::NothingToJoin),
        };
        match joined {
            Ok((room, _entity)) => {
                let id = lock(&room).id().clone();
                self.room = Some(Membership { room, id });
            }
            Err(refused) => self.send_error(refused.code(), refused.message()),
        }
    }

    fn on_leave(&mut self) {
        match self.leave_room() {
            Some(room_id) => {
                let left = self.enc.left(&room_id);
                self.send(left);
            }
            None => self.send_error(ErrorCode::NotInRoom, "not in a room"),
        }
    }

    /// Leaves the current room, if any, and returns its id.
    fn leave_room(&mut self) -> Option<Arc<str>> {
        let membership = self.room.take()?;
        lock(&membership.room).remove(self.id);
        Some(membership.id)
    }

    fn on_input(&mut self, input: Input<'_>) -> Result<(), Disconnect> {
        let Some(membership) = &self.room else {
            // Outside a room inputs are dropped, as tickforge does.
            return Ok(());
        };
        let payload = input.payload().map(|p| p.bytes()).unwrap_or_default();
        (arena::KIND.validate_input)(payload).map_err(|_| Disconnect::BadInput)?;
        lock(&membership.room)
            .input(self.id, input.seq(), payload)
            .map_err(|_| Disconnect::BadInput)
    }

    fn send_error(&mut self, code: ErrorCode, message: &str) {
        let error = self.enc.error(code, message);
        self.send(error);
    }

    /// Queues `frame`; a connection whose queue refuses it is ended by the
    /// outbox, which the connection's task sees next.
    fn send(&self, frame: Bytes) {
        self.outbox.push(Message::Binary(frame));
    }
}
