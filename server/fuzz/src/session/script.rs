//! The session target's input format: a script of steps read byte by byte
//! from the fuzzer's input, and [`Writer`], its inverse, for seed inputs.
//!
//! A step starts with an op byte: the low three bits pick the kind, the
//! other five its argument. `Send` carries one to four frames, each
//! starting with a frame byte (low four bits: kind, high four: argument).
//! A script that runs out of bytes reads zeros; at most [`MAX_STEPS`] steps
//! run, so every input ends in bounded time.

use std::time::Duration;

/// Client connections a script drives (each may reconnect).
pub const SLOTS: usize = 4;
/// Players a script logs in as (`p0`..`p3`).
pub const PLAYERS: usize = 4;
/// Steps read from one input at most.
pub const MAX_STEPS: usize = 48;
/// Frames one `Send` step delivers at once.
pub const MAX_BURST: usize = 4;
/// Longest raw frame, in bytes.
pub const MAX_RAW: usize = 1024;
/// Modes a JoinRoom may name: two configured ones and an unknown one.
pub const MODES: [&str; 3] = ["arena", "duel", "no-such-mode"];
/// How far a `Wait` step moves the (virtual) clock: a millisecond, a tick,
/// then just past the write timeout, ping interval, handshake timeout and
/// idle timeout the harness configures.
pub const WAITS: [Duration; 7] = [
    Duration::from_millis(1),
    Duration::from_millis(34),
    Duration::from_millis(250),
    Duration::from_millis(510),
    Duration::from_millis(1010),
    Duration::from_millis(2010),
    Duration::from_millis(3010),
];

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Delivers frames to the session in `slot` all at once, connecting
    /// first if the slot has no open connection.
    Send {
        /// Connection slot.
        slot: usize,
        /// What the client sends.
        frames: Vec<Frame>,
    },
    /// Lets the clock run.
    Wait(Duration),
    /// The client in `slot` goes away.
    Hangup {
        /// Connection slot.
        slot: usize,
        /// How it goes away.
        how: Hangup,
    },
    /// The client in `slot` stops (or resumes) reading.
    Stall {
        /// Connection slot.
        slot: usize,
        /// Stop reading.
        stalled: bool,
    },
    /// An operator acts on player `p{player}`.
    Operator {
        /// Player index.
        player: usize,
        /// What the operator does.
        action: Operator,
    },
}

/// How a client goes away, as the session's stream reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hangup {
    /// The stream ends.
    Eof,
    /// A close frame.
    Close,
    /// A frame over the size limit (tungstenite's capacity error).
    TooLarge,
    /// A WebSocket protocol violation.
    Protocol,
    /// A text frame that is not UTF-8.
    BadUtf8,
    /// The connection is reset.
    Reset,
    /// The connection was closed under the session.
    Closed,
}

/// Every [`Hangup`], in script order.
pub const HANGUPS: [Hangup; 7] = [
    Hangup::Eof,
    Hangup::Close,
    Hangup::TooLarge,
    Hangup::Protocol,
    Hangup::BadUtf8,
    Hangup::Reset,
    Hangup::Closed,
];

/// What an operator does to a player (the admin endpoints' actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `POST /admin/kick`.
    Kick,
    /// `POST /admin/ban`.
    Ban,
    /// `DELETE /admin/ban`.
    Unban,
}

/// Every [`Operator`] action, in script order.
pub const OPERATORS: [Operator; 3] = [Operator::Kick, Operator::Ban, Operator::Unban];

/// One message from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Hello as `who`, with `token`.
    Hello {
        /// The `player_id` field.
        who: Who,
        /// The `token` field.
        token: Token,
    },
    /// JoinRoom by mode ([`MODES`]).
    JoinMode {
        /// Index into [`MODES`].
        mode: usize,
        /// A new private room.
        private: bool,
    },
    /// JoinRoom by the id of the room the session in that slot is in (an
    /// id no room has if it is in none).
    JoinRoomOf(usize),
    /// JoinRoom by a literal id.
    JoinRoomId(String),
    /// JoinRoom with neither an id nor a mode.
    JoinNothing,
    /// LeaveRoom.
    Leave,
    /// Input.
    Input {
        /// Sequence number.
        seq: u32,
        /// The payload.
        payload: Payload,
    },
    /// Ping.
    Ping(u32),
    /// Arbitrary bytes as a binary frame.
    Raw(Vec<u8>),
    /// A well-formed frame with one byte changed (`xor`), or cut at `at`
    /// when `xor` is zero.
    Mutated {
        /// The frame before the change.
        base: Box<Frame>,
        /// Byte position, modulo the frame's length.
        at: usize,
        /// Bits flipped there.
        xor: u8,
    },
    /// A text frame.
    Text(String),
    /// A WebSocket ping.
    WsPing,
    /// A WebSocket pong.
    WsPong,
}

/// The `player_id` of a Hello.
#[derive(Debug, Clone, PartialEq)]
pub enum Who {
    /// `p{index}`.
    Player(usize),
    /// Empty.
    Empty,
    /// One byte longer than the server accepts.
    Overlong,
    /// Any string.
    Named(String),
}

/// The `token` of a Hello.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// No token.
    None,
    /// A valid session token for the Hello's player (`p0` when the Hello
    /// names no indexed player).
    Valid,
    /// A valid guest session token for the guest `g0`.
    Guest,
    /// An expired token of the Hello's player.
    Expired,
    /// A token of the Hello's player with a broken signature.
    BadSignature,
    /// Any string.
    Garbage(String),
}

/// An `Input.payload`.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A valid arena input.
    Move {
        /// Horizontal axis.
        x: i8,
        /// Vertical axis.
        y: i8,
        /// Buttons.
        buttons: u8,
    },
    /// No payload bytes.
    Empty,
    /// Any bytes.
    Raw(Vec<u8>),
}

/// Reads a script.
struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let len = len.min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head.to_vec()
    }

    /// A string of up to 32 bytes.
    fn short_string(&mut self) -> String {
        let len = usize::from(self.byte() % 33);
        String::from_utf8_lossy(&self.bytes(len)).into_owned()
    }

    fn step(&mut self) -> Step {
        let op = self.byte();
        let arg = usize::from(op >> 3);
        match op & 7 {
            0..=3 => {
                let count = 1 + (arg / SLOTS) % MAX_BURST;
                Step::Send {
                    slot: arg % SLOTS,
                    frames: (0..count).map(|_| self.frame(true)).collect(),
                }
            }
            4 => Step::Wait(WAITS[arg % WAITS.len()]),
            5 => Step::Hangup {
                slot: arg % SLOTS,
                how: HANGUPS[(arg / SLOTS) % HANGUPS.len()],
            },
            6 => Step::Stall {
                slot: arg % SLOTS,
                stalled: (arg / SLOTS) % 2 == 1,
            },
            _ => Step::Operator {
                player: arg % PLAYERS,
                action: OPERATORS[(arg / PLAYERS) % OPERATORS.len()],
            },
        }
    }

    fn frame(&mut self, may_mutate: bool) -> Frame {
        let b = self.byte();
        let arg = usize::from(b >> 4);
        match b & 15 {
            0 | 1 => {
                let who = match arg {
                    0..=11 => Who::Player(arg % PLAYERS),
                    12 => Who::Empty,
                    13 => Who::Overlong,
                    _ => Who::Named(self.short_string()),
                };
                let t = self.byte();
                let token = match t % 8 {
                    0..=3 => Token::None,
                    4 => Token::Valid,
                    5 => Token::Guest,
                    6 => Token::Expired,
                    _ if t & 8 == 0 => Token::BadSignature,
                    _ => Token::Garbage(self.short_string()),
                };
                Frame::Hello { who, token }
            }
            2 | 3 => Frame::JoinMode {
                mode: (arg & 7) % MODES.len(),
                private: arg & 8 != 0,
            },
            4 => Frame::JoinRoomOf(arg % SLOTS),
            5 => match arg % 3 {
                0 => Frame::JoinRoomId(self.short_string()),
                1 => Frame::JoinNothing,
                _ => Frame::JoinRoomId(String::new()),
            },
            6 => Frame::Leave,
            7 | 8 | 15 => {
                let seq = u32::from(self.u16());
                let payload = match arg {
                    0..=9 => Payload::Move {
                        x: i8::from_le_bytes([self.byte()]),
                        y: i8::from_le_bytes([self.byte()]),
                        buttons: self.byte(),
                    },
                    10..=12 => Payload::Empty,
                    _ => {
                        let len = usize::from(self.byte() % 33);
                        Payload::Raw(self.bytes(len))
                    }
                };
                Frame::Input { seq, payload }
            }
            9 => Frame::Ping(u32::from(self.byte())),
            10 => {
                let len = usize::from(self.u16()) % (MAX_RAW + 1);
                Frame::Raw(self.bytes(len))
            }
            11 if may_mutate => {
                let base = Box::new(self.frame(false));
                let at = usize::from(self.byte());
                let xor = self.byte();
                Frame::Mutated { base, at, xor }
            }
            11 => Frame::Leave,
            12 => Frame::Text(self.short_string()),
            13 => Frame::WsPing,
            _ => Frame::WsPong,
        }
    }
}

/// Reads the steps of `data`.
pub fn parse(data: &[u8]) -> Vec<Step> {
    let mut reader = Reader { data };
    let mut steps = Vec::new();
    while !reader.is_empty() && steps.len() < MAX_STEPS {
        steps.push(reader.step());
    }
    steps
}

/// Writes scripts: the inverse of [`parse`] for the steps seed inputs use.
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
}

/// One frame of a [`Writer::send`] step, already encoded.
#[derive(Debug, Clone)]
pub struct FrameBytes(Vec<u8>);

impl FrameBytes {
    /// A Hello from `p{player}` without a token (trusted).
    pub fn hello(player: usize) -> FrameBytes {
        FrameBytes(vec![(player as u8 % 4) << 4, 0])
    }

    /// A Hello from `p{player}` with a valid session token.
    pub fn hello_with_token(player: usize) -> FrameBytes {
        FrameBytes(vec![(player as u8 % 4) << 4, 4])
    }

    /// JoinRoom by mode ([`MODES`]).
    pub fn join_mode(mode: usize, private: bool) -> FrameBytes {
        let arg = (mode % MODES.len()) as u8 | if private { 8 } else { 0 };
        FrameBytes(vec![(arg << 4) | 2])
    }

    /// JoinRoom by the room of the session in `slot`.
    pub fn join_room_of(slot: usize) -> FrameBytes {
        FrameBytes(vec![(((slot % SLOTS) as u8) << 4) | 4])
    }

    /// LeaveRoom.
    pub fn leave() -> FrameBytes {
        FrameBytes(vec![6])
    }

    /// An arena input.
    pub fn input(seq: u16, x: i8, y: i8, buttons: u8) -> FrameBytes {
        let [s0, s1] = seq.to_le_bytes();
        FrameBytes(vec![
            7,
            s0,
            s1,
            x.to_le_bytes()[0],
            y.to_le_bytes()[0],
            buttons,
        ])
    }

    /// Ping.
    pub fn ping(nonce: u8) -> FrameBytes {
        FrameBytes(vec![9, nonce])
    }

    /// A WebSocket ping (not a Hello: the handshake timer keeps running).
    pub fn ws_ping() -> FrameBytes {
        FrameBytes(vec![13])
    }

    /// Arbitrary bytes (at most [`MAX_RAW`]).
    pub fn raw(bytes: &[u8]) -> FrameBytes {
        let bytes = &bytes[..bytes.len().min(MAX_RAW)];
        let mut out = vec![10];
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(bytes);
        FrameBytes(out)
    }
}

impl Writer {
    /// An empty script.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Sends up to [`MAX_BURST`] frames at once on `slot`.
    pub fn send(mut self, slot: usize, frames: &[FrameBytes]) -> Writer {
        assert!((1..=MAX_BURST).contains(&frames.len()));
        let arg = slot % SLOTS + SLOTS * (frames.len() - 1);
        self.out.push((arg as u8) << 3);
        for frame in frames {
            self.out.extend_from_slice(&frame.0);
        }
        self
    }

    /// Lets the clock run for `WAITS[wait]`.
    pub fn wait(mut self, wait: usize) -> Writer {
        self.out.push((((wait % WAITS.len()) as u8) << 3) | 4);
        self
    }

    /// The client in `slot` goes away as `HANGUPS[how]` says.
    pub fn hangup(mut self, slot: usize, how: usize) -> Writer {
        let arg = slot % SLOTS + SLOTS * (how % HANGUPS.len());
        self.out.push(((arg as u8) << 3) | 5);
        self
    }

    /// The client in `slot` stops or resumes reading.
    pub fn stall(mut self, slot: usize, stalled: bool) -> Writer {
        let arg = slot % SLOTS + if stalled { SLOTS } else { 0 };
        self.out.push(((arg as u8) << 3) | 6);
        self
    }

    /// An operator acts on `p{player}` as `OPERATORS[action]` says.
    pub fn operator(mut self, player: usize, action: usize) -> Writer {
        let arg = player % PLAYERS + PLAYERS * (action % OPERATORS.len());
        self.out.push(((arg as u8) << 3) | 7);
        self
    }

    /// The script's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_scripts_parse_back_to_their_steps() {
        let script = Writer::new()
            .send(1, &[FrameBytes::hello(2), FrameBytes::join_mode(1, true)])
            .send(
                3,
                &[
                    FrameBytes::input(7, -5, 9, 1),
                    FrameBytes::ping(3),
                    FrameBytes::raw(b"abc"),
                    FrameBytes::join_room_of(1),
                ],
            )
            .wait(6)
            .hangup(2, 4)
            .stall(0, true)
            .operator(3, 1)
            .finish();
        let steps = parse(&script);
        assert_eq!(
            steps,
            vec![
                Step::Send {
                    slot: 1,
                    frames: vec![
                        Frame::Hello {
                            who: Who::Player(2),
                            token: Token::None
                        },
                        Frame::JoinMode {
                            mode: 1,
                            private: true
                        },
                    ],
                },
                Step::Send {
                    slot: 3,
                    frames: vec![
                        Frame::Input {
                            seq: 7,
                            payload: Payload::Move {
                                x: -5,
                                y: 9,
                                buttons: 1
                            }
                        },
                        Frame::Ping(3),
                        Frame::Raw(b"abc".to_vec()),
                        Frame::JoinRoomOf(1),
                    ],
                },
                Step::Wait(WAITS[6]),
                Step::Hangup {
                    slot: 2,
                    how: Hangup::BadUtf8
                },
                Step::Stall {
                    slot: 0,
                    stalled: true
                },
                Step::Operator {
                    player: 3,
                    action: Operator::Ban
                },
            ]
        );
    }
}
