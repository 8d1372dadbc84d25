//! Large rooms, measured at the room (no sockets): one room ticked in
//! place with every member's outbox drained after each tick, as sessions
//! would. For each scenario: bytes per player per second of the per-tick
//! state messages, tick work (p50, p99, mean) and room CPU per
//! player-second. Full `State` (every member `tickforge.v1`) against
//! interest state (every member `tickforge.v2`).
//!
//! `cargo run --release -p tickforge-benches --bin large_rooms -- [TICKS]`

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flatbuffers::FlatBufferBuilder;
use tickforge_benches::room_setup::{bench_room, join_request};
use tickforge_protocol::arena_codec::{Move, encode_input};
use tickforge_server::game::arena::{self, Arena};
use tickforge_server::game::{Game, GameKind, GameParams, Grid, Mode};
use tickforge_server::room::{MembershipId, OutboxReceiver, outbox};

/// The 32-player arena replicated with a view over the whole map: deltas
/// alone, no interest filtering.
fn arena_deltas(params: GameParams) -> Box<dyn Game> {
    let grid = Grid::new(arena::WIDTH, arena::HEIGHT, 250.0, 4);
    Box::new(Arena::replicated(
        params.capacity as usize,
        arena::WIDTH,
        grid,
    ))
}

struct Scenario {
    name: &'static str,
    kind: GameKind,
    players: u16,
    hz: u16,
    v2: bool,
}

struct Outcome {
    bytes_per_player_s: f64,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    cpu_us_per_player_s: f64,
}

/// A cheap deterministic generator for the players' moves.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn run(s: &Scenario, ticks: usize) -> anyhow::Result<Outcome> {
    let mode = Mode {
        name: Arc::from(s.name),
        kind: s.kind,
        params: GameParams {
            capacity: s.players,
            tick_rate_hz: s.hz,
        },
    };
    let (mut room, handle) = bench_room(&mode);
    let mut outboxes: Vec<OutboxReceiver> = Vec::new();
    let mut budgets = Vec::new();
    for session in 0..u64::from(s.players) {
        let seat = handle.try_reserve().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (tx, rx) = outbox(4096);
        let queued = Arc::new(AtomicU32::new(0));
        seat.join(join_request(session, tx, queued.clone(), s.v2))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        outboxes.push(rx);
        budgets.push(queued);
    }
    let dt = 1.0 / f32::from(s.hz);
    let mut drained = Vec::with_capacity(1024);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut fbb = FlatBufferBuilder::new();
    let mut moves: Vec<Bytes> = Vec::new();
    let warmup = 50;
    let mut work = Vec::with_capacity(ticks);
    let mut bytes = 0u64;
    for t in 0..warmup + ticks {
        // Every player changes direction about once a second.
        if t % usize::from(s.hz) == 0 || moves.is_empty() {
            moves = (0..s.players)
                .map(|_| {
                    let r = rng.next();
                    let m = Move {
                        x: (r & 0xff) as u8 as i8,
                        y: (r >> 8 & 0xff) as u8 as i8,
                        buttons: 0,
                    };
                    Bytes::copy_from_slice(encode_input(&mut fbb, m))
                })
                .collect();
        }
        for (session, (input, queued)) in moves.iter().zip(&budgets).enumerate() {
            let membership = MembershipId {
                session: session as u64,
                generation: 1,
            };
            handle
                .send_input(membership, t as u32 + 1, input.clone(), queued)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let started = Instant::now();
        room.tick(dt);
        let took = started.elapsed();
        let mut tick_bytes = 0u64;
        for rx in &mut outboxes {
            rx.drain_into(&mut drained, 1024, |frame| frame);
            tick_bytes += drained.iter().map(|f| f.frame.len() as u64).sum::<u64>();
            drained.clear();
        }
        if t >= warmup {
            work.push(took);
            bytes += tick_bytes;
        }
    }
    work.sort_unstable();
    let pct = |p: f64| work[((work.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    let mean_us = work.iter().map(Duration::as_secs_f64).sum::<f64>() / work.len() as f64 * 1e6;
    let players = f64::from(s.players);
    let hz = f64::from(s.hz);
    Ok(Outcome {
        bytes_per_player_s: bytes as f64 / ticks as f64 / players * hz,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        mean_us,
        cpu_us_per_player_s: mean_us * hz / players,
    })
}

fn main() -> anyhow::Result<()> {
    let ticks: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 2000,
    };
    let deltas = GameKind {
        create: arena_deltas,
        ..arena::KIND
    };
    let scenarios = [
        Scenario {
            name: "arena 32p 30 Hz, full State (v1)",
            kind: arena::KIND,
            players: 32,
            hz: 30,
            v2: false,
        },
        Scenario {
            name: "arena 32p 30 Hz, deltas, whole map in view (v2)",
            kind: deltas,
            players: 32,
            hz: 30,
            v2: true,
        },
        Scenario {
            name: "arena-large 256p 20 Hz, full State (v1)",
            kind: arena::LARGE,
            players: 256,
            hz: 20,
            v2: false,
        },
        Scenario {
            name: "arena-large 256p 20 Hz, interest state (v2)",
            kind: arena::LARGE,
            players: 256,
            hz: 20,
            v2: true,
        },
    ];
    println!("ticks measured per scenario: {ticks} (after 50 warm-up ticks)");
    println!(
        "| scenario | bytes/player/s | tick p50 µs | tick p99 µs | tick mean µs | room CPU µs per player-second |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for s in &scenarios {
        let o = run(s, ticks)?;
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
            s.name, o.bytes_per_player_s, o.p50_us, o.p99_us, o.mean_us, o.cpu_us_per_player_s
        );
    }
    Ok(())
}
