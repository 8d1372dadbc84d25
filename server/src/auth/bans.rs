//! Player bans: a banned player id is refused at Hello (close code 4004,
//! reason `banned`) until the ban ends. Bans are set from the admin
//! listener; with Redis presence they are shared by every node.

use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Most bans held at once; the oldest expired ones are dropped first, and a
/// ban past the limit is refused (counted) rather than growing the map.
pub const MAX_BANS: usize = 100_000;

/// Bans by player id, each with its end.
#[derive(Default)]
pub struct Bans {
    until: DashMap<String, Instant>,
}

/// Too many bans are held.
#[derive(Debug, thiserror::Error)]
#[error("ban list full ({MAX_BANS} players)")]
pub struct BansFull;

impl Bans {
    /// Bans `player` for `duration` (replacing any earlier ban).
    pub fn ban(&self, player: &str, duration: Duration) -> Result<(), BansFull> {
        if self.until.len() >= MAX_BANS && !self.until.contains_key(player) {
            let now = Instant::now();
            self.until.retain(|_, end| *end > now);
            if self.until.len() >= MAX_BANS {
                return Err(BansFull);
            }
        }
        self.until
            .insert(player.to_string(), Instant::now() + duration);
        Ok(())
    }

    /// Bans `player` until `until_ms` (Unix milliseconds; a ban taken on
    /// another node).
    pub fn ban_until(&self, player: &str, until_ms: u64) -> Result<(), BansFull> {
        let now_ms = crate::clock::now_micros() / 1000;
        self.ban(
            player,
            Duration::from_millis(until_ms.saturating_sub(now_ms)),
        )
    }

    /// Lifts `player`'s ban; true if there was one.
    pub fn unban(&self, player: &str) -> bool {
        self.until.remove(player).is_some()
    }

    /// True while `player` is banned.
    pub fn is_banned(&self, player: &str) -> bool {
        let now = Instant::now();
        match self.until.get(player).map(|end| *end) {
            Some(end) if end > now => true,
            Some(_) => {
                self.until.remove_if(player, |_, end| *end <= now);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_ends_when_its_time_is_up() {
        let bans = Bans::default();
        assert!(bans.ban("alice", Duration::from_secs(60)).is_ok());
        assert!(bans.ban("bob", Duration::ZERO).is_ok());
        assert!(bans.is_banned("alice"));
        assert!(!bans.is_banned("bob"));
        assert!(bans.unban("alice"));
        assert!(!bans.is_banned("alice"));
    }
}
