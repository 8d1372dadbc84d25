//! The writer's memory: per player, the newest snapshot not yet durable —
//! either dirty (waiting for a flush) or in flight (sent, not confirmed).
//! Latest wins: an older snapshot never replaces a newer one. Size is
//! bounded by the number of distinct players with something unwritten.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::Snapshot;

struct Entry {
    snapshot: Snapshot,
    /// When the oldest unwritten change of this player arrived.
    since: Instant,
}

/// Dirty and in-flight snapshots, one per player in each.
#[derive(Default)]
pub(crate) struct Pending {
    dirty: HashMap<Arc<str>, Entry>,
    in_flight: HashMap<Arc<str>, Entry>,
}

/// One write request's rows (all of one partition).
pub(crate) type Group = Vec<Snapshot>;

impl Pending {
    /// Records a snapshot; returns whether it was newer than what was held.
    pub(crate) fn offer(&mut self, snapshot: Snapshot, now: Instant) -> bool {
        let key = snapshot.player_id.clone();
        let newest = self
            .dirty
            .get(&key)
            .or_else(|| self.in_flight.get(&key))
            .map(|e| &e.snapshot);
        if newest.is_some_and(|held| !snapshot.is_newer_than(held)) {
            return false;
        }
        let since = self
            .dirty
            .get(&key)
            .map_or(now, |e| e.since)
            .min(self.in_flight.get(&key).map_or(now, |e| e.since));
        self.dirty.insert(key, Entry { snapshot, since });
        true
    }

    /// Players with a dirty snapshot.
    pub(crate) fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    /// Distinct players with anything unwritten (dirty or in flight).
    pub(crate) fn players(&self) -> usize {
        self.dirty.len()
            + self
                .in_flight
                .keys()
                .filter(|k| !self.dirty.contains_key(*k))
                .count()
    }

    /// Whether nothing is unwritten.
    pub(crate) fn is_empty(&self) -> bool {
        self.dirty.is_empty() && self.in_flight.is_empty()
    }

    /// The newest unwritten snapshot of `player`.
    pub(crate) fn latest(&self, player: &str) -> Option<Snapshot> {
        self.dirty
            .get(player)
            .or_else(|| self.in_flight.get(player))
            .map(|e| e.snapshot.clone())
    }

    /// When the oldest unwritten change arrived.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.dirty
            .values()
            .chain(self.in_flight.values())
            .map(|e| e.since)
            .min()
    }

    /// Moves up to `groups` write requests' worth of dirty snapshots in
    /// flight: grouped by `partition`, at most `rows` rows and about
    /// `bytes` bytes of state per group. A player already in flight stays
    /// dirty until that write ends (one write per player at a time).
    pub(crate) fn take(
        &mut self,
        groups: usize,
        rows: usize,
        bytes: usize,
        partition: impl Fn(&str) -> u32,
    ) -> Vec<Group> {
        let budget = groups.saturating_mul(rows);
        let keys: Vec<Arc<str>> = self
            .dirty
            .keys()
            .filter(|k| !self.in_flight.contains_key(*k))
            .take(budget)
            .cloned()
            .collect();
        let mut by_partition: HashMap<u32, Vec<Entry>> = HashMap::new();
        for key in keys {
            if let Some(entry) = self.dirty.remove(&key) {
                by_partition.entry(partition(&key)).or_default().push(entry);
            }
        }
        let mut out: Vec<Group> = Vec::new();
        for (_, entries) in by_partition {
            let mut group: Group = Vec::new();
            let mut size = 0;
            for entry in entries {
                let len = entry.snapshot.state.len() + entry.snapshot.player_id.len() + 64;
                if !group.is_empty() && (group.len() >= rows || size + len > bytes) {
                    out.push(std::mem::take(&mut group));
                    size = 0;
                }
                size += len;
                group.push(entry.snapshot.clone());
                self.in_flight
                    .insert(entry.snapshot.player_id.clone(), entry);
            }
            if !group.is_empty() {
                out.push(group);
            }
        }
        // Groups beyond the budget go back to dirty (a partition may have
        // been split into more groups than there are request slots).
        while out.len() > groups {
            if let Some(group) = out.pop() {
                self.failed(group);
            }
        }
        out
    }

    /// A write succeeded: those rows are durable.
    pub(crate) fn written(&mut self, rows: &[Snapshot]) {
        for row in rows {
            if self
                .in_flight
                .get(&row.player_id)
                .is_some_and(|e| e.snapshot.version == row.version)
            {
                self.in_flight.remove(&row.player_id);
            }
        }
    }

    /// A write failed: its rows are dirty again unless a newer snapshot
    /// arrived meanwhile.
    pub(crate) fn failed(&mut self, rows: Vec<Snapshot>) {
        for row in rows {
            let Some(entry) = self.in_flight.remove(&row.player_id) else {
                continue;
            };
            match self.dirty.get_mut(&row.player_id) {
                Some(newer) => newer.since = newer.since.min(entry.since),
                None => {
                    self.dirty.insert(row.player_id.clone(), entry);
                }
            }
        }
    }

    /// Everything unwritten, newest per player (for the spill file).
    pub(crate) fn drain_all(&mut self) -> Vec<Snapshot> {
        let mut all: HashMap<Arc<str>, Snapshot> = self
            .in_flight
            .drain()
            .map(|(k, e)| (k, e.snapshot))
            .collect();
        for (key, entry) in self.dirty.drain() {
            all.insert(key, entry.snapshot);
        }
        all.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn snap(player: &str, version: u64) -> Snapshot {
        Snapshot {
            player_id: Arc::from(player),
            room_id: Arc::from("r"),
            version,
            captured_us: 1000 + version,
            state: Bytes::from(vec![0u8; 10]),
            expires_us: None,
        }
    }

    #[test]
    fn the_latest_snapshot_of_a_player_wins_and_older_ones_are_ignored() {
        let mut p = Pending::default();
        let now = Instant::now();
        assert!(p.offer(snap("a", 1), now));
        assert!(p.offer(snap("a", 3), now));
        assert!(!p.offer(snap("a", 2), now), "older than held");
        assert_eq!(p.players(), 1);
        assert_eq!(p.latest("a").map(|s| s.version), Some(3));
    }

    #[test]
    fn a_failed_write_comes_back_unless_something_newer_arrived() {
        let mut p = Pending::default();
        let now = Instant::now();
        p.offer(snap("a", 1), now);
        p.offer(snap("b", 1), now);
        let groups = p.take(4, 10, 1 << 20, |_| 0);
        assert_eq!(groups.len(), 1);
        assert_eq!(p.dirty_len(), 0);
        assert_eq!(
            p.latest("a").map(|s| s.version),
            Some(1),
            "in flight is visible"
        );
        p.offer(snap("a", 2), now);
        p.failed(groups.into_iter().flatten().collect());
        assert_eq!(p.latest("a").map(|s| s.version), Some(2));
        assert_eq!(p.latest("b").map(|s| s.version), Some(1));
        assert_eq!(p.players(), 2);
        let groups = p.take(4, 10, 1 << 20, |_| 0);
        p.written(&groups.concat());
        assert!(p.is_empty());
    }

    #[test]
    fn groups_hold_one_partition_and_respect_row_and_byte_limits() {
        let mut p = Pending::default();
        let now = Instant::now();
        for i in 0..25 {
            p.offer(snap(&format!("p{i}"), 1), now);
        }
        let part = |k: &str| u32::from(k.len() == 2);
        let groups = p.take(100, 4, 1 << 20, part);
        for g in &groups {
            assert!(g.len() <= 4);
            assert!(
                g.iter()
                    .all(|s| part(&s.player_id) == part(&g[0].player_id))
            );
        }
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 25);
        let mut p = Pending::default();
        for i in 0..10 {
            p.offer(snap(&format!("p{i}"), 1), now);
        }
        let groups = p.take(100, 100, 200, |_| 0);
        assert!(groups.iter().all(|g| g.len() <= 2), "about 76 bytes each");
        let mut p = Pending::default();
        for i in 0..10 {
            p.offer(snap(&format!("p{i}"), 1), now);
        }
        let groups = p.take(2, 3, 1 << 20, |_| 0);
        assert_eq!(groups.len(), 2, "no more groups than request slots");
        assert_eq!(p.dirty_len(), 4);
        assert_eq!(p.players(), 10);
    }

    #[test]
    fn a_player_in_flight_is_not_sent_twice_at_once() {
        let mut p = Pending::default();
        let now = Instant::now();
        p.offer(snap("a", 1), now);
        let first = p.take(4, 10, 1 << 20, |_| 0);
        p.offer(snap("a", 2), now);
        assert!(p.take(4, 10, 1 << 20, |_| 0).is_empty());
        p.written(&first.concat());
        assert_eq!(p.latest("a").map(|s| s.version), Some(2));
        let second = p.take(4, 10, 1 << 20, |_| 0);
        assert_eq!(second.concat()[0].version, 2);
        let spilled = p.drain_all();
        assert_eq!(spilled.len(), 1);
    }
}
