//! What one read brought in: messages counted locally (States, text
//! frames, server errors, undecodable frames) and added to the shared
//! counters once; and an unasked Redirect, kept for the bot to follow.

use tickforge_protocol::codec::Limits;
use tickforge_protocol::replication::message::{self, is_interest_state};
use tickforge_protocol::wire::ServerMessage;
use tickforge_protocol::{ServerMsg, decode_server};

use super::Redirected;
use crate::peek;
use crate::stats::ErrorKind;
use crate::swarm::Shared;
use crate::ws::Incoming;

/// What one read brought in, counted locally and added to the shared
/// counters once.
#[derive(Debug, Default)]
pub(super) struct Tally {
    errors_are_answers: bool,
    states: u64,
    texts: u64,
    server_errors: u64,
    bad_frames: u64,
    /// An unasked Redirect (with a resume token): the room moved.
    pub(super) redirect: Option<Redirected>,
}

impl Tally {
    /// A tally for a request/reply step: server errors are the answer's
    /// business there, not counted twice.
    pub(super) fn answering() -> Tally {
        Tally {
            errors_are_answers: true,
            ..Tally::default()
        }
    }

    /// Ballast: the message type from the prefix only.
    pub(super) fn peek(&mut self, m: Incoming<'_>) {
        if m.text {
            self.texts += 1;
            return;
        }
        if is_interest_state(m.prefix) {
            self.states += 1;
            return;
        }
        match peek::server_message_type(m.prefix) {
            Some(ServerMessage::State) => self.states += 1,
            // After a Redirect the room lets go of the session ("the room
            // closed"): the move, not an error.
            Some(ServerMessage::Error) if self.redirect.is_none() => self.server_errors += 1,
            // Small enough to come whole (`frame::ALWAYS_COLLECT`): read it.
            Some(ServerMessage::Redirect) if m.payload.is_some() => {
                self.decode(m);
            }
            _ => {}
        }
    }

    /// Measuring and request/reply: the verified message.
    pub(super) fn decode<'a>(&mut self, m: Incoming<'a>) -> Option<ServerMsg<'a>> {
        if m.text {
            self.texts += 1;
            return None;
        }
        let Some(payload) = m.payload else {
            // Collected reads always carry the payload; count it as seen.
            self.peek(m);
            return None;
        };
        if is_interest_state(payload) {
            self.interest_state(payload);
            return None;
        }
        match decode_server(payload, &Limits::SERVER) {
            Ok(msg) => {
                match msg {
                    ServerMsg::State(_) => self.states += 1,
                    ServerMsg::Error(_) if !self.errors_are_answers && self.redirect.is_none() => {
                        self.server_errors += 1;
                    }
                    ServerMsg::Redirect(r) => {
                        let redirect = Redirected::from_wire(&r);
                        if redirect.moved() {
                            self.redirect = Some(redirect);
                        }
                    }
                    _ => {}
                }
                Some(msg)
            }
            Err(_) => {
                self.bad_frames += 1;
                None
            }
        }
    }

    /// An interest state message (`tickforge.v2`), every part verified:
    /// its tick and this bot's ack. The bot keeps no replica.
    pub(super) fn interest_state(&mut self, payload: &[u8]) -> Option<(u64, u32)> {
        match message::parse(payload) {
            Ok(parsed) => {
                self.states += 1;
                Some((parsed.tick, parsed.member.last_input_seq))
            }
            Err(_) => {
                self.bad_frames += 1;
                None
            }
        }
    }

    pub(super) fn count(&self, shared: &Shared, messages: u32, bytes: usize) {
        let stats = &shared.stats;
        stats.received(u64::from(messages), bytes as u64, self.states);
        for _ in 0..self.texts {
            stats.error(ErrorKind::TextFrame);
        }
        for _ in 0..self.bad_frames {
            stats.error(ErrorKind::BadServerFrame);
        }
        for _ in 0..self.server_errors {
            stats.error(ErrorKind::ServerError);
        }
    }
}
