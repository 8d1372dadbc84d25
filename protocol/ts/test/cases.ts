// The shared vectors of protocol/vectors/ seen from TypeScript: reading
// cases.json, encoding a case with this SDK's encoders, and decoding bytes
// back into the shape of a case's fields.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import {
  DecodeError,
  decodeArenaInput,
  decodeArenaSave,
  decodeArenaState,
  decodeClientFrame,
  decodeServerFrame,
  encodeArenaInput,
  encodeArenaSave,
  encodeArenaState,
  encodeClientFrame,
  encodeServerFrame,
  type ArenaStateView,
  type ClientMsg,
  type PlayerInfo,
  type ServerMsg,
} from "../src/index.js";

/** protocol/vectors/, from build/test/ where the compiled tests run. */
export const vectorsDir = fileURLToPath(new URL("../../../vectors/", import.meta.url));

/** Set to `1` to rewrite protocol/vectors/ts instead of comparing with it. */
export const WRITE_ENV = "TICKFORGE_WRITE_VECTORS";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Fields = { [key: string]: Json };

export interface Case {
  readonly name: string;
  readonly root: "ClientFrame" | "ServerFrame" | "ArenaInput" | "ArenaState" | "ArenaSave";
  readonly message?: string;
  readonly fields: Fields;
}

export function loadCases(): Case[] {
  const doc = JSON.parse(readFileSync(vectorsDir + "cases.json", "utf8")) as { cases: Case[] };
  return doc.cases;
}

// ------------------------------------------------------------ field access

function fail(message: string): never {
  throw new Error(message);
}

function obj(v: Json | undefined, what: string): Fields {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v : fail(`${what} must be an object`);
}

function str(f: Fields, k: string): string {
  const v = f[k];
  return typeof v === "string" ? v : fail(`${k} must be a string`);
}

function optStr(f: Fields, k: string): string | null {
  const v = f[k];
  return v === null ? null : str(f, k);
}

function bool(f: Fields, k: string): boolean {
  const v = f[k];
  return typeof v === "boolean" ? v : fail(`${k} must be a boolean`);
}

function n(f: Fields, k: string): number {
  const v = f[k];
  return typeof v === "number" ? v : fail(`${k} must be a number`);
}

function big(f: Fields, k: string): bigint {
  return BigInt(str(f, k));
}

function list(f: Fields, k: string): Fields[] {
  const v = f[k];
  return Array.isArray(v) ? v.map((x) => obj(x, k)) : fail(`${k} must be an array`);
}

// Fields added to the schema after a case was written may be left out of it:
// it is encoded with their defaults, and decoded fields are compared only
// for the keys the case lists.

function optBool(f: Fields, k: string): boolean {
  return k in f ? bool(f, k) : false;
}

function optN(f: Fields, k: string): number {
  return k in f ? n(f, k) : 0;
}

function newStr(f: Fields, k: string): string | null {
  return k in f ? optStr(f, k) : null;
}

/** `fields` with those of `added` whose keys `expected` lists. */
function withListed(fields: Fields, expected: Json | undefined, added: Fields): Fields {
  const listed = expected !== null && typeof expected === "object" && !Array.isArray(expected) ? expected : {};
  const out: Fields = { ...fields };
  for (const [k, v] of Object.entries(added)) if (k in listed) out[k] = v;
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// ------------------------------------------------------------ encoding

function arenaState(f: Fields): ArenaStateView {
  return {
    width: n(f, "width"),
    height: n(f, "height"),
    entities: list(f, "entities").map((e) => ({
      id: n(e, "id"),
      x: n(e, "x"),
      y: n(e, "y"),
      vx: n(e, "vx"),
      vy: n(e, "vy"),
      buttons: n(e, "buttons"),
    })),
  };
}

function encodeArena(root: string, f: Fields): Uint8Array {
  switch (root) {
    case "ArenaInput":
      return encodeArenaInput({ x: n(f, "move_x"), y: n(f, "move_y"), buttons: n(f, "buttons") });
    case "ArenaState":
      return encodeArenaState(arenaState(f));
    case "ArenaSave":
      return encodeArenaSave({ x: n(f, "x"), y: n(f, "y"), distance: n(f, "distance") });
    default:
      return fail(`unknown root ${root}`);
  }
}

/** A byte field: `{"hex": ".."}` or `{"<ArenaRoot>": {fields}}`. */
function byteField(v: Json | undefined): Uint8Array | null {
  if (v === null) return null;
  const [kind, inner] = Object.entries(obj(v, "byte field"))[0] ?? fail("empty byte field");
  return kind === "hex" ? fromHex(typeof inner === "string" ? inner : fail("hex")) : encodeArena(kind, obj(inner, kind));
}

function player(f: Fields): PlayerInfo {
  return { entityId: n(f, "entity_id"), playerId: optStr(f, "player_id"), name: optStr(f, "name"), away: optBool(f, "away") };
}

function clientMsg(c: Case): ClientMsg {
  const f = c.fields;
  switch (c.message) {
    case "Hello":
      return {
        type: "hello",
        playerId: str(f, "player_id"),
        token: optStr(f, "token"),
        clientVersion: optStr(f, "client_version"),
        resumeToken: newStr(f, "resume_token"),
      };
    case "JoinRoom":
      return { type: "joinRoom", roomId: optStr(f, "room_id"), mode: optStr(f, "mode"), private: bool(f, "private") };
    case "LeaveRoom":
      return { type: "leaveRoom" };
    case "Input":
      return { type: "input", seq: n(f, "seq"), clientTimeUs: big(f, "client_time_us"), payload: byteField(f["payload"]) };
    case "Ping":
      return { type: "ping", clientTimeUs: big(f, "client_time_us"), nonce: n(f, "nonce") };
    default:
      return fail(`unknown client message ${c.message}`);
  }
}

function serverMsg(c: Case): ServerMsg {
  const f = c.fields;
  switch (c.message) {
    case "Welcome":
      return {
        type: "welcome",
        sessionId: big(f, "session_id"),
        nodeId: optStr(f, "node_id"),
        tickRateHz: n(f, "tick_rate_hz"),
        serverTimeUs: big(f, "server_time_us"),
        protocolVersion: n(f, "protocol_version"),
        playerId: optStr(f, "player_id"),
        name: optStr(f, "name"),
        resumeToken: newStr(f, "resume_token"),
        resumeGraceMs: optN(f, "resume_grace_ms"),
        resumed: optBool(f, "resumed"),
      };
    case "Joined":
      return {
        type: "joined",
        roomId: optStr(f, "room_id"),
        mode: optStr(f, "mode"),
        entityId: n(f, "entity_id"),
        tick: big(f, "tick"),
        tickRateHz: n(f, "tick_rate_hz"),
        capacity: n(f, "capacity"),
        state: byteField(f["state"]),
        players: f["players"] === null ? null : list(f, "players").map(player),
        resumed: optBool(f, "resumed"),
        lastInputSeq: optN(f, "last_input_seq"),
      };
    case "State":
      return {
        type: "state",
        tick: big(f, "tick"),
        serverTimeUs: big(f, "server_time_us"),
        state: byteField(f["state"]),
        acks: f["acks"] === null ? null : list(f, "acks").map((a) => ({ entityId: n(a, "entity_id"), lastInputSeq: n(a, "last_input_seq") })),
      };
    case "PlayerJoined":
      return { type: "playerJoined", player: player(obj(f["player"], "player")) };
    case "PlayerLeft":
      return { type: "playerLeft", player: player(obj(f["player"], "player")) };
    case "PlayerAway":
      return { type: "playerAway", player: player(obj(f["player"], "player")), away: bool(f, "away") };
    case "Left":
      return { type: "left", roomId: optStr(f, "room_id") };
    case "Pong":
      return { type: "pong", clientTimeUs: big(f, "client_time_us"), serverTimeUs: big(f, "server_time_us"), nonce: n(f, "nonce") };
    case "Error":
      return { type: "error", code: n(f, "code"), message: optStr(f, "message") };
    case "Redirect":
      return { type: "redirect", url: optStr(f, "url"), roomId: optStr(f, "room_id"), resumeToken: newStr(f, "resume_token") };
    default:
      return fail(`unknown server message ${c.message}`);
  }
}

/** The case encoded by this SDK. */
export function encodeCase(c: Case): Uint8Array {
  switch (c.root) {
    case "ClientFrame":
      return encodeClientFrame(clientMsg(c));
    case "ServerFrame":
      return encodeServerFrame(serverMsg(c));
    default:
      return encodeArena(c.root, c.fields);
  }
}

// ------------------------------------------------------------ decoding

function decodeArena(root: string, bytes: Uint8Array): Fields {
  switch (root) {
    case "ArenaInput": {
      const m = decodeArenaInput(bytes);
      return { move_x: m.x, move_y: m.y, buttons: m.buttons };
    }
    case "ArenaState": {
      const s = decodeArenaState(bytes);
      return {
        width: s.width,
        height: s.height,
        entities: s.entities.map((e) => ({ id: e.id, x: e.x, y: e.y, vx: e.vx, vy: e.vy, buttons: e.buttons })),
      };
    }
    case "ArenaSave": {
      const s = decodeArenaSave(bytes);
      return { x: s.x, y: s.y, distance: s.distance };
    }
    default:
      return fail(`unknown root ${root}`);
  }
}

/** Decodes a byte field the way the case expects it. */
function bytesAs(expected: Json | undefined, bytes: Uint8Array | null): Json {
  if (bytes === null) return null;
  const kind = expected !== null && typeof expected === "object" && !Array.isArray(expected) ? Object.keys(expected)[0] : "hex";
  if (kind === undefined || kind === "hex") return { hex: hex(bytes) };
  return { [kind]: decodeArena(kind, bytes) };
}

function playerJson(p: PlayerInfo, expected: Json | undefined): Fields {
  return withListed({ entity_id: p.entityId, player_id: p.playerId, name: p.name }, expected, { away: p.away });
}

/** Verifies and decodes `bytes` as the case's root and returns `[message, fields]` in the shape of cases.json. */
export function decodeCase(c: Case, bytes: Uint8Array): [string | undefined, Fields] {
  const f = c.fields;
  if (c.root === "ClientFrame") {
    const m = decodeClientFrame(bytes);
    switch (m.type) {
      case "hello":
        return ["Hello", withListed({ player_id: m.playerId, token: m.token, client_version: m.clientVersion }, f, { resume_token: m.resumeToken })];
      case "joinRoom":
        return ["JoinRoom", { room_id: m.roomId, mode: m.mode, private: m.private }];
      case "leaveRoom":
        return ["LeaveRoom", {}];
      case "input":
        return ["Input", { seq: m.seq, client_time_us: m.clientTimeUs.toString(), payload: bytesAs(f["payload"], m.payload) }];
      case "ping":
        return ["Ping", { client_time_us: m.clientTimeUs.toString(), nonce: m.nonce }];
    }
  }
  if (c.root === "ServerFrame") {
    const m = decodeServerFrame(bytes);
    switch (m.type) {
      case "welcome":
        return [
          "Welcome",
          withListed(
            {
              session_id: m.sessionId.toString(),
              node_id: m.nodeId,
              tick_rate_hz: m.tickRateHz,
              server_time_us: m.serverTimeUs.toString(),
              protocol_version: m.protocolVersion,
              player_id: m.playerId,
              name: m.name,
            },
            f,
            { resume_token: m.resumeToken, resume_grace_ms: m.resumeGraceMs, resumed: m.resumed },
          ),
        ];
      case "joined":
        return [
          "Joined",
          withListed(
            {
              room_id: m.roomId,
              mode: m.mode,
              entity_id: m.entityId,
              tick: m.tick.toString(),
              tick_rate_hz: m.tickRateHz,
              capacity: m.capacity,
              state: bytesAs(f["state"], m.state),
              players: m.players === null ? null : m.players.map((p, i) => playerJson(p, Array.isArray(f["players"]) ? f["players"][i] : undefined)),
            },
            f,
            { resumed: m.resumed, last_input_seq: m.lastInputSeq },
          ),
        ];
      case "state":
        return [
          "State",
          {
            tick: m.tick.toString(),
            server_time_us: m.serverTimeUs.toString(),
            state: bytesAs(f["state"], m.state),
            acks: m.acks === null ? null : m.acks.map((a) => ({ entity_id: a.entityId, last_input_seq: a.lastInputSeq })),
          },
        ];
      case "playerJoined":
        return ["PlayerJoined", { player: playerJson(m.player, f["player"]) }];
      case "playerLeft":
        return ["PlayerLeft", { player: playerJson(m.player, f["player"]) }];
      case "playerAway":
        return ["PlayerAway", { player: playerJson(m.player, f["player"]), away: m.away }];
      case "left":
        return ["Left", { room_id: m.roomId }];
      case "pong":
        return ["Pong", { client_time_us: m.clientTimeUs.toString(), server_time_us: m.serverTimeUs.toString(), nonce: m.nonce }];
      case "error":
        return ["Error", { code: m.code, message: m.message }];
      case "redirect":
        return ["Redirect", withListed({ url: m.url, room_id: m.roomId }, f, { resume_token: m.resumeToken })];
    }
  }
  return [undefined, decodeArena(c.root, bytes)];
}

/** Whether this SDK accepts `bytes` as a `root`. */
export function accepted(root: Case["root"], bytes: Uint8Array): boolean {
  try {
    switch (root) {
      case "ClientFrame":
        decodeClientFrame(bytes);
        break;
      case "ServerFrame":
        decodeServerFrame(bytes);
        break;
      case "ArenaInput":
        decodeArenaInput(bytes);
        break;
      case "ArenaState":
        decodeArenaState(bytes);
        break;
      case "ArenaSave":
        decodeArenaSave(bytes);
        break;
    }
    return true;
  } catch (e) {
    if (e instanceof DecodeError) return false;
    throw e;
  }
}

/** FNV-1a (32 bit) of `bytes`, as in mutations.json. */
export function fnv1a(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (const b of bytes) {
    hash ^= b;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

export { hex };
