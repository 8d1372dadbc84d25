//! Where the Redis backend keeps things, and how entries are written.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tf:nodes` | set | ids of nodes that joined the cluster |
//! | `tf:node:{node}` | string, TTL | heartbeat: `{instance token} {public url}[ draining]` |
//! | `tf:rooms:{node}` | hash, TTL | room id → `{mode}\t{capacity}\t{players}\t{seq}[\tprivate]` |
//! | `tf:players:{node}` | hash, TTL | `{room id}\t{player id}` → joined at (Unix ms) |
//! | `tf:room:{room}` | string, TTL | owning node (set if absent) |
//! | `tf:bans` | hash | banned player id → end of the ban (Unix ms) |
//! | channel `tf:presence` | pub/sub | JSON bulletins |
//!
//! Every key of a node carries the presence TTL and is refreshed by the
//! node's heartbeat; room ids never contain a tab (they start with the node
//! id, which is checked at start), so a player field splits at its first tab.

use std::sync::Arc;

use crate::presence::view::{Placement, RoomRecord};

/// The pub/sub channel.
pub const CHANNEL: &str = "tf:presence";
/// The set of node ids.
pub const NODES: &str = "tf:nodes";
/// Bans of the whole cluster: player id → end of the ban (Unix ms).
pub const BANS: &str = "tf:bans";

/// Heartbeat key of `node`.
pub fn heartbeat(node: &str) -> String {
    format!("tf:node:{node}")
}

/// Room hash of `node`.
pub fn rooms(node: &str) -> String {
    format!("tf:rooms:{node}")
}

/// Player hash of `node`.
pub fn players(node: &str) -> String {
    format!("tf:players:{node}")
}

/// Ownership key of `room`.
pub fn owner(room: &str) -> String {
    format!("tf:room:{room}")
}

/// Heartbeat value; a draining node (see [`crate::shutdown`]) says so, and
/// other nodes then neither send players to it nor hand rooms to it.
pub fn heartbeat_value(token: &str, url: &str, draining: bool) -> String {
    let flag = if draining { DRAINING_FLAG } else { "" };
    format!("{token} {url}{flag}")
}

/// What a draining node's heartbeat ends with.
const DRAINING_FLAG: &str = " draining";

/// (token, url) of a heartbeat value.
pub fn parse_heartbeat(value: &str) -> Option<(&str, &str)> {
    let (token, rest) = value.split_once(' ')?;
    Some((token, rest.split(' ').next().unwrap_or(rest)))
}

/// Whether a heartbeat value marks its node draining.
pub fn heartbeat_draining(value: &str) -> bool {
    value.ends_with(DRAINING_FLAG)
}

/// Field of a player entry.
pub fn player_field(room: &str, player: &str) -> String {
    format!("{room}\t{player}")
}

/// (room, player) of a player field.
pub fn parse_player_field(field: &str) -> Option<(&str, &str)> {
    field.split_once('\t')
}

/// Value of a room entry.
pub fn room_value(r: &RoomRecord) -> String {
    let private = if r.private { "\tprivate" } else { "" };
    format!(
        "{}\t{}\t{}\t{}{private}",
        r.mode, r.capacity, r.players, r.seq
    )
}

/// A room entry of `node`, read back.
pub fn parse_room(node: &Arc<str>, value: &str) -> Option<RoomRecord> {
    let mut parts = value.split('\t');
    let mode = parts.next()?;
    let capacity = parts.next()?.parse().ok()?;
    let players = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let private = parts.next() == Some("private");
    Some(RoomRecord {
        node: node.clone(),
        mode: Arc::from(mode),
        capacity,
        players,
        private,
        seq,
    })
}

/// A player entry of `node`, read back: (player, placement).
pub fn parse_player(node: &Arc<str>, field: &str, since: &str) -> Option<(Arc<str>, Placement)> {
    let (room, player) = parse_player_field(field)?;
    Some((
        Arc::from(player),
        Placement {
            node: node.clone(),
            room: Arc::from(room),
            since_ms: since.parse().ok()?,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let node: Arc<str> = "a".into();
        let room = RoomRecord {
            node: node.clone(),
            mode: "arena".into(),
            capacity: 32,
            players: 7,
            private: false,
            seq: 99,
        };
        assert_eq!(parse_room(&node, &room_value(&room)).unwrap(), room);
        let private = RoomRecord {
            private: true,
            ..room.clone()
        };
        assert_eq!(parse_room(&node, &room_value(&private)).unwrap(), private);
        let field = player_field("a-1", "p\twith tab");
        let (player, placement) = parse_player(&node, &field, "12").unwrap();
        assert_eq!(&*player, "p\twith tab");
        assert_eq!(&*placement.room, "a-1");
        assert_eq!(parse_heartbeat("tok ws://h/ws"), Some(("tok", "ws://h/ws")));
        let draining = heartbeat_value("tok", "ws://h/ws", true);
        assert_eq!(parse_heartbeat(&draining), Some(("tok", "ws://h/ws")));
        assert!(heartbeat_draining(&draining));
        assert!(!heartbeat_draining(&heartbeat_value(
            "tok",
            "ws://h/ws",
            false
        )));
        assert!(parse_room(&node, "arena\tx").is_none());
    }
}
