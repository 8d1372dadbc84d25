//! The hand-off record: everything a node needs to run a room that another
//! node ran until its last tick — the game's room blob
//! ([`crate::game::Game::save_room`]), the tick counter, and every member
//! with its entity, its last applied input sequence, its snapshot version
//! and its resume key. JSON (the blobs in base64), versioned; a record
//! that does not decode, has another version, or is larger than
//! `--handoff-max-bytes` is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::HandoffError;

/// The record version this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// One member of a handed-off room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandedMember {
    /// Player id.
    pub player: String,
    /// Display name.
    pub name: String,
    /// A guest (snapshots expire).
    pub guest: bool,
    /// The member's entity in the game blob.
    pub entity: u32,
    /// Last input sequence the room applied (acks continue from it).
    pub last_seq: u32,
    /// Node of the member's resume key (the node that issued its token).
    pub key_node: String,
    /// Session id of the member's resume key on that node.
    pub key_session: u64,
    /// Version of the member's newest snapshot (handed to the source's writer).
    pub snapshot_version: u64,
    /// When that snapshot was captured, Unix microseconds.
    pub captured_us: u64,
    /// That snapshot's state, base64 (none before the first capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<String>,
}

impl HandedMember {
    /// The saved state's bytes, if any.
    pub fn saved_bytes(&self) -> Result<Option<Vec<u8>>, HandoffError> {
        self.saved
            .as_deref()
            .map(|s| B64.decode(s).map_err(|_| HandoffError::BadRecord))
            .transpose()
    }

    /// Stores `bytes` as the saved state.
    pub fn set_saved(&mut self, bytes: Option<&[u8]>) {
        self.saved = bytes.map(|b| B64.encode(b));
    }
}

/// A room on its way from one node to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// Room id (kept on the target).
    pub room: String,
    /// Mode (the target must have it configured).
    pub mode: String,
    /// The node handing the room off.
    pub source: String,
    /// The node asked to take it.
    pub target: String,
    /// Last tick the source ran.
    pub tick: u64,
    /// When the source ran it, Unix microseconds (the pause is measured from it).
    pub last_tick_us: u64,
    /// The target refuses the record after this, Unix microseconds.
    pub deadline_us: u64,
    /// The game's room blob, base64.
    pub game: String,
    /// Every member, seated or held.
    pub members: Vec<HandedMember>,
}

impl HandoffRecord {
    /// The game's room blob.
    pub fn game_bytes(&self) -> Result<Vec<u8>, HandoffError> {
        B64.decode(&self.game).map_err(|_| HandoffError::BadRecord)
    }

    /// Sets the game's room blob.
    pub fn set_game(&mut self, blob: &[u8]) {
        self.game = B64.encode(blob);
    }

    /// The record as sent; refused over `max_bytes`.
    pub fn encode(&self, max_bytes: usize) -> Result<Vec<u8>, HandoffError> {
        let bytes = serde_json::to_vec(self).map_err(|_| HandoffError::BadRecord)?;
        if bytes.len() > max_bytes {
            return Err(HandoffError::TooLarge);
        }
        Ok(bytes)
    }

    /// A record as received: at most `max_bytes`, this version.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<HandoffRecord, HandoffError> {
        if bytes.len() > max_bytes {
            return Err(HandoffError::TooLarge);
        }
        let record: HandoffRecord =
            serde_json::from_slice(bytes).map_err(|_| HandoffError::BadRecord)?;
        if record.version != RECORD_VERSION {
            return Err(HandoffError::BadRecord);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> HandoffRecord {
        let mut member = HandedMember {
            player: "p".into(),
            name: "P".into(),
            guest: false,
            entity: 3,
            last_seq: 41,
            key_node: "a".into(),
            key_session: 9,
            snapshot_version: 2,
            captured_us: 5,
            saved: None,
        };
        member.set_saved(Some(b"\x00\x01"));
        let mut record = HandoffRecord {
            version: RECORD_VERSION,
            room: "a-1".into(),
            mode: "arena".into(),
            source: "a".into(),
            target: "b".into(),
            tick: 100,
            last_tick_us: 7,
            deadline_us: 8,
            game: String::new(),
            members: vec![member],
        };
        record.set_game(b"blob");
        record
    }

    #[test]
    fn a_record_reads_back_as_written_and_is_refused_over_its_limit() {
        let record = record();
        let bytes = record.encode(4096).unwrap_or_default();
        let back = HandoffRecord::decode(&bytes, 4096).ok();
        assert_eq!(back.as_ref(), Some(&record));
        assert_eq!(
            back.and_then(|r| r.members[0].saved_bytes().ok().flatten()),
            Some(vec![0, 1])
        );
        assert_eq!(record.encode(10).err(), Some(HandoffError::TooLarge));
        assert_eq!(
            HandoffRecord::decode(&bytes, 10).err(),
            Some(HandoffError::TooLarge)
        );
    }

    #[test]
    fn a_record_of_another_version_or_garbage_is_refused() {
        let mut other = record();
        other.version = RECORD_VERSION + 1;
        let bytes = other.encode(4096).unwrap_or_default();
        assert_eq!(
            HandoffRecord::decode(&bytes, 4096).err(),
            Some(HandoffError::BadRecord)
        );
        assert_eq!(
            HandoffRecord::decode(b"{not json", 4096).err(),
            Some(HandoffError::BadRecord)
        );
    }

    #[test]
    fn a_full_32_player_arena_room_is_about_8_kib_far_below_the_default_limit() {
        use crate::game::{Game, arena::Arena};
        let mut arena = Arena::new(32);
        let mut record = record();
        let template = record.members[0].clone();
        record.members.clear();
        for i in 0..32u64 {
            let entity = arena.add_player(None).unwrap_or_default();
            let mut member = template.clone();
            member.player = format!("player-{i:04}-0123456789abcdef");
            member.name = format!("Player {i}");
            member.entity = entity;
            member.key_session = 1_000_000 + i;
            member.set_saved(arena.save_player(entity).as_deref());
            record.members.push(member);
        }
        record.set_game(&arena.save_room().unwrap_or_default());
        let size = record.encode(usize::MAX).map(|b| b.len()).unwrap_or(0);
        assert!((4 << 10..16 << 10).contains(&size), "{size} bytes");
    }
}
