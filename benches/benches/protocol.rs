//! Codec micro-benchmarks: what one connection's hot path costs per frame.
//!
//! - `input/encode` and `input/decode`: a client Input carrying an arena
//!   move, built by `ClientEncoder` and verified by `decode_client`;
//! - `state/encode/N` and `state/decode/N`: one tick's State for an N-player
//!   room (an N-entity arena state and N acks), built once per tick by the
//!   room and verified by every client with `decode_server`;
//! - `joined/encode/32`: the Joined answer for a 32-player room.
//!
//! Run: `cargo bench -p tickforge-benches --bench protocol`. Figures are in
//! `benches/RESULTS.md`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_main};
use flatbuffers::FlatBufferBuilder;
use tickforge_protocol::arena::ArenaEntity;
use tickforge_protocol::arena_codec::{self, Move};
use tickforge_protocol::codec::Limits;
use tickforge_protocol::encode::{JoinedFields, PlayerEntry, ack};
use tickforge_protocol::wire::PlayerAck;
use tickforge_protocol::{
    ClientEncoder, ClientMsg, ServerEncoder, ServerMsg, decode_client, decode_server,
};

/// Room sizes benchmarked for State.
const ROOM_SIZES: [u32; 2] = [32, 100];
/// Room size benchmarked for Joined.
const JOINED_PLAYERS: u32 = 32;
/// A plausible wall-clock time in µs, so varints and defaults don't flatter the encoder.
const NOW_US: u64 = 1_760_000_000_000_000;

/// An arena state with `n` moving entities, as the game would produce per tick.
fn arena_state(n: u32) -> Vec<u8> {
    let entities: Vec<ArenaEntity> = (0..n)
        .map(|i| {
            ArenaEntity::new(
                i + 1,
                10.0 + i as f32,
                20.0 + i as f32,
                1.5,
                -0.5,
                (i % 2) as u8,
            )
        })
        .collect();
    let mut fbb = FlatBufferBuilder::with_capacity(64 + 24 * n as usize);
    arena_codec::encode_state(&mut fbb, 800.0, 600.0, &entities);
    fbb.finished_data().to_vec()
}

fn acks(n: u32) -> Vec<PlayerAck> {
    (0..n).map(|i| ack(i + 1, 1000 + i)).collect()
}

fn input_payload() -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::with_capacity(64);
    arena_codec::encode_input(
        &mut fbb,
        Move {
            x: 64,
            y: -127,
            buttons: 1,
        },
    )
    .to_vec()
}

fn bench_input(c: &mut Criterion) {
    let payload = input_payload();
    let mut group = c.benchmark_group("input");

    let mut enc = ClientEncoder::new();
    let mut seq = 0u32;
    group.bench_function("encode", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            enc.input(black_box(seq), black_box(NOW_US), black_box(&payload))
        })
    });

    let frame = ClientEncoder::new().input(42, NOW_US, &payload);
    group.bench_function("decode", |b| {
        b.iter(|| match decode_client(black_box(&frame), &Limits::CLIENT) {
            Ok(ClientMsg::Input(input)) => (
                input.seq(),
                input.client_time_us(),
                input.payload().map(|p| p.bytes().len()),
            ),
            _ => unreachable!("the benchmark frame is a valid Input"),
        })
    });
    group.finish();
}

fn bench_state(c: &mut Criterion) {
    let mut group = c.benchmark_group("state");
    for n in ROOM_SIZES {
        let state = arena_state(n);
        let acks = acks(n);
        let mut enc = ServerEncoder::new();
        let mut tick = 0u64;
        group.bench_with_input(BenchmarkId::new("encode", n), &n, |b, _| {
            b.iter(|| {
                tick += 1;
                enc.state(
                    black_box(tick),
                    black_box(NOW_US),
                    black_box(&state),
                    black_box(&acks),
                )
            })
        });

        let frame: Bytes = ServerEncoder::new().state(7, NOW_US, &state, &acks);
        // A client reads the tick, finds its own ack and takes the state bytes.
        let me = n / 2;
        group.bench_with_input(BenchmarkId::new("decode", n), &n, |b, _| {
            b.iter(|| match decode_server(black_box(&frame), &Limits::SERVER) {
                Ok(ServerMsg::State(s)) => (
                    s.tick(),
                    s.acks()
                        .and_then(|a| a.iter().find(|a| a.entity_id() == black_box(me))),
                    s.state().map(|v| v.bytes().len()),
                ),
                _ => unreachable!("the benchmark frame is a valid State"),
            })
        });
    }
    group.finish();
}

fn bench_joined(c: &mut Criterion) {
    let state = arena_state(JOINED_PLAYERS);
    let ids: Vec<String> = (0..JOINED_PLAYERS)
        .map(|i| format!("player-{i:04}"))
        .collect();
    let fields = JoinedFields {
        room_id: "arena-0001",
        mode: "arena",
        entity_id: 1,
        tick: 12_345,
        tick_rate_hz: 30,
        capacity: 100,
        state: &state,
        view_radius_cells: 0,
    };
    let mut enc = ServerEncoder::new();
    let mut group = c.benchmark_group("joined");
    group.bench_with_input(
        BenchmarkId::new("encode", JOINED_PLAYERS),
        &JOINED_PLAYERS,
        |b, _| {
            b.iter(|| {
                let players = ids.iter().enumerate().map(|(i, id)| PlayerEntry {
                    entity_id: i as u32 + 1,
                    name: id,
                });
                enc.joined(black_box(&fields), black_box(players))
            })
        },
    );
    group.finish();
}

/// The benchmark group; written out rather than with `criterion_group!`,
/// whose generated `pub fn` trips the workspace's `missing_docs` lint.
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_input(&mut criterion);
    bench_state(&mut criterion);
    bench_joined(&mut criterion);
}

criterion_main!(benches);
