//! Player snapshots inside a room: each member's snapshot state (version,
//! last capture time, the bytes last handed over, the player's claim), and
//! the capture itself. Capturing costs one `save_player` per member per
//! `--snapshot-interval-ms` and a non-blocking hand-over; the room never
//! waits on persistence. A guest's snapshots expire `--guest-ttl` after
//! their capture.

use std::sync::Arc;

use bytes::Bytes;

use crate::clock;
use crate::game::{EntityId, Game};
use crate::persist::{PlayerClaim, Snapshot, WriteBehindHandle};

/// One member's snapshot state.
pub(crate) struct MemberSnapshot {
    version: u64,
    captured_us: u64,
    last: Option<Bytes>,
    /// Released (dropped) only after the final snapshot is handed over.
    claim: Option<PlayerClaim>,
    /// A guest: every snapshot carries an expiry.
    guest: bool,
}

impl MemberSnapshot {
    /// State of a member that joined with `saved` (its last snapshot);
    /// `guest` from the session's identity.
    pub(crate) fn new(
        saved: Option<&Snapshot>,
        claim: Option<PlayerClaim>,
        guest: bool,
    ) -> MemberSnapshot {
        MemberSnapshot {
            version: saved.map_or(0, |s| s.version),
            captured_us: saved.map_or(0, |s| s.captured_us),
            last: saved.map(|s| s.state.clone()),
            claim,
            guest,
        }
    }

    /// Version of the newest snapshot of the player: loaded, or handed to
    /// the writer since (0: none).
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// When the newest snapshot was captured, Unix microseconds (0: none).
    pub(crate) fn captured_us(&self) -> u64 {
        self.captured_us
    }

    /// The state of the newest snapshot.
    pub(crate) fn last(&self) -> Option<&Bytes> {
        self.last.as_ref()
    }

    /// Whether the player is a guest.
    pub(crate) fn guest(&self) -> bool {
        self.guest
    }

    /// Captures the member's saved state and hands it to `sink` when it
    /// changed since the last capture (or since it was loaded). A final
    /// capture (the player leaves) whose state is unchanged writes nothing
    /// and is counted; after it the claim is released.
    pub(crate) fn capture(
        &mut self,
        sink: &WriteBehindHandle,
        game: &dyn Game,
        entity: EntityId,
        player_id: &Arc<str>,
        room_id: &Arc<str>,
        final_one: bool,
    ) {
        if let Some(state) = game.save_player(entity) {
            let changed = self.last.as_deref() != Some(state.as_slice());
            if !changed && final_one {
                sink.unchanged_on_leave();
            }
            if changed {
                let state = Bytes::from(state);
                self.version += 1;
                self.captured_us = clock::now_micros().max(self.captured_us + 1);
                let ttl_us = u64::try_from(sink.guest_ttl().as_micros()).unwrap_or(u64::MAX);
                sink.offer(Snapshot {
                    player_id: player_id.clone(),
                    room_id: room_id.clone(),
                    version: self.version,
                    captured_us: self.captured_us,
                    state: state.clone(),
                    expires_us: self.guest.then(|| self.captured_us.saturating_add(ttl_us)),
                });
                self.last = Some(state);
            }
        }
        if final_one {
            self.claim = None;
        }
    }
}
