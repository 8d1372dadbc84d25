//! Shards: one OS thread each, optionally pinned to a core, running its own
//! current-thread tokio runtime and its own `SO_REUSEPORT` listener.
//!
//! A connection lives its whole life on the shard that accepted it, and so do
//! the rooms that shard creates: their state is only touched from that
//! thread. [`ShardHandle`] is the thread-safe side used to place rooms on a
//! shard and to read its load.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

use crate::metrics::ShardMetrics;

/// Thread-safe handle to a running shard.
#[derive(Clone)]
pub struct ShardHandle {
    /// Shard index, `0..shards`.
    pub id: usize,
    /// The shard's runtime; tasks spawned here run on the shard's thread.
    pub runtime: Handle,
    /// The shard's metric handles and load counters.
    pub metrics: Arc<ShardMetrics>,
    /// Sessions and rooms running on the shard; shutdown waits for them.
    pub tasks: TaskTracker,
}

/// Chooses the shard for a new room: `own` unless it is clearly busier than
/// the least loaded shard (more players by `imbalance_pct` percent and by
/// at least `room_size`), in which case the least loaded one.
pub fn place(shards: &[ShardHandle], own: usize, imbalance_pct: u32, room_size: u16) -> usize {
    let Some(least) = shards.iter().min_by_key(|s| s.metrics.players()) else {
        return own;
    };
    let own_load = shards.get(own).map_or(0, |s| s.metrics.players());
    let least_load = least.metrics.players();
    let margin = (least_load * i64::from(imbalance_pct) / 100).max(i64::from(room_size));
    if own_load > least_load + margin {
        least.id
    } else {
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(players: &[i64]) -> (tokio::runtime::Runtime, Vec<ShardHandle>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let handles = players
            .iter()
            .enumerate()
            .map(|(id, p)| {
                let metrics = Arc::new(ShardMetrics::new(id, std::time::Duration::from_millis(1)));
                metrics.add_players(*p);
                ShardHandle {
                    id,
                    runtime: rt.handle().clone(),
                    metrics,
                    tasks: TaskTracker::new(),
                }
            })
            .collect();
        (rt, handles)
    }

    #[test]
    fn new_rooms_stay_on_the_own_shard_unless_it_is_clearly_busier() {
        let (_rt, s) = shards(&[40, 20]);
        assert_eq!(
            place(&s, 0, 50, 32),
            0,
            "8 more players is not clearly busier"
        );
        let (_rt, s) = shards(&[200, 20]);
        assert_eq!(place(&s, 0, 50, 32), 1);
        let (_rt, s) = shards(&[0, 0]);
        assert_eq!(place(&s, 1, 50, 32), 1);
    }
}
