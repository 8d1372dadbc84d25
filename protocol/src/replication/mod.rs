//! Replicated state for large rooms (subprotocol `tickforge.v2`): a world
//! of positioned entities divided into square cells, each cell's delta and
//! keyframe encoded once per tick and shared by every member that sees it.
//!
//! Pure code: no tokio, no sockets, no clocks.
//!
//! - [`Replicator`] (server side) takes the quantised entities of a tick,
//!   encodes each changed cell's delta once, encodes a cell's keyframe at
//!   most once per tick when a member needs it, and picks the segments of
//!   one member's message from the member's view.
//! - [`message`] builds the per-member part and splits and verifies a whole
//!   interest state message.
//! - [`Replica`] (client side) applies messages and holds exactly the
//!   server's quantised entities of the member's interest area.
//!
//! The wire format and each message's lifecycle are documented in
//! `schema/replication.fbs`.
//!
//! **Interest.** A member with view radius `R` cells whose view centre is
//! cell `(cx, cy)` holds the cells `(x, y)` with `|x - cx| <= R` and
//! `|y - cy| <= R`. The centre is the cell of the member's own entity, so
//! every entity within `R × cell size` of it (on each axis) is seen, and no
//! entity is ever seen further than `(R + 1) × cell size` on an axis: the
//! documented margin is one cell.

pub mod message;
mod replica;
mod server;

pub use replica::{Applied, Replica};
pub use server::Replicator;

use crate::codec::DecodeError;

/// Quantised units per world unit (positions and velocities are sent in
/// 1/16 unit and 1/16 unit per second).
pub const QUANTUM: f32 = 16.0;

/// Identifier of the per-member part (bytes 8..12 of an interest state message).
pub const VIEW_ID: &str = "TFV2";
/// Identifier of a cell segment.
pub const SEGMENT_ID: &str = "TFG2";

/// One replicated entity, quantised: what server and client agree on exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entity {
    /// Entity id (unique in the room).
    pub id: u32,
    /// Position x in 1/16 world unit.
    pub x: i32,
    /// Position y in 1/16 world unit.
    pub y: i32,
    /// Velocity x in 1/16 world unit per second.
    pub vx: i16,
    /// Velocity y in 1/16 world unit per second.
    pub vy: i16,
    /// Game-defined flags (arena: buttons held).
    pub flags: u8,
}

impl Entity {
    /// Quantises a game entity: positions and velocities rounded to 1/16
    /// unit (velocities saturate at ±2047 units per second).
    pub fn quantise(id: u32, x: f32, y: f32, vx: f32, vy: f32, flags: u8) -> Entity {
        Entity {
            id,
            x: (x * QUANTUM).round() as i32,
            y: (y * QUANTUM).round() as i32,
            vx: (vx * QUANTUM).round() as i16,
            vy: (vy * QUANTUM).round() as i16,
            flags,
        }
    }
}

/// A cell's coordinates, packed on the wire as `y << 16 | x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
}

impl Cell {
    /// The packed wire form.
    pub fn packed(self) -> u32 {
        u32::from(self.y) << 16 | u32::from(self.x)
    }

    /// From the packed wire form.
    pub fn unpack(packed: u32) -> Cell {
        Cell {
            x: (packed & 0xffff) as u16,
            y: (packed >> 16) as u16,
        }
    }

    /// Whether this cell is in the square of `radius` cells around `center`.
    pub fn within(self, center: Cell, radius: u16) -> bool {
        self.x.abs_diff(center.x) <= radius && self.y.abs_diff(center.y) <= radius
    }
}

/// How a game's world is divided and seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Side of a cell in world units.
    pub cell_size: f32,
    /// Columns of cells (world width / cell size, rounded up).
    pub cols: u16,
    /// Rows of cells.
    pub rows: u16,
    /// View radius in cells (see the module documentation).
    pub view_radius: u16,
    /// Every cell is sent as a keyframe every this many ticks (0: never).
    pub keyframe_every: u64,
}

impl Grid {
    /// A grid over a `width × height` world with square cells of `cell_size`.
    pub fn new(width: f32, height: f32, cell_size: f32, view_radius: u16) -> Grid {
        let cols = (width / cell_size).ceil().clamp(1.0, 4096.0) as u16;
        let rows = (height / cell_size).ceil().clamp(1.0, 4096.0) as u16;
        Grid {
            cell_size,
            cols,
            rows,
            view_radius,
            keyframe_every: 100,
        }
    }

    /// The cell of a quantised position (positions off the map are clamped
    /// to its edge cells).
    pub fn cell_of(&self, x: i32, y: i32) -> Cell {
        let side = f64::from(self.cell_size) * f64::from(QUANTUM);
        let col = (f64::from(x) / side)
            .floor()
            .clamp(0.0, f64::from(self.cols - 1));
        let row = (f64::from(y) / side)
            .floor()
            .clamp(0.0, f64::from(self.rows - 1));
        Cell {
            x: col as u16,
            y: row as u16,
        }
    }

    /// The cells in view around `center`, clipped to the grid, row by row.
    pub fn view(&self, center: Cell) -> impl Iterator<Item = Cell> + use<> {
        let r = self.view_radius;
        let (x0, x1) = (
            center.x.saturating_sub(r),
            center.x.saturating_add(r).min(self.cols - 1),
        );
        let (y0, y1) = (
            center.y.saturating_sub(r),
            center.y.saturating_add(r).min(self.rows - 1),
        );
        (y0..=y1).flat_map(move |y| (x0..=x1).map(move |x| Cell { x, y }))
    }

    fn index(&self, cell: Cell) -> usize {
        usize::from(cell.y) * usize::from(self.cols) + usize::from(cell.x)
    }

    fn len(&self) -> usize {
        usize::from(self.cols) * usize::from(self.rows)
    }
}

/// Why an interest state message was refused by a client. [`label`](Self::label)
/// is stable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReplicaError {
    /// A part is not a valid FlatBuffer, or the framing is broken.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The message is cut inside a length prefix or a part.
    #[error("interest state message truncated")]
    Truncated,
    /// The first segment is not a tick segment, or a segment is of another tick.
    #[error("segments disagree on the tick")]
    TickMismatch,
    /// A delta for a cell the client does not hold, or an entity change
    /// or despawn for an entity it does not hold, or a spawn of one it holds.
    #[error("delta does not apply to the held state")]
    NoBase,
    /// A segment for a cell outside the member's view.
    #[error("segment outside the view")]
    OutsideView,
}

impl ReplicaError {
    /// Stable label for metrics and close reasons.
    pub fn label(&self) -> &'static str {
        match self {
            ReplicaError::Decode(e) => e.label(),
            ReplicaError::Truncated => "bad_frame",
            ReplicaError::TickMismatch | ReplicaError::NoBase | ReplicaError::OutsideView => {
                "replica_diverged"
            }
        }
    }
}
