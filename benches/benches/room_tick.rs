//! One room tick with 32 and 100 players: drain one input per player, step
//! the arena, encode the state once, hand it to every member's outbox.
//! The outboxes are drained after each tick (as sessions would), outside
//! nothing else: the figure is the room's work per tick.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use flatbuffers::FlatBufferBuilder;
use tickforge_benches::room_setup::{bench_room, join_request};
use tickforge_protocol::arena_codec::{Move, encode_input};
use tickforge_server::game::{GameParams, Mode, arena};
use tickforge_server::room::outbox::Queued;
use tickforge_server::room::{MembershipId, OutboxReceiver, Room, RoomHandle, SessionId, outbox};

struct Bench {
    room: Room,
    handle: RoomHandle,
    outboxes: Vec<OutboxReceiver>,
    drained: Vec<Queued>,
    budgets: Vec<Arc<AtomicU32>>,
    inputs: Vec<Bytes>,
}

/// The one membership of `session` in the bench's room.
fn member(session: SessionId) -> MembershipId {
    MembershipId {
        session,
        generation: 1,
    }
}

fn setup(players: u16) -> Bench {
    let mode = Mode {
        name: Arc::from("arena"),
        kind: arena::KIND,
        params: GameParams {
            capacity: players,
            tick_rate_hz: 30,
        },
    };
    let (mut room, handle) = bench_room(&mode);
    let mut outboxes = Vec::new();
    let mut budgets = Vec::new();
    for session in 0..u64::from(players) {
        let seat = handle.try_reserve().expect("seat");
        let (tx, rx) = outbox(1024);
        let queued = Arc::new(AtomicU32::new(0));
        seat.join(join_request(session, tx, queued.clone(), false))
            .expect("room takes the join");
        outboxes.push(rx);
        budgets.push(queued);
    }
    room.tick(1.0 / 30.0);
    let mut drained = Vec::with_capacity(64);
    for rx in &mut outboxes {
        rx.drain_into(&mut drained, 64, |frame| frame);
        drained.clear();
    }
    let mut fbb = FlatBufferBuilder::new();
    let inputs = (0..players)
        .map(|i| {
            let m = Move {
                x: (i % 255) as i8,
                y: 64,
                buttons: (i % 2) as u8,
            };
            Bytes::copy_from_slice(encode_input(&mut fbb, m))
        })
        .collect();
    Bench {
        room,
        handle,
        outboxes,
        drained,
        budgets,
        inputs,
    }
}

fn room_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("room_tick");
    for players in [32u16, 100] {
        let mut b = setup(players);
        let mut seq = 0u32;
        group.bench_with_input(
            BenchmarkId::new("players", players),
            &players,
            |bench, _| {
                bench.iter(|| {
                    seq = seq.wrapping_add(1);
                    for (session, (input, queued)) in b.inputs.iter().zip(&b.budgets).enumerate() {
                        b.handle
                            .send_input(member(session as u64), seq, input.clone(), queued)
                            .expect("queue has room");
                    }
                    b.room.tick(black_box(1.0 / 30.0));
                    for rx in &mut b.outboxes {
                        rx.drain_into(&mut b.drained, 64, |frame| frame);
                        black_box(&b.drained);
                        b.drained.clear();
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, room_tick);
criterion_main!(benches);
