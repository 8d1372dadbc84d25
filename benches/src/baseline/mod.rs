//! The baseline server: a deliberately **ordinary** game server that speaks
//! exactly the tickforge protocol and runs the same `arena` game, so that the
//! capacity harness can measure tickforge against it in the same run.
//!
//! It is written the way most people would write it from the tokio and axum
//! documentation, and is **intentionally not optimised**. Do not tune it: its
//! value is being the honest, typical implementation. What makes it ordinary:
//!
//! - one multi-thread tokio runtime (work stealing; worker count `--threads`);
//! - axum's WebSocket upgrade with the **default** WebSocket configuration
//!   (no read/write buffer sizing);
//! - `socket.split()` into a sink and a stream; a writer task per connection
//!   fed by a generously bounded mpsc queue, doing one `sink.send(msg).await`
//!   (which flushes: one write syscall) per message;
//! - rooms are `Arc<Mutex<Room>>`, shared by the connections (which lock a
//!   room to join, leave and apply each input at once) and by one task per
//!   room ticking with `tokio::time::interval` (default missed-tick
//!   behaviour: burst);
//! - the State is encoded **per member**: the game state and the envelope are
//!   encoded afresh for every recipient.
//!
//! What it keeps from tickforge, so that the comparison is fair on safety and
//! on work done: every inbound frame is verified by the same codec
//! ([`tickforge_protocol::decode_client`], same limits), every input payload
//! by the game before it is applied, protocol violations close the
//! connection with the same codes and reasons
//! ([`tickforge_server::net::close::Disconnect`]), TCP_NODELAY is set as
//! tickforge does, and the simulation is the very same
//! [`tickforge_server::game::arena::Arena`] driven through the
//! [`tickforge_server::game::Game`] trait with the same fixed time step.
//! A client whose queue fills up (it stopped reading) is dropped, so that an
//! overloaded run cannot exhaust memory.
//!
//! Not implemented (tickforge has them; they cost nothing on the measured
//! path): handshake and idle timeouts, server pings, metrics, presence,
//! snapshots, graceful drain at shutdown.
//!
//! Modules: [`room`] (the lobby, rooms and their tick task) and
//! [`connection`] (one reader loop and one writer task per WebSocket).

pub mod connection;
pub mod room;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use clap::Parser;
use tickforge_protocol::SUBPROTOCOL;
use tokio::net::TcpListener;

use room::Lobby;

/// Command-line options of the `baseline` binary.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "baseline",
    about = "An intentionally ordinary game server speaking the tickforge protocol (comparison baseline)"
)]
pub struct Options {
    /// Address to listen on (port 0 picks a free port; the bound address is
    /// printed on stdout as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:7701")]
    pub listen: SocketAddr,
    /// Worker threads of the tokio runtime; default: one per available core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Room tick rate, Hz.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub tick_rate: u16,
    /// Seats per room.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub capacity: u16,
}

/// What every handler shares.
#[derive(Clone)]
struct App {
    lobby: Arc<Lobby>,
    next_connection: Arc<AtomicU64>,
}

/// Serves the baseline on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, options: &Options) -> std::io::Result<()> {
    let app = App {
        lobby: Lobby::new(options.tick_rate, options.capacity),
        next_connection: Arc::new(AtomicU64::new(1)),
    };
    let router = Router::new()
        .route("/ws", get(upgrade))
        .route("/healthz", get(healthz))
        .with_state(app);
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY failed");
        }
    });
    axum::serve(listener, router).await
}

async fn upgrade(State(app): State<App>, ws: WebSocketUpgrade) -> Response {
    let ws = ws.protocols([SUBPROTOCOL]);
    if ws.selected_protocol().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "this server needs the WebSocket subprotocol tickforge.v1 (Sec-WebSocket-Protocol)",
        )
            .into_response();
    }
    let id = app.next_connection.fetch_add(1, Ordering::Relaxed);
    ws.on_upgrade(move |socket| connection::run(socket, app.lobby, id))
}

async fn healthz() -> &'static str {
    "ok"
}
