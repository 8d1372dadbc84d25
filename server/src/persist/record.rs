//! The byte layout of one stored snapshot, shared by the embedded store
//! (value of its table) and the spill file (with the player id in front).
//!
//! Little-endian, the first byte names the format:
//!
//! - `1`: `u8 1 | u64 version | u64 captured_us | u16 room length | room |
//!   u32 state length | state` — a snapshot that never expires.
//! - `2`: `u8 2 | u64 version | u64 captured_us | u64 expires_us | u16 room
//!   length | room | u32 state length | state` — a guest's snapshot.
//!
//! Snapshots without an expiry are still written in format 1, so records
//! and spill files of players other than guests read the same as before.
//! Decoding checks every length and never panics.

use std::sync::Arc;

use bytes::Bytes;

use super::Snapshot;

/// Format of a snapshot that never expires.
const FORMAT_PLAIN: u8 = 1;
/// Format of a snapshot with an expiry time.
const FORMAT_EXPIRING: u8 = 2;

/// A record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad snapshot record: {0}")]
pub struct BadRecord(pub &'static str);

/// The fixed fields at the front of a value, read without copying the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// [`Snapshot::version`].
    pub version: u64,
    /// [`Snapshot::captured_us`].
    pub captured_us: u64,
    /// [`Snapshot::expires_us`].
    pub expires_us: Option<u64>,
}

impl Head {
    /// Capture time, then version: what decides which snapshot is newer.
    pub fn stamp(&self) -> (u64, u64) {
        (self.captured_us, self.version)
    }
}

/// Appends the value part of `s` (everything but the player id).
pub fn encode_value(s: &Snapshot, out: &mut Vec<u8>) {
    match s.expires_us {
        None => out.push(FORMAT_PLAIN),
        Some(_) => out.push(FORMAT_EXPIRING),
    }
    out.extend_from_slice(&s.version.to_le_bytes());
    out.extend_from_slice(&s.captured_us.to_le_bytes());
    if let Some(at) = s.expires_us {
        out.extend_from_slice(&at.to_le_bytes());
    }
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

/// The fixed fields of a value, without copying the state.
pub fn head_of(buf: &[u8]) -> Result<Head, BadRecord> {
    Reader(buf).head()
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
    fn head(&mut self) -> Result<Head, BadRecord> {
        let format = self.take(1)?[0];
        if format != FORMAT_PLAIN && format != FORMAT_EXPIRING {
            return Err(BadRecord("unknown format"));
        }
        let version = self.u64()?;
        let captured_us = self.u64()?;
        let expires_us = match format {
            FORMAT_EXPIRING => Some(self.u64()?),
            _ => None,
        };
        Ok(Head {
            version,
            captured_us,
            expires_us,
        })
    }
    fn value(&mut self, player_id: Arc<str>) -> Result<Snapshot, BadRecord> {
        let head = self.head()?;
        let room_id = self.str16()?;
        let len = self.u32()? as usize;
        let state = Bytes::copy_from_slice(self.take(len)?);
        Ok(Snapshot {
            player_id,
            room_id,
            version: head.version,
            captured_us: head.captured_us,
            state,
            expires_us: head.expires_us,
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
            expires_us: None,
        }
    }

    fn guest(player: &str, version: u64) -> Snapshot {
        Snapshot {
            expires_us: Some(1_700_000_604_800_000_000 + version),
            ..snap(player, version)
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
        assert_eq!(
            head_of(&value).map(|h| h.stamp()),
            Ok((1_700_000_000_000_005, 5))
        );
        assert_eq!(
            decode_value(Arc::from("carol"), &value),
            Ok(snap("carol", 5))
        );
    }

    #[test]
    fn an_expiry_round_trips_in_format_2_and_truncation_is_an_error() {
        let mut buf = Vec::new();
        encode_record(&guest("g_dan", 4), &mut buf);
        encode_record(&snap("erin", 2), &mut buf);
        let back = decode_records(&buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, vec![guest("g_dan", 4), snap("erin", 2)]);
        for cut in 0..buf.len() {
            let _ = decode_records(&buf[..cut]);
        }
        let mut value = Vec::new();
        encode_value(&guest("g_dan", 4), &mut value);
        assert_eq!(value[0], 2, "format 2 carries an expiry");
        assert_eq!(value.len(), 1 + 8 + 8 + 8 + 2 + 8 + 4 + 20);
        assert_eq!(
            head_of(&value),
            Ok(Head {
                version: 4,
                captured_us: 1_700_000_000_000_004,
                expires_us: Some(1_700_000_604_800_000_004),
            })
        );
        assert_eq!(
            decode_value(Arc::from("g_dan"), &value),
            Ok(guest("g_dan", 4))
        );
        assert!(decode_value(Arc::from("g_dan"), &value[..value.len() - 1]).is_err());
        value[0] = 3;
        assert_eq!(head_of(&value), Err(BadRecord("unknown format")));
    }

    #[test]
    fn a_record_without_an_expiry_keeps_the_format_1_bytes_of_earlier_versions() {
        // Written by a version without guest expiry: format 1, no expiry field.
        let mut old = vec![1u8];
        old.extend_from_slice(&9u64.to_le_bytes());
        old.extend_from_slice(&1_700_000_000_000_009u64.to_le_bytes());
        old.extend_from_slice(&8u16.to_le_bytes());
        old.extend_from_slice(b"node-r-1");
        old.extend_from_slice(&20u32.to_le_bytes());
        old.extend_from_slice(&[7u8; 20]);
        assert_eq!(decode_value(Arc::from("frank"), &old), Ok(snap("frank", 9)));
        assert_eq!(head_of(&old).map(|h| h.expires_us), Ok(None));
        let mut value = Vec::new();
        encode_value(&snap("frank", 9), &mut value);
        assert_eq!(value, old, "what never expires is written as before");
    }

    #[test]
    fn a_snapshot_is_expired_from_its_expiry_time_on() {
        let g = guest("g_gus", 1);
        let at = g.expires_us.unwrap_or_default();
        assert!(!g.is_expired(at - 1));
        assert!(g.is_expired(at));
        assert!(!snap("hal", 1).is_expired(u64::MAX));
    }
}
