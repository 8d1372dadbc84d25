//! The snapshot versions players had when they left a room of another node,
//! kept for a short while: a node a player joins next must load at least
//! that version, even when the other node's writer has not yet put it in
//! the shared store (a replaced login moving between nodes).
//!
//! Bounded: entries older than [`KEEP`] are dropped, and at most
//! [`MAX_ENTRIES`] players are remembered (past it, the oldest go first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// How long a departure is remembered: longer than any snapshot load
/// timeout, so a join that follows the leave always finds it.
pub const KEEP: Duration = Duration::from_secs(60);
/// Most players remembered at once.
pub const MAX_ENTRIES: usize = 65_536;

/// Player → (snapshot version at the leave, when it was seen).
#[derive(Debug, Default)]
pub struct Departed {
    versions: DashMap<Arc<str>, (u64, Instant)>,
}

impl Departed {
    /// Remembers that `player` left another node with snapshot `version`.
    pub fn note(&self, player: &Arc<str>, version: u64) {
        let now = Instant::now();
        if self.versions.len() >= MAX_ENTRIES {
            self.versions
                .retain(|_, (_, seen)| now.duration_since(*seen) < KEEP);
            if self.versions.len() >= MAX_ENTRIES {
                self.drop_oldest();
            }
        }
        self.versions
            .entry(player.clone())
            .and_modify(|(v, seen)| {
                *v = (*v).max(version);
                *seen = now;
            })
            .or_insert((version, now));
    }

    /// The newest version `player` left another node with, within [`KEEP`];
    /// 0 when none is known.
    pub fn version(&self, player: &str) -> u64 {
        self.versions
            .get(player)
            .filter(|e| e.1.elapsed() < KEEP)
            .map_or(0, |e| e.0)
    }

    fn drop_oldest(&self) {
        let oldest = self
            .versions
            .iter()
            .min_by_key(|e| e.value().1)
            .map(|e| e.key().clone());
        if let Some(player) = oldest {
            self.versions.remove(&player);
        }
    }

    /// Players remembered.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether no player is remembered.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_of_a_departure_is_remembered() {
        let d = Departed::default();
        let p: Arc<str> = "alice".into();
        assert_eq!(d.version("alice"), 0);
        d.note(&p, 7);
        d.note(&p, 5);
        assert_eq!(d.version("alice"), 7);
        assert_eq!(d.version("bob"), 0);
    }

    #[test]
    fn memory_stays_bounded() {
        let d = Departed::default();
        for i in 0..MAX_ENTRIES + 10 {
            d.note(&Arc::from(format!("p{i}").as_str()), 1);
        }
        assert!(d.len() <= MAX_ENTRIES);
        assert_eq!(d.version(&format!("p{}", MAX_ENTRIES + 9)), 1);
    }
}
