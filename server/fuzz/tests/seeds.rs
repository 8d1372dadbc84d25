//! Writes the seed inputs of every target into `corpus/<target>/`:
//! `cargo test -p tickforge-fuzz --test seeds -- --ignored`. The client
//! frames, arena inputs and saves come from `protocol/vectors/` (written by
//! the Rust and the TypeScript encoders); the session scripts send those
//! vectors as raw frames and walk the state machine's main paths; the
//! snapshot records are encoded by the server's own encoder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tickforge_fuzz::session::script::{FrameBytes, Writer};
use tickforge_server::persist::Snapshot;
use tickforge_server::persist::record::{encode_record, encode_value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn vectors() -> PathBuf {
    root().join("../../protocol/vectors")
}

fn vector(name: &str) -> Vec<u8> {
    let path = vectors().join("rust").join(format!("{name}.bin"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = root().join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!("seed-{name}"));
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Copies the vectors whose names start with `prefix`, from both languages
/// (identical files once).
fn copy_vectors(target: &str, prefixes: &[&str]) {
    let mut seen = std::collections::BTreeSet::new();
    for lang in ["rust", "ts"] {
        let dir = vectors().join(lang);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
            if seen.insert(data.clone()) {
                write(target, &format!("{lang}-{name}"), &data);
            }
        }
    }
}

fn snapshot(player: &str, expires_us: Option<u64>) -> Snapshot {
    Snapshot {
        player_id: Arc::from(player),
        room_id: Arc::from("node-1-6790-00ff"),
        version: 3,
        captured_us: 1_765_000_000_000_000,
        state: Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 8]),
        expires_us,
    }
}

fn session_scripts() -> Vec<(&'static str, Vec<u8>)> {
    use FrameBytes as F;
    let raw = |name: &str| F::raw(&vector(name));
    vec![
        (
            "vectors",
            Writer::new()
                .send(
                    0,
                    &[
                        raw("client_hello_unicode_without_token"),
                        raw("client_join_or_create_by_mode"),
                    ],
                )
                .send(
                    0,
                    &[
                        raw("client_input_arena_move"),
                        raw("client_input_empty_payload"),
                        raw("client_ping"),
                    ],
                )
                .wait(1)
                .send(
                    0,
                    &[raw("client_leave_room"), raw("client_create_private_room")],
                )
                .send(1, &[raw("client_hello_with_token")])
                .send(2, &[raw("client_hello_session_token_without_player_id")])
                .send(3, &[F::hello(3), raw("client_join_room_by_id")])
                .send(3, &[raw("client_input_largest_values_opaque_payload")])
                .finish(),
        ),
        (
            "two-players-one-room",
            Writer::new()
                .send(0, &[F::hello(0), F::join_mode(0, false)])
                .send(1, &[F::hello_with_token(1), F::join_room_of(0)])
                .send(0, &[F::input(1, 127, 0, 1), F::input(2, 0, -127, 0)])
                .wait(1)
                .send(1, &[F::input(1, -20, 20, 0), F::ping(7)])
                .wait(1)
                .send(1, &[F::leave(), F::join_room_of(0), F::input(2, 1, 1, 0)])
                .wait(1)
                .send(0, &[F::leave()])
                .finish(),
        ),
        (
            "full-room-and-private-room",
            Writer::new()
                .send(0, &[F::hello(0), F::join_mode(1, false)])
                .send(1, &[F::hello(1), F::join_mode(1, false)])
                .send(2, &[F::hello(2), F::join_room_of(0)])
                .send(3, &[F::hello(3), F::join_mode(0, true)])
                .send(2, &[F::join_room_of(3), F::join_mode(2, false)])
                .wait(2)
                .finish(),
        ),
        (
            "replaced-kicked-banned",
            Writer::new()
                .send(0, &[F::hello(0), F::join_mode(0, false)])
                .send(1, &[F::hello_with_token(0), F::join_mode(0, false)])
                .send(2, &[F::hello(2), F::join_mode(0, false)])
                .operator(2, 0)
                .send(3, &[F::hello(3), F::join_mode(0, false)])
                .operator(3, 1)
                .send(3, &[F::hello(3)])
                .operator(3, 2)
                .send(3, &[F::hello(3), F::join_mode(0, false)])
                .finish(),
        ),
        (
            "slow-consumer",
            Writer::new()
                .send(0, &[F::hello(0), F::join_mode(0, false)])
                .send(1, &[F::hello(1), F::join_room_of(0)])
                .stall(1, true)
                .wait(3)
                .wait(3)
                .stall(1, false)
                .send(1, &[F::hello(1), F::join_room_of(0)])
                .stall(1, true)
                .send(1, &[F::ping(1), F::ping(2), F::ping(3), F::ping(4)])
                .wait(3)
                .finish(),
        ),
        (
            "timeouts",
            Writer::new()
                .send(0, &[F::ping(1)])
                .send(1, &[F::raw(b"")])
                .send(3, &[F::ws_ping()])
                .send(2, &[F::hello(2), F::join_mode(0, false)])
                .wait(5)
                .wait(6)
                .finish(),
        ),
        (
            "stream-errors",
            Writer::new()
                .send(0, &[F::hello(0)])
                .hangup(0, 1)
                .send(1, &[F::hello(1), F::join_mode(0, false)])
                .hangup(1, 2)
                .send(2, &[F::hello(2)])
                .hangup(2, 3)
                .send(3, &[F::hello(3), F::join_mode(0, false)])
                .hangup(3, 4)
                .send(0, &[F::hello(0)])
                .hangup(0, 5)
                .send(1, &[F::hello(1)])
                .hangup(1, 6)
                .send(2, &[F::hello(2), F::join_mode(0, false)])
                .hangup(2, 0)
                .finish(),
        ),
    ]
}

#[test]
#[ignore = "writes the seed corpus; run on purpose"]
fn write_the_seed_corpus() {
    copy_vectors("client_frame", &["client_", "server_welcome"]);
    copy_vectors("arena_input", &["arena_input", "arena_save"]);
    let mut plain = Vec::new();
    encode_value(&snapshot("p0", None), &mut plain);
    write("snapshot_record", "value-plain", &plain);
    let mut guest = Vec::new();
    encode_value(&snapshot("g0", Some(1_765_604_800_000_000)), &mut guest);
    write("snapshot_record", "value-guest", &guest);
    let mut spill = Vec::new();
    encode_record(&snapshot("p0", None), &mut spill);
    encode_record(&snapshot("g0", Some(1_765_604_800_000_000)), &mut spill);
    write("snapshot_record", "spill-records", &spill);
    for (name, script) in session_scripts() {
        write("session", name, &script);
    }
}
