//! The byte layout of one stored snapshot, shared by the embedded store
//! (value of its table) and the spill file (with the player id in front).
//!
//! `u8 format(1) | u64 version | u64 captured_us | u16 room length | room |
//! u32 state length | state`, little-endian. Decoding checks every length
//! and never panics.

use std::sync::Arc;

use bytes::Bytes;

use super::Snapshot;

const FORMAT: u8 = 1;

/// A record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad snapshot record: {0}")]
pub struct BadRecord(pub &'static str);

/// Appends the value part of `s` (everything but the player id).
pub fn encode_value(s: &Snapshot, out: &mut Vec<u8>) {
    out.push(FORMAT);
    out.extend_from_slice(&s.version.to_le_bytes());
    out.extend_from_slice(&s.captured_us.to_le_bytes());
    put_u16_str(out, s.room_id.as_bytes());
    out.extend_from_slice(&(s.state.len() as u32).to_le_bytes());
    out.extend_from_slice(&s.state);
}

/// Appends a whole record: the player id, then the value.
pub fn encode_record(s: &Snapshot, out: &mut Vec<u8>) {
    put_u16_str(out, s.player_id.as_bytes());
    encode_value(s, out);
}

/// Decodes a value for `player_id`.
pub fn decode_value(player_id: Arc<str>, buf: &[u8]) -> Result<Snapshot, BadRecord> {
    let mut r = Reader(buf);
    let s = r.value(player_id)?;
    if !r.0.is_empty() {
        return Err(BadRecord("trailing bytes"));
    }
    Ok(s)
}

/// Decodes consecutive records until `buf` is used up.
pub fn decode_records(buf: &[u8]) -> Result<Vec<Snapshot>, BadRecord> {
    let mut r = Reader(buf);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let player = r.str16()?;
        out.push(r.value(player)?);
    }
    Ok(out)
}

/// The capture time and version stored in a value, without copying the state.
pub fn stamp_of(buf: &[u8]) -> Result<(u64, u64), BadRecord> {
    let mut r = Reader(buf);
    if r.take(1)? != [FORMAT] {
        return Err(BadRecord("unknown format"));
    }
    let version = r.u64()?;
    Ok((r.u64()?, version))
}

fn put_u16_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&s[..len]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadRecord> {
        if self.0.len() < n {
            return Err(BadRecord("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, BadRecord> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn u32(&mut self) -> Result<u32, BadRecord> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn str16(&mut self) -> Result<Arc<str>, BadRecord> {
        let b = self.take(2)?;
        let len = usize::from(u16::from_le_bytes([b[0], b[1]]));
        let s = std::str::from_utf8(self.take(len)?).map_err(|_| BadRecord("not UTF-8"))?;
        Ok(Arc::from(s))
    }
    fn value(&mut self, player_id: Arc<str>) -> Result<Snapshot, BadRecord> {
        if self.take(1)? != [FORMAT] {
            return Err(BadRecord("unknown format"));
        }
        let version = self.u64()?;
        let captured_us = self.u64()?;
        let room_id = self.str16()?;
        let len = self.u32()? as usize;
        let state = Bytes::copy_from_slice(self.take(len)?);
        Ok(Snapshot {
            player_id,
            room_id,
            version,
            captured_us,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(player: &str, version: u64) -> Snapshot {
        Snapshot {
            player_id: Arc::from(player),
            room_id: Arc::from("node-r-1"),
            version,
            captured_us: 1_700_000_000_000_000 + version,
            state: Bytes::from(vec![7u8; 20]),
        }
    }

    #[test]
    fn records_round_trip_and_truncation_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        encode_record(&snap("alice", 3), &mut buf);
        encode_record(&snap("bob", 9), &mut buf);
        let back = decode_records(&buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, vec![snap("alice", 3), snap("bob", 9)]);
        for cut in 0..buf.len() {
            let _ = decode_records(&buf[..cut]);
        }
        assert!(decode_records(&buf[..buf.len() - 1]).is_err());
        let mut value = Vec::new();
        encode_value(&snap("carol", 5), &mut value);
        assert_eq!(stamp_of(&value), Ok((1_700_000_000_000_005, 5)));
        assert_eq!(
            decode_value(Arc::from("carol"), &value),
            Ok(snap("carol", 5))
        );
    }
}
