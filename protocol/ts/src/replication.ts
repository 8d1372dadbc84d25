// tickforge.v2 interest state (see protocol/schema/replication.fbs): splits
// and verifies one message (a size-prefixed MemberView, then size-prefixed
// CellSegments, each verified on its own) and keeps the member's replica of
// its interest area. Mirrors tickforge_protocol::replication in Rust; the
// shared recorded stream in protocol/vectors/replication/ proves both
// rebuild the same entities.

import * as flatbuffers from "flatbuffers";

import { table, verifySizePrefixed, type VerifierLimits } from "./verifier.js";
import { CellSegment } from "./generated/tickforge/v2/cell-segment.js";
import { MemberView } from "./generated/tickforge/v2/member-view.js";
import { RepEntity } from "./generated/tickforge/v2/rep-entity.js";
import { View } from "./generated/tickforge/v2/view.js";

/** One replicated entity, quantised (positions and velocities in 1/16 unit). */
export interface ReplicatedEntity {
  id: number;
  x: number;
  y: number;
  vx: number;
  vy: number;
  flags: number;
}

/** What one applied message said besides the entities. */
export interface Applied {
  tick: bigint;
  serverTimeUs: bigint;
  lastInputSeq: number;
  centerX: number;
  centerY: number;
}

/** Why a message was refused (the Rust `ReplicaError`'s labels). */
export class ReplicaError extends Error {
  constructor(readonly label: "bad_frame" | "unexpected_message" | "replica_diverged", message: string) {
    super(message);
    this.name = "ReplicaError";
  }
}

const VIEW_ID = "TFV2";
const SEGMENT_ID = "TFG2";
const VIEW_LIMITS: VerifierLimits = { maxDepth: 2, maxTables: 2, maxApparentSize: 1024 };
const SEGMENT_LIMITS: VerifierLimits = { maxDepth: 4, maxTables: 8192, maxApparentSize: 4 << 20 };

const MemberViewLayout = table("MemberView", 1, (t) => {
  t.struct(0, View.sizeOf(), 4, true); // view
});

const EntityChangeLayout = table("EntityChange", 6, (t) => {
  t.scalar(0, 4); // id
  t.scalar(1, 4); // x
  t.scalar(2, 4); // y
  t.scalar(3, 2); // vx
  t.scalar(4, 2); // vy
  t.scalar(5, 1); // flags
});

const CellSegmentLayout = table("CellSegment", 7, (t) => {
  t.scalar(0, 8); // tick
  t.scalar(1, 8); // server_time_us
  t.scalar(2, 4); // cell
  t.scalar(3, 1); // keyframe
  t.structs(4, RepEntity.sizeOf()); // spawned
  t.tables(5, EntityChangeLayout); // changed
  t.structs(6, 4); // despawned (u32 elements)
});

/** Whether a server message is an interest state message (bytes 8..12 are "TFV2"). */
export function isInterestState(frame: Uint8Array): boolean {
  return frame.length >= 12 && hasId(frame, VIEW_ID);
}

function hasId(part: Uint8Array, id: string): boolean {
  for (let i = 0; i < 4; i++) if (part[8 + i] !== id.charCodeAt(i)) return false;
  return true;
}

function parts(frame: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < frame.length) {
    if (at + 4 > frame.length) throw new ReplicaError("bad_frame", "interest state message truncated");
    const len = (frame[at]! | (frame[at + 1]! << 8) | (frame[at + 2]! << 16) | (frame[at + 3]! << 24)) >>> 0;
    const end = at + 4 + len;
    if (end > frame.length) throw new ReplicaError("bad_frame", "interest state message truncated");
    out.push(frame.subarray(at, end));
    at = end;
  }
  return out;
}

function verified(part: Uint8Array, id: string, layout: typeof CellSegmentLayout, limits: VerifierLimits): flatbuffers.ByteBuffer {
  if (part.length < 12 || !hasId(part, id)) throw new ReplicaError("unexpected_message", `not a ${id} part`);
  try {
    verifySizePrefixed(part, layout, limits);
  } catch (e) {
    throw new ReplicaError("bad_frame", `malformed ${id} part: ${String(e)}`);
  }
  return new flatbuffers.ByteBuffer(part);
}

function within(cell: number, cx: number, cy: number, radius: number): boolean {
  const x = cell & 0xffff;
  const y = cell >>> 16;
  return Math.abs(x - cx) <= radius && Math.abs(y - cy) <= radius;
}

function entity(e: RepEntity): ReplicatedEntity {
  return { id: e.id(), x: e.x(), y: e.y(), vx: e.vx(), vy: e.vy(), flags: e.flags() };
}

/** The member's copy of its interest area: entities per held cell (sorted by id). */
export class Replica {
  private readonly cells = new Map<number, ReplicatedEntity[]>();

  /** `radius`: Joined.view_radius_cells. Make a new replica after every Joined. */
  constructor(private readonly radius: number) {}

  /** Verifies and applies one message; on an error the replica is no longer trustworthy. */
  apply(frame: Uint8Array): Applied {
    const [viewPart, tickPart, ...cellParts] = parts(frame);
    if (!viewPart || !tickPart) throw new ReplicaError("bad_frame", "interest state message truncated");
    const view = MemberView.getSizePrefixedRootAsMemberView(verified(viewPart, VIEW_ID, MemberViewLayout, VIEW_LIMITS)).view();
    if (!view) throw new ReplicaError("bad_frame", "no view");
    const [cx, cy] = [view.centerX(), view.centerY()];
    const tickSegment = CellSegment.getSizePrefixedRootAsCellSegment(verified(tickPart, SEGMENT_ID, CellSegmentLayout, SEGMENT_LIMITS));
    if (tickSegment.cell() !== null) throw new ReplicaError("replica_diverged", "first segment is not the tick segment");
    const tick = tickSegment.tick();
    const segments = cellParts.map((p) => CellSegment.getSizePrefixedRootAsCellSegment(verified(p, SEGMENT_ID, CellSegmentLayout, SEGMENT_LIMITS)));
    for (const seg of segments) {
      const cell = seg.cell();
      if (cell === null || seg.tick() !== tick) throw new ReplicaError("replica_diverged", "segments disagree on the tick");
      if (!within(cell, cx, cy, this.radius)) throw new ReplicaError("replica_diverged", "segment outside the view");
      if (seg.keyframe()) {
        const held: ReplicatedEntity[] = [];
        for (let i = 0; i < seg.spawnedLength(); i++) held.push(entity(seg.spawned(i)!));
        held.sort((a, b) => a.id - b.id);
        this.cells.set(cell, held);
      } else {
        const held = this.cells.get(cell);
        if (!held) throw new ReplicaError("replica_diverged", "delta for a cell not held");
        applyDelta(held, seg);
      }
    }
    for (const cell of [...this.cells.keys()]) if (!within(cell, cx, cy, this.radius)) this.cells.delete(cell);
    return { tick, serverTimeUs: tickSegment.serverTimeUs(), lastInputSeq: view.lastInputSeq(), centerX: cx, centerY: cy };
  }

  /** Every entity held, sorted by id. */
  entities(): ReplicatedEntity[] {
    return [...this.cells.values()].flat().sort((a, b) => a.id - b.id);
  }
}

function find(held: ReplicatedEntity[], id: number): number {
  let [lo, hi] = [0, held.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (held[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function applyDelta(held: ReplicatedEntity[], seg: CellSegment): void {
  const diverged = () => new ReplicaError("replica_diverged", "delta does not apply to the held state");
  for (let i = 0; i < seg.despawnedLength(); i++) {
    const id = seg.despawned(i)!;
    const at = find(held, id);
    if (held[at]?.id !== id) throw diverged();
    held.splice(at, 1);
  }
  for (let i = 0; i < seg.changedLength(); i++) {
    const c = seg.changed(i)!;
    const e = held[find(held, c.id())];
    if (e?.id !== c.id()) throw diverged();
    e.x = c.x() ?? e.x;
    e.y = c.y() ?? e.y;
    e.vx = c.vx() ?? e.vx;
    e.vy = c.vy() ?? e.vy;
    e.flags = c.flags() ?? e.flags;
  }
  for (let i = 0; i < seg.spawnedLength(); i++) {
    const n = entity(seg.spawned(i)!);
    const at = find(held, n.id);
    if (held[at]?.id === n.id) throw diverged();
    held.splice(at, 0, n);
  }
}
