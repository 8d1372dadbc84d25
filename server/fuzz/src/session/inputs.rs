//! What the session target holds inputs to (README, "Messages": an Input
//! in a room is applied at the next tick and its `seq` echoed in
//! `State.acks`; "Close codes": an input the room's game refuses closes
//! with 1007 `bad_input`).
//!
//! A step is judged when every frame it delivers is a well-formed Input,
//! sent by a client that is welcomed, seated in the room it was told it
//! joined (no JoinRoom waiting for its answer), reading, and within its
//! seat's input budget. Then, two ticks later:
//!
//! - if the room's game accepts every payload, the session is still open
//!   and seated, and the last State it got acks the last Input's `seq`;
//! - if the game refuses one, the session was closed with 1007
//!   `bad_input` (the Inputs before it may have been applied).
//!
//! A session that ends for another documented reason in those two ticks
//! (a timeout the script's clock reached, an operator's kick) is not
//! judged.

use std::time::Duration;

use axum::extract::ws::Message;
use tickforge_protocol::{ClientMsg, decode_client};
use tickforge_server::net::close::Disconnect;
use tickforge_server::room::RoomHandle;

use super::LIMITS;

/// Virtual time that holds at least one tick of every configured mode
/// (arena 30 Hz, duel 60 Hz).
pub const ONE_TICK: Duration = Duration::from_millis(34);

/// The outcome a judged step must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Every Input applied: the session's next acks carry this `seq`.
    Applied(u32),
    /// An Input the game refuses: the session closes with 1007 `bad_input`.
    ClosedBadInput,
}

/// The `(seq, payload)` of every frame of `messages`, when each is a
/// well-formed Input; `None` otherwise (the step is not judged).
pub fn only_inputs(messages: &[Message]) -> Option<Vec<(u32, Vec<u8>)>> {
    if messages.is_empty() {
        return None;
    }
    messages
        .iter()
        .map(|m| match m {
            Message::Binary(bytes) => match decode_client(bytes, &LIMITS) {
                Ok(ClientMsg::Input(input)) => Some((
                    input.seq(),
                    input
                        .payload()
                        .map(|p| p.bytes().to_vec())
                        .unwrap_or_default(),
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// What `inputs`, sent by a seated session of `room` with a seat budget of
/// `budget`, must lead to; `None` when the budget cannot hold them all.
pub fn expect(inputs: &[(u32, Vec<u8>)], room: &RoomHandle, budget: u32) -> Option<Expect> {
    // Every Input is checked before its seat's budget is: a refused one
    // closes the session even past the budget.
    if inputs.iter().any(|(_, p)| room.validate_input(p).is_err()) {
        return Some(Expect::ClosedBadInput);
    }
    if inputs.len() > budget as usize {
        return None;
    }
    inputs.last().map(|(seq, _)| Expect::Applied(*seq))
}

/// Panics unless what the session did matches `expect`.
/// `closed`: its close frame, if any; `seated`: whether it is still in the
/// room it sent the inputs to; `acked`: the `seq` its last State acked.
pub fn assert_met(
    expect: Expect,
    closed: Option<&(u16, String)>,
    seated: bool,
    acked: Option<u32>,
) {
    let bad_input = (
        Disconnect::BadInput.close_code().unwrap_or_default(),
        Disconnect::BadInput.label().to_string(),
    );
    match expect {
        Expect::ClosedBadInput => assert_eq!(
            closed,
            Some(&bad_input),
            "an Input its room's game refuses did not close the session with 1007 bad_input"
        ),
        Expect::Applied(seq) => {
            if closed.is_none() && seated {
                assert_eq!(
                    acked,
                    Some(seq),
                    "a seated session's valid Input (seq {seq}) was not acked two ticks later"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_other_than_bad_input_fails_a_refused_input() {
        let other = (1008, "frame_rate_exceeded".to_string());
        let caught = std::panic::catch_unwind(|| {
            assert_met(Expect::ClosedBadInput, Some(&other), true, None);
        });
        assert!(caught.is_err());
    }

    #[test]
    fn an_input_left_unacked_by_a_seated_open_session_fails() {
        let caught = std::panic::catch_unwind(|| {
            assert_met(Expect::Applied(7), None, true, Some(6));
        });
        assert!(caught.is_err());
        // Closed or unseated sessions are not judged.
        assert_met(Expect::Applied(7), Some(&(1001, "x".into())), true, None);
        assert_met(Expect::Applied(7), None, false, None);
    }
}
