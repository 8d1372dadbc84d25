//! Framing of one interest state message: the per-member part
//! (a size-prefixed `MemberView`) followed by size-prefixed shared
//! `CellSegment`s, each verified on its own.

use flatbuffers::FlatBufferBuilder;

use super::{Cell, ReplicaError, SEGMENT_ID, VIEW_ID};
use crate::codec::{DecodeError, Limits};
use crate::generated::replication_generated::tickforge::v_2 as rep;

/// Verifier bounds of one cell segment (one table per changed entity).
pub const SEGMENT_LIMITS: Limits = Limits {
    max_depth: 4,
    max_tables: 8192,
    max_apparent_size: 4 << 20,
};

/// Verifier bounds of the per-member part.
const VIEW_LIMITS: Limits = Limits {
    max_depth: 2,
    max_tables: 2,
    max_apparent_size: 1024,
};

/// The per-member part of one message, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberPart {
    /// The last input sequence the room applied for this member.
    pub last_input_seq: u32,
    /// The centre of the member's view.
    pub center: Cell,
}

/// Encodes the per-member part (28 bytes with its size prefix) into `fbb`;
/// the bytes are `fbb.finished_data()`.
pub fn encode_view(fbb: &mut FlatBufferBuilder<'static>, part: MemberPart) {
    fbb.reset();
    let view = rep::View::new(part.last_input_seq, part.center.x, part.center.y);
    let root = rep::MemberView::create(fbb, &rep::MemberViewArgs { view: Some(&view) });
    fbb.finish_size_prefixed(root, Some(VIEW_ID));
}

/// Whether a server → client message is an interest state message (its
/// bytes 8..12 are `TFV2`) rather than a `ServerFrame`.
pub fn is_interest_state(frame: &[u8]) -> bool {
    frame.len() >= 12 && &frame[8..12] == VIEW_ID.as_bytes()
}

/// Splits off the next size-prefixed part of `rest` (prefix included).
fn next_part<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], ReplicaError> {
    let len = match rest.get(..4) {
        Some(prefix) => u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize,
        None => return Err(ReplicaError::Truncated),
    };
    let end = len.checked_add(4).ok_or(ReplicaError::Truncated)?;
    let part = rest.get(..end).ok_or(ReplicaError::Truncated)?;
    *rest = &rest[end..];
    Ok(part)
}

fn check_id(part: &[u8], id: &'static str) -> Result<(), ReplicaError> {
    if part.len() < 12 || &part[8..12] != id.as_bytes() {
        return Err(DecodeError::WrongFrameKind { expected: id }.into());
    }
    Ok(())
}

/// A verified interest state message: its per-member part and its segments.
pub struct Parsed<'a> {
    /// The per-member part.
    pub member: MemberPart,
    /// The tick segment's tick.
    pub tick: u64,
    /// The tick segment's server time.
    pub server_time_us: u64,
    /// The cell segments, in message order.
    pub cells: Vec<rep::CellSegment<'a>>,
}

/// Splits and verifies a whole message: the per-member part, the tick
/// segment, then cell segments of the same tick, consumed exactly.
pub fn parse(frame: &[u8]) -> Result<Parsed<'_>, ReplicaError> {
    let mut rest = frame;
    let view = next_part(&mut rest)?;
    check_id(view, VIEW_ID)?;
    let view = flatbuffers::size_prefixed_root_with_opts::<rep::MemberView>(
        &VIEW_LIMITS.verifier_options(),
        view,
    )
    .map_err(DecodeError::from)?;
    let v = view.view();
    let member = MemberPart {
        last_input_seq: v.last_input_seq(),
        center: Cell {
            x: v.center_x(),
            y: v.center_y(),
        },
    };
    let tick_segment = segment(next_part(&mut rest)?)?;
    if tick_segment.cell().is_some() {
        return Err(ReplicaError::TickMismatch);
    }
    let tick = tick_segment.tick();
    let mut cells = Vec::new();
    while !rest.is_empty() {
        let seg = segment(next_part(&mut rest)?)?;
        if seg.tick() != tick || seg.cell().is_none() {
            return Err(ReplicaError::TickMismatch);
        }
        cells.push(seg);
    }
    Ok(Parsed {
        member,
        tick,
        server_time_us: tick_segment.server_time_us(),
        cells,
    })
}

fn segment(part: &[u8]) -> Result<rep::CellSegment<'_>, ReplicaError> {
    check_id(part, SEGMENT_ID)?;
    Ok(
        flatbuffers::size_prefixed_root_with_opts::<rep::CellSegment>(
            &SEGMENT_LIMITS.verifier_options(),
            part,
        )
        .map_err(DecodeError::from)?,
    )
}

/// Concatenates the per-member part and the shared segments into one
/// message (what the gather-list write path sends without copying).
pub fn concat(member: &[u8], segments: &[bytes::Bytes]) -> bytes::Bytes {
    let len = member.len() + segments.iter().map(|s| s.len()).sum::<usize>();
    let mut out = bytes::BytesMut::with_capacity(len);
    out.extend_from_slice(member);
    for s in segments {
        out.extend_from_slice(s);
    }
    out.freeze()
}
