//! What presence knows how to say: changes of one node's rooms and players,
//! and the bulletins nodes publish to each other (JSON on the presence
//! channel).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One change of a node's own state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Change {
    /// A room was created on the node.
    RoomOpened {
        /// Room id.
        room: Arc<str>,
        /// Mode the room was created for.
        mode: Arc<str>,
        /// Seats.
        capacity: u16,
        /// Joined only by id: never offered to join-or-create elsewhere.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        private: bool,
    },
    /// A room was disposed, or handed to another node in a drain.
    RoomClosed {
        /// Room id.
        room: Arc<str>,
        /// The room moved to another node (a hand-off), which owns it now:
        /// its ownership key stays.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        moved: bool,
    },
    /// A player took a seat in a room.
    PlayerJoined {
        /// Room id.
        room: Arc<str>,
        /// Player id from Hello.
        player: Arc<str>,
        /// When the player joined, Unix milliseconds.
        since_ms: u64,
        /// Players in the room after the join.
        players: u32,
    },
    /// A player left a room (or was removed from it).
    PlayerLeft {
        /// Room id.
        room: Arc<str>,
        /// Player id from Hello.
        player: Arc<str>,
        /// Players in the room after the leave.
        players: u32,
        /// Version of the player's newest snapshot when they left (handed to
        /// the leaving node's writer, perhaps not yet in the store; 0: none).
        /// A node the player joins next loads at least this version.
        #[serde(default, skip_serializing_if = "is_zero")]
        saved_version: u64,
    },
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Change {
    /// Stable label (`kind` of the presence event metrics).
    pub fn label(&self) -> &'static str {
        match self {
            Change::RoomOpened { .. } => "room_opened",
            Change::RoomClosed { .. } => "room_closed",
            Change::PlayerJoined { .. } => "player_joined",
            Change::PlayerLeft { .. } => "player_left",
        }
    }

    /// Every label, for registering series at zero.
    pub const LABELS: [&'static str; 4] =
        ["room_opened", "room_closed", "player_joined", "player_left"];
}

/// A change with its place in the node's order of changes. Sequence numbers
/// of one node only grow (they start at the node's boot time in
/// microseconds), so a receiver can ignore a room count older than the one
/// it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped {
    /// Order of the change on its node.
    pub seq: u64,
    /// The change.
    #[serde(flatten)]
    pub change: Change,
}

/// One message on the presence channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bulletin {
    /// Sending node.
    pub node: Arc<str>,
    /// When it was published, Unix microseconds (publish → receive latency).
    pub sent_us: u64,
    /// What it says.
    pub body: Body,
}

/// What a bulletin says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Body {
    /// Changes, in the order they happened.
    Changes {
        /// The changes.
        changes: Vec<Stamped>,
    },
    /// The node rewrote its whole state in Redis (after a reconnect, a full
    /// queue or being reaped): read it again.
    Republished,
    /// Access-control actions taken on the sending node (see
    /// [`super::access`]).
    Access {
        /// The actions, in the order they were taken.
        actions: Vec<super::access::AccessAction>,
    },
    /// The node is gone (shut down, or reaped after its heartbeat expired):
    /// forget its rooms and players.
    Gone {
        /// The node that is gone (the sender, or the node it reaped).
        gone: Arc<str>,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bulletins_survive_a_json_round_trip() {
        let bulletin = Bulletin {
            node: "a".into(),
            sent_us: 7,
            body: Body::Changes {
                changes: vec![Stamped {
                    seq: 3,
                    change: Change::PlayerJoined {
                        room: "a-1".into(),
                        player: "p\t\"1\n".into(),
                        since_ms: 5,
                        players: 1,
                    },
                }],
            },
        };
        let text = serde_json::to_string(&bulletin).unwrap();
        assert_eq!(serde_json::from_str::<Bulletin>(&text).unwrap(), bulletin);
    }
}
