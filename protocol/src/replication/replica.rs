//! The client side of replication: applies interest state messages and
//! holds the quantised entities of the member's interest area.

use std::collections::HashMap;

use super::message::{self, MemberPart};
use super::{Cell, Entity, ReplicaError};
use crate::generated::replication_generated::tickforge::v_2 as rep;

/// What one applied message said besides the entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The tick of the state now held.
    pub tick: u64,
    /// The server's clock at that tick, in µs since the UNIX epoch.
    pub server_time_us: u64,
    /// The member's ack and view centre.
    pub member: MemberPart,
}

/// The member's copy of its interest area: entities per held cell.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    radius: u16,
    cells: HashMap<Cell, Vec<Entity>>,
}

impl Replica {
    /// An empty replica for a member with view radius `radius` cells
    /// (`Joined.view_radius_cells`). Create a new one after every Joined.
    pub fn new(radius: u16) -> Replica {
        Replica {
            radius,
            cells: HashMap::new(),
        }
    }

    /// Verifies and applies one interest state message. On an error the
    /// replica is no longer trustworthy: the connection should be closed.
    pub fn apply(&mut self, frame: &[u8]) -> Result<Applied, ReplicaError> {
        let parsed = message::parse(frame)?;
        let center = parsed.member.center;
        for seg in &parsed.cells {
            let cell = Cell::unpack(seg.cell().unwrap_or_default());
            if !cell.within(center, self.radius) {
                return Err(ReplicaError::OutsideView);
            }
            if seg.keyframe() {
                let entities = self.cells.entry(cell).or_default();
                entities.clear();
                entities.extend(seg.spawned().iter().flatten().map(entity));
                entities.sort_unstable_by_key(|e| e.id);
            } else {
                let entities = self.cells.get_mut(&cell).ok_or(ReplicaError::NoBase)?;
                apply_delta(entities, seg)?;
            }
        }
        let radius = self.radius;
        self.cells.retain(|cell, _| cell.within(center, radius));
        Ok(Applied {
            tick: parsed.tick,
            server_time_us: parsed.server_time_us,
            member: parsed.member,
        })
    }

    /// Every entity held, sorted by id.
    pub fn entities(&self) -> Vec<Entity> {
        let mut out: Vec<Entity> = self.cells.values().flatten().copied().collect();
        out.sort_unstable_by_key(|e| e.id);
        out
    }

    /// The cells held.
    pub fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        self.cells.keys().copied()
    }
}

fn entity(e: &rep::RepEntity) -> Entity {
    Entity {
        id: e.id(),
        x: e.x(),
        y: e.y(),
        vx: e.vx(),
        vy: e.vy(),
        flags: e.flags(),
    }
}

fn apply_delta(entities: &mut Vec<Entity>, seg: &rep::CellSegment<'_>) -> Result<(), ReplicaError> {
    for id in seg.despawned().iter().flatten() {
        let at = entities
            .binary_search_by_key(&id, |e| e.id)
            .map_err(|_| ReplicaError::NoBase)?;
        entities.remove(at);
    }
    for c in seg.changed().iter().flatten() {
        let at = entities
            .binary_search_by_key(&c.id(), |e| e.id)
            .map_err(|_| ReplicaError::NoBase)?;
        let e = &mut entities[at];
        e.x = c.x().unwrap_or(e.x);
        e.y = c.y().unwrap_or(e.y);
        e.vx = c.vx().unwrap_or(e.vx);
        e.vy = c.vy().unwrap_or(e.vy);
        e.flags = c.flags().unwrap_or(e.flags);
    }
    for s in seg.spawned().iter().flatten() {
        let new = entity(s);
        match entities.binary_search_by_key(&new.id, |e| e.id) {
            Ok(_) => return Err(ReplicaError::NoBase),
            Err(at) => entities.insert(at, new),
        }
    }
    Ok(())
}
