//! Bad input gets a clear answer and nothing else suffers: each kind of bad
//! frame closes only its own connection, with the close code and reason from
//! README's table, while a well-behaved member keeps receiving state and the
//! room keeps ticking at its rate.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use support::{TestServer, close_of, next_state, start};
use tickforge_protocol::{ClientEncoder, ServerEncoder};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);
/// The room must run at least this share of its nominal ticks meanwhile.
const TICK_TOLERANCE: f64 = 0.8;
/// The shortest window the room's rate is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(1);

fn hello() -> Bytes {
    ClientEncoder::new().hello("mallory", Some(&support::token("mallory")), "test")
}

/// Opens a connection, says Hello when asked, sends `frames` and returns the close.
async fn close_after(server: &TestServer, say_hello: bool, frames: Vec<Message>) -> (u16, String) {
    let mut ws = server.raw().await;
    if say_hello {
        ws.send(Message::Binary(hello())).await.expect("hello sent");
    }
    for frame in frames {
        if ws.send(frame).await.is_err() {
            break;
        }
    }
    close_of(&mut ws, WAIT).await
}

#[tokio::test]
async fn every_bad_input_closes_only_its_own_connection_with_a_documented_code() {
    let server = start(&["--shards", "2", "--max-frame-bytes", "4096"]);
    let mut good = server.connect("good").await;
    let joined = good.join_or_create("arena").await.expect("joins");
    let first = next_state(&mut good, WAIT).await;
    let started = Instant::now();
    let bad_frames_before = server
        .metric("tickforge_disconnects_total{cause=\"bad_frame\"}")
        .await;

    let mut garbage = vec![0u8; 64];
    garbage[4..8].copy_from_slice(b"TFC1");
    garbage[0] = 0xff; // root offset far past the end
    let cases: Vec<(&str, bool, Vec<Message>, u16, &str)> = vec![
        (
            "malformed FlatBuffer",
            true,
            vec![Message::Binary(Bytes::from(garbage))],
            1007,
            "bad_frame",
        ),
        (
            "random bytes",
            true,
            vec![Message::Binary(Bytes::from_static(b"\x01\x02\x03"))],
            1008,
            "unexpected_message",
        ),
        (
            "a server message sent by a client",
            true,
            vec![Message::Binary(ServerEncoder::new().pong(1, 2, 3))],
            1008,
            "unexpected_message",
        ),
        (
            "a text frame",
            true,
            vec![Message::Text("hello".into())],
            1003,
            "text_frame",
        ),
        (
            "an oversized frame",
            true,
            vec![Message::Binary(Bytes::from(vec![7u8; 64 * 1024]))],
            1009,
            "frame_too_large",
        ),
        (
            "a frame before Hello",
            false,
            vec![Message::Binary(
                ClientEncoder::new().join_or_create("arena"),
            )],
            1008,
            "hello_required",
        ),
        (
            "a Hello without a token",
            false,
            vec![Message::Binary(
                ClientEncoder::new().hello("", None, "test"),
            )],
            4003,
            "auth_missing",
        ),
    ];
    for (what, say_hello, frames, code, reason) in cases {
        let close = close_after(&server, say_hello, frames).await;
        assert_eq!(close, (code, reason.to_string()), "{what}");
    }

    // A game input the arena cannot read, from a member of the room.
    let mut ws = server.raw().await;
    let mut enc = ClientEncoder::new();
    ws.send(Message::Binary(hello())).await.expect("sent");
    ws.send(Message::Binary(enc.join_room(&joined.room_id)))
        .await
        .expect("sent");
    ws.send(Message::Binary(enc.input(1, 0, b"not an arena input")))
        .await
        .expect("sent");
    assert_eq!(
        close_of(&mut ws, WAIT).await,
        (1007, "bad_input".to_string())
    );

    // The well-behaved member kept receiving state, and the room kept its
    // rate. States queued while the cases ran come first: read on for a
    // measuring window long enough that one tick more or less cannot matter,
    // so the last State read is the room's current tick.
    let mut last = next_state(&mut good, WAIT).await;
    while started.elapsed() < RATE_WINDOW {
        last = next_state(&mut good, WAIT).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let expected = elapsed * 30.0;
    let ran = (last.tick - first.tick) as f64;
    assert!(
        ran >= expected * TICK_TOLERANCE,
        "room ran {ran} ticks in {elapsed:.2}s, expected about {expected:.0}"
    );
    assert!(
        good.ping().await.is_ok(),
        "the good client is still connected"
    );
    let bad_frames = server
        .metric("tickforge_disconnects_total{cause=\"bad_frame\"}")
        .await;
    assert_eq!(
        bad_frames - bad_frames_before,
        1.0,
        "each bad client is counted by cause"
    );
    assert_eq!(support::panics(), 0, "no panic anywhere");
    server.stop().await;
}

#[tokio::test]
async fn an_upgrade_without_the_subprotocol_is_refused_with_400() {
    let server = start(&["--shards", "1"]);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            server.url(),
        )
        .expect("request");
    request.headers_mut().remove("sec-websocket-protocol");
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!(
            "expected HTTP 400, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_seated_members_unreadable_game_input_closes_it_with_1007_after_the_game_read_it() {
    let server = start(&["--shards", "1"]);
    // No automatic resume: the test reads the close itself.
    let mut options = support::player_options("reader");
    options.auto_resume = false;
    let mut member = support::connect_with(&server, options).await;
    member.join_or_create("arena").await.expect("joins");
    let _ = next_state(&mut member, WAIT).await;
    let bad = ClientEncoder::new().input(1, 0, b"not an arena input");
    member.send_frame(bad).await.expect("sent");
    assert_eq!(
        support::client_close_of(&mut member, WAIT).await,
        (1007, "bad_input".to_string())
    );
    assert_eq!(
        server
            .metric("tickforge_disconnects_total{cause=\"bad_input\"}")
            .await,
        1.0
    );
}
