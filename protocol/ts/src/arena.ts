// Messages of the reference game `arena` (protocol/schema/arena.fbs): the
// input a player sends in Input.payload, the state a room sends in
// State.state and Joined.state, and a player's saved state. Decoding
// verifies first, with the bounds the Rust `arena_codec` uses.

import * as flatbuffers from "flatbuffers";

import { verified } from "./codec.js";
import * as layouts from "./layouts.js";
import type { VerifierLimits } from "./verifier.js";
import { ArenaEntity } from "./generated/tickforge/arena/arena-entity.js";
import { ArenaInput } from "./generated/tickforge/arena/arena-input.js";
import { ArenaSave } from "./generated/tickforge/arena/arena-save.js";
import { ArenaState } from "./generated/tickforge/arena/arena-state.js";

/** File identifier of arena state buffers. */
export const ARENA_STATE_ID = "TFA1";
/** Verifier bounds for arena inputs and saves (flat tables). */
export const ARENA_LIMITS: VerifierLimits = { maxDepth: 4, maxTables: 4, maxApparentSize: 1 << 20 };
/** Verifier bounds for arena states (a room's entities can be many). */
export const ARENA_STATE_LIMITS: VerifierLimits = { ...ARENA_LIMITS, maxApparentSize: 16 << 20 };
/** Button bit 0: boost (doubles the speed). */
export const BOOST = 1;

/** An arena input: movement axes in -127..=127 (full stick at ±127) and a button mask. */
export interface ArenaMove {
  readonly x: number;
  readonly y: number;
  readonly buttons: number;
}

/** One entity of an arena state. Positions are world units, velocities units per second. */
export interface ArenaEntityState {
  readonly id: number;
  readonly x: number;
  readonly y: number;
  readonly vx: number;
  readonly vy: number;
  readonly buttons: number;
}

/** A decoded arena state. */
export interface ArenaStateView {
  readonly width: number;
  readonly height: number;
  readonly entities: readonly ArenaEntityState[];
}

/** A player's saved arena state. */
export interface ArenaSaveData {
  readonly x: number;
  readonly y: number;
  readonly distance: number;
}

function int(value: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer in ${min}..=${max}, not ${value}`);
  }
  return value;
}

function axis(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.round(Math.max(-1, Math.min(1, value)) * 127);
}

/**
 * The input for moving along (`dx`, `dy`), each in -1..=1 (screen axes: +y
 * is down), optionally boosting. A longer-than-unit direction is fine: the
 * server normalises it.
 */
export function arenaMove(dx: number, dy: number, boost = false): ArenaMove {
  return { x: axis(dx), y: axis(dy), buttons: boost ? BOOST : 0 };
}

/** Encodes an arena input (the payload of an Input message). */
export function encodeArenaInput(move: ArenaMove, builder = new flatbuffers.Builder(32)): Uint8Array {
  const root = ArenaInput.createArenaInput(
    builder,
    int(move.x, -128, 127, "move x"),
    int(move.y, -128, 127, "move y"),
    int(move.buttons, 0, 255, "buttons"),
  );
  builder.finish(root);
  const bytes = builder.asUint8Array().slice();
  builder.clear();
  return bytes;
}

/** Verifies and decodes an arena input; throws {@link DecodeError}. */
export function decodeArenaInput(bytes: Uint8Array): ArenaMove {
  const input = ArenaInput.getRootAsArenaInput(verified(bytes, null, layouts.ArenaInput, ARENA_LIMITS));
  return { x: input.moveX(), y: input.moveY(), buttons: input.buttons() };
}

/** Encodes a full arena state, as a room sends it. */
export function encodeArenaState(state: ArenaStateView, builder = new flatbuffers.Builder(64 + state.entities.length * 24)): Uint8Array {
  ArenaState.startEntitiesVector(builder, state.entities.length);
  for (let i = state.entities.length - 1; i >= 0; i--) {
    const e = state.entities[i];
    if (e) ArenaEntity.createArenaEntity(builder, e.id, e.x, e.y, e.vx, e.vy, e.buttons);
  }
  const entities = builder.endVector();
  const root = ArenaState.createArenaState(builder, state.width, state.height, entities);
  ArenaState.finishArenaStateBuffer(builder, root);
  const bytes = builder.asUint8Array().slice();
  builder.clear();
  return bytes;
}

/** Verifies and decodes an arena state (State.state, Joined.state); throws {@link DecodeError}. */
export function decodeArenaState(bytes: Uint8Array): ArenaStateView {
  const state = ArenaState.getRootAsArenaState(verified(bytes, ARENA_STATE_ID, layouts.ArenaState, ARENA_STATE_LIMITS));
  const count = state.entitiesLength();
  const entities: ArenaEntityState[] = new Array(count);
  const e = new ArenaEntity();
  for (let i = 0; i < count; i++) {
    state.entities(i, e);
    entities[i] = { id: e.id(), x: e.x(), y: e.y(), vx: e.vx(), vy: e.vy(), buttons: e.buttons() };
  }
  return { width: state.width(), height: state.height(), entities };
}

/** Encodes a player's saved arena state. */
export function encodeArenaSave(save: ArenaSaveData, builder = new flatbuffers.Builder(64)): Uint8Array {
  builder.finish(ArenaSave.createArenaSave(builder, save.x, save.y, save.distance));
  const bytes = builder.asUint8Array().slice();
  builder.clear();
  return bytes;
}

/** Verifies and decodes a player's saved arena state; throws {@link DecodeError}. */
export function decodeArenaSave(bytes: Uint8Array): ArenaSaveData {
  const save = ArenaSave.getRootAsArenaSave(verified(bytes, null, layouts.ArenaSave, ARENA_LIMITS));
  return { x: save.x(), y: save.y(), distance: save.distance() };
}
