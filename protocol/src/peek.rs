//! The union type of a frame, read from its bytes without verification:
//! for the server's per-kind rate limits (charged before verification) and
//! the swarm's ballast bots (which skip payloads).
//!
//! A `ClientFrame`'s or `ServerFrame`'s union type is one byte of its root
//! table. The reads follow the offsets the decoder follows after
//! verification (root offset, vtable, field), each bounds-checked: nothing
//! can panic or read out of range. A frame that verifies decodes to the type
//! read here; one whose type cannot be read (too short, another file
//! identifier) gives `None`.

/// Offset of `message_type` in both envelopes' vtables (generated `VT_MESSAGE_TYPE`).
const VT_MESSAGE_TYPE: usize = 4;

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let bytes = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The raw union type of the envelope in `frame` whose file identifier is
/// `file_id` (0 = none); `None` when it cannot be read.
pub fn union_type(frame: &[u8], file_id: &str) -> Option<u8> {
    if frame.get(4..8)? != file_id.as_bytes() {
        return None;
    }
    let root = u32_at(frame, 0)? as usize;
    let vtable_back = u32_at(frame, root)? as i32;
    let vtable = usize::try_from(root as i64 - i64::from(vtable_back)).ok()?;
    let vtable_len = usize::from(u16_at(frame, vtable)?);
    if vtable_len <= VT_MESSAGE_TYPE {
        return Some(0);
    }
    let field = usize::from(u16_at(frame, vtable.checked_add(VT_MESSAGE_TYPE)?)?);
    if field == 0 {
        return Some(0);
    }
    frame.get(root.checked_add(field)?).copied()
}
