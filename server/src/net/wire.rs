//! Server frames as they go on the wire: a [`WireFrame`] is a complete
//! WebSocket binary frame (RFC 6455 §5.2; server frames are unmasked) held
//! as a gather list — a small owned part (the frame header, then any
//! per-member prefix) followed by shared segments — so it is written with
//! one `writev` and no copy.
//!
//! A room builds a tick's State frame once ([`WireFrame::binary`]); every
//! member's copy is a reference-count increment and a few header bytes.
//! Frames made of per-member and shared pieces (large rooms: a member's
//! own part, then interest cells encoded once each) are built with
//! [`WireFrame::binary_parts`] and go through the same write path.
//!
//! [`WireFrame::write_from`] makes one non-blocking vectored write starting
//! at a byte offset: the caller keeps the offset of a partial write and
//! continues from it, so a frame is never interleaved with another.

use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

/// Room in the owned part: a 10-byte WebSocket header plus a per-member
/// prefix of up to 38 bytes (an interest state's member part is at most 32).
pub const OWNED_CAP: usize = 48;
/// Longest per-member prefix: what the owned part holds after the longest header.
pub const MAX_PREFIX: usize = OWNED_CAP - 10;
/// The most slices handed to one `writev`; a frame with more segments is
/// written in several calls (each one a partial write to its caller).
const MAX_SLICES: usize = 16;

/// FIN + opcode 2 (binary).
const FIN_BINARY: u8 = 0x82;

/// Shared segments of a frame.
#[derive(Clone, Debug)]
enum Shared {
    One(Bytes),
    Many(Arc<[Bytes]>),
}

impl Shared {
    fn segments(&self) -> &[Bytes] {
        match self {
            Shared::One(b) => std::slice::from_ref(b),
            Shared::Many(list) => list,
        }
    }
}

/// A complete, pre-framed server frame (see the module docs).
#[derive(Clone, Debug)]
pub struct WireFrame {
    owned: [u8; OWNED_CAP],
    owned_len: u8,
    header_len: u8,
    shared: Shared,
    len: usize,
}

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the per-member prefix is longer than {MAX_PREFIX} bytes")]
pub struct PrefixTooLong;

impl WireFrame {
    /// A binary frame carrying `payload` (shared, not copied).
    pub fn binary(payload: Bytes) -> WireFrame {
        let len = payload.len();
        let mut owned = [0u8; OWNED_CAP];
        let header_len = write_header(&mut owned, len);
        WireFrame {
            owned,
            owned_len: header_len as u8,
            header_len: header_len as u8,
            shared: Shared::One(payload),
            len: header_len + len,
        }
    }

    /// A binary frame whose payload is `prefix` (owned by this frame, at
    /// most `OWNED_CAP - 10` bytes) followed by the shared `segments`.
    pub fn binary_parts(prefix: &[u8], segments: Arc<[Bytes]>) -> Result<WireFrame, PrefixTooLong> {
        if prefix.len() > MAX_PREFIX {
            return Err(PrefixTooLong);
        }
        let payload_len = prefix.len() + segments.iter().map(Bytes::len).sum::<usize>();
        let mut owned = [0u8; OWNED_CAP];
        let header_len = write_header(&mut owned, payload_len);
        let owned_len = header_len + prefix.len();
        let Some(slot) = owned.get_mut(header_len..owned_len) else {
            return Err(PrefixTooLong);
        };
        slot.copy_from_slice(prefix);
        Ok(WireFrame {
            owned,
            owned_len: owned_len as u8,
            header_len: header_len as u8,
            shared: Shared::Many(segments),
            len: header_len + payload_len,
        })
    }

    /// Bytes on the wire, header included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a frame always has its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The payload alone (for a writer that frames messages itself, such
    /// as the TLS path): shared when it is one segment, else copied once.
    pub fn payload(&self) -> Bytes {
        let prefix = &self.owned[usize::from(self.header_len)..usize::from(self.owned_len)];
        match (&self.shared, prefix.is_empty()) {
            (Shared::One(b), true) => b.clone(),
            _ => {
                let mut out = BytesMut::with_capacity(self.len - usize::from(self.header_len));
                out.extend_from_slice(prefix);
                for segment in self.shared.segments() {
                    out.extend_from_slice(segment);
                }
                out.freeze()
            }
        }
    }

    /// The frame's slices from byte `offset` on, into `out` (at most
    /// `out.len()` of them); returns how many were filled.
    fn slices_from<'a>(&'a self, offset: usize, out: &mut [IoSlice<'a>]) -> usize {
        let mut skip = offset;
        let mut n = 0;
        let owned = &self.owned[..usize::from(self.owned_len)];
        let pieces = std::iter::once(owned).chain(self.shared.segments().iter().map(|b| &b[..]));
        for piece in pieces {
            if n == out.len() {
                break;
            }
            if skip >= piece.len() {
                skip -= piece.len();
                continue;
            }
            out[n] = IoSlice::new(&piece[skip..]);
            skip = 0;
            n += 1;
        }
        n
    }

    /// One non-blocking vectored write of the frame from byte `offset` to
    /// `socket`: the bytes written (fewer than the rest is a partial
    /// write), or `WouldBlock` when nothing could be written.
    pub fn try_write_from(&self, offset: usize, socket: &TcpStream) -> io::Result<usize> {
        if offset == 0
            && let Shared::One(payload) = &self.shared
        {
            // The common case (a whole State): header and payload, no scan.
            let owned = &self.owned[..usize::from(self.owned_len)];
            return socket.try_write_vectored(&[IoSlice::new(owned), IoSlice::new(payload)]);
        }
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = self.slices_from(offset, &mut slices);
        socket.try_write_vectored(&slices[..n])
    }

    /// Writes the frame from byte `offset` to its end, waiting for the
    /// socket as needed.
    pub async fn write_from(&self, mut offset: usize, socket: &TcpStream) -> io::Result<()> {
        while offset < self.len {
            socket.writable().await?;
            match self.try_write_from(offset, socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => offset += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The whole frame in one buffer (tests and diagnostics).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = self.slices_from(0, &mut slices);
        for s in &slices[..n] {
            out.extend_from_slice(s);
        }
        out
    }
}

/// Writes the header of an unmasked final binary frame of `len` payload
/// bytes into `out`; returns its length (2, 4 or 10).
fn write_header(out: &mut [u8; OWNED_CAP], len: usize) -> usize {
    out[0] = FIN_BINARY;
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_shortest_length_encoding() {
        let short = WireFrame::binary(Bytes::from(vec![7u8; 125])).to_vec();
        assert_eq!(&short[..2], &[0x82, 125]);
        assert_eq!(short.len(), 127);
        let medium = WireFrame::binary(Bytes::from(vec![7u8; 126])).to_vec();
        assert_eq!(&medium[..4], &[0x82, 126, 0, 126]);
        let long = WireFrame::binary(Bytes::from(vec![7u8; 70_000])).to_vec();
        assert_eq!(&long[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(long.len(), 70_010);
    }

    #[test]
    fn a_frame_of_a_prefix_and_shared_segments_is_one_frame_of_their_concatenation() {
        let segments: Arc<[Bytes]> = Arc::from(vec![
            Bytes::from_static(b"cell-a"),
            Bytes::from_static(b"cell-b"),
        ]);
        let frame = WireFrame::binary_parts(b"me:", segments).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(frame.to_vec(), b"\x82\x0fme:cell-acell-b");
        assert_eq!(&frame.payload()[..], b"me:cell-acell-b");
        assert!(WireFrame::binary_parts(&[0u8; MAX_PREFIX + 1], Arc::from(Vec::new())).is_err());
    }

    #[test]
    fn slices_from_an_offset_skip_what_was_written() {
        let segments: Arc<[Bytes]> = Arc::from(vec![Bytes::from_static(b"abc")]);
        let frame = WireFrame::binary_parts(b"xy", segments).unwrap_or_else(|e| panic!("{e}"));
        let whole = frame.to_vec();
        for offset in 0..whole.len() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = frame.slices_from(offset, &mut slices);
            let rest: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
            assert_eq!(rest, &whole[offset..], "from offset {offset}");
        }
    }

    #[tokio::test]
    async fn a_write_from_an_offset_sends_exactly_the_rest_of_the_frame_on_a_real_socket() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let mut client = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (server, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
        let frame = WireFrame::binary(Bytes::from(
            (0..3000u32).map(|i| i as u8).collect::<Vec<_>>(),
        ));
        let whole = frame.to_vec();
        frame
            .write_from(0, &server)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        frame
            .write_from(37, &server)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut got = vec![0u8; 2 * whole.len() - 37];
        client
            .read_exact(&mut got)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&got[..whole.len()], &whole[..]);
        assert_eq!(&got[whole.len()..], &whole[37..]);
    }
}
