//! Replicated state for the `tickforge.v2` members of a room whose game
//! opts into replication ([`crate::game::Game::replication`]): each tick the
//! game's entities are diffed per cell and every changed cell's delta (and
//! a cell's keyframe, when a member needs it) is encoded once; a member's
//! message is its small own part followed by the shared segments of the
//! cells around its entity (wire format: `protocol/schema/replication.fbs`).
//! `tickforge.v1` members of the same room still get the full State.

use std::sync::Arc;
use std::thread::ThreadId;

use bytes::Bytes;
use flatbuffers::FlatBufferBuilder;
use tickforge_protocol::replication::message::{self, MemberPart};
use tickforge_protocol::replication::{Cell, Entity, Grid, Replicator};

use super::{Delivery, Room};
use crate::game::{EntityId, Game};
use crate::metrics::{DeliveryTally, OutKind};
use crate::net::wire::WireFrame;
use crate::room::outbox::{OutboxSender, SendError};

/// The room's replication state: last tick's cells, this tick's segments.
pub(super) struct Replication {
    replicator: Replicator,
    entities: Vec<Entity>,
    segments: Vec<Bytes>,
    member_part: FlatBufferBuilder<'static>,
}

impl Replication {
    pub(super) fn new(grid: Grid) -> Replication {
        Replication {
            replicator: Replicator::new(grid),
            entities: Vec::new(),
            segments: Vec::new(),
            member_part: FlatBufferBuilder::with_capacity(64),
        }
    }

    /// The view radius announced in a v2 member's Joined.
    pub(super) fn view_radius(&self) -> u16 {
        self.replicator.grid().view_radius
    }

    /// Takes the game's entities of `tick` and encodes the changed cells.
    fn update(&mut self, game: &dyn Game, tick: u64, now_us: u64) {
        self.entities.clear();
        game.replicate(&mut self.entities);
        self.entities.sort_unstable_by_key(|e| e.id);
        self.replicator
            .update(tick, now_us, self.entities.iter().copied());
    }

    /// Hands one member its message for this tick: its part, then the
    /// segments of the cells around its entity (keyframes for the cells it
    /// did not hold: `held` is `None` after a Joined).
    fn send(
        &mut self,
        outbox: &OutboxSender,
        entity: EntityId,
        last_input_seq: u32,
        held: &mut Option<Cell>,
        thread: ThreadId,
        tally: &mut DeliveryTally,
    ) -> Result<usize, SendError> {
        let center = match self.entities.binary_search_by_key(&entity, |e| e.id) {
            Ok(i) => self.replicator.cell_of(&self.entities[i]),
            // A game that does not replicate this player's entity: the
            // member keeps looking where it looked.
            Err(_) => held.unwrap_or(Cell { x: 0, y: 0 }),
        };
        self.segments.clear();
        self.replicator
            .segments_for(held, center, &mut self.segments);
        message::encode_view(
            &mut self.member_part,
            MemberPart {
                last_input_seq,
                center,
            },
        );
        send_assembled(
            outbox,
            self.member_part.finished_data(),
            &self.segments,
            thread,
            tally,
        )
    }
}

/// Delivers one member's interest state message and returns its length:
/// the member's part as the frame's small owned piece and the cells'
/// segments shared (reference counts, no copy), through the same direct
/// write path as State ([`crate::room::outbox::OutboxSender::deliver`]).
fn send_assembled(
    outbox: &OutboxSender,
    member_part: &[u8],
    segments: &[Bytes],
    thread: ThreadId,
    tally: &mut DeliveryTally,
) -> Result<usize, SendError> {
    let frame = WireFrame::binary_parts(member_part, Arc::from(segments)).unwrap_or_else(|_| {
        // A member part longer than a frame's owned piece (not produced by
        // today's schema; a unit test holds it): one copy instead.
        WireFrame::binary(message::concat(member_part, segments))
    });
    let len = frame.len();
    let path = outbox.deliver(&frame, thread)?;
    tally.add(path);
    Ok(len)
}

impl Room {
    /// After the game stepped: encodes the tick's cells once and sends each
    /// v2 member (not away) its message. Does nothing in a room whose game
    /// does not replicate.
    pub(super) fn fan_out_interest(&mut self, tick: u64, now_us: u64) {
        let Some(replication) = self.replication.as_mut() else {
            return;
        };
        replication.update(&*self.game, tick, now_us);
        let (mut i, mut delivered, mut bytes) = (0, 0, 0);
        let thread = std::thread::current().id();
        let mut tally = DeliveryTally::default();
        while i < self.members.len() {
            let member = &mut self.members[i];
            if member.away_until.is_some() || !member.interest {
                i += 1;
                continue;
            }
            let Some(replication) = self.replication.as_mut() else {
                return;
            };
            let sent = replication.send(
                &member.outbox,
                member.entity,
                member.last_seq,
                &mut member.held,
                thread,
                &mut tally,
            );
            if let Ok(len) = sent {
                bytes += len as u64;
            }
            match self.delivered(i, sent.map(|_| ())) {
                Delivery::Delivered => {
                    delivered += 1;
                    i += 1;
                }
                Delivery::Held => i += 1,
                Delivery::Removed => {}
            }
        }
        self.settings
            .metrics
            .sent_total(OutKind::State, bytes, delivered);
        self.settings.metrics.deliveries.record(&tally);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::MAX_PREFIX;

    #[test]
    fn a_member_part_fits_in_a_frames_owned_piece() {
        let mut fbb = FlatBufferBuilder::with_capacity(64);
        message::encode_view(
            &mut fbb,
            MemberPart {
                last_input_seq: u32::MAX,
                center: Cell {
                    x: u16::MAX,
                    y: u16::MAX,
                },
            },
        );
        let part = fbb.finished_data();
        assert!(part.len() <= 32, "{} bytes", part.len());
        assert!(part.len() <= MAX_PREFIX, "{} bytes", part.len());
        let frame = WireFrame::binary_parts(part, Arc::from(&[Bytes::from_static(b"cells")][..]));
        assert!(frame.is_ok(), "written without a copy");
    }
}
