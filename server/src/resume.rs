//! The node's resume registry: which seat a resume key names.
//!
//! A *resume key* is what a resume token binds to: the id of the node that
//! issued the token and the session id there. Every seated member of a
//! room on this node has an entry while resume is on (`--resume-grace` >
//! 0): the room writes it when the member is seated (or resumed) and
//! removes it when the member leaves. An entry is *live* while the
//! member's session is connected, *away* once the session dropped and the
//! room holds the seat.
//!
//! Taking an entry ([`ResumeRegistry::take`]) is the one decision point
//! between a resume and the end of a grace period: whoever removes the
//! entry owns the seat. The room only ends a held seat after it removed
//! the entry itself ([`ResumeRegistry::release`]); if a resume removed it
//! first, the room waits for that resume's request in its control queue.
//! Keys issued by another node (a room handed over in a drain) register
//! the same way, so the registry is not tied to this node's sessions.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::net::kick::Kick;
use crate::room::{RoomHandle, SessionId};

/// The seat a resume token names: issuing node and session id there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResumeKey {
    /// Id of the node that issued the token.
    pub node: Arc<str>,
    /// The session id on that node.
    pub session: SessionId,
}

/// A seat that a resume key can take.
pub struct ResumeEntry {
    /// The room holding the seat.
    pub room: RoomHandle,
    /// The seated player (a resume token's subject must equal it).
    pub player: Arc<str>,
    /// The member's session while it is connected (`None` once away): a
    /// resume that takes a live entry closes that session at once.
    pub live: Option<Arc<Kick>>,
}

/// Resume keys of the seats on this node.
pub struct ResumeRegistry {
    own: Arc<str>,
    grace: Duration,
    seats: DashMap<ResumeKey, ResumeEntry>,
    /// The held (away) seat of each player, so a newer login, a kick or a
    /// ban ends it at once.
    away: DashMap<Arc<str>, ResumeKey>,
}

impl ResumeRegistry {
    /// An empty registry for node `own`; `grace` of zero turns resume off.
    pub fn new(own: impl Into<Arc<str>>, grace: Duration) -> ResumeRegistry {
        ResumeRegistry {
            own: own.into(),
            grace,
            seats: DashMap::new(),
            away: DashMap::new(),
        }
    }

    /// Whether seats are held after a drop (`--resume-grace` > 0).
    pub fn enabled(&self) -> bool {
        !self.grace.is_zero()
    }

    /// How long a dropped member's seat is held.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// This node's id (the `node` of the tokens it issues).
    pub fn own(&self) -> &Arc<str> {
        &self.own
    }

    /// The key of `session` on this node.
    pub fn own_key(&self, session: SessionId) -> ResumeKey {
        ResumeKey {
            node: self.own.clone(),
            session,
        }
    }

    /// Records a seated member (live).
    pub fn seat(&self, key: ResumeKey, room: RoomHandle, player: Arc<str>, kick: Arc<Kick>) {
        self.seats.insert(
            key,
            ResumeEntry {
                room,
                player,
                live: Some(kick),
            },
        );
    }

    /// The member's session dropped; its seat is held.
    pub fn mark_away(&self, key: &ResumeKey) {
        let player = match self.seats.get_mut(key) {
            Some(mut entry) => {
                entry.live = None;
                entry.player.clone()
            }
            None => return,
        };
        self.away.insert(player, key.clone());
    }

    /// Takes the seat `key` names if `player` sits there: the caller now
    /// owns it and must hand it a resume request (or [`Self::restore`] it).
    pub fn take(&self, key: &ResumeKey, player: &str) -> Option<ResumeEntry> {
        let (_, entry) = self
            .seats
            .remove_if(key, |_, entry| &*entry.player == player)?;
        self.away.remove_if(player, |_, k| k == key);
        Some(entry)
    }

    /// Puts back an entry taken with [`Self::take`] that could not be used.
    pub fn restore(&self, key: ResumeKey, entry: ResumeEntry) {
        if entry.live.is_none() {
            self.away.insert(entry.player.clone(), key.clone());
        }
        self.seats.insert(key, entry);
    }

    /// Removes `key`; false when it was not there (a resume took it).
    pub fn release(&self, key: &ResumeKey) -> bool {
        match self.seats.remove(key) {
            Some((_, entry)) => {
                self.away.remove_if(&entry.player, |_, k| k == key);
                true
            }
            None => false,
        }
    }

    /// Ends `player`'s held seat on this node now, if one is held (a newer
    /// login that does not resume, a kick, a ban): its room treats it as
    /// an ordinary leave. True when one was held.
    pub fn end_held(&self, player: &str) -> bool {
        let Some(key) = self.away.get(player).map(|k| k.value().clone()) else {
            return false;
        };
        let Some(entry) = self.take(&key, player) else {
            return false;
        };
        if entry.room.end_hold(key.clone()).is_err() {
            // The room's queue is full: the grace ends it instead.
            self.restore(key, entry);
            return false;
        }
        true
    }

    /// Whether `key` still has an entry.
    pub fn contains(&self, key: &ResumeKey) -> bool {
        self.seats.contains_key(key)
    }

    /// Entries (seated members with resume on).
    pub fn len(&self) -> usize {
        self.seats.len()
    }

    /// True when no member is registered.
    pub fn is_empty(&self) -> bool {
        self.seats.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{GameParams, Mode, arena};

    fn room() -> RoomHandle {
        let mode = Mode {
            name: Arc::from("arena"),
            kind: arena::KIND,
            params: GameParams {
                capacity: 4,
                tick_rate_hz: 30,
            },
        };
        RoomHandle::create(Arc::from("r"), &mode, 0, 4, false).0
    }

    #[test]
    fn whoever_takes_the_entry_first_owns_the_seat() {
        let registry = ResumeRegistry::new("n", Duration::from_secs(15));
        let key = registry.own_key(7);
        registry.seat(key.clone(), room(), Arc::from("alice"), Arc::default());
        assert!(
            registry.take(&key, "mallory").is_none(),
            "another player's token"
        );
        let taken = registry.take(&key, "alice");
        assert!(
            taken.is_some_and(|e| e.live.is_some()),
            "a live (half-open) seat"
        );
        assert!(!registry.release(&key), "the grace cannot end a taken seat");
        assert!(
            registry.take(&key, "alice").is_none(),
            "a token takes a seat once"
        );
    }

    #[test]
    fn only_a_held_seat_is_ended_by_a_newer_login_and_the_index_follows_the_entries() {
        let registry = ResumeRegistry::new("n", Duration::from_secs(15));
        let key = registry.own_key(1);
        registry.seat(key.clone(), room(), Arc::from("bob"), Arc::default());
        assert!(
            !registry.end_held("bob"),
            "a live seat is the session's business"
        );
        registry.mark_away(&key);
        assert!(registry.end_held("bob"));
        assert!(registry.is_empty());
        assert!(!registry.end_held("bob"));

        registry.seat(key.clone(), room(), Arc::from("bob"), Arc::default());
        registry.mark_away(&key);
        assert!(registry.release(&key));
        assert!(!registry.end_held("bob"), "released seats leave the index");
    }
}
