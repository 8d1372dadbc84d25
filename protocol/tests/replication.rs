//! Property tests of the replication layer: a client applying keyframes
//! and deltas holds exactly the server's quantised state of its interest
//! area at every tick, never sees an entity beyond its view radius plus one
//! cell, and is exact from its first message after joining or resuming.

use bytes::Bytes;
use flatbuffers::FlatBufferBuilder;
use proptest::prelude::*;
use tickforge_protocol::replication::message::{self, MemberPart};
use tickforge_protocol::replication::{Cell, Entity, Grid, Replica, Replicator};

const TICKS: u64 = 10_000;
const WORLD: f32 = 2000.0;

/// xorshift64*: the world's moves are drawn from the case's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Clone, Copy)]
struct Body {
    id: u32,
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    flags: u8,
}

impl Body {
    fn quantised(&self) -> Entity {
        Entity::quantise(self.id, self.x, self.y, self.vx, self.vy, self.flags)
    }
}

/// A simulated member: its own entity, what it held last tick, its replica.
struct Member {
    entity: u32,
    joins_at: u64,
    resumes_at: u64,
    held: Option<Cell>,
    replica: Replica,
    first_checked: bool,
}

struct World {
    rng: Rng,
    bodies: Vec<Body>,
    next_id: u32,
}

impl World {
    fn spawn(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let (x, y) = (self.rng.unit() * WORLD, self.rng.unit() * WORLD);
        self.bodies.push(Body {
            id,
            x,
            y,
            vx: 0.0,
            vy: 0.0,
            flags: 0,
        });
        id
    }

    /// Random moves (some big jumps across cells), spawns and despawns;
    /// the members' own entities are never despawned.
    fn step(&mut self, protected: &[u32]) {
        for b in &mut self.bodies {
            match self.rng.below(10) {
                0 => {}
                1 => b.flags = self.rng.below(4) as u8,
                2 => {
                    b.x = self.rng.unit() * WORLD;
                    b.y = self.rng.unit() * WORLD;
                }
                _ => {
                    b.vx = (self.rng.unit() - 0.5) * 800.0;
                    b.vy = (self.rng.unit() - 0.5) * 800.0;
                    b.x = (b.x + b.vx / 20.0).clamp(0.0, WORLD);
                    b.y = (b.y + b.vy / 20.0).clamp(0.0, WORLD);
                }
            }
        }
        if self.rng.below(3) == 0 {
            self.spawn();
        }
        if self.rng.below(3) == 0 && !self.bodies.is_empty() {
            let i = self.rng.below(self.bodies.len() as u64) as usize;
            if !protected.contains(&self.bodies[i].id) {
                self.bodies.swap_remove(i);
            }
        }
    }
}

fn run_case(seed: u64, cell_size: f32, radius: u16, keyframe_every: u64, entities: usize) {
    let mut grid = Grid::new(WORLD, WORLD, cell_size, radius);
    grid.keyframe_every = keyframe_every;
    let mut server = Replicator::new(grid);
    let mut world = World {
        rng: Rng(seed | 1),
        bodies: Vec::new(),
        next_id: 1,
    };
    for _ in 0..entities {
        world.spawn();
    }
    let mut members: Vec<Member> = (0..4)
        .map(|i| {
            let entity = world.bodies[i].id;
            let joins_at = if i == 0 {
                1
            } else {
                world.rng.below(TICKS) + 1
            };
            Member {
                entity,
                joins_at,
                resumes_at: joins_at + world.rng.below(TICKS),
                held: None,
                replica: Replica::new(radius),
                first_checked: false,
            }
        })
        .collect();
    let protected: Vec<u32> = members.iter().map(|m| m.entity).collect();
    let mut fbb = FlatBufferBuilder::new();
    let mut segments: Vec<Bytes> = Vec::new();
    for tick in 1..=TICKS {
        world.step(&protected);
        server.update(
            tick,
            tick * 50_000,
            world.bodies.iter().map(Body::quantised),
        );
        for m in members.iter_mut().filter(|m| tick >= m.joins_at) {
            if tick == m.resumes_at {
                // A resumed member starts from nothing, like a new connection.
                m.held = None;
                m.replica = Replica::new(radius);
            }
            let own = world
                .bodies
                .iter()
                .find(|b| b.id == m.entity)
                .map(Body::quantised)
                .unwrap_or_else(|| panic!("member entity {} despawned", m.entity));
            let center = server.cell_of(&own);
            segments.clear();
            server.segments_for(&mut m.held, center, &mut segments);
            message::encode_view(
                &mut fbb,
                MemberPart {
                    last_input_seq: tick as u32,
                    center,
                },
            );
            assert!(
                fbb.finished_data().len() <= 32,
                "per-member part over 32 bytes"
            );
            let frame = message::concat(fbb.finished_data(), &segments);
            let applied = m
                .replica
                .apply(&frame)
                .unwrap_or_else(|e| panic!("tick {tick}: {e}"));
            assert_eq!(applied.tick, tick);
            assert_eq!(
                m.replica.entities(),
                server.visible(center),
                "tick {tick}: replica differs from the server's interest area"
            );
            let reach = f64::from(radius + 1) * f64::from(cell_size) * 16.0;
            for e in m.replica.entities() {
                let (dx, dy) = (f64::from(e.x - own.x).abs(), f64::from(e.y - own.y).abs());
                assert!(
                    dx <= reach && dy <= reach,
                    "tick {tick}: entity {} seen {dx}/16, {dy}/16 units away, beyond radius + 1 cell",
                    e.id
                );
            }
            m.first_checked = true;
        }
    }
    assert!(members.iter().all(|m| m.first_checked));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    #[test]
    fn a_replica_holds_exactly_the_servers_interest_area_at_every_tick(
        seed in any::<u64>(),
        cell_size in 100.0f32..500.0,
        radius in 0u16..3,
        keyframe_every in prop_oneof![Just(0u64), Just(7), Just(100)],
        entities in 10usize..120,
    ) {
        run_case(seed, cell_size, radius, keyframe_every, entities);
    }
}

#[test]
fn a_delta_for_a_cell_the_client_does_not_hold_is_refused() {
    let grid = Grid::new(400.0, 400.0, 100.0, 1);
    let mut server = Replicator::new(grid);
    let e = Entity::quantise(1, 50.0, 50.0, 0.0, 0.0, 0);
    server.update(1, 0, [e]);
    let mut held = Some(Cell { x: 0, y: 0 });
    server.update(2, 0, [Entity { x: e.x + 1, ..e }]);
    let mut segments = Vec::new();
    server.segments_for(&mut held, Cell { x: 0, y: 0 }, &mut segments);
    let mut fbb = FlatBufferBuilder::new();
    message::encode_view(
        &mut fbb,
        MemberPart {
            last_input_seq: 0,
            center: Cell { x: 0, y: 0 },
        },
    );
    let frame = message::concat(fbb.finished_data(), &segments);
    let err = Replica::new(1).apply(&frame).err();
    assert_eq!(err.map(|e| e.label()), Some("replica_diverged"));
}

#[test]
fn every_truncation_of_a_message_is_refused_without_a_panic() {
    let grid = Grid::new(400.0, 400.0, 100.0, 1);
    let mut server = Replicator::new(grid);
    server.update(1, 7, [Entity::quantise(1, 50.0, 150.0, 1.0, 2.0, 1)]);
    let mut segments = Vec::new();
    let mut held = None;
    server.segments_for(&mut held, Cell { x: 0, y: 1 }, &mut segments);
    let mut fbb = FlatBufferBuilder::new();
    let center = Cell { x: 0, y: 1 };
    message::encode_view(
        &mut fbb,
        MemberPart {
            last_input_seq: 3,
            center,
        },
    );
    let frame = message::concat(fbb.finished_data(), &segments);
    assert!(message::is_interest_state(&frame));
    assert!(Replica::new(1).apply(&frame).is_ok());
    // A cut between two parts is a shorter valid message; any other is refused.
    let mut boundaries = vec![fbb.finished_data().len()];
    for s in &segments {
        boundaries.push(boundaries[boundaries.len() - 1] + s.len());
    }
    for cut in (0..frame.len()).filter(|c| !boundaries.contains(c)) {
        assert!(
            Replica::new(1).apply(&frame[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

/// Ticks of the recorded stream (kept small enough to commit: the
/// 10,000-tick property test above runs in Rust only).
const RECORDED: u64 = 2_000;

/// The recorded stream both clients replay (`protocol/vectors/replication/`):
/// one member of a 2000-unit world of 16 entities that changes every 5th
/// tick, for 2,000 ticks, resuming (from nothing) at tick 1,000. Each record: `[u32 len][message]` then
/// `[u32 entity count][u32 FNV-1a of the entities]` that the replica must
/// hold after applying it (each entity as 17 little-endian bytes: id, x, y,
/// vx, vy, flags, sorted by id).
fn recorded_stream() -> Vec<u8> {
    let mut grid = Grid::new(WORLD, WORLD, 250.0, 1);
    grid.keyframe_every = 100;
    let mut server = Replicator::new(grid);
    let mut world = World {
        rng: Rng(0x5eed_0015),
        bodies: Vec::new(),
        next_id: 1,
    };
    for _ in 0..16 {
        world.spawn();
    }
    let own = world.bodies[0].id;
    let mut held = None;
    let mut fbb = FlatBufferBuilder::new();
    let mut segments = Vec::new();
    let mut out = Vec::new();
    for tick in 1..=RECORDED {
        if tick % 5 == 0 {
            world.step(&[own]);
        }
        server.update(
            tick,
            tick * 50_000,
            world.bodies.iter().map(Body::quantised),
        );
        if tick == RECORDED / 2 {
            held = None;
        }
        let me = world
            .bodies
            .iter()
            .find(|b| b.id == own)
            .map(Body::quantised);
        let center = server.cell_of(&me.unwrap_or_else(|| panic!("own entity gone")));
        segments.clear();
        server.segments_for(&mut held, center, &mut segments);
        message::encode_view(
            &mut fbb,
            MemberPart {
                last_input_seq: tick as u32,
                center,
            },
        );
        let frame = message::concat(fbb.finished_data(), &segments);
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
        let visible = server.visible(center);
        out.extend_from_slice(&(visible.len() as u32).to_le_bytes());
        out.extend_from_slice(&fnv(&visible).to_le_bytes());
    }
    out
}

/// FNV-1a over the entities' 17-byte little-endian records.
fn fnv(entities: &[Entity]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for e in entities {
        let mut bytes = Vec::with_capacity(17);
        bytes.extend_from_slice(&e.id.to_le_bytes());
        bytes.extend_from_slice(&e.x.to_le_bytes());
        bytes.extend_from_slice(&e.y.to_le_bytes());
        bytes.extend_from_slice(&e.vx.to_le_bytes());
        bytes.extend_from_slice(&e.vy.to_le_bytes());
        bytes.push(e.flags);
        for b in bytes {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

#[test]
fn the_recorded_stream_is_current_and_a_replica_replays_it_exactly() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/replication/stream.bin");
    let stream = recorded_stream();
    if std::env::var_os("TICKFORGE_WRITE_VECTORS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, &stream).unwrap_or_else(|e| panic!("{e}"));
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        committed == stream,
        "{} is stale: rewrite with TICKFORGE_WRITE_VECTORS=1",
        path.display()
    );
    let mut replica = Replica::new(1);
    let mut rest = &committed[..];
    let mut ticks = 0;
    let take = |rest: &mut &[u8], n: usize| {
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        head.to_vec()
    };
    let u32_of = |b: Vec<u8>| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    while !rest.is_empty() {
        let len = u32_of(take(&mut rest, 4)) as usize;
        let frame = take(&mut rest, len);
        let (count, hash) = (u32_of(take(&mut rest, 4)), u32_of(take(&mut rest, 4)));
        if ticks == RECORDED / 2 - 1 {
            replica = Replica::new(1);
        }
        let applied = replica
            .apply(&frame)
            .unwrap_or_else(|e| panic!("record {ticks}: {e}"));
        let held = replica.entities();
        assert_eq!(
            (held.len() as u32, fnv(&held)),
            (count, hash),
            "tick {}",
            applied.tick
        );
        ticks += 1;
    }
    assert_eq!(ticks, RECORDED);
}
