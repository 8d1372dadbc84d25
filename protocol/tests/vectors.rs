//! Byte compatibility with the TypeScript SDK, through the shared vectors in
//! `protocol/vectors/` (see its README).
//!
//! - The Rust encoders must produce exactly the committed `rust/<case>.bin`.
//! - Every committed vector, written by Rust (`rust/`) or by TypeScript
//!   (`ts/`), must pass the verifier and decode to the fields in
//!   `cases.json`.
//! - Every truncation and single-byte corruption of every vector must be
//!   accepted or refused by the verifier exactly as `mutations.json` records;
//!   the TypeScript verifier is held to the same file.
//!
//! `TICKFORGE_WRITE_VECTORS=1` rewrites `rust/` and `mutations.json` instead
//! of comparing them (after a deliberate protocol change; the TypeScript side
//! rewrites `ts/` first: `TICKFORGE_WRITE_VECTORS=1 npm test` in
//! `protocol/ts`). The decode checks run either way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use flatbuffers::FlatBufferBuilder;
use serde_json::{Map, Value, json};
use tickforge_protocol::arena::ArenaEntity;
use tickforge_protocol::arena_codec::{self, Move, Saved};
use tickforge_protocol::codec::Limits;
use tickforge_protocol::encode::{JoinedFields, PlayerEntry, WelcomeResume, ack};
use tickforge_protocol::wire::{ErrorCode, PlayerInfo};
use tickforge_protocol::{
    ClientEncoder, ClientMsg, PROTOCOL_VERSION, ServerEncoder, ServerMsg, decode_client,
    decode_server,
};

/// Set to rewrite the committed Rust vectors and verdicts.
const WRITE_ENV: &str = "TICKFORGE_WRITE_VECTORS";
/// The corruptions applied to every vector, in `mutations.json` order.
const MUTATIONS: [&str; 4] = ["truncate", "xor01", "xor80", "xorff"];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn writing() -> bool {
    std::env::var_os(WRITE_ENV).is_some_and(|v| v == "1")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

// ------------------------------------------------------------------ cases

/// One entry of `cases.json`.
struct Case {
    name: String,
    root: String,
    message: Option<String>,
    fields: Value,
}

fn cases() -> Vec<Case> {
    let path = vectors_dir().join("cases.json");
    let doc: Value = serde_json::from_slice(&read(&path)).expect("cases.json is JSON");
    let list = doc["cases"]
        .as_array()
        .expect("cases.json has a cases array");
    let cases: Vec<Case> = list
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("case name").to_string(),
            root: c["root"].as_str().expect("case root").to_string(),
            message: c["message"].as_str().map(str::to_string),
            fields: c["fields"].clone(),
        })
        .collect();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        cases.len(),
        "case names in cases.json must be unique"
    );
    cases
}

/// Field accessors that fail with the case and field name.
struct Fields<'a> {
    case: &'a str,
    value: &'a Value,
}

impl<'a> Fields<'a> {
    /// Whether the case lists `name` (fields added to the schema after a
    /// case was written may be left out: encoded with their defaults).
    fn has(&self, name: &str) -> bool {
        self.value.get(name).is_some()
    }
    fn opt_bool(&self, name: &str) -> bool {
        self.has(name) && self.bool(name)
    }
    fn opt_uint(&self, name: &str) -> u64 {
        if self.has(name) { self.uint(name) } else { 0 }
    }
    fn new_str(&self, name: &str) -> Option<&'a str> {
        if self.has(name) {
            self.opt_str(name)
        } else {
            None
        }
    }
    fn get(&self, name: &str) -> &'a Value {
        self.value
            .get(name)
            .unwrap_or_else(|| panic!("case {}: no field {name}", self.case))
    }
    fn str(&self, name: &str) -> &'a str {
        self.opt_str(name)
            .unwrap_or_else(|| panic!("case {}: {name} must be a string", self.case))
    }
    fn opt_str(&self, name: &str) -> Option<&'a str> {
        match self.get(name) {
            Value::Null => None,
            v => {
                Some(v.as_str().unwrap_or_else(|| {
                    panic!("case {}: {name} must be a string or null", self.case)
                }))
            }
        }
    }
    fn bool(&self, name: &str) -> bool {
        self.get(name)
            .as_bool()
            .unwrap_or_else(|| panic!("case {}: {name} must be a boolean", self.case))
    }
    fn uint(&self, name: &str) -> u64 {
        self.get(name)
            .as_u64()
            .unwrap_or_else(|| panic!("case {}: {name} must be an unsigned integer", self.case))
    }
    fn int(&self, name: &str) -> i64 {
        self.get(name)
            .as_i64()
            .unwrap_or_else(|| panic!("case {}: {name} must be an integer", self.case))
    }
    fn float(&self, name: &str) -> f64 {
        self.get(name)
            .as_f64()
            .unwrap_or_else(|| panic!("case {}: {name} must be a number", self.case))
    }
    /// A 64-bit integer, written as a decimal string.
    fn u64(&self, name: &str) -> u64 {
        self.str(name).parse().unwrap_or_else(|e| {
            panic!(
                "case {}: {name} must be a decimal u64 string: {e}",
                self.case
            )
        })
    }
    fn sub(&self, name: &str) -> Fields<'a> {
        Fields {
            case: self.case,
            value: self.get(name),
        }
    }
    fn list(&self, name: &str) -> Vec<Fields<'a>> {
        self.get(name)
            .as_array()
            .unwrap_or_else(|| panic!("case {}: {name} must be an array", self.case))
            .iter()
            .map(|value| Fields {
                case: self.case,
                value,
            })
            .collect()
    }
}

fn narrow<T: TryFrom<u64>>(case: &str, value: u64) -> T {
    T::try_from(value).unwrap_or_else(|_| panic!("case {case}: {value} is out of range"))
}

fn from_hex(case: &str, hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "case {case}: odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16)
                .unwrap_or_else(|e| panic!("case {case}: bad hex {hex}: {e}"))
        })
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------ encoding with the Rust encoders

fn arena_move(f: &Fields) -> Move {
    Move {
        x: i8::try_from(f.int("move_x")).expect("move_x is an i8"),
        y: i8::try_from(f.int("move_y")).expect("move_y is an i8"),
        buttons: narrow(f.case, f.uint("buttons")),
    }
}

fn arena_entities(f: &Fields) -> Vec<ArenaEntity> {
    f.list("entities")
        .iter()
        .map(|e| {
            ArenaEntity::new(
                narrow(e.case, e.uint("id")),
                e.float("x") as f32,
                e.float("y") as f32,
                e.float("vx") as f32,
                e.float("vy") as f32,
                narrow(e.case, e.uint("buttons")),
            )
        })
        .collect()
}

fn encode_arena(root: &str, f: &Fields) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    match root {
        "ArenaInput" => arena_codec::encode_input(&mut fbb, arena_move(f)).to_vec(),
        "ArenaState" => {
            arena_codec::encode_state(
                &mut fbb,
                f.float("width") as f32,
                f.float("height") as f32,
                &arena_entities(f),
            );
            fbb.finished_data().to_vec()
        }
        "ArenaSave" => arena_codec::encode_save(Saved {
            x: f.float("x") as f32,
            y: f.float("y") as f32,
            distance: f.float("distance"),
        }),
        other => panic!("case {}: unknown root {other}", f.case),
    }
}

/// Bytes of a byte field: `{"hex": ".."}` or `{"<ArenaRoot>": {fields}}`.
fn byte_field(f: &Fields) -> Vec<u8> {
    let obj = f
        .value
        .as_object()
        .unwrap_or_else(|| panic!("case {}: a byte field must be an object", f.case));
    assert_eq!(
        obj.len(),
        1,
        "case {}: a byte field has exactly one key",
        f.case
    );
    let (kind, inner) = obj.iter().next().expect("one key");
    match kind.as_str() {
        "hex" => from_hex(f.case, inner.as_str().expect("hex string")),
        root => encode_arena(
            root,
            &Fields {
                case: f.case,
                value: inner,
            },
        ),
    }
}

/// A member's entity id and display name. The Rust encoder writes the name
/// into `player_id` as well (other players never see the verified id), so
/// the case must say the same text for both.
fn player(f: &Fields) -> (u32, String) {
    let name = f.str("name");
    assert_eq!(
        f.opt_str("player_id"),
        Some(name),
        "case {}: the Rust encoder writes the display name into player_id too",
        f.case
    );
    (narrow(f.case, f.uint("entity_id")), name.to_string())
}

fn encode_client(case: &Case, f: &Fields) -> Bytes {
    let mut enc = ClientEncoder::new();
    match case.message.as_deref() {
        Some("Hello") => enc.hello_resume(
            f.str("player_id"),
            f.opt_str("token"),
            f.str("client_version"),
            f.new_str("resume_token"),
        ),
        Some("JoinRoom") => match (f.opt_str("room_id"), f.opt_str("mode"), f.bool("private")) {
            (Some(room), None, false) => enc.join_room(room),
            (None, Some(mode), private) => enc.join_mode(mode, private),
            _ => panic!(
                "case {}: the Rust encoder sets exactly one of room_id and mode, and private only with mode",
                case.name
            ),
        },
        Some("LeaveRoom") => enc.leave_room(),
        Some("Input") => enc.input(
            narrow(f.case, f.uint("seq")),
            f.u64("client_time_us"),
            &byte_field(&f.sub("payload")),
        ),
        Some("Ping") => enc.ping(f.u64("client_time_us"), narrow(f.case, f.uint("nonce"))),
        other => panic!("case {}: unknown client message {other:?}", case.name),
    }
}

fn encode_server(case: &Case, f: &Fields) -> Bytes {
    let mut enc = ServerEncoder::new();
    match case.message.as_deref() {
        Some("Welcome") => {
            assert_eq!(
                f.uint("protocol_version"),
                u64::from(PROTOCOL_VERSION),
                "case {}: the Rust encoder always sends PROTOCOL_VERSION",
                case.name
            );
            enc.welcome_resumable(
                f.u64("session_id"),
                f.str("node_id"),
                narrow(f.case, f.uint("tick_rate_hz")),
                f.u64("server_time_us"),
                f.str("player_id"),
                f.str("name"),
                &WelcomeResume {
                    token: f.new_str("resume_token").unwrap_or_default(),
                    grace_ms: narrow(f.case, f.opt_uint("resume_grace_ms")),
                    resumed: f.opt_bool("resumed"),
                },
            )
        }
        Some("Joined") => {
            let state = byte_field(&f.sub("state"));
            let players: Vec<(u32, String, bool)> = f
                .list("players")
                .iter()
                .map(|p| {
                    let (entity_id, name) = player(p);
                    (entity_id, name, p.opt_bool("away"))
                })
                .collect();
            let resumed = f.opt_bool("resumed");
            let last_input_seq: u32 = narrow(f.case, f.opt_uint("last_input_seq"));
            assert!(
                resumed || last_input_seq == 0,
                "case {}: the Rust encoder writes last_input_seq only with resumed",
                case.name
            );
            enc.joined_with(
                &JoinedFields {
                    room_id: f.str("room_id"),
                    mode: f.str("mode"),
                    entity_id: narrow(f.case, f.uint("entity_id")),
                    tick: f.u64("tick"),
                    tick_rate_hz: narrow(f.case, f.uint("tick_rate_hz")),
                    capacity: narrow(f.case, f.uint("capacity")),
                    state: &state,
                    view_radius_cells: 0,
                },
                players.iter().map(|(entity_id, name, away)| {
                    let entry = PlayerEntry {
                        entity_id: *entity_id,
                        name,
                    };
                    (entry, *away)
                }),
                resumed.then_some(last_input_seq),
            )
        }
        Some("State") => {
            let acks: Vec<_> = f
                .list("acks")
                .iter()
                .map(|a| {
                    ack(
                        narrow(a.case, a.uint("entity_id")),
                        narrow(a.case, a.uint("last_input_seq")),
                    )
                })
                .collect();
            enc.state(
                f.u64("tick"),
                f.u64("server_time_us"),
                &byte_field(&f.sub("state")),
                &acks,
            )
        }
        Some("PlayerJoined") => {
            let (entity_id, name) = player(&f.sub("player"));
            enc.player_joined(PlayerEntry {
                entity_id,
                name: &name,
            })
        }
        Some("PlayerLeft") => {
            let (entity_id, name) = player(&f.sub("player"));
            enc.player_left(PlayerEntry {
                entity_id,
                name: &name,
            })
        }
        Some("PlayerAway") => {
            let sub = f.sub("player");
            let (entity_id, name) = player(&sub);
            let away = f.bool("away");
            assert_eq!(
                sub.opt_bool("away"),
                away,
                "case {}: the Rust encoder writes `away` into the PlayerInfo too",
                case.name
            );
            enc.player_away(
                PlayerEntry {
                    entity_id,
                    name: &name,
                },
                away,
            )
        }
        Some("Left") => enc.left(f.str("room_id")),
        Some("Pong") => enc.pong(
            f.u64("client_time_us"),
            f.u64("server_time_us"),
            narrow(f.case, f.uint("nonce")),
        ),
        Some("Error") => enc.error(ErrorCode(narrow(f.case, f.uint("code"))), f.str("message")),
        Some("Redirect") => enc.redirect_resume(
            f.str("url"),
            f.str("room_id"),
            f.new_str("resume_token").unwrap_or_default(),
        ),
        other => panic!("case {}: unknown server message {other:?}", case.name),
    }
}

/// The case encoded by the Rust encoders.
fn encode(case: &Case) -> Vec<u8> {
    let f = Fields {
        case: &case.name,
        value: &case.fields,
    };
    match case.root.as_str() {
        "ClientFrame" => encode_client(case, &f).to_vec(),
        "ServerFrame" => encode_server(case, &f).to_vec(),
        root => encode_arena(root, &f),
    }
}

// ------------------------------------------------------------------ decoding into the cases.json shape

fn s(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_string()))
}

fn u64s(v: u64) -> Value {
    Value::String(v.to_string())
}

/// `fields` with those of `added` that `expected` lists (fields added to
/// the schema after a case was written are compared only when listed).
fn with_listed(mut fields: Value, expected: &Value, added: Value) -> Value {
    if let (Some(out), Some(added)) = (fields.as_object_mut(), added.as_object()) {
        for (k, v) in added {
            if expected.get(k).is_some() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    fields
}

fn player_json(p: PlayerInfo<'_>, expected: &Value) -> Value {
    with_listed(
        json!({ "entity_id": p.entity_id(), "player_id": s(p.player_id()), "name": s(p.name()) }),
        expected,
        json!({ "away": p.away() }),
    )
}

fn decode_arena(root: &str, bytes: &[u8]) -> Result<Value, String> {
    match root {
        "ArenaInput" => {
            let m = arena_codec::decode_input(bytes).map_err(|e| e.to_string())?;
            Ok(json!({ "move_x": m.x, "move_y": m.y, "buttons": m.buttons }))
        }
        "ArenaState" => {
            let state = arena_codec::decode_state(bytes).map_err(|e| e.to_string())?;
            let entities: Vec<Value> = state
                .entities()
                .map(|es| {
                    es.iter()
                        .map(|e| {
                            json!({ "id": e.id(), "x": e.x(), "y": e.y(), "vx": e.vx(), "vy": e.vy(), "buttons": e.buttons() })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(json!({ "width": state.width(), "height": state.height(), "entities": entities }))
        }
        "ArenaSave" => {
            let save = arena_codec::decode_save(bytes).map_err(|e| e.to_string())?;
            Ok(json!({ "x": save.x, "y": save.y, "distance": save.distance }))
        }
        other => Err(format!("unknown root {other}")),
    }
}

/// Decodes a byte field the way the case expects it: as hex, or as the arena message it names.
fn decode_bytes(expected: &Value, bytes: Option<&[u8]>) -> Result<Value, String> {
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    let kind = expected
        .as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
        .unwrap_or("hex");
    Ok(match kind {
        "hex" => json!({ "hex": to_hex(bytes) }),
        root => json!({ root: decode_arena(root, bytes)? }),
    })
}

fn decode_frame(case: &Case, bytes: &[u8]) -> Result<Value, String> {
    let f = &case.fields;
    let (message, fields) = match case.root.as_str() {
        "ClientFrame" => match decode_client(bytes, &Limits::CLIENT).map_err(|e| e.to_string())? {
            ClientMsg::Hello(m) => (
                "Hello",
                with_listed(
                    json!({ "player_id": m.player_id(), "token": s(m.token()), "client_version": s(m.client_version()) }),
                    f,
                    json!({ "resume_token": s(m.resume_token()) }),
                ),
            ),
            ClientMsg::JoinRoom(m) => (
                "JoinRoom",
                json!({ "room_id": s(m.room_id()), "mode": s(m.mode()), "private": m.private() }),
            ),
            ClientMsg::LeaveRoom => ("LeaveRoom", json!({})),
            ClientMsg::Input(m) => (
                "Input",
                json!({
                    "seq": m.seq(),
                    "client_time_us": u64s(m.client_time_us()),
                    "payload": decode_bytes(&f["payload"], m.payload().map(|p| p.bytes()))?,
                }),
            ),
            ClientMsg::Ping(m) => (
                "Ping",
                json!({ "client_time_us": u64s(m.client_time_us()), "nonce": m.nonce() }),
            ),
        },
        "ServerFrame" => match decode_server(bytes, &Limits::SERVER).map_err(|e| e.to_string())? {
            ServerMsg::Welcome(m) => (
                "Welcome",
                with_listed(
                    json!({
                        "session_id": u64s(m.session_id()),
                        "node_id": s(m.node_id()),
                        "tick_rate_hz": m.tick_rate_hz(),
                        "server_time_us": u64s(m.server_time_us()),
                        "protocol_version": m.protocol_version(),
                        "player_id": s(m.player_id()),
                        "name": s(m.name()),
                    }),
                    f,
                    json!({
                        "resume_token": s(m.resume_token()),
                        "resume_grace_ms": m.resume_grace_ms(),
                        "resumed": m.resumed(),
                    }),
                ),
            ),
            ServerMsg::Joined(m) => (
                "Joined",
                with_listed(
                    json!({
                        "room_id": s(m.room_id()),
                        "mode": s(m.mode()),
                        "entity_id": m.entity_id(),
                        "tick": u64s(m.tick()),
                        "tick_rate_hz": m.tick_rate_hz(),
                        "capacity": m.capacity(),
                        "state": decode_bytes(&f["state"], m.state().map(|v| v.bytes()))?,
                        "players": m.players().map(|ps| {
                            ps.iter()
                                .enumerate()
                                .map(|(i, p)| player_json(p, &f["players"][i]))
                                .collect::<Vec<_>>()
                        }),
                    }),
                    f,
                    json!({ "resumed": m.resumed(), "last_input_seq": m.last_input_seq() }),
                ),
            ),
            ServerMsg::State(m) => (
                "State",
                json!({
                    "tick": u64s(m.tick()),
                    "server_time_us": u64s(m.server_time_us()),
                    "state": decode_bytes(&f["state"], m.state().map(|v| v.bytes()))?,
                    "acks": m.acks().map(|acks| {
                        acks.iter()
                            .map(|a| json!({ "entity_id": a.entity_id(), "last_input_seq": a.last_input_seq() }))
                            .collect::<Vec<_>>()
                    }),
                }),
            ),
            ServerMsg::PlayerJoined(m) => (
                "PlayerJoined",
                json!({ "player": player_json(m.player(), &f["player"]) }),
            ),
            ServerMsg::PlayerLeft(m) => (
                "PlayerLeft",
                json!({ "player": player_json(m.player(), &f["player"]) }),
            ),
            ServerMsg::PlayerAway(m) => (
                "PlayerAway",
                json!({ "player": player_json(m.player(), &f["player"]), "away": m.away() }),
            ),
            ServerMsg::Left(m) => ("Left", json!({ "room_id": s(m.room_id()) })),
            ServerMsg::Pong(m) => (
                "Pong",
                json!({
                    "client_time_us": u64s(m.client_time_us()),
                    "server_time_us": u64s(m.server_time_us()),
                    "nonce": m.nonce(),
                }),
            ),
            ServerMsg::Error(m) => (
                "Error",
                json!({ "code": m.code().0, "message": s(m.message()) }),
            ),
            ServerMsg::Redirect(m) => (
                "Redirect",
                with_listed(
                    json!({ "url": s(m.url()), "room_id": s(m.room_id()) }),
                    f,
                    json!({ "resume_token": s(m.resume_token()) }),
                ),
            ),
        },
        root => return decode_arena(root, bytes),
    };
    if case.message.as_deref() != Some(message) {
        return Err(format!("decoded a {message}, expected {:?}", case.message));
    }
    Ok(fields)
}

/// JSON equality where numbers compare by value (1000 equals 1000.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

// ------------------------------------------------------------------ mutations

/// FNV-1a (32 bit): identifies the exact bytes a verdict line was computed for.
fn fnv1a(bytes: &[u8]) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

/// Whether the Rust decoders accept `bytes` as the case's root type.
fn accepted(root: &str, bytes: &[u8]) -> bool {
    match root {
        "ClientFrame" => decode_client(bytes, &Limits::CLIENT).is_ok(),
        "ServerFrame" => decode_server(bytes, &Limits::SERVER).is_ok(),
        "ArenaInput" => arena_codec::decode_input(bytes).is_ok(),
        "ArenaState" => arena_codec::decode_state(bytes).is_ok(),
        "ArenaSave" => arena_codec::decode_save(bytes).is_ok(),
        other => panic!("unknown root {other}"),
    }
}

/// One verdict per mutation of `bytes`: `1` accepted, `0` refused.
fn verdicts(root: &str, bytes: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    for mutation in MUTATIONS {
        let line: String = (0..bytes.len())
            .map(|i| {
                let mutated: Vec<u8> = match mutation {
                    "truncate" => bytes[..i].to_vec(),
                    _ => {
                        let mask = match mutation {
                            "xor01" => 0x01,
                            "xor80" => 0x80,
                            _ => 0xff,
                        };
                        let mut m = bytes.to_vec();
                        m[i] ^= mask;
                        m
                    }
                };
                if accepted(root, &mutated) { '1' } else { '0' }
            })
            .collect();
        out.insert(mutation.to_string(), Value::String(line));
    }
    out
}

/// The committed TypeScript vector of `case`; fails with how to make it.
fn ts_vector(case: &Case) -> Vec<u8> {
    ts_vector_if_written(case).unwrap_or_else(|| {
        panic!(
            "ts/{}.bin is missing: the TypeScript side writes it (`{WRITE_ENV}=1 npm test` in protocol/ts)",
            case.name
        )
    })
}

/// The committed TypeScript vector of `case`, if it was written. While
/// rewriting, a new case whose TypeScript vector does not exist yet gets
/// verdicts for its Rust vector only; the write runs again once the
/// TypeScript side has written its vector.
fn ts_vector_if_written(case: &Case) -> Option<Vec<u8>> {
    let path = vectors_dir().join("ts").join(format!("{}.bin", case.name));
    path.is_file().then(|| read(&path))
}

// ------------------------------------------------------------------ tests

#[test]
fn rust_encoders_produce_the_committed_vectors() {
    let dir = vectors_dir().join("rust");
    let cases = cases();
    let mut stale = Vec::new();
    for case in &cases {
        let fresh = encode(case);
        let path = dir.join(format!("{}.bin", case.name));
        if writing() {
            write(&path, &fresh);
        } else if !path.is_file() {
            stale.push(format!("{} is missing", path.display()));
        } else if read(&path) != fresh {
            stale.push(format!(
                "{}: the Rust encoders now produce {} instead of the committed {}",
                case.name,
                to_hex(&fresh),
                to_hex(&read(&path))
            ));
        }
    }
    let known: Vec<String> = cases.iter().map(|c| format!("{}.bin", c.name)).collect();
    for lang in ["rust", "ts"] {
        for entry in std::fs::read_dir(vectors_dir().join(lang)).expect("list vectors") {
            let name = entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if !known.contains(&name) {
                stale.push(format!(
                    "vectors/{lang}/{name} belongs to no case in cases.json"
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "the Rust encoding changed; byte compatibility with committed vectors is broken:\n{}\n\
         If the change is intended, rewrite with `{WRITE_ENV}=1 cargo test -p tickforge-protocol --test vectors` and commit.",
        stale.join("\n")
    );
}

#[test]
fn vectors_written_by_rust_and_by_typescript_decode_to_the_case_fields() {
    let dir = vectors_dir();
    let mut wrong = Vec::new();
    for case in &cases() {
        let rust = if writing() {
            encode(case)
        } else {
            read(&dir.join("rust").join(format!("{}.bin", case.name)))
        };
        let ts = if writing() {
            ts_vector_if_written(case)
        } else {
            Some(ts_vector(case))
        };
        for (lang, bytes) in [("rust", Some(rust)), ("ts", ts)] {
            let Some(bytes) = bytes else {
                continue;
            };
            match decode_frame(case, &bytes) {
                Ok(decoded) if same(&decoded, &case.fields) => {}
                Ok(decoded) => wrong.push(format!(
                    "{lang}/{}.bin decodes to {decoded}, cases.json says {}",
                    case.name, case.fields
                )),
                Err(e) => wrong.push(format!("{lang}/{}.bin is refused: {e}", case.name)),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_verifier_refuses_exactly_the_recorded_corruptions_of_every_vector() {
    let path = vectors_dir().join("mutations.json");
    let mut files = BTreeMap::new();
    for case in &cases() {
        let ts = if writing() {
            ts_vector_if_written(case)
        } else {
            Some(ts_vector(case))
        };
        for (lang, bytes) in [("rust", Some(encode(case))), ("ts", ts)] {
            let Some(bytes) = bytes else {
                eprintln!("ts/{}.bin not written yet: no verdicts for it", case.name);
                continue;
            };
            let mut entry = Map::new();
            entry.insert("root".into(), Value::String(case.root.clone()));
            entry.insert("fnv1a".into(), Value::String(fnv1a(&bytes)));
            entry.extend(verdicts(&case.root, &bytes));
            files.insert(format!("{lang}/{}.bin", case.name), Value::Object(entry));
        }
    }
    let fresh = json!({
        "about": "For every vector and every position i: whether the Rust verifier accepts (1) or refuses (0) the vector truncated to i bytes (truncate) or with byte i XORed with 0x01, 0x80 or 0xff. The TypeScript verifier must give the same verdicts. Written by protocol/tests/vectors.rs.",
        "mutations": MUTATIONS,
        "files": files,
    });
    let mut text = serde_json::to_string_pretty(&fresh).expect("serialise verdicts");
    text.push('\n');
    if writing() {
        write(&path, text.as_bytes());
        return;
    }
    let committed: Value = serde_json::from_slice(&read(&path)).expect("mutations.json is JSON");
    let mut differences = Vec::new();
    let empty = Map::new();
    let committed_files = committed["files"].as_object().unwrap_or(&empty);
    for (name, entry) in fresh["files"].as_object().unwrap_or(&empty) {
        match committed_files.get(name) {
            None => differences.push(format!("{name} has no verdicts")),
            Some(old) if old["fnv1a"] != entry["fnv1a"] => {
                differences.push(format!("{name} changed since its verdicts were recorded"));
            }
            Some(old) => {
                for mutation in MUTATIONS {
                    let (a, b) = (
                        old[mutation].as_str().unwrap_or(""),
                        entry[mutation].as_str().unwrap_or(""),
                    );
                    if let Some(i) = a.chars().zip(b.chars()).position(|(x, y)| x != y) {
                        differences.push(format!(
                            "{name} {mutation} at byte {i}: recorded {}, the Rust verifier now says {}",
                            &a[i..=i],
                            &b[i..=i]
                        ));
                    } else if a.len() != b.len() {
                        differences
                            .push(format!("{name} {mutation}: verdict lines differ in length"));
                    }
                }
            }
        }
    }
    for name in committed_files.keys() {
        if !fresh["files"]
            .as_object()
            .is_some_and(|f| f.contains_key(name))
        {
            differences.push(format!("{name} has verdicts but no case"));
        }
    }
    assert!(
        differences.is_empty(),
        "{}\nIf the change is intended, rewrite with `{WRITE_ENV}=1 cargo test -p tickforge-protocol --test vectors` \
         (after the TypeScript side rewrote protocol/vectors/ts) and commit.",
        differences.join("\n")
    );
}
