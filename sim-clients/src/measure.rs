//! What a measuring bot records from the States it decodes.
//!
//! - **Input → ack latency, corrected for coordinated omission.** Each
//!   input is remembered with the time it was *scheduled* to be sent (not
//!   when it was sent, which may be later if the bot fell behind). When a
//!   State acks sequence N — the server's last applied input for this
//!   bot's entity — every pending input ≤ N is acked at the State's arrival
//!   time, and its latency is measured from its schedule.
//! - **State jitter**: |inter-arrival − tick period| between consecutive
//!   States of the same room.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use tickforge_protocol::wire;

use crate::stats::{Stats, micros};

/// Inputs remembered while awaiting their ack; beyond it the oldest is
/// dropped and counted as unacked.
pub const MAX_PENDING: usize = 1024;

/// A measuring bot's state in its current room.
#[derive(Debug)]
pub struct Measure {
    entity: u32,
    period: Duration,
    last_state: Option<Instant>,
    pending: VecDeque<(u32, Instant)>,
}

impl Measure {
    /// Measuring for `entity` in a room ticking every `period`.
    pub fn new(entity: u32, period: Duration) -> Measure {
        Measure {
            entity,
            period,
            last_state: None,
            pending: VecDeque::with_capacity(8),
        }
    }

    /// Remembers input `seq`, scheduled at `scheduled`.
    pub fn sent(&mut self, seq: u32, scheduled: Instant, stats: &Stats) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            stats
                .inputs_unacked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.pending.push_back((seq, scheduled));
    }

    /// Forgets pending inputs (the bot left the room): they count as unacked.
    pub fn forget(&mut self, stats: &Stats) {
        if !self.pending.is_empty() {
            stats.inputs_unacked.fetch_add(
                self.pending.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            self.pending.clear();
        }
    }

    /// The ack for this bot's entity in `state`, if it is listed.
    pub fn ack_in(&self, state: &wire::State<'_>) -> Option<u32> {
        state
            .acks()?
            .iter()
            .find(|a| a.entity_id() == self.entity)
            .map(|a| a.last_input_seq())
    }

    /// A State that arrived at `now` and acks `ack`: records jitter and the
    /// latency of every input it acknowledges (while `stats` records).
    pub fn on_state(&mut self, ack: Option<u32>, now: Instant, stats: &Stats, shard: usize) {
        let previous = self.last_state.replace(now);
        let recording = stats.recording();
        let jitter = previous.map(|p| {
            let interarrival = now.saturating_duration_since(p);
            interarrival.abs_diff(self.period)
        });
        let acked = ack.map_or(0, |ack| {
            self.pending
                .iter()
                .take_while(|(seq, _)| *seq <= ack)
                .count()
        });
        if recording && (jitter.is_some() || acked > 0) {
            stats.with_histograms(shard, |h| {
                if let Some(j) = jitter {
                    h.jitter.saturating_record(micros(j));
                }
                for (_, scheduled) in self.pending.iter().take(acked) {
                    h.ack
                        .saturating_record(micros(now.saturating_duration_since(*scheduled)));
                }
            });
        }
        self.pending.drain(..acked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_settles_every_input_up_to_it_measured_from_its_schedule()
    -> Result<(), Box<dyn std::error::Error>> {
        let stats = Stats::new(1)?;
        stats.set_recording(true);
        let period = Duration::from_millis(33);
        let mut m = Measure::new(7, period);
        let t0 = Instant::now();
        for seq in 1..=3u32 {
            m.sent(seq, t0 + Duration::from_millis(10 * u64::from(seq)), &stats);
        }
        m.on_state(Some(2), t0 + Duration::from_millis(50), &stats, 0);
        m.on_state(None, t0 + Duration::from_millis(83), &stats, 0);
        m.on_state(Some(3), t0 + Duration::from_millis(120), &stats, 0);
        let h = stats.merged()?;
        assert_eq!(h.ack.len(), 3);
        // Inputs 1 and 2 acked at 50 ms: 40 and 30 ms; input 3 at 120 ms: 90 ms.
        assert!(h.ack.equivalent(h.ack.min(), 30_000));
        assert!(h.ack.equivalent(h.ack.max(), 90_000));
        // Inter-arrivals 33 and 37 ms against a 33 ms period: 0 and 4 ms.
        assert_eq!(h.jitter.len(), 2);
        assert!(h.jitter.equivalent(h.jitter.max(), 4_000));
        Ok(())
    }

    #[test]
    fn nothing_is_recorded_outside_the_window_and_left_inputs_count_as_unacked()
    -> Result<(), Box<dyn std::error::Error>> {
        let stats = Stats::new(1)?;
        let mut m = Measure::new(1, Duration::from_millis(33));
        let t0 = Instant::now();
        m.sent(1, t0, &stats);
        m.on_state(Some(1), t0, &stats, 0);
        m.sent(2, t0, &stats);
        m.forget(&stats);
        assert_eq!(stats.merged()?.ack.len(), 0);
        assert_eq!(
            stats
                .inputs_unacked
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        Ok(())
    }
}
