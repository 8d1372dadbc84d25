//! One live session per player on this node: a new authenticated session
//! for a player closes the old one (close code 4005, `replaced`), and an
//! operator's kick or ban closes it (4006, 4004). The old session then
//! leaves its room as any closing session does: its final snapshot is
//! handed to the writer and its claim released, and the new session's
//! JoinRoom waits for that claim, so it loads the latest saved state.

use std::sync::Arc;

use dashmap::DashMap;

use crate::net::close::Disconnect;
use crate::net::kick::Kick;
use crate::room::SessionId;

/// The live session of every player connected to this node.
#[derive(Default)]
pub struct LiveSessions {
    by_player: DashMap<Arc<str>, Live>,
}

/// A live session: its id, how to close it, when it logged in (Unix µs).
struct Live {
    session: SessionId,
    kick: Arc<Kick>,
    since_us: u64,
}

impl LiveSessions {
    /// Records `session` as `player`'s live session; a previous one is told
    /// to close with `replaced`. Returns true when one was replaced.
    pub fn claim(
        &self,
        player: &Arc<str>,
        session: SessionId,
        kick: &Arc<Kick>,
        since_us: u64,
    ) -> bool {
        let live = Live {
            session,
            kick: kick.clone(),
            since_us,
        };
        match self.by_player.insert(player.clone(), live) {
            Some(old) if old.session != session => {
                old.kick.kick(Disconnect::Replaced);
                true
            }
            _ => false,
        }
    }

    /// Closes `player`'s session here with `replaced` if it logged in
    /// before `at_us` (a newer login on another node); true if it did.
    pub fn replace_if_older(&self, player: &str, at_us: u64) -> bool {
        match self.by_player.get(player) {
            Some(live) if live.since_us < at_us => {
                live.kick.kick(Disconnect::Replaced);
                true
            }
            _ => false,
        }
    }

    /// Forgets `session` as `player`'s live session (if it still is).
    pub fn release(&self, player: &str, session: SessionId) {
        self.by_player
            .remove_if(player, |_, live| live.session == session);
    }

    /// Closes `player`'s live session with `cause`; false if none is here.
    pub fn close(&self, player: &str, cause: Disconnect) -> bool {
        match self.by_player.get(player) {
            Some(live) => {
                live.kick.kick(cause);
                true
            }
            None => false,
        }
    }

    /// Number of players with a live session here.
    pub fn len(&self) -> usize {
        self.by_player.len()
    }

    /// True when no player has a live session here.
    pub fn is_empty(&self) -> bool {
        self.by_player.is_empty()
    }
}
