//! The invalid frames of the `garbage` scenario, and the close code the
//! server documents for each (README, "Close codes").

use tickforge_protocol::CLIENT_FRAME_ID;

use crate::frame::{self, Opcode};
use crate::rng::Rng;

/// Length an oversized frame's header announces: above the server's
/// default `--max-frame-bytes` (16 KiB) and the verifier's 1 MiB bound.
/// Only [`OVERSIZED_SENT`] bytes of it are sent: the server refuses the
/// frame from its header, and unread bytes would turn its close into a
/// TCP reset. A server configured to accept frames this large would wait
/// for the rest instead (counted as `garbage_ignored`).
pub const OVERSIZED_CLAIM: u64 = (1 << 20) + 1;
/// Bytes of the oversized frame's payload actually sent.
pub const OVERSIZED_SENT: usize = 1024;

/// One kind of invalid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GarbageKind {
    /// A binary frame of random bytes (no `TFC1` identifier).
    RandomBytes,
    /// A binary frame with the `TFC1` identifier but a root offset past
    /// its end: fails FlatBuffers verification.
    JunkFlatBuffer,
    /// A text frame.
    Text,
    /// A binary frame whose header announces more than the server accepts.
    Oversized,
}

impl GarbageKind {
    /// Every kind.
    pub const ALL: [GarbageKind; 4] = [
        GarbageKind::RandomBytes,
        GarbageKind::JunkFlatBuffer,
        GarbageKind::Text,
        GarbageKind::Oversized,
    ];

    /// Stable label.
    pub fn label(self) -> &'static str {
        match self {
            GarbageKind::RandomBytes => "random_bytes",
            GarbageKind::JunkFlatBuffer => "junk_flatbuffer",
            GarbageKind::Text => "text_frame",
            GarbageKind::Oversized => "oversized_frame",
        }
    }

    /// The close code the server documents for this kind.
    pub fn expected_code(self) -> u16 {
        match self {
            GarbageKind::RandomBytes => 1008,
            GarbageKind::JunkFlatBuffer => 1007,
            GarbageKind::Text => 1003,
            GarbageKind::Oversized => 1009,
        }
    }

    /// A kind chosen by `rng`.
    pub fn pick(rng: &mut Rng) -> GarbageKind {
        GarbageKind::ALL[rng.below(GarbageKind::ALL.len() as u64) as usize]
    }

    /// Appends this kind's frame, masked with `mask`; returns its length.
    pub fn write(self, out: &mut Vec<u8>, mask: [u8; 4], rng: &mut Rng) -> usize {
        let before = out.len();
        match self {
            GarbageKind::RandomBytes => {
                let mut bytes = vec![0u8; 1 + rng.below(256) as usize];
                rng.fill(&mut bytes);
                if bytes.get(4..8) == Some(CLIENT_FRAME_ID.as_bytes()) {
                    bytes[4] ^= 0xFF;
                }
                frame::encode_frame(out, Opcode::Binary, &bytes, mask);
            }
            GarbageKind::JunkFlatBuffer => {
                let mut bytes = vec![0u8; 16 + rng.below(240) as usize];
                rng.fill(&mut bytes);
                let past_end = bytes.len() as u32 + rng.below(1 << 16) as u32;
                bytes[..4].copy_from_slice(&past_end.to_le_bytes());
                bytes[4..8].copy_from_slice(CLIENT_FRAME_ID.as_bytes());
                frame::encode_frame(out, Opcode::Binary, &bytes, mask);
            }
            GarbageKind::Text => {
                let text: String = (0..1 + rng.below(64))
                    .map(|_| char::from(b'a' + rng.below(26) as u8))
                    .collect();
                frame::encode_frame(out, Opcode::Text, text.as_bytes(), mask);
            }
            GarbageKind::Oversized => {
                frame::encode_header(out, Opcode::Binary, true, OVERSIZED_CLAIM, mask);
                let mut bytes = vec![0u8; OVERSIZED_SENT];
                rng.fill(&mut bytes);
                frame::extend_masked(out, &bytes, mask, 0);
            }
        }
        out.len() - before
    }
}

#[cfg(test)]
mod tests {
    use tickforge_protocol::{DecodeError, codec::Limits, decode_client};

    use super::*;

    /// Unmasks the payload of the client frame in `wire`.
    fn payload(wire: &[u8]) -> (u8, Vec<u8>) {
        let (len, at) = match wire[1] & 0x7F {
            126 => (usize::from(u16::from_be_bytes([wire[2], wire[3]])), 4),
            127 => (wire.len() - 14, 10),
            n => (usize::from(n), 2),
        };
        let mask = [wire[at], wire[at + 1], wire[at + 2], wire[at + 3]];
        let body = wire[at + 4..at + 4 + len.min(wire.len() - at - 4)]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        (wire[0] & 0x0F, body)
    }

    #[test]
    fn each_kind_fails_the_server_checks_it_is_meant_to() {
        let mut rng = Rng::new(3, 0);
        for _ in 0..200 {
            for kind in GarbageKind::ALL {
                let mut out = Vec::new();
                let n = kind.write(&mut out, rng.mask(), &mut rng);
                assert_eq!(n, out.len());
                let (opcode, body) = payload(&out);
                let decoded = decode_client(&body, &Limits::CLIENT);
                match kind {
                    GarbageKind::RandomBytes => {
                        assert!(matches!(decoded, Err(DecodeError::WrongFrameKind { .. })))
                    }
                    GarbageKind::JunkFlatBuffer => {
                        assert!(matches!(decoded, Err(DecodeError::Malformed(_))))
                    }
                    GarbageKind::Text => assert_eq!(opcode, 0x1),
                    GarbageKind::Oversized => {
                        assert_eq!(out[1] & 0x7F, 127);
                        assert_eq!(out.len(), 14 + OVERSIZED_SENT);
                    }
                }
            }
        }
    }
}
