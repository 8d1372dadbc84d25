//! A small async tickforge client over tokio-tungstenite.
//!
//! Used by the integration tests and the bot swarm, and meant for anyone
//! connecting a Rust game client or bot:
//!
//! ```no_run
//! # async fn demo(token: String) -> Result<(), tickforge_protocol::client::ClientError> {
//! use tickforge_protocol::client::{Client, ConnectOptions, Event};
//! // A session token: from the game's login service, `POST /auth/guest`
//! // or `tickforge token mint`. The player id is its subject.
//! let mut client = Client::connect("ws://127.0.0.1:7700/ws", ConnectOptions::token(token)).await?;
//! let joined = client.join_or_create("arena").await?;
//! client.send_input(&[]).await?;
//! while let Event::State(state) = client.next_event().await? {
//!     let _my_ack = state.ack_for(joined.entity_id);
//! }
//! # Ok(()) }
//! ```
//!
//! `wss://` URLs connect over TLS (rustls), trusting the webpki roots unless
//! [`ConnectOptions::tls_roots`] (or [`ConnectOptions::trust_pem`]) says
//! otherwise.
//!
//! | module | owns |
//! |---|---|
//! | this one | the client: Hello/Welcome, requests and their answers, events |
//! | `connect` | dialling, TLS for `wss://`, the upgrade ([`Client::open`], [`upgrade_request`]) |
//! | [`tls`] | trust anchors for `wss://` |
//! | `error` | [`ClientError`] and close codes |
//! | `event` | [`Event`]s: what the server sent, decoded |
//! | `resume` | taking the seat back after a drop, following a moved room |
//!
//! **Resume.** After an unexpected drop while in a room (not a close the
//! client asked for, not 1000/1001 from the server, not 4003–4006, not a
//! rate-limit 1008), [`Client::next_event`] (and [`Client::send_input`])
//! reconnect with backoff within the server's grace, presenting
//! `Welcome.resume_token` (and a fresh token from the token provider, if
//! one is set), and return [`Event::Resumed`] with the gap in ticks; the
//! input sequence continues from the server's last applied input. An
//! unasked `Redirect` carrying a resume token (the room moved to another
//! node) is followed the same way. Past the grace the call fails with
//! [`ClientError::SeatLost`]. A room that sends nothing for
//! [`ConnectOptions::silence_timeout`] counts as a drop (a half-open
//! connection). Server messages of types this version does not know are
//! skipped.
//!
//! One task owns the socket: reading and writing go through `&mut self`.
//! Events that arrive while a request waits for its answer are queued and
//! returned by [`Client::next_event`] in order (State excepted: the next one
//! follows within a tick). Every request waits at most
//! [`ConnectOptions::timeout`].

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustls::RootCertStore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::PROTOCOL_VERSION;
use crate::codec::DecodeError;
use crate::encode::ClientEncoder;
use crate::replication::Replica;
use crate::replication::message::is_interest_state;
use crate::wire::PlayerAck;

mod connect;
mod error;
mod event;
mod resume;
pub mod tls;

pub use connect::{Socket, upgrade_request};
pub use error::{ACCESS_DENIED_CODES, ClientError, RATE_LIMIT_CODE, RATE_LIMIT_REASONS, closed};
use event::to_event;
pub use event::{Event, JoinedInfo, StateInfo, WelcomeInfo};
pub use tls::webpki_roots;

/// Microseconds since the UNIX epoch, the protocol's time unit.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A source of session tokens, asked once per (re)connect, so an expiring
/// token can be refreshed from the game's login service before each attempt.
pub type TokenProvider = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>>
        + Send
        + Sync,
>;

/// Runs `fut` within `limit`, or fails with [`ClientError::Timeout`].
async fn within<T>(
    limit: Duration,
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(ClientError::Timeout(what)))
}

/// How to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Player id sent in Hello: empty (the server takes the token's subject)
    /// or equal to it; taken on trust only by a server in `trust-hello` mode.
    pub player_id: String,
    /// Session token sent in Hello (a JWT). [`ConnectOptions::token_provider`]
    /// wins when both are set.
    pub token: Option<String>,
    /// Asked for a fresh token before every connect.
    pub token_provider: Option<TokenProvider>,
    /// Client version sent in Hello.
    pub client_version: String,
    /// Socket receive buffer (SO_RCVBUF), if it should be set.
    pub recv_buffer_bytes: Option<u32>,
    /// Largest frame accepted from the server.
    pub max_frame_bytes: usize,
    /// WebSocket read buffer, in bytes (small by default: bots are many).
    pub read_buffer_bytes: usize,
    /// Longest wait for connecting and for the answer to each request.
    pub timeout: Duration,
    /// Take the seat back after an unexpected drop (default `true`).
    pub auto_resume: bool,
    /// In a room, this long without any frame from the server is a drop
    /// (States come every tick; default 5 s).
    pub silence_timeout: Duration,
    /// Resume token of an earlier connection (`Welcome.resume_token` or an
    /// unasked `Redirect`'s): sent in Hello to take back its seat.
    pub resume_token: Option<String>,
    /// Trust anchors for `wss://` URLs. `None`: the webpki roots (Mozilla's
    /// list). `Some`: exactly these — start from [`webpki_roots`] to add a
    /// private CA to the defaults, or use [`ConnectOptions::trust_pem`].
    pub tls_roots: Option<Arc<RootCertStore>>,
    /// Offer `tickforge.v2` (and v1): in a room whose game replicates
    /// (`arena-large`), States are rebuilt from interest state messages
    /// (deltas and cells) and carry the interest area's entities in
    /// [`StateInfo::entities`]. Default `false` (`tickforge.v1` only).
    pub interest: bool,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("player_id", &self.player_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_provider", &self.token_provider.is_some())
            .field("client_version", &self.client_version)
            .field("timeout", &self.timeout)
            .field("tls_roots", &self.tls_roots.as_ref().map(|r| r.len()))
            .finish_non_exhaustive()
    }
}

impl ConnectOptions {
    /// Defaults with a session token: the player id is the token's subject.
    pub fn token(token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..Self::player("")
        }
    }

    /// Defaults with a token provider, called before every connect.
    pub fn token_provider(provider: TokenProvider) -> Self {
        Self {
            token_provider: Some(provider),
            ..Self::player("")
        }
    }

    /// Defaults for `player_id` with no token: only a server started with
    /// `--auth trust-hello` (local development) accepts it.
    pub fn player(player_id: impl Into<String>) -> Self {
        Self {
            player_id: player_id.into(),
            token: None,
            token_provider: None,
            client_version: concat!("tickforge-rust/", env!("CARGO_PKG_VERSION")).to_string(),
            recv_buffer_bytes: None,
            max_frame_bytes: 1 << 20,
            read_buffer_bytes: 4 * 1024,
            timeout: Duration::from_secs(10),
            resume_token: None,
            auto_resume: true,
            silence_timeout: Duration::from_secs(5),
            tls_roots: None,
            interest: false,
        }
    }
}

/// A connected client that has said Hello and received Welcome.
pub struct Client {
    ws: Socket,
    enc: ClientEncoder,
    pending: VecDeque<Event>,
    next_seq: u32,
    next_nonce: u32,
    timeout: Duration,
    /// Where and how to reconnect for a resume.
    url: String,
    options: ConnectOptions,
    /// A Joined arrived and no Left since.
    in_room: bool,
    /// Tick of the last State or Joined seen (for the resume gap).
    last_tick: u64,
    /// The server's Welcome.
    pub welcome: WelcomeInfo,
    /// In a replicating room (`tickforge.v2`): the interest area, and our
    /// entity (whose ack the messages carry).
    replica: Option<(Replica, u32)>,
}

impl Client {
    /// Connects to `url` (e.g. `ws://127.0.0.1:7700/ws`), says Hello and
    /// waits for Welcome, all within `options.timeout`.
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Client, ClientError> {
        within(options.timeout, "connect", Self::connect_now(url, &options)).await
    }

    async fn connect_now(url: &str, options: &ConnectOptions) -> Result<Client, ClientError> {
        let token = match &options.token_provider {
            Some(provider) => Some(provider().await.map_err(ClientError::Token)?),
            None => options.token.clone(),
        };
        let mut ws = Self::open(url, options).await?;
        let mut enc = ClientEncoder::new();
        let hello = enc.hello_resume(
            &options.player_id,
            token.as_deref(),
            &options.client_version,
            options.resume_token.as_deref(),
        );
        ws.send(Message::Binary(hello)).await?;
        let mut client = Client {
            ws,
            enc,
            pending: VecDeque::new(),
            next_seq: 1,
            next_nonce: 1,
            timeout: options.timeout,
            url: url.to_string(),
            options: options.clone(),
            in_room: false,
            last_tick: 0,
            replica: None,
            welcome: WelcomeInfo {
                session_id: 0,
                node_id: String::new(),
                tick_rate_hz: 0,
                server_time_us: 0,
                protocol_version: PROTOCOL_VERSION,
                player_id: String::new(),
                name: String::new(),
                resume_token: String::new(),
                resume_grace_ms: 0,
                resumed: false,
            },
        };
        match client.read_event().await? {
            Event::Welcome(w) => client.welcome = w,
            _ => return Err(ClientError::Unexpected("non-Welcome")),
        }
        Ok(client)
    }

    /// Join-or-create by mode; waits for Joined.
    pub async fn join_or_create(&mut self, mode: &str) -> Result<JoinedInfo, ClientError> {
        let frame = self.enc.join_or_create(mode);
        self.ws.send(Message::Binary(frame)).await?;
        self.await_joined().await
    }

    /// Creates a private room of `mode` (never listed; joined only by its
    /// id); waits for Joined.
    pub async fn create_private(&mut self, mode: &str) -> Result<JoinedInfo, ClientError> {
        let frame = self.enc.join_mode(mode, true);
        self.ws.send(Message::Binary(frame)).await?;
        self.await_joined().await
    }

    /// Joins a room by id; waits for Joined.
    pub async fn join(&mut self, room_id: &str) -> Result<JoinedInfo, ClientError> {
        let frame = self.enc.join_room(room_id);
        self.ws.send(Message::Binary(frame)).await?;
        self.await_joined().await
    }

    async fn await_joined(&mut self) -> Result<JoinedInfo, ClientError> {
        let limit = self.timeout;
        within(limit, "Joined", async {
            loop {
                match self.read_event().await? {
                    Event::Joined(j) => return Ok(j),
                    Event::Error(code, message) => {
                        return Err(ClientError::Refused { code, message });
                    }
                    Event::Redirect { url, room_id, .. } => {
                        return Err(ClientError::Redirected { url, room_id });
                    }
                    other => self.keep(other),
                }
            }
        })
        .await
    }

    /// Keeps an event that arrived while a request waited, for `next_event`.
    /// State is not kept: the next one follows within a tick, and a queue
    /// of stale states would only grow.
    fn keep(&mut self, event: Event) {
        if !matches!(event, Event::State(_)) {
            self.pending.push_back(event);
        }
    }

    /// Leaves the current room; waits for Left.
    pub async fn leave(&mut self) -> Result<(), ClientError> {
        let frame = self.enc.leave_room();
        self.ws.send(Message::Binary(frame)).await?;
        let limit = self.timeout;
        within(limit, "Left", async {
            loop {
                match self.read_event().await? {
                    Event::Left(_) => return Ok(()),
                    Event::Error(code, message) => {
                        return Err(ClientError::Refused { code, message });
                    }
                    // State and membership events of the room being left are moot now.
                    Event::State(_) | Event::PlayerJoined(..) | Event::PlayerLeft(..) => {}
                    other => self.keep(other),
                }
            }
        })
        .await
    }

    /// Sends one input with the next sequence number and returns that number.
    pub async fn send_input(&mut self, payload: &[u8]) -> Result<u32, ClientError> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let frame = self.enc.input(seq, now_micros(), payload);
        match self.ws.send(Message::Binary(frame)).await {
            Ok(()) => Ok(seq),
            Err(e) => {
                let e = ClientError::from(e);
                if !self.can_resume(&e) {
                    return Err(e);
                }
                // The input goes out again on the resumed connection, numbered
                // on from the server's last applied input.
                let resumed = self.resume_after(e).await?;
                self.pending.push_back(resumed);
                let seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1);
                let frame = self.enc.input(seq, now_micros(), payload);
                self.ws.send(Message::Binary(frame)).await?;
                Ok(seq)
            }
        }
    }

    /// Sends a Ping and waits for its Pong; returns the round-trip time.
    pub async fn ping(&mut self) -> Result<Duration, ClientError> {
        let nonce = self.next_nonce;
        self.next_nonce = self.next_nonce.wrapping_add(1);
        let started = std::time::Instant::now();
        let frame = self.enc.ping(now_micros(), nonce);
        self.ws.send(Message::Binary(frame)).await?;
        let limit = self.timeout;
        within(limit, "Pong", async {
            loop {
                match self.read_event().await? {
                    Event::Pong { nonce: n, .. } if n == nonce => return Ok(started.elapsed()),
                    other => self.keep(other),
                }
            }
        })
        .await
    }

    /// Sends a raw binary frame (for tools and tests).
    pub async fn send_frame(&mut self, frame: Bytes) -> Result<(), ClientError> {
        self.ws.send(Message::Binary(frame)).await?;
        Ok(())
    }

    /// The next event: queued ones first, then from the socket. Resumes
    /// after an unexpected drop and follows a moved room (see the module
    /// documentation): then the event is [`Event::Resumed`].
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        let event = match self.pending.pop_front() {
            Some(event) => Ok(event),
            None => self.read_event().await,
        };
        match event {
            Ok(Event::Redirect {
                url, resume_token, ..
            }) if !resume_token.is_empty() && self.options.auto_resume => {
                self.follow_moved_room(url, resume_token).await
            }
            Err(e) if self.can_resume(&e) => self.resume_after(e).await,
            other => other,
        }
    }

    async fn read_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let next = if self.in_room {
                tokio::time::timeout(self.options.silence_timeout, self.ws.next())
                    .await
                    .map_err(|_| ClientError::Closed {
                        code: 1006,
                        reason: "the server went silent".into(),
                    })?
            } else {
                self.ws.next().await
            };
            let msg = next.ok_or(ClientError::Closed {
                code: 1006,
                reason: "connection dropped".into(),
            })??;
            match msg {
                Message::Binary(frame) if is_interest_state(&frame) => {
                    let event = self.interest_state(&frame)?;
                    self.track(&event);
                    return Ok(event);
                }
                Message::Binary(frame) => {
                    let event = match to_event(&frame) {
                        Ok(event) => event,
                        // A message type of a newer server: not for this version.
                        Err(DecodeError::UnknownMessage(_)) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    self.track(&event);
                    return Ok(event);
                }
                Message::Close(frame) => return Err(closed(frame)),
                Message::Text(_) => return Err(ClientError::Unexpected("text")),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Applies an interest state message to the replica: the State of the
    /// tick, with the interest area's entities.
    fn interest_state(&mut self, frame: &[u8]) -> Result<Event, ClientError> {
        let Some((replica, entity)) = self.replica.as_mut() else {
            return Err(ClientError::Unexpected(
                "interest state outside a replicating room",
            ));
        };
        let applied = replica.apply(frame)?;
        Ok(Event::State(StateInfo {
            tick: applied.tick,
            server_time_us: applied.server_time_us,
            state: Bytes::new(),
            acks: vec![PlayerAck::new(*entity, applied.member.last_input_seq)],
            entities: replica.entities(),
        }))
    }

    /// Closes the connection with 1000 (normal) and waits for the server's close.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let limit = self.timeout;
        within(limit, "close", async move { self.close_now().await }).await
    }

    async fn close_now(&mut self) -> Result<(), ClientError> {
        self.ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await?;
        while let Some(msg) = self.ws.next().await {
            if let Message::Close(_) = msg? {
                break;
            }
        }
        Ok(())
    }
}
