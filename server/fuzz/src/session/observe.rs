//! Reading what a session wrote to its client, frame by frame: every frame
//! verifies as a server frame, nothing follows a close frame, every close
//! is documented, no text frame; and what the driver tracks from it
//! (session, room, entity, acks, answered joins, players seen).

use axum::extract::ws::Message;
use tickforge_protocol::codec::Limits;
use tickforge_protocol::{ServerMsg, decode_server};

use super::{Conn, JOIN_ANSWERS, Seen, checks};

/// Whether `TICKFORGE_FUZZ_TRACE` is set: every frame the sessions write is
/// printed (to see what an input does).
fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("TICKFORGE_FUZZ_TRACE").is_some())
}

/// Reads and checks what `conn`'s session wrote since the last call.
pub(super) fn observe(conn: &mut Conn, seen: &mut Seen) {
    let written = std::mem::take(&mut *conn.wire.written());
    for message in written {
        if tracing() {
            trace(conn, &message);
        }
        if let Some((code, reason)) = &conn.closed {
            panic!("the session wrote {message:?} after its close frame {code} {reason}");
        }
        match message {
            Message::Binary(frame) => {
                let msg = decode_server(&frame, &Limits::SERVER).unwrap_or_else(|e| {
                    panic!("the server wrote a frame its clients cannot verify: {e}")
                });
                match msg {
                    ServerMsg::Welcome(welcome) => {
                        conn.session = Some(welcome.session_id());
                        seen.sessions.push(welcome.session_id());
                        let player = welcome.player_id().unwrap_or_default();
                        seen.players.insert(player.to_string());
                    }
                    ServerMsg::Joined(joined) => {
                        conn.room = joined.room_id().map(str::to_string);
                        conn.entity = Some(joined.entity_id());
                        conn.acked = None;
                        conn.joins_answered += 1;
                    }
                    ServerMsg::State(state) => {
                        let mine = state
                            .acks()
                            .into_iter()
                            .flatten()
                            .find(|a| Some(a.entity_id()) == conn.entity);
                        conn.acked = mine.map(|a| a.last_input_seq());
                    }
                    ServerMsg::Left(_) => {
                        conn.room = None;
                        conn.entity = None;
                    }
                    ServerMsg::Redirect(_) => conn.joins_answered += 1,
                    ServerMsg::Error(error) if JOIN_ANSWERS.contains(&error.code()) => {
                        conn.joins_answered += 1;
                    }
                    _ => {}
                }
            }
            Message::Close(Some(frame)) => {
                checks::assert_documented(frame.code, frame.reason.as_str());
                conn.closed = Some((frame.code, frame.reason.to_string()));
            }
            Message::Close(None) => panic!("the server closed without a code"),
            Message::Text(text) => panic!("the server wrote a text frame: {}", text.as_str()),
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

fn trace(conn: &Conn, message: &Message) {
    let what = match message {
        Message::Binary(frame) => match decode_server(frame, &Limits::SERVER) {
            Ok(ServerMsg::Error(e)) => format!("Error {:?}", e.code()),
            Ok(ServerMsg::Joined(j)) => format!("Joined {:?}", j.room_id()),
            Ok(msg) => format!("{msg:?}").chars().take(40).collect(),
            Err(e) => format!("unverifiable frame: {e}"),
        },
        other => format!("{other:?}"),
    };
    eprintln!("session {:?}: {what}", conn.session);
}
