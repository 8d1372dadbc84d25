// Frames of the tickforge.v1 protocol as plain TypeScript values: encoding
// into FlatBuffers with the generated builders, and decoding of untrusted
// bytes, which are verified (verifier.ts) before any field is read. Both
// directions are here: a game client sends ClientMsg and reads ServerMsg;
// tools and tests may need the other way round.

import * as flatbuffers from "flatbuffers";

import { DecodeError } from "./errors.js";
import * as layouts from "./layouts.js";
import { InvalidFlatbuffer, verify, type TableLayout, type VerifierLimits } from "./verifier.js";
import { ClientFrame } from "./generated/tickforge/v1/client-frame.js";
import { ClientMessage } from "./generated/tickforge/v1/client-message.js";
import { Error as ErrorTable } from "./generated/tickforge/v1/error.js";
import { ErrorCode } from "./generated/tickforge/v1/error-code.js";
import { Hello } from "./generated/tickforge/v1/hello.js";
import { Input } from "./generated/tickforge/v1/input.js";
import { JoinRoom } from "./generated/tickforge/v1/join-room.js";
import { Joined } from "./generated/tickforge/v1/joined.js";
import { LeaveRoom } from "./generated/tickforge/v1/leave-room.js";
import { Left } from "./generated/tickforge/v1/left.js";
import { Ping } from "./generated/tickforge/v1/ping.js";
import { PlayerAck as PlayerAckStruct } from "./generated/tickforge/v1/player-ack.js";
import { PlayerAway } from "./generated/tickforge/v1/player-away.js";
import { PlayerInfo as PlayerInfoTable } from "./generated/tickforge/v1/player-info.js";
import { PlayerJoined } from "./generated/tickforge/v1/player-joined.js";
import { PlayerLeft } from "./generated/tickforge/v1/player-left.js";
import { Pong } from "./generated/tickforge/v1/pong.js";
import { Redirect } from "./generated/tickforge/v1/redirect.js";
import { ServerFrame } from "./generated/tickforge/v1/server-frame.js";
import { ServerMessage } from "./generated/tickforge/v1/server-message.js";
import { State } from "./generated/tickforge/v1/state.js";
import { Welcome } from "./generated/tickforge/v1/welcome.js";

/** WebSocket subprotocol offered in `Sec-WebSocket-Protocol`. */
export const SUBPROTOCOL = "tickforge.v1";
/** Protocol version carried in `Welcome.protocol_version`. */
export const PROTOCOL_VERSION = 1;
/** File identifier of client → server frames. */
export const CLIENT_FRAME_ID = "TFC1";
/** File identifier of server → client frames. */
export const SERVER_FRAME_ID = "TFS1";

/** Verifier bounds for client frames (the server's `Limits::CLIENT`). */
export const CLIENT_LIMITS: VerifierLimits = { maxDepth: 8, maxTables: 16, maxApparentSize: 1 << 20 };
/** Verifier bounds for server frames (the Rust client's `Limits::SERVER`): Joined carries one table per player. */
export const SERVER_LIMITS: VerifierLimits = { maxDepth: 8, maxTables: 4096, maxApparentSize: 16 << 20 };

/**
 * A member of a room as the server announces it. Servers with identity send
 * the display name in `name` and, for older clients, in `playerId` as well:
 * other players never see a player's verified id. Older servers send only
 * `playerId` (the id from Hello).
 */
export interface PlayerInfo {
  readonly entityId: number;
  readonly playerId: string | null;
  readonly name: string | null;
  /** The member's connection dropped and the server holds its seat for a resume (see `playerAway`). */
  readonly away: boolean;
}

/** The last input sequence a room applied for one entity (0: none yet). */
export interface PlayerAck {
  readonly entityId: number;
  readonly lastInputSeq: number;
}

/**
 * A client → server message. Absent optional fields are `null`; 64-bit
 * fields are `bigint` (times are microseconds since the UNIX epoch).
 */
export type ClientMsg =
  | {
      readonly type: "hello";
      readonly playerId: string;
      readonly token: string | null;
      readonly clientVersion: string | null;
      /** A `Welcome.resumeToken` (or `Redirect.resumeToken`) of an earlier connection: reattach its held seat. */
      readonly resumeToken: string | null;
    }
  | { readonly type: "joinRoom"; readonly roomId: string | null; readonly mode: string | null; readonly private: boolean }
  | { readonly type: "leaveRoom" }
  | { readonly type: "input"; readonly seq: number; readonly clientTimeUs: bigint; readonly payload: Uint8Array | null }
  | { readonly type: "ping"; readonly clientTimeUs: bigint; readonly nonce: number };

/** A server → client message; byte fields of decoded messages are views into the frame. */
export type ServerMsg =
  | {
      readonly type: "welcome";
      readonly sessionId: bigint;
      readonly nodeId: string | null;
      readonly tickRateHz: number;
      readonly serverTimeUs: bigint;
      readonly protocolVersion: number;
      /** The verified player id (the token's subject); null from servers before identity. */
      readonly playerId: string | null;
      /** The player's display name; null from servers before identity. */
      readonly name: string | null;
      /** Reattaches this connection's seat after a drop (Hello.resume_token); null from servers without resume. */
      readonly resumeToken: string | null;
      /** How long the server holds a dropped connection's seat, in ms (0: resume is off). */
      readonly resumeGraceMs: number;
      /** The Hello's resume token reattached a held seat: a Joined with `resumed` follows. */
      readonly resumed: boolean;
    }
  | {
      readonly type: "joined";
      readonly roomId: string | null;
      readonly mode: string | null;
      readonly entityId: number;
      readonly tick: bigint;
      readonly tickRateHz: number;
      readonly capacity: number;
      readonly state: Uint8Array | null;
      readonly players: readonly PlayerInfo[] | null;
      /** This Joined answers a resume, not a JoinRoom: the same seat and entity as before the drop. */
      readonly resumed: boolean;
      /** With `resumed`: the last input sequence the room applied for this entity. */
      readonly lastInputSeq: number;
    }
  | {
      readonly type: "state";
      readonly tick: bigint;
      readonly serverTimeUs: bigint;
      readonly state: Uint8Array | null;
      readonly acks: readonly PlayerAck[] | null;
    }
  | { readonly type: "playerJoined"; readonly player: PlayerInfo }
  | { readonly type: "playerLeft"; readonly player: PlayerInfo }
  | { readonly type: "playerAway"; readonly player: PlayerInfo; readonly away: boolean }
  | { readonly type: "left"; readonly roomId: string | null }
  | { readonly type: "pong"; readonly clientTimeUs: bigint; readonly serverTimeUs: bigint; readonly nonce: number }
  | { readonly type: "error"; readonly code: number; readonly message: string | null }
  | {
      readonly type: "redirect";
      readonly url: string | null;
      readonly roomId: string | null;
      /** Set on an unasked Redirect (the room moved): a Hello with it at `url` lands in the same room. */
      readonly resumeToken: string | null;
    };

/** The name of an `ErrorCode` number, or `Code<n>` for one this SDK does not know. */
export function errorCodeName(code: number): string {
  return ErrorCode[code] ?? `Code${code}`;
}

export { ErrorCode };

// ------------------------------------------------------------ decoding

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Reads a verified string field given its accessor. */
function str(read: (encoding: flatbuffers.Encoding) => string | Uint8Array | null): string | null {
  const bytes = read(flatbuffers.Encoding.UTF8_BYTES);
  if (bytes === null) return null;
  return typeof bytes === "string" ? bytes : utf8.decode(bytes);
}

function hasIdentifier(bytes: Uint8Array, id: string): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 4; i++) {
    if (bytes[4 + i] !== id.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Checks the file identifier and verifies `bytes` against `root`; returns a
 * reader positioned at the root. Throws {@link DecodeError} with the labels
 * the Rust codec uses.
 */
export function verified(bytes: Uint8Array, id: string | null, root: TableLayout, limits: VerifierLimits): flatbuffers.ByteBuffer {
  if (id !== null && !hasIdentifier(bytes, id)) {
    throw new DecodeError("unexpected_message", `not a ${id} buffer`);
  }
  try {
    verify(bytes, root, limits);
  } catch (e) {
    if (e instanceof InvalidFlatbuffer) throw new DecodeError("bad_frame", `${root.name}: ${e.message}`);
    throw e;
  }
  return new flatbuffers.ByteBuffer(bytes);
}

/** Whether the field in `slot` of a generated table accessor is present in the buffer. */
function present(t: { bb: flatbuffers.ByteBuffer | null; bb_pos: number }, slot: number): boolean {
  return t.bb !== null && t.bb.__offset(t.bb_pos, 4 + 2 * slot) !== 0;
}

function playerInfo(p: PlayerInfoTable): PlayerInfo {
  return { entityId: p.entityId(), playerId: str((e) => p.playerId(e)), name: str((e) => p.name(e)), away: p.away() };
}

function unknownMessage(type: number): DecodeError {
  // 0 (no message) is a broken frame; any other type is one a newer peer may send.
  return new DecodeError("unexpected_message", `unknown message type ${type}`, type === 0 ? null : type);
}

/** Verifies `bytes` as a server frame and decodes its message; throws {@link DecodeError}. */
export function decodeServerFrame(bytes: Uint8Array, limits: VerifierLimits = SERVER_LIMITS): ServerMsg {
  const frame = ServerFrame.getRootAsServerFrame(verified(bytes, SERVER_FRAME_ID, layouts.ServerFrame, limits));
  const type = frame.messageType();
  switch (type) {
    case ServerMessage.Welcome: {
      const m: Welcome = frame.message(new Welcome());
      return {
        type: "welcome",
        sessionId: m.sessionId(),
        nodeId: str((e) => m.nodeId(e)),
        tickRateHz: m.tickRateHz(),
        serverTimeUs: m.serverTimeUs(),
        protocolVersion: m.protocolVersion(),
        playerId: str((e) => m.playerId(e)),
        name: str((e) => m.name(e)),
        resumeToken: str((e) => m.resumeToken(e)),
        resumeGraceMs: m.resumeGraceMs(),
        resumed: m.resumed(),
      };
    }
    case ServerMessage.Joined: {
      const m: Joined = frame.message(new Joined());
      let players: PlayerInfo[] | null = null;
      if (present(m, 7)) {
        players = [];
        for (let i = 0; i < m.playersLength(); i++) {
          const p = m.players(i);
          if (p) players.push(playerInfo(p));
        }
      }
      return {
        type: "joined",
        roomId: str((e) => m.roomId(e)),
        mode: str((e) => m.mode(e)),
        entityId: m.entityId(),
        tick: m.tick(),
        tickRateHz: m.tickRateHz(),
        capacity: m.capacity(),
        state: m.stateArray(),
        players,
        resumed: m.resumed(),
        lastInputSeq: m.lastInputSeq(),
      };
    }
    case ServerMessage.State: {
      const m: State = frame.message(new State());
      let acks: PlayerAck[] | null = null;
      if (present(m, 3)) {
        acks = [];
        const ack = new PlayerAckStruct();
        for (let i = 0; i < m.acksLength(); i++) {
          if (m.acks(i, ack)) acks.push({ entityId: ack.entityId(), lastInputSeq: ack.lastInputSeq() });
        }
      }
      return { type: "state", tick: m.tick(), serverTimeUs: m.serverTimeUs(), state: m.stateArray(), acks };
    }
    case ServerMessage.PlayerJoined: {
      const m: PlayerJoined = frame.message(new PlayerJoined());
      const p = m.player();
      if (!p) throw new DecodeError("bad_frame", "PlayerJoined without player");
      return { type: "playerJoined", player: playerInfo(p) };
    }
    case ServerMessage.PlayerLeft: {
      const m: PlayerLeft = frame.message(new PlayerLeft());
      const p = m.player();
      if (!p) throw new DecodeError("bad_frame", "PlayerLeft without player");
      return { type: "playerLeft", player: playerInfo(p) };
    }
    case ServerMessage.PlayerAway: {
      const m: PlayerAway = frame.message(new PlayerAway());
      const p = m.player();
      if (!p) throw new DecodeError("bad_frame", "PlayerAway without player");
      return { type: "playerAway", player: playerInfo(p), away: m.away() };
    }
    case ServerMessage.Left: {
      const m: Left = frame.message(new Left());
      return { type: "left", roomId: str((e) => m.roomId(e)) };
    }
    case ServerMessage.Pong: {
      const m: Pong = frame.message(new Pong());
      return { type: "pong", clientTimeUs: m.clientTimeUs(), serverTimeUs: m.serverTimeUs(), nonce: m.nonce() };
    }
    case ServerMessage.Error: {
      const m: ErrorTable = frame.message(new ErrorTable());
      return { type: "error", code: m.code(), message: str((e) => m.message(e)) };
    }
    case ServerMessage.Redirect: {
      const m: Redirect = frame.message(new Redirect());
      return { type: "redirect", url: str((e) => m.url(e)), roomId: str((e) => m.roomId(e)), resumeToken: str((e) => m.resumeToken(e)) };
    }
    default:
      throw unknownMessage(type);
  }
}

/** Verifies `bytes` as a client frame and decodes its message; throws {@link DecodeError}. */
export function decodeClientFrame(bytes: Uint8Array, limits: VerifierLimits = CLIENT_LIMITS): ClientMsg {
  const frame = ClientFrame.getRootAsClientFrame(verified(bytes, CLIENT_FRAME_ID, layouts.ClientFrame, limits));
  const type = frame.messageType();
  switch (type) {
    case ClientMessage.Hello: {
      const m: Hello = frame.message(new Hello());
      const playerId = str((e) => m.playerId(e));
      if (playerId === null) throw new DecodeError("bad_frame", "Hello without player_id");
      return {
        type: "hello",
        playerId,
        token: str((e) => m.token(e)),
        clientVersion: str((e) => m.clientVersion(e)),
        resumeToken: str((e) => m.resumeToken(e)),
      };
    }
    case ClientMessage.JoinRoom: {
      const m: JoinRoom = frame.message(new JoinRoom());
      return { type: "joinRoom", roomId: str((e) => m.roomId(e)), mode: str((e) => m.mode(e)), private: m.private_() };
    }
    case ClientMessage.LeaveRoom:
      return { type: "leaveRoom" };
    case ClientMessage.Input: {
      const m: Input = frame.message(new Input());
      return { type: "input", seq: m.seq(), clientTimeUs: m.clientTimeUs(), payload: m.payloadArray() };
    }
    case ClientMessage.Ping: {
      const m: Ping = frame.message(new Ping());
      return { type: "ping", clientTimeUs: m.clientTimeUs(), nonce: m.nonce() };
    }
    default:
      throw unknownMessage(type);
  }
}

// ------------------------------------------------------------ encoding

/** Copies the finished buffer out of `builder` (whose memory is reused) and resets it. */
function finish(builder: flatbuffers.Builder, root: flatbuffers.Offset, id: string | undefined): Uint8Array {
  builder.finish(root, id);
  const bytes = builder.asUint8Array().slice();
  builder.clear();
  return bytes;
}

function string(builder: flatbuffers.Builder, s: string | null): flatbuffers.Offset {
  return s === null ? 0 : builder.createString(s);
}

function bytesVector(builder: flatbuffers.Builder, b: Uint8Array | null): flatbuffers.Offset {
  return b === null ? 0 : builder.createByteVector(b);
}

function playerInfoOffset(builder: flatbuffers.Builder, p: PlayerInfo): flatbuffers.Offset {
  const playerId = string(builder, p.playerId);
  // The same text is written once and referenced twice, as the Rust server does.
  const name = p.name !== null && p.name === p.playerId ? playerId : string(builder, p.name);
  return PlayerInfoTable.createPlayerInfo(builder, p.entityId, playerId, name, p.away);
}

/**
 * Encodes a client frame. `builder` may be reused between calls (it is
 * cleared after each); the returned bytes are a copy that the caller owns.
 */
export function encodeClientFrame(msg: ClientMsg, builder = new flatbuffers.Builder(256)): Uint8Array {
  let type: ClientMessage;
  let offset: flatbuffers.Offset;
  switch (msg.type) {
    case "hello": {
      const playerId = builder.createString(msg.playerId);
      const token = string(builder, msg.token);
      const clientVersion = string(builder, msg.clientVersion);
      const resumeToken = string(builder, msg.resumeToken);
      type = ClientMessage.Hello;
      offset = Hello.createHello(builder, playerId, token, clientVersion, resumeToken);
      break;
    }
    case "joinRoom": {
      const roomId = string(builder, msg.roomId);
      const mode = string(builder, msg.mode);
      type = ClientMessage.JoinRoom;
      offset = JoinRoom.createJoinRoom(builder, roomId, mode, msg.private);
      break;
    }
    case "leaveRoom":
      type = ClientMessage.LeaveRoom;
      LeaveRoom.startLeaveRoom(builder);
      offset = LeaveRoom.endLeaveRoom(builder);
      break;
    case "input": {
      const payload = bytesVector(builder, msg.payload);
      type = ClientMessage.Input;
      offset = Input.createInput(builder, msg.seq >>> 0, msg.clientTimeUs, payload);
      break;
    }
    case "ping":
      type = ClientMessage.Ping;
      offset = Ping.createPing(builder, msg.clientTimeUs, msg.nonce >>> 0);
      break;
  }
  return finish(builder, ClientFrame.createClientFrame(builder, type, offset), CLIENT_FRAME_ID);
}

/** Encodes a server frame (for servers, tools and tests written in TypeScript). */
export function encodeServerFrame(msg: ServerMsg, builder = new flatbuffers.Builder(1024)): Uint8Array {
  let type: ServerMessage;
  let offset: flatbuffers.Offset;
  switch (msg.type) {
    case "welcome": {
      const nodeId = string(builder, msg.nodeId);
      const playerId = string(builder, msg.playerId);
      const name = string(builder, msg.name);
      const resumeToken = string(builder, msg.resumeToken);
      type = ServerMessage.Welcome;
      offset = Welcome.createWelcome(
        builder,
        msg.sessionId,
        nodeId,
        msg.tickRateHz,
        msg.serverTimeUs,
        msg.protocolVersion,
        playerId,
        name,
        resumeToken,
        msg.resumeGraceMs >>> 0,
        msg.resumed,
      );
      break;
    }
    case "joined": {
      let players: flatbuffers.Offset = 0;
      if (msg.players !== null) {
        const infos = msg.players.map((p) => playerInfoOffset(builder, p));
        players = Joined.createPlayersVector(builder, infos);
      }
      const roomId = string(builder, msg.roomId);
      const mode = string(builder, msg.mode);
      const state = bytesVector(builder, msg.state);
      type = ServerMessage.Joined;
      Joined.startJoined(builder);
      Joined.addRoomId(builder, roomId);
      Joined.addMode(builder, mode);
      Joined.addEntityId(builder, msg.entityId);
      Joined.addTick(builder, msg.tick);
      Joined.addTickRateHz(builder, msg.tickRateHz);
      Joined.addCapacity(builder, msg.capacity);
      Joined.addState(builder, state);
      Joined.addPlayers(builder, players);
      Joined.addResumed(builder, msg.resumed);
      Joined.addLastInputSeq(builder, msg.lastInputSeq >>> 0);
      offset = Joined.endJoined(builder);
      break;
    }
    case "state": {
      const state = bytesVector(builder, msg.state);
      let acks: flatbuffers.Offset = 0;
      if (msg.acks !== null) {
        State.startAcksVector(builder, msg.acks.length);
        for (let i = msg.acks.length - 1; i >= 0; i--) {
          const ack = msg.acks[i];
          if (ack) PlayerAckStruct.createPlayerAck(builder, ack.entityId, ack.lastInputSeq);
        }
        acks = builder.endVector();
      }
      type = ServerMessage.State;
      offset = State.createState(builder, msg.tick, msg.serverTimeUs, state, acks);
      break;
    }
    case "playerJoined":
      type = ServerMessage.PlayerJoined;
      offset = PlayerJoined.createPlayerJoined(builder, playerInfoOffset(builder, msg.player));
      break;
    case "playerLeft":
      type = ServerMessage.PlayerLeft;
      offset = PlayerLeft.createPlayerLeft(builder, playerInfoOffset(builder, msg.player));
      break;
    case "playerAway":
      type = ServerMessage.PlayerAway;
      offset = PlayerAway.createPlayerAway(builder, playerInfoOffset(builder, msg.player), msg.away);
      break;
    case "left":
      type = ServerMessage.Left;
      offset = Left.createLeft(builder, string(builder, msg.roomId));
      break;
    case "pong":
      type = ServerMessage.Pong;
      offset = Pong.createPong(builder, msg.clientTimeUs, msg.serverTimeUs, msg.nonce >>> 0);
      break;
    case "error": {
      const message = string(builder, msg.message);
      type = ServerMessage.Error;
      offset = ErrorTable.createError(builder, msg.code, message);
      break;
    }
    case "redirect": {
      const url = string(builder, msg.url);
      const roomId = string(builder, msg.roomId);
      const resumeToken = string(builder, msg.resumeToken);
      type = ServerMessage.Redirect;
      offset = Redirect.createRedirect(builder, url, roomId, resumeToken);
      break;
    }
  }
  return finish(builder, ServerFrame.createServerFrame(builder, type, offset), SERVER_FRAME_ID);
}
