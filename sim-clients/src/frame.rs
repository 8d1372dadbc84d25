//! WebSocket framing (RFC 6455) as a client needs it: a streaming parser
//! for the server's frames and an encoder for masked client frames.
//!
//! The parser is fed whatever a read returned — part of a frame, several
//! frames, a frame split anywhere — and yields complete messages and
//! control frames. What it keeps per connection is small: a 14-byte header
//! accumulator, a 125-byte control payload and the first [`PREFIX_BYTES`]
//! of the current message. A message's payload is only copied when the
//! owner asked for it ([`FrameParser::collect`]), or the message is an
//! unfragmented one of at most [`ALWAYS_COLLECT`] bytes, *and* it is not
//! contiguous in the bytes just read; otherwise it is handed out as a slice
//! of them, or skipped without copying (ballast bots count messages, they
//! do not read them — but they do read a small Redirect).

/// Largest control frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Bytes of every message kept even when its payload is skipped: enough to
/// read the message type of a tickforge `ServerFrame` (see [`crate::peek`]).
pub const PREFIX_BYTES: usize = 32;
/// Unfragmented messages up to this size are handed out whole even when
/// the owner skips payloads: a ballast bot must read a Redirect (URL, room
/// id, resume token) to follow its room to another node.
pub const ALWAYS_COLLECT: u64 = 1024;

/// Frame opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// Continuation of a fragmented message.
    Continuation,
    /// UTF-8 text message.
    Text,
    /// Binary message.
    Binary,
    /// Close (code and reason).
    Close,
    /// Ping (answer with a Pong carrying the same payload).
    Ping,
    /// Pong.
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Result<Opcode, FrameError> {
        Ok(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => return Err(FrameError::UnknownOpcode(other)),
        })
    }

    /// The 4-bit opcode on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A framing violation by the server. [`FrameError::label`] is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// RSV1–3 set without a negotiated extension.
    #[error("reserved bits set")]
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    /// Servers must not mask frames.
    #[error("masked frame from the server")]
    Masked,
    /// A control frame over 125 bytes or fragmented.
    #[error("control frame too long or fragmented")]
    BadControl,
    /// A continuation frame with no message started.
    #[error("continuation frame without a message")]
    UnexpectedContinuation,
    /// A new data frame before the fragmented message finished.
    #[error("data frame inside a fragmented message")]
    UnfinishedMessage,
    /// A message larger than the parser's limit.
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(u64),
    /// A close frame with a one-byte payload.
    #[error("malformed close frame")]
    BadClose,
}

impl FrameError {
    /// Stable label for reports.
    pub fn label(&self) -> &'static str {
        match self {
            FrameError::ReservedBits => "reserved_bits",
            FrameError::UnknownOpcode(_) => "unknown_opcode",
            FrameError::Masked => "masked_server_frame",
            FrameError::BadControl => "bad_control_frame",
            FrameError::UnexpectedContinuation => "unexpected_continuation",
            FrameError::UnfinishedMessage => "unfinished_message",
            FrameError::TooLarge(_) => "message_too_large",
            FrameError::BadClose => "bad_close_frame",
        }
    }
}

/// One complete message or control frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete data message (all its fragments).
    Message {
        /// Text (`true`) or binary.
        text: bool,
        /// Payload length in bytes.
        len: usize,
        /// The payload, when [`FrameParser::collect`] was set at its start.
        payload: Option<&'a [u8]>,
        /// The first bytes of the payload (up to [`PREFIX_BYTES`]), always.
        prefix: &'a [u8],
    },
    /// A ping; answer it with a pong carrying this payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: its code (1005 when it carried none) and reason bytes.
    Close {
        /// Close code.
        code: u16,
        /// Close reason (UTF-8 per the RFC; not checked here).
        reason: &'a [u8],
    },
}

#[derive(Debug, Clone, Copy)]
struct Header {
    opcode: Opcode,
    fin: bool,
    remaining: u64,
}

#[derive(Debug, Clone, Copy)]
struct Message {
    text: bool,
    collect: bool,
    len: u64,
}

/// Streaming parser of server → client frames.
#[derive(Debug)]
pub struct FrameParser {
    head: [u8; 14],
    head_len: u8,
    current: Option<Header>,
    message: Option<Message>,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: u8,
    prefix: [u8; PREFIX_BYTES],
    prefix_len: u8,
    body: Vec<u8>,
    max_message: u64,
    /// Whether messages starting from now are collected (payload handed
    /// out) or skipped (only length and prefix). Read at each message's
    /// first frame, so it may be switched between reads.
    pub collect: bool,
}

impl FrameParser {
    /// A parser refusing messages over `max_message` bytes.
    pub fn new(max_message: usize, collect: bool) -> FrameParser {
        FrameParser {
            head: [0; 14],
            head_len: 0,
            current: None,
            message: None,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            prefix: [0; PREFIX_BYTES],
            prefix_len: 0,
            body: Vec::new(),
            max_message: max_message as u64,
            collect,
        }
    }

    /// Releases the collect buffer (ballast bots keep none between joins).
    pub fn release_buffer(&mut self) {
        if self.message.is_none() {
            self.body = Vec::new();
        }
    }

    /// Bytes the header being read still needs, given what it has.
    fn header_needs(&self) -> usize {
        if self.head_len < 2 {
            return 2;
        }
        let second = self.head[1];
        let ext = match second & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if second & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }

    /// Reads a header from `input` into `head`; `true` once it is complete.
    fn fill_header(&mut self, input: &mut &[u8]) -> bool {
        loop {
            let needed = self.header_needs();
            let have = usize::from(self.head_len);
            if have >= needed {
                return true;
            }
            let take = (needed - have).min(input.len());
            if take == 0 {
                return false;
            }
            self.head[have..have + take].copy_from_slice(&input[..take]);
            self.head_len += take as u8;
            *input = &input[take..];
        }
    }

    fn parse_header(&mut self) -> Result<Header, FrameError> {
        let first = self.head[0];
        let second = self.head[1];
        self.head_len = 0;
        if first & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        if second & 0x80 != 0 {
            return Err(FrameError::Masked);
        }
        let opcode = Opcode::from_bits(first & 0x0F)?;
        let fin = first & 0x80 != 0;
        let len = match second & 0x7F {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        if opcode.is_control() {
            if !fin || len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(FrameError::BadControl);
            }
            self.control_len = 0;
        } else {
            let so_far = match (opcode, self.message) {
                (Opcode::Continuation, Some(m)) => m.len,
                (Opcode::Continuation, None) => return Err(FrameError::UnexpectedContinuation),
                (_, Some(_)) => return Err(FrameError::UnfinishedMessage),
                (_, None) => {
                    self.message = Some(Message {
                        text: opcode == Opcode::Text,
                        collect: self.collect || (fin && len <= ALWAYS_COLLECT),
                        len: 0,
                    });
                    self.prefix_len = 0;
                    self.body.clear();
                    0
                }
            };
            let total = so_far.saturating_add(len);
            if total > self.max_message {
                return Err(FrameError::TooLarge(total));
            }
        }
        Ok(Header {
            opcode,
            fin,
            remaining: len,
        })
    }

    /// The next complete message or control frame in `input`, advancing
    /// `input` past what was consumed. `Ok(None)`: `input` is used up and
    /// the parser waits for more. Call until it returns `Ok(None)`.
    pub fn next<'s, 'd: 's>(
        &'s mut self,
        input: &mut &'d [u8],
    ) -> Result<Option<Frame<'s>>, FrameError> {
        loop {
            let header = match self.current {
                Some(h) => h,
                None => {
                    if !self.fill_header(input) {
                        return Ok(None);
                    }
                    let h = self.parse_header()?;
                    // Fast path: a whole unfragmented message already in `input`.
                    let whole = h.fin
                        && matches!(h.opcode, Opcode::Binary | Opcode::Text)
                        && input.len() as u64 >= h.remaining;
                    if whole {
                        let collect = self.message.is_some_and(|m| m.collect);
                        self.message = None;
                        let data: &'d [u8] = input;
                        let (payload, rest) = data.split_at(h.remaining as usize);
                        *input = rest;
                        return Ok(Some(Frame::Message {
                            text: h.opcode == Opcode::Text,
                            len: payload.len(),
                            payload: collect.then_some(payload),
                            prefix: &payload[..payload.len().min(PREFIX_BYTES)],
                        }));
                    }
                    h
                }
            };
            let take = (header.remaining.min(input.len() as u64)) as usize;
            let (chunk, rest) = input.split_at(take);
            *input = rest;
            self.consume(header.opcode, chunk);
            let remaining = header.remaining - take as u64;
            if remaining > 0 {
                self.current = Some(Header {
                    remaining,
                    ..header
                });
                return Ok(None);
            }
            self.current = None;
            match header.opcode {
                Opcode::Ping => {
                    return Ok(Some(Frame::Ping(
                        &self.control[..usize::from(self.control_len)],
                    )));
                }
                Opcode::Pong => {
                    return Ok(Some(Frame::Pong(
                        &self.control[..usize::from(self.control_len)],
                    )));
                }
                Opcode::Close => {
                    let n = usize::from(self.control_len);
                    return match n {
                        0 => Ok(Some(Frame::Close {
                            code: 1005,
                            reason: &[],
                        })),
                        1 => Err(FrameError::BadClose),
                        _ => Ok(Some(Frame::Close {
                            code: u16::from_be_bytes([self.control[0], self.control[1]]),
                            reason: &self.control[2..n],
                        })),
                    };
                }
                Opcode::Binary | Opcode::Text | Opcode::Continuation => {
                    if header.fin
                        && let Some(m) = self.message.take()
                    {
                        return Ok(Some(Frame::Message {
                            text: m.text,
                            len: m.len as usize,
                            payload: m.collect.then_some(&self.body[..]),
                            prefix: &self.prefix[..usize::from(self.prefix_len)],
                        }));
                    }
                }
            }
        }
    }

    /// Stores (or skips) one piece of the current frame's payload.
    fn consume(&mut self, opcode: Opcode, chunk: &[u8]) {
        if opcode.is_control() {
            let at = usize::from(self.control_len);
            self.control[at..at + chunk.len()].copy_from_slice(chunk);
            self.control_len += chunk.len() as u8;
            return;
        }
        let Some(m) = self.message.as_mut() else {
            return;
        };
        m.len += chunk.len() as u64;
        let at = usize::from(self.prefix_len);
        let into_prefix = chunk.len().min(PREFIX_BYTES - at);
        self.prefix[at..at + into_prefix].copy_from_slice(&chunk[..into_prefix]);
        self.prefix_len += into_prefix as u8;
        if m.collect {
            self.body.extend_from_slice(chunk);
        }
    }
}

/// Appends a frame header for a client (masked) frame.
pub fn encode_header(out: &mut Vec<u8>, opcode: Opcode, fin: bool, len: u64, mask: [u8; 4]) {
    out.push(if fin { 0x80 } else { 0 } | opcode.bits());
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u64::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&mask);
}

/// Appends `payload` masked with `mask`, as if it started at byte `offset`
/// of the frame's payload.
pub fn extend_masked(out: &mut Vec<u8>, payload: &[u8], mask: [u8; 4], offset: usize) {
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[(offset + i) % 4]),
    );
}

/// Appends one complete, masked client frame.
pub fn encode_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: [u8; 4]) {
    encode_header(out, opcode, true, payload.len() as u64, mask);
    extend_masked(out, payload, mask, 0);
}

/// Appends a masked close frame with `code` and `reason` (cut to fit 125 bytes).
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str, mask: [u8; 4]) {
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
    encode_frame(out, Opcode::Close, &payload[..2 + cut], mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked server frame.
    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 0xFFFF {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    /// What a frame carried, owned, so it outlives the parser borrow.
    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Message(bool, usize, Option<Vec<u8>>, Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(u16, Vec<u8>),
    }

    fn own(frame: Frame<'_>) -> Owned {
        match frame {
            Frame::Message {
                text,
                len,
                payload,
                prefix,
            } => Owned::Message(text, len, payload.map(<[u8]>::to_vec), prefix.to_vec()),
            Frame::Ping(p) => Owned::Ping(p.to_vec()),
            Frame::Pong(p) => Owned::Pong(p.to_vec()),
            Frame::Close { code, reason } => Owned::Close(code, reason.to_vec()),
        }
    }

    /// Feeds `wire` in pieces of `piece` bytes and collects every frame.
    fn parse_in_pieces(
        parser: &mut FrameParser,
        wire: &[u8],
        piece: usize,
    ) -> Result<Vec<Owned>, FrameError> {
        let mut frames = Vec::new();
        for chunk in wire.chunks(piece.max(1)) {
            let mut input = chunk;
            while let Some(frame) = parser.next(&mut input)? {
                frames.push(own(frame));
            }
            assert!(input.is_empty(), "every byte is consumed");
        }
        Ok(frames)
    }

    fn binary(payload: &[u8], collected: bool) -> Owned {
        Owned::Message(
            false,
            payload.len(),
            collected.then(|| payload.to_vec()),
            payload[..payload.len().min(PREFIX_BYTES)].to_vec(),
        )
    }

    fn sample_wire() -> (Vec<u8>, Vec<Owned>) {
        let small: Vec<u8> = (0..100u8).collect();
        let medium: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let large: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        let mut wire = Vec::new();
        wire.extend(server_frame(0x2, true, &small));
        wire.extend(server_frame(0x9, true, b"ping!"));
        wire.extend(server_frame(0x2, true, &medium));
        wire.extend(server_frame(0x2, true, &large));
        wire.extend(server_frame(0x2, true, &[]));
        wire.extend(server_frame(0x8, true, b"\x0f\xa0slow_consumer"));
        let expected = vec![
            binary(&small, true),
            Owned::Ping(b"ping!".to_vec()),
            binary(&medium, true),
            binary(&large, true),
            binary(&[], true),
            Owned::Close(4000, b"slow_consumer".to_vec()),
        ];
        (wire, expected)
    }

    #[test]
    fn frames_split_at_every_possible_size_parse_the_same() {
        let (wire, expected) = sample_wire();
        for piece in [1, 2, 3, 7, 13, 100, 1001, 4096, 65_536, wire.len()] {
            let mut parser = FrameParser::new(1 << 20, true);
            let frames = parse_in_pieces(&mut parser, &wire, piece);
            assert_eq!(frames.as_ref(), Ok(&expected), "pieces of {piece} bytes");
        }
    }

    #[test]
    fn extended_16_and_64_bit_lengths_are_read() {
        // 126 → 16-bit length, 127 → 64-bit length (RFC 6455 §5.2).
        let sixteen = vec![1u8; 300];
        let sixty_four = vec![2u8; 65_536];
        let mut wire = server_frame(0x2, true, &sixteen);
        assert_eq!(&wire[..4], &[0x82, 126, 0x01, 0x2C]);
        let second = server_frame(0x2, true, &sixty_four);
        assert_eq!(&second[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        wire.extend(second);
        let mut parser = FrameParser::new(1 << 20, true);
        let frames = parse_in_pieces(&mut parser, &wire, 5);
        assert_eq!(
            frames,
            Ok(vec![binary(&sixteen, true), binary(&sixty_four, true)])
        );
    }

    #[test]
    fn skipped_messages_keep_only_their_length_and_prefix_unless_they_are_small() {
        let (wire, expected) = sample_wire();
        let expected: Vec<Owned> = expected
            .into_iter()
            .map(|f| match f {
                Owned::Message(text, len, _, prefix) if len as u64 > ALWAYS_COLLECT => {
                    Owned::Message(text, len, None, prefix)
                }
                other => other,
            })
            .collect();
        for piece in [1, 9, 4096, wire.len()] {
            let mut parser = FrameParser::new(1 << 20, false);
            assert_eq!(
                parse_in_pieces(&mut parser, &wire, piece).as_ref(),
                Ok(&expected)
            );
            assert!(
                parser.body.capacity() <= ALWAYS_COLLECT as usize,
                "only small messages were copied"
            );
        }
    }

    #[test]
    fn fragmented_messages_are_joined_with_control_frames_in_between() {
        let mut wire = server_frame(0x2, false, b"hello ");
        wire.extend(server_frame(0x9, true, b"p"));
        wire.extend(server_frame(0x0, false, b"frag"));
        wire.extend(server_frame(0x0, true, b"mented"));
        for piece in [1, 4, wire.len()] {
            let mut parser = FrameParser::new(1024, true);
            assert_eq!(
                parse_in_pieces(&mut parser, &wire, piece),
                Ok(vec![
                    Owned::Ping(b"p".to_vec()),
                    binary(b"hello fragmented", true)
                ])
            );
        }
    }

    #[test]
    fn protocol_violations_are_refused() {
        let parse = |wire: Vec<u8>, max: usize| {
            let mut parser = FrameParser::new(max, true);
            parse_in_pieces(&mut parser, &wire, wire.len()).map(|_| ())
        };
        assert_eq!(
            parse(vec![0x82 | 0x40, 0], 64),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(parse(vec![0x83, 0], 64), Err(FrameError::UnknownOpcode(3)));
        assert_eq!(
            parse(vec![0x82, 0x80, 1, 2, 3, 4], 64),
            Err(FrameError::Masked)
        );
        assert_eq!(
            parse(server_frame(0x9, false, b""), 64),
            Err(FrameError::BadControl)
        );
        assert_eq!(
            parse(server_frame(0x9, true, &[0; 126]), 1024),
            Err(FrameError::BadControl)
        );
        assert_eq!(
            parse(server_frame(0x0, true, b"x"), 64),
            Err(FrameError::UnexpectedContinuation)
        );
        let mut unfinished = server_frame(0x2, false, b"a");
        unfinished.extend(server_frame(0x2, true, b"b"));
        assert_eq!(parse(unfinished, 64), Err(FrameError::UnfinishedMessage));
        assert_eq!(
            parse(server_frame(0x2, true, &[0; 65]), 64),
            Err(FrameError::TooLarge(65))
        );
        assert_eq!(
            parse(server_frame(0x8, true, b"x"), 64),
            Err(FrameError::BadClose)
        );
    }

    #[test]
    fn an_empty_close_frame_means_1005() {
        let mut parser = FrameParser::new(64, false);
        let wire = server_frame(0x8, true, b"");
        assert_eq!(
            parse_in_pieces(&mut parser, &wire, 1),
            Ok(vec![Owned::Close(1005, Vec::new())])
        );
    }

    #[test]
    fn client_frames_are_masked_and_unmask_to_the_payload() {
        let mask = [1, 2, 3, 4];
        for len in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, Opcode::Binary, &payload, mask);
            assert_eq!(out[0], 0x82);
            assert_eq!(out[1] & 0x80, 0x80, "mask bit set");
            let (len_field, ext) = match out[1] & 0x7F {
                126 => (u64::from(u16::from_be_bytes([out[2], out[3]])), 2),
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&out[2..10]);
                    (u64::from_be_bytes(b), 8)
                }
                n => (u64::from(n), 0),
            };
            assert_eq!(len_field, len as u64);
            let key = &out[2 + ext..6 + ext];
            assert_eq!(key, &mask);
            let unmasked: Vec<u8> = out[6 + ext..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn close_frames_carry_the_code_and_a_cut_reason() {
        let mut out = Vec::new();
        encode_close(&mut out, 1000, &"é".repeat(100), [0; 4]);
        assert_eq!(
            out[1] & 0x7F,
            124,
            "cut at a char boundary within 125 bytes"
        );
        assert_eq!(&out[6..8], &1000u16.to_be_bytes());
    }
}
