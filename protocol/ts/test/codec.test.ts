// Hostile bytes against the decoders: whatever arrives, decoding either
// returns a message or throws a DecodeError with the Rust codec's label,
// never anything else; and the verifier's layouts agree with the generated
// builders on every table's slot count.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as flatbuffers from "flatbuffers";

import {
  DecodeError,
  SERVER_LIMITS,
  arena,
  decodeArenaInput,
  decodeArenaSave,
  decodeArenaState,
  decodeClientFrame,
  decodeServerFrame,
  encodeArenaInput,
  encodeArenaState,
  encodeClientFrame,
  encodeServerFrame,
  wire,
  type ClientMsg,
  type ServerMsg,
} from "../src/index.js";
import * as layouts from "../src/layouts.js";
import { SDK_VERSION } from "../src/version.js";
import { readFileSync } from "node:fs";
import { loadCases, encodeCase } from "./cases.js";

/** A small deterministic PRNG (xorshift32), so failures can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

const decoders = [decodeServerFrame, decodeClientFrame, decodeArenaInput, decodeArenaState, decodeArenaSave] as const;

function onlyDecodeErrors(bytes: Uint8Array): void {
  for (const decode of decoders) {
    try {
      decode(bytes);
    } catch (e) {
      assert.ok(e instanceof DecodeError, `${decode.name} threw ${String(e)} for ${Buffer.from(bytes).toString("hex")}`);
      assert.ok(e.label === "bad_frame" || e.label === "unexpected_message");
    }
  }
}

test("random bytes are refused with a DecodeError and nothing else", () => {
  const random = prng(7);
  for (let i = 0; i < 20_000; i++) {
    const bytes = new Uint8Array(Math.floor(random() * 96));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    // Give half of them a plausible identifier so the verifier, not the identifier check, refuses them.
    if (i % 2 === 0 && bytes.length >= 8) bytes.set([0x54, 0x46, 0x53, 0x31], 4);
    onlyDecodeErrors(bytes);
  }
});

test("valid frames with many random byte corruptions never throw anything but a DecodeError", () => {
  const random = prng(11);
  const frames = loadCases().map(encodeCase);
  for (let i = 0; i < 20_000; i++) {
    const frame = frames[i % frames.length]!.slice();
    const hits = 1 + Math.floor(random() * 4);
    for (let h = 0; h < hits; h++) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
    onlyDecodeErrors(frame);
  }
});

test("a frame of the other direction or another game is refused as unexpected_message", () => {
  const hello = encodeClientFrame({ type: "hello", playerId: "alice", token: null, clientVersion: null, resumeToken: null });
  assert.throws(() => decodeServerFrame(hello), (e: unknown) => e instanceof DecodeError && e.label === "unexpected_message");
  const state = encodeArenaState({ width: 1, height: 1, entities: [] });
  assert.throws(() => decodeServerFrame(state), (e: unknown) => e instanceof DecodeError && e.label === "unexpected_message");
  assert.throws(() => decodeArenaState(encodeArenaInput({ x: 1, y: 1, buttons: 0 })), (e: unknown) => e instanceof DecodeError);
});

test("an unknown message type is refused as unexpected_message", () => {
  const builder = new flatbuffers.Builder(64);
  const left = wire.Left.createLeft(builder, builder.createString("r"));
  builder.finish(wire.ServerFrame.createServerFrame(builder, 42 as wire.ServerMessage, left), "TFS1");
  assert.throws(
    () => decodeServerFrame(builder.asUint8Array()),
    (e: unknown) => e instanceof DecodeError && e.label === "unexpected_message" && /42/.test(e.detail),
  );
});

test("a Joined with more player tables than the limit is refused, one under it is read", () => {
  const players = (n: number) => Array.from({ length: n }, (_, i) => ({ entityId: i + 1, playerId: `p${i}`, name: `p${i}`, away: false }));
  const joined = (n: number): ServerMsg => ({
    type: "joined",
    roomId: "r",
    mode: "arena",
    entityId: 1,
    tick: 0n,
    tickRateHz: 30,
    capacity: 0,
    state: null,
    players: players(n),
    resumed: false,
    lastInputSeq: 0,
  });
  // The frame, the Joined and one table per player.
  const fits = SERVER_LIMITS.maxTables - 2;
  const ok = decodeServerFrame(encodeServerFrame(joined(fits)));
  assert.equal(ok.type === "joined" && ok.players?.length, fits);
  assert.throws(
    () => decodeServerFrame(encodeServerFrame(joined(fits + 1))),
    (e: unknown) => e instanceof DecodeError && e.label === "bad_frame" && /too many tables/.test(e.message),
  );
});

test("identity fields are null in frames of servers before identity; a name equal to the player id is written once", () => {
  const old = decodeServerFrame(
    encodeServerFrame({ type: "welcome", sessionId: 1n, nodeId: "n", tickRateHz: 30, serverTimeUs: 1n, protocolVersion: 1, playerId: null, name: null, resumeToken: null, resumeGraceMs: 0, resumed: false }),
  );
  assert.ok(old.type === "welcome");
  assert.equal(old.playerId, null);
  assert.equal(old.name, null);

  const shared = encodeServerFrame({ type: "playerJoined", player: { entityId: 1, playerId: "Ada", name: "Ada", away: false } });
  const apart = encodeServerFrame({ type: "playerJoined", player: { entityId: 1, playerId: "Ada", name: "Bob", away: false } });
  assert.ok(shared.length < apart.length, `${shared.length} bytes with one string, ${apart.length} with two`);
  assert.deepEqual(decodeServerFrame(shared), { type: "playerJoined", player: { entityId: 1, playerId: "Ada", name: "Ada", away: false } });
  const legacy = decodeServerFrame(encodeServerFrame({ type: "playerLeft", player: { entityId: 2, playerId: "carol", name: null, away: false } }));
  assert.deepEqual(legacy, { type: "playerLeft", player: { entityId: 2, playerId: "carol", name: null, away: false } });
});

test("byte fields are views into the frame, not copies", () => {
  const frame = encodeServerFrame({ type: "state", tick: 1n, serverTimeUs: 2n, state: new Uint8Array([1, 2, 3]), acks: [] });
  const msg = decodeServerFrame(frame);
  assert.ok(msg.type === "state" && msg.state);
  assert.equal(msg.state.buffer, frame.buffer);
  assert.deepEqual([...msg.state], [1, 2, 3]);
});

test("arena inputs out of range are a programming error, not a silent clamp", () => {
  assert.throws(() => encodeArenaInput({ x: 128, y: 0, buttons: 0 }), RangeError);
  assert.throws(() => encodeArenaInput({ x: 0.5, y: 0, buttons: 0 }), RangeError);
  assert.throws(() => encodeArenaInput({ x: 0, y: 0, buttons: 256 }), RangeError);
});

test("every verifier layout has as many slots as the generated builder starts its table with", () => {
  const generated: Record<string, { start: (b: flatbuffers.Builder) => void }> = {
    Hello: { start: wire.Hello.startHello },
    JoinRoom: { start: wire.JoinRoom.startJoinRoom },
    LeaveRoom: { start: wire.LeaveRoom.startLeaveRoom },
    Input: { start: wire.Input.startInput },
    Ping: { start: wire.Ping.startPing },
    ClientFrame: { start: wire.ClientFrame.startClientFrame },
    Welcome: { start: wire.Welcome.startWelcome },
    PlayerInfo: { start: wire.PlayerInfo.startPlayerInfo },
    Joined: { start: wire.Joined.startJoined },
    State: { start: wire.State.startState },
    PlayerJoined: { start: wire.PlayerJoined.startPlayerJoined },
    PlayerAway: { start: wire.PlayerAway.startPlayerAway },
    PlayerLeft: { start: wire.PlayerLeft.startPlayerLeft },
    Left: { start: wire.Left.startLeft },
    Pong: { start: wire.Pong.startPong },
    Error: { start: wire.Error.startError },
    Redirect: { start: wire.Redirect.startRedirect },
    ServerFrame: { start: wire.ServerFrame.startServerFrame },
    ArenaInput: { start: arena.ArenaInput.startArenaInput },
    ArenaState: { start: arena.ArenaState.startArenaState },
    ArenaSave: { start: arena.ArenaSave.startArenaSave },
  };
  const all = Object.values(layouts);
  assert.equal(all.length, Object.keys(generated).length, "a table has no layout, or a layout no table");
  for (const layout of all) {
    const entry = generated[layout.name];
    assert.ok(entry, `no generated table ${layout.name}`);
    let slots = -1;
    entry.start({ startObject: (n: number) => (slots = n) } as unknown as flatbuffers.Builder);
    assert.equal(layout.slots, slots, `${layout.name}: the layout has ${layout.slots} slots, the schema ${slots}`);
    // And its check looks at each of those slots exactly once.
    const seen: number[] = [];
    const record = (slot: number) => seen.push(slot);
    layout.check({
      scalar: record,
      string: record,
      bytes: record,
      structs: record,
      table: record,
      tables: record,
      union: (slot: number) => seen.push(slot, slot + 1),
    } as unknown as Parameters<typeof layout.check>[0]);
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      Array.from({ length: slots }, (_, i) => i),
      `${layout.name} checks slots ${seen.join(", ")}`,
    );
  }
});

test("the SDK version sent in Hello is the package version", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  assert.equal(SDK_VERSION, pkg.version);
});

test("the resume fields and PlayerAway survive encoding and decoding in both directions", () => {
  const hello: ClientMsg = { type: "hello", playerId: "", token: "jwt", clientVersion: "v", resumeToken: "resume-1" };
  assert.deepEqual(decodeClientFrame(encodeClientFrame(hello)), hello);
  const messages: ServerMsg[] = [
    {
      type: "welcome",
      sessionId: 7n,
      nodeId: "node-b",
      tickRateHz: 30,
      serverTimeUs: 1n,
      protocolVersion: 1,
      playerId: "g_1",
      name: "Ada",
      resumeToken: "resume-2",
      resumeGraceMs: 15_000,
      resumed: true,
    },
    {
      type: "joined",
      roomId: "r",
      mode: "arena",
      entityId: 3,
      tick: 99n,
      tickRateHz: 30,
      capacity: 8,
      state: null,
      players: [{ entityId: 4, playerId: "Bob", name: "Bob", away: true }],
      resumed: true,
      lastInputSeq: 4_294_967_295,
    },
    { type: "playerAway", player: { entityId: 4, playerId: "Bob", name: "Bob", away: true }, away: true },
    { type: "playerAway", player: { entityId: 4, playerId: "Bob", name: "Bob", away: false }, away: false },
    { type: "redirect", url: "ws://node-b/ws", roomId: "r", resumeToken: "resume-3" },
  ];
  for (const msg of messages) assert.deepEqual(decodeServerFrame(encodeServerFrame(msg)), msg);
});

test("a frame of a message type this SDK does not know names the type, so a client can skip it", () => {
  const builder = new flatbuffers.Builder(64);
  const left = wire.Left.createLeft(builder, builder.createString("r"));
  builder.finish(wire.ServerFrame.createServerFrame(builder, 42 as wire.ServerMessage, left), "TFS1");
  assert.throws(() => decodeServerFrame(builder.asUint8Array()), (e: unknown) => e instanceof DecodeError && e.unknownMessageType === 42);
});
