//! The server side of replication: per-cell deltas and keyframes, each
//! encoded at most once per tick, and the choice of segments for one member.

use bytes::Bytes;
use flatbuffers::FlatBufferBuilder;

use super::{Cell, Entity, Grid, SEGMENT_ID};
use crate::generated::replication_generated::tickforge::v_2 as rep;

/// Replicated world of one room: last tick's entities per cell and this
/// tick's encoded segments.
pub struct Replicator {
    grid: Grid,
    /// This tick's entities per cell (index `y * cols + x`), sorted by id.
    cells: Vec<Vec<Entity>>,
    /// Scratch: the previous tick's cells while a tick is diffed.
    previous: Vec<Vec<Entity>>,
    /// This tick's delta per cell; `None`: the cell did not change.
    deltas: Vec<Option<Bytes>>,
    /// This tick's keyframe per cell, encoded on the first request.
    keyframes: Vec<Option<Bytes>>,
    tick_segment: Bytes,
    tick: u64,
    now_us: u64,
    fbb: FlatBufferBuilder<'static>,
    // Scratch reused by every cell's diff and keyframe (no allocation per cell).
    changes: Vec<Change>,
    spawned: Vec<rep::RepEntity>,
    despawned: Vec<u32>,
    change_offsets: Vec<flatbuffers::WIPOffset<rep::EntityChange<'static>>>,
}

/// One entity's changed fields (`None`: unchanged).
#[derive(Clone, Copy)]
struct Change {
    id: u32,
    x: Option<i32>,
    y: Option<i32>,
    vx: Option<i16>,
    vy: Option<i16>,
    flags: Option<u8>,
}

impl Change {
    fn between(old: &Entity, new: &Entity) -> Option<Change> {
        (old != new).then(|| Change {
            id: new.id,
            x: (old.x != new.x).then_some(new.x),
            y: (old.y != new.y).then_some(new.y),
            vx: (old.vx != new.vx).then_some(new.vx),
            vy: (old.vy != new.vy).then_some(new.vy),
            flags: (old.flags != new.flags).then_some(new.flags),
        })
    }
}

impl Replicator {
    /// An empty world on `grid`.
    pub fn new(grid: Grid) -> Replicator {
        Replicator {
            grid,
            cells: vec![Vec::new(); grid.len()],
            previous: vec![Vec::new(); grid.len()],
            deltas: vec![None; grid.len()],
            keyframes: vec![None; grid.len()],
            tick_segment: Bytes::new(),
            tick: 0,
            now_us: 0,
            fbb: FlatBufferBuilder::with_capacity(4096),
            changes: Vec::new(),
            spawned: Vec::new(),
            despawned: Vec::new(),
            change_offsets: Vec::new(),
        }
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Takes the quantised entities of `tick` and encodes every changed
    /// cell's delta against the previous call, once. Keyframes of this tick
    /// are encoded on demand by [`Replicator::segments_for`].
    pub fn update(&mut self, tick: u64, now_us: u64, entities: impl IntoIterator<Item = Entity>) {
        std::mem::swap(&mut self.cells, &mut self.previous);
        for cell in &mut self.cells {
            cell.clear();
        }
        for e in entities {
            let cell = self.grid.cell_of(e.x, e.y);
            let index = self.grid.index(cell);
            self.cells[index].push(e);
        }
        self.tick = tick;
        self.now_us = now_us;
        self.tick_segment = self.encode_tick_segment();
        for index in 0..self.cells.len() {
            self.cells[index].sort_unstable_by_key(|e| e.id);
            self.keyframes[index] = None;
            self.deltas[index] = self.encode_delta(index);
        }
    }

    /// The entities a member centred on `center` holds after this tick,
    /// sorted by id: the ground truth its replica must equal.
    pub fn visible(&self, center: Cell) -> Vec<Entity> {
        let mut out: Vec<Entity> = self
            .grid
            .view(center)
            .flat_map(|cell| self.cells[self.grid.index(cell)].iter().copied())
            .collect();
        out.sort_unstable_by_key(|e| e.id);
        out
    }

    /// The cell of an entity's quantised position.
    pub fn cell_of(&self, entity: &Entity) -> Cell {
        self.grid.cell_of(entity.x, entity.y)
    }

    /// Appends to `out` the shared segments of one member's message for
    /// this tick: the tick segment, then for each cell in view around
    /// `center` its keyframe (when the member did not hold it: `held` is the
    /// member's previous centre, `None` after a join or resume; and once
    /// every K ticks, staggered by cell) or its delta (when it changed).
    /// Updates `held`.
    pub fn segments_for(&mut self, held: &mut Option<Cell>, center: Cell, out: &mut Vec<Bytes>) {
        out.push(self.tick_segment.clone());
        let every = self.grid.keyframe_every;
        let radius = self.grid.view_radius;
        for cell in self.grid.view(center) {
            let index = self.grid.index(cell);
            let had = matches!(held, Some(old) if cell.within(*old, radius));
            // Safety-net keyframes are staggered: cell i on the ticks
            // where (tick + i) % K == 0, so no tick encodes them all.
            let refresh = every > 0 && (self.tick + index as u64).is_multiple_of(every);
            if had && !refresh {
                if let Some(delta) = &self.deltas[index] {
                    out.push(delta.clone());
                }
            } else {
                out.push(self.keyframe(index));
            }
        }
        *held = Some(center);
    }

    fn keyframe(&mut self, index: usize) -> Bytes {
        if let Some(k) = &self.keyframes[index] {
            return k.clone();
        }
        let base = self.cell_args(index);
        let fbb = &mut self.fbb;
        fbb.reset();
        self.spawned.clear();
        self.spawned
            .extend(self.cells[index].iter().map(rep_entity));
        let spawned = fbb.create_vector(&self.spawned);
        let bytes = finish_cell(
            fbb,
            rep::CellSegmentArgs {
                keyframe: true,
                spawned: Some(spawned),
                ..base
            },
        );
        self.keyframes[index] = Some(bytes.clone());
        bytes
    }

    fn encode_tick_segment(&mut self) -> Bytes {
        let fbb = &mut self.fbb;
        fbb.reset();
        let root = rep::CellSegment::create(
            fbb,
            &rep::CellSegmentArgs {
                tick: self.tick,
                server_time_us: self.now_us,
                ..Default::default()
            },
        );
        fbb.finish_size_prefixed(root, Some(SEGMENT_ID));
        Bytes::copy_from_slice(fbb.finished_data())
    }

    /// Diffs one cell (both sides sorted by id) and encodes the delta, if any.
    fn encode_delta(&mut self, index: usize) -> Option<Bytes> {
        let (old, new) = (&self.previous[index], &self.cells[index]);
        if old == new {
            return None;
        }
        let fbb = &mut self.fbb;
        fbb.reset();
        self.changes.clear();
        let (spawned, despawned) = (&mut self.spawned, &mut self.despawned);
        spawned.clear();
        despawned.clear();
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            match (old.get(i), new.get(j)) {
                (Some(o), Some(n)) if o.id == n.id => {
                    self.changes.extend(Change::between(o, n));
                    i += 1;
                    j += 1;
                }
                (Some(o), Some(n)) if o.id < n.id => {
                    despawned.push(o.id);
                    i += 1;
                }
                (Some(o), None) => {
                    despawned.push(o.id);
                    i += 1;
                }
                (_, Some(n)) => {
                    spawned.push(rep_entity(n));
                    j += 1;
                }
                (None, None) => break,
            }
        }
        self.change_offsets.clear();
        self.change_offsets.extend(self.changes.iter().map(|c| {
            rep::EntityChange::create(
                fbb,
                &rep::EntityChangeArgs {
                    id: c.id,
                    x: c.x,
                    y: c.y,
                    vx: c.vx,
                    vy: c.vy,
                    flags: c.flags,
                },
            )
        }));
        let changes = &self.change_offsets;
        let changed = (!changes.is_empty()).then(|| fbb.create_vector(changes));
        let spawned = (!spawned.is_empty()).then(|| fbb.create_vector(spawned));
        let despawned = (!despawned.is_empty()).then(|| fbb.create_vector(despawned));
        let args = rep::CellSegmentArgs {
            spawned,
            changed,
            despawned,
            ..self.cell_args(index)
        };
        Some(finish_cell(&mut self.fbb, args))
    }
}

impl Replicator {
    /// The fields every segment of cell `index` at this tick shares (cell
    /// segments carry no server time: the tick segment does).
    fn cell_args<'a>(&self, index: usize) -> rep::CellSegmentArgs<'a> {
        let cols = usize::from(self.grid.cols);
        let cell = Cell {
            x: (index % cols) as u16,
            y: (index / cols) as u16,
        };
        rep::CellSegmentArgs {
            tick: self.tick,
            cell: Some(cell.packed()),
            ..Default::default()
        }
    }
}

/// Finishes a size-prefixed cell segment and copies it out once.
fn finish_cell(fbb: &mut FlatBufferBuilder<'static>, args: rep::CellSegmentArgs<'_>) -> Bytes {
    let root = rep::CellSegment::create(fbb, &args);
    fbb.finish_size_prefixed(root, Some(SEGMENT_ID));
    Bytes::copy_from_slice(fbb.finished_data())
}

fn rep_entity(e: &Entity) -> rep::RepEntity {
    rep::RepEntity::new(e.id, e.x, e.y, e.vx, e.vy, e.flags)
}
