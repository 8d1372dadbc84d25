//! The cluster as this node sees it: nodes, rooms and player placements in
//! sharded concurrent maps (`dashmap`: short per-shard locks, never held
//! across an await). This node's own entries are written at once by the
//! rooms (they are the truth); other nodes' entries come from a snapshot
//! plus the bulletins that followed it.

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::DashMap;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::change::{Change, Stamped};
use super::departed::Departed;

/// Where a player is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Node that runs the room.
    pub node: Arc<str>,
    /// Room id.
    pub room: Arc<str>,
    /// When the player joined, Unix milliseconds.
    pub since_ms: u64,
}

/// A room somewhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomRecord {
    /// Owning node.
    pub node: Arc<str>,
    /// Mode the room was created for.
    pub mode: Arc<str>,
    /// Seats.
    pub capacity: u16,
    /// Players seated.
    pub players: u32,
    /// Joined only by id (never offered to join-or-create).
    pub private: bool,
    /// Sequence number of the change that set `players`.
    #[serde(skip)]
    pub seq: u64,
}

/// Everything one node has published: what a snapshot reads back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// The node.
    pub node: Arc<str>,
    /// Its public WebSocket URL.
    pub url: Arc<str>,
    /// It drains: no players and no rooms are sent to it.
    pub draining: bool,
    /// Its rooms.
    pub rooms: Vec<(Arc<str>, RoomRecord)>,
    /// Its players: (player id, placement).
    pub players: Vec<(Arc<str>, Placement)>,
}

/// The cluster as seen from one node.
pub struct PresenceView {
    own: Arc<str>,
    nodes: DashMap<Arc<str>, Arc<str>>,
    /// Nodes that drain (this one included once it does).
    draining: DashMap<Arc<str>, ()>,
    rooms: DashMap<Arc<str>, RoomRecord>,
    players: DashMap<Arc<str>, Vec<Placement>>,
    /// Woken when another node's players leave or its state is replaced.
    others_changed: Notify,
    /// Snapshot versions players had when they left another node.
    departed: Departed,
}

impl PresenceView {
    /// A view holding only this node (`own`, reached at `url`).
    pub fn new(own: Arc<str>, url: Arc<str>) -> PresenceView {
        let view = PresenceView {
            own,
            nodes: DashMap::new(),
            draining: DashMap::new(),
            rooms: DashMap::new(),
            players: DashMap::new(),
            others_changed: Notify::new(),
            departed: Departed::default(),
        };
        view.nodes.insert(view.own.clone(), url);
        view
    }

    /// This node's id.
    pub fn own(&self) -> &Arc<str> {
        &self.own
    }

    /// Completes at the next change that can remove another node's
    /// placements (a leave there, its state replaced, the node gone);
    /// `enable` it before checking the view, so no change is missed.
    pub fn changed(&self) -> Notified<'_> {
        self.others_changed.notified()
    }

    /// Applies one change made on `node`.
    pub fn apply(&self, node: &Arc<str>, stamped: &Stamped) {
        match &stamped.change {
            Change::RoomOpened {
                room,
                mode,
                capacity,
                private,
            } => {
                self.rooms
                    .entry(room.clone())
                    .and_modify(|r| {
                        // Another node opening a known room took it over in
                        // a hand-off; sequence numbers of two nodes do not
                        // compare.
                        if stamped.seq >= r.seq || r.node != *node {
                            r.node = node.clone();
                            r.mode = mode.clone();
                            r.capacity = *capacity;
                            r.private = *private;
                            r.seq = stamped.seq;
                        }
                    })
                    .or_insert_with(|| RoomRecord {
                        node: node.clone(),
                        mode: mode.clone(),
                        capacity: *capacity,
                        players: 0,
                        private: *private,
                        seq: stamped.seq,
                    });
            }
            Change::RoomClosed { room, .. } => {
                // Its members' PlayerLeft changes come first (a room reports
                // every leave before it closes), so no player scan here: this
                // runs on a room's thread.
                self.rooms.remove_if(room, |_, r| r.node == *node);
            }
            Change::PlayerJoined {
                room,
                player,
                since_ms,
                players,
            } => {
                if self.is_stale(room, node, stamped.seq) {
                    return;
                }
                let mut placements = self.players.entry(player.clone()).or_default();
                if !placements
                    .iter()
                    .any(|p| p.node == *node && p.room == *room)
                {
                    placements.push(Placement {
                        node: node.clone(),
                        room: room.clone(),
                        since_ms: *since_ms,
                    });
                }
                drop(placements);
                self.count(room, node, *players, stamped.seq);
            }
            Change::PlayerLeft {
                room,
                player,
                players,
                saved_version,
            } => {
                if self.is_stale(room, node, stamped.seq) {
                    return;
                }
                self.players.remove_if_mut(player, |_, placements| {
                    placements.retain(|p| !(p.node == *node && p.room == *room));
                    placements.is_empty()
                });
                self.count(room, node, *players, stamped.seq);
                if *node != self.own {
                    if *saved_version > 0 {
                        self.departed.note(player, *saved_version);
                    }
                    self.others_changed.notify_waiters();
                }
            }
        }
    }

    /// True when `node`'s room `room` already reflects a later change than
    /// `seq`: a join or leave replayed after a snapshot that included it (or
    /// a later one). Placements follow the same per-room order as counts,
    /// so a room's count and its players' placements never disagree.
    fn is_stale(&self, room: &str, node: &Arc<str>, seq: u64) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.node == *node && seq < r.seq)
    }

    fn count(&self, room: &str, node: &Arc<str>, players: u32, seq: u64) {
        if let Some(mut r) = self.rooms.get_mut(room)
            && r.node == *node
            && seq >= r.seq
        {
            r.players = players;
            r.seq = seq;
        }
    }

    /// Forgets everything of `node`.
    pub fn remove_node(&self, node: &str) {
        self.nodes.remove(node);
        self.draining.remove(node);
        self.rooms.retain(|_, r| &*r.node != node);
        self.players.retain(|_, placements| {
            placements.retain(|p| &*p.node != node);
            !placements.is_empty()
        });
        self.others_changed.notify_waiters();
    }

    /// Replaces what is known of `state.node` with `state`. This node's own
    /// entries are never replaced: they are the truth.
    pub fn replace_node(&self, state: NodeState) {
        let node = state.node;
        if node == self.own {
            return;
        }
        self.nodes.insert(node.clone(), state.url);
        if state.draining {
            self.draining.insert(node.clone(), ());
        } else {
            self.draining.remove(&node);
        }
        // Placements first, then the counts: a reader that sees a room's
        // new count already sees its players' new placements.
        let placed: HashSet<(&str, &str)> = state
            .players
            .iter()
            .map(|(player, p)| (&**player, &*p.room))
            .collect();
        self.players.retain(|player, placements| {
            placements.retain(|p| p.node != node || placed.contains(&(&**player, &*p.room)));
            !placements.is_empty()
        });
        for (player, placement) in state.players {
            let mut placements = self.players.entry(player).or_default();
            if !placements
                .iter()
                .any(|p| p.node == placement.node && p.room == placement.room)
            {
                placements.push(placement);
            }
        }
        let rooms: HashSet<&Arc<str>> = state.rooms.iter().map(|(id, _)| id).collect();
        self.rooms
            .retain(|id, r| r.node != node || rooms.contains(id));
        for (id, record) in state.rooms {
            self.rooms.insert(id, record);
        }
        self.others_changed.notify_waiters();
    }

    /// Replaces every other node's entries with `states` (a full snapshot):
    /// nodes missing from it are forgotten.
    pub fn replace_all(&self, states: Vec<NodeState>) {
        let live: HashSet<Arc<str>> = states.iter().map(|s| s.node.clone()).collect();
        let mut known: HashSet<Arc<str>> = self.nodes.iter().map(|n| n.key().clone()).collect();
        known.extend(self.rooms.iter().map(|r| r.node.clone()));
        known.extend(
            self.players
                .iter()
                .flat_map(|p| p.value().iter().map(|p| p.node.clone()).collect::<Vec<_>>()),
        );
        let gone: Vec<Arc<str>> = known
            .into_iter()
            .filter(|n| *n != self.own && !live.contains(n))
            .collect();
        for node in gone {
            self.remove_node(&node);
        }
        for state in states {
            self.replace_node(state);
        }
    }

    /// This node's own state, as it must be published.
    pub fn own_state(&self) -> NodeState {
        NodeState {
            node: self.own.clone(),
            url: self.url(&self.own).unwrap_or_else(|| Arc::from("")),
            draining: self.is_draining(&self.own),
            rooms: self
                .rooms
                .iter()
                .filter(|r| r.node == self.own)
                .map(|r| (r.key().clone(), r.value().clone()))
                .collect(),
            players: self
                .players
                .iter()
                .flat_map(|entry| {
                    entry
                        .value()
                        .iter()
                        .filter(|p| p.node == self.own)
                        .map(|p| (entry.key().clone(), p.clone()))
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    /// The snapshot version `player` had when they last left a room of
    /// another node (within a minute); 0 when none is known. Their next
    /// load here must find at least this version.
    pub fn saved_version_elsewhere(&self, player: &str) -> u64 {
        self.departed.version(player)
    }

    /// Where `player` is (usually one place; a player id used by two
    /// connections at once has two).
    pub fn placements(&self, player: &str) -> Vec<Placement> {
        self.players
            .get(player)
            .map(|p| p.value().clone())
            .unwrap_or_default()
    }

    /// The room `id`.
    pub fn room(&self, id: &str) -> Option<RoomRecord> {
        self.rooms.get(id).map(|r| r.value().clone())
    }

    /// Every room of the cluster, by id.
    pub fn rooms(&self) -> Vec<(Arc<str>, RoomRecord)> {
        self.rooms
            .iter()
            .map(|r| (r.key().clone(), r.value().clone()))
            .collect()
    }

    /// A room of `mode` on another node with a free seat, by id.
    pub fn free_room_elsewhere(&self, mode: &str) -> Option<(Arc<str>, RoomRecord)> {
        self.rooms
            .iter()
            .find(|r| {
                r.node != self.own
                    && !self.is_draining(&r.node)
                    && !r.private
                    && &*r.mode == mode
                    && r.players < u32::from(r.capacity)
            })
            .map(|r| (r.key().clone(), r.value().clone()))
    }

    /// Marks this node draining (its heartbeat says so from now on).
    pub fn mark_own_draining(&self) {
        self.draining.insert(self.own.clone(), ());
    }

    /// Whether `node` drains.
    pub fn is_draining(&self, node: &str) -> bool {
        self.draining.contains_key(node)
    }

    /// Nodes a draining node may hand its rooms to, or send new players
    /// to: every other node that is not draining, with its URL, fewest
    /// seated players first.
    pub fn peers_taking_rooms(&self) -> Vec<(Arc<str>, Arc<str>)> {
        let mut peers: Vec<(u64, Arc<str>, Arc<str>)> = self
            .nodes
            .iter()
            .filter(|n| *n.key() != self.own && !self.is_draining(n.key()))
            .map(|n| {
                let players = self
                    .rooms
                    .iter()
                    .filter(|r| r.node == *n.key())
                    .map(|r| u64::from(r.players))
                    .sum();
                (players, n.key().clone(), n.value().clone())
            })
            .collect();
        peers.sort();
        peers
            .into_iter()
            .map(|(_, node, url)| (node, url))
            .collect()
    }

    /// Public URL of `node`.
    pub fn url(&self, node: &str) -> Option<Arc<str>> {
        self.nodes.get(node).map(|u| u.value().clone())
    }

    /// Known nodes, this one included.
    pub fn nodes(&self) -> Vec<(Arc<str>, Arc<str>)> {
        self.nodes
            .iter()
            .map(|n| (n.key().clone(), n.value().clone()))
            .collect()
    }

    /// Players seated anywhere in the cluster (sum of room counts).
    pub fn player_count(&self) -> u64 {
        self.rooms.iter().map(|r| u64::from(r.players)).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stamped(seq: u64, change: Change) -> Stamped {
        Stamped { seq, change }
    }

    fn opened(room: &str) -> Change {
        Change::RoomOpened {
            room: room.into(),
            mode: "arena".into(),
            capacity: 4,
            private: false,
        }
    }

    fn joined(room: &str, player: &str, players: u32) -> Change {
        Change::PlayerJoined {
            room: room.into(),
            player: player.into(),
            since_ms: 1,
            players,
        }
    }

    fn left(room: &str, player: &str, players: u32) -> Change {
        Change::PlayerLeft {
            room: room.into(),
            player: player.into(),
            players,
            saved_version: 0,
        }
    }

    fn view() -> PresenceView {
        PresenceView::new("me".into(), "ws://me/ws".into())
    }

    #[test]
    fn joins_and_leaves_place_players_and_count_them() {
        let v = view();
        let b: Arc<str> = "b".into();
        v.apply(&b, &stamped(1, opened("b-1")));
        v.apply(&b, &stamped(2, joined("b-1", "p", 1)));
        v.apply(&b, &stamped(3, joined("b-1", "q", 2)));
        assert_eq!(v.placements("p")[0].room.as_ref(), "b-1");
        assert_eq!(v.room("b-1").unwrap().players, 2);
        v.apply(&b, &stamped(4, left("b-1", "p", 1)));
        assert!(v.placements("p").is_empty());
        assert_eq!(v.player_count(), 1);
    }

    #[test]
    fn an_older_count_never_overwrites_a_newer_one() {
        let v = view();
        let b: Arc<str> = "b".into();
        v.apply(&b, &stamped(1, opened("b-1")));
        v.apply(&b, &stamped(5, joined("b-1", "p", 3)));
        v.apply(&b, &stamped(4, joined("b-1", "q", 2)));
        assert_eq!(v.room("b-1").unwrap().players, 3);
    }

    #[test]
    fn replaying_events_after_a_snapshot_ends_in_the_latest_state() {
        let v = view();
        let b: Arc<str> = "b".into();
        // The snapshot already saw p join, leave and join again.
        v.replace_node(snapshot_of_b(3, 1, &["p"]));
        // The same events, buffered by the subscription, arrive afterwards.
        v.apply(&b, &stamped(1, joined("b-1", "p", 1)));
        v.apply(&b, &stamped(2, left("b-1", "p", 0)));
        v.apply(&b, &stamped(3, joined("b-1", "p", 1)));
        assert_eq!(v.placements("p").len(), 1);
        assert_eq!(v.room("b-1").unwrap().players, 1);
    }

    /// Node `b` as a snapshot read it: room `b-1` with `players` seated,
    /// counted by the change `seq`, and the `placed` players in it.
    fn snapshot_of_b(seq: u64, players: u32, placed: &[&str]) -> NodeState {
        let b: Arc<str> = "b".into();
        NodeState {
            node: b.clone(),
            url: "ws://b/ws".into(),
            draining: false,
            rooms: vec![(
                "b-1".into(),
                RoomRecord {
                    node: b.clone(),
                    mode: "arena".into(),
                    capacity: 8,
                    players,
                    private: false,
                    seq,
                },
            )],
            players: placed
                .iter()
                .map(|p| {
                    let placement = Placement {
                        node: b.clone(),
                        room: "b-1".into(),
                        since_ms: 1,
                    };
                    (Arc::from(*p), placement)
                })
                .collect(),
        }
    }

    #[test]
    fn a_join_replayed_after_a_snapshot_that_saw_the_leave_places_nobody() {
        let v = view();
        let b: Arc<str> = "b".into();
        // The snapshot saw churn join (seq 5) and leave (seq 6).
        v.replace_node(snapshot_of_b(6, 3, &["s0", "s1", "s2"]));
        // The join, buffered by the subscription, arrives afterwards.
        v.apply(&b, &stamped(5, joined("b-1", "churn", 4)));
        assert_eq!(v.room("b-1").unwrap().players, 3);
        assert!(v.placements("churn").is_empty());
        v.apply(&b, &stamped(6, left("b-1", "churn", 3)));
        assert!(v.placements("churn").is_empty());
    }

    #[test]
    fn a_leave_replayed_after_a_snapshot_that_saw_the_rejoin_keeps_the_player() {
        let v = view();
        let b: Arc<str> = "b".into();
        // The snapshot saw p leave (seq 5) and join again (seq 6).
        v.replace_node(snapshot_of_b(6, 1, &["p"]));
        v.apply(&b, &stamped(5, left("b-1", "p", 0)));
        assert_eq!(v.room("b-1").unwrap().players, 1);
        assert_eq!(v.placements("p").len(), 1);
    }

    #[test]
    fn a_full_snapshot_forgets_nodes_it_does_not_list_but_keeps_our_own() {
        let v = view();
        let me = v.own().clone();
        let b: Arc<str> = "b".into();
        v.apply(&me, &stamped(1, opened("me-1")));
        v.apply(&me, &stamped(2, joined("me-1", "p", 1)));
        v.apply(&b, &stamped(1, opened("b-1")));
        v.apply(&b, &stamped(2, joined("b-1", "q", 1)));
        v.replace_all(Vec::new());
        assert!(v.room("b-1").is_none());
        assert!(v.placements("q").is_empty());
        assert_eq!(v.room("me-1").unwrap().players, 1);
        assert_eq!(v.own_state().players.len(), 1);
        assert_eq!(v.url("me").as_deref(), Some("ws://me/ws"));
    }

    #[test]
    fn a_closed_room_disappears_after_its_players_left() {
        let v = view();
        let b: Arc<str> = "b".into();
        v.apply(&b, &stamped(1, opened("b-1")));
        v.apply(&b, &stamped(2, joined("b-1", "p", 1)));
        v.apply(&b, &stamped(3, left("b-1", "p", 0)));
        v.apply(
            &b,
            &stamped(
                4,
                Change::RoomClosed {
                    room: "b-1".into(),
                    moved: false,
                },
            ),
        );
        assert!(v.placements("p").is_empty());
        assert!(v.rooms().is_empty());
    }

    #[test]
    fn a_draining_node_is_offered_to_nobody_and_a_room_opened_by_another_node_moves_there() {
        let v = view();
        let (b, c): (Arc<str>, Arc<str>) = ("b".into(), "c".into());
        for (node, draining) in [(&b, true), (&c, false)] {
            v.replace_node(NodeState {
                node: node.clone(),
                url: format!("ws://{node}/ws").into(),
                draining,
                ..NodeState::default()
            });
        }
        v.apply(&b, &stamped(1, opened("b-1")));
        assert!(v.free_room_elsewhere("arena").is_none(), "b drains");
        let peers: Vec<Arc<str>> = v.peers_taking_rooms().into_iter().map(|p| p.0).collect();
        assert_eq!(peers, vec![c.clone()]);
        // b hands b-1 to c: c opens it (its own, smaller, sequence), b closes it.
        v.apply(&c, &stamped(0, opened("b-1")));
        v.apply(
            &b,
            &stamped(
                2,
                Change::RoomClosed {
                    room: "b-1".into(),
                    moved: true,
                },
            ),
        );
        assert_eq!(v.room("b-1").map(|r| r.node), Some(c.clone()));
        assert_eq!(
            v.free_room_elsewhere("arena").map(|r| r.0),
            Some("b-1".into())
        );
    }
}
