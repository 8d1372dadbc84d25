// What the /play page shows of the arena, frame by frame: other players
// interpolated between the room's recent states on the server's clock
// (smooth at any tick rate), and the player's own circle predicted locally
// from the keys held, then eased back onto the server's position once the
// room has applied every input sent.

import type { ArenaEntityState, ArenaMove, ArenaStateView, StateUpdate } from "../src/index.js";

/** Speed at full stick and the boost factor of the arena game (server/src/game/arena.rs). */
export const ARENA_SPEED = 200;
export const ARENA_BOOST = 2;

/** One entity as drawn. */
export interface Drawn {
  readonly id: number;
  readonly x: number;
  readonly y: number;
  readonly boost: boolean;
  readonly moving: boolean;
}

interface Snapshot {
  /** Server time of the tick, in ms. */
  readonly at: number;
  readonly entities: ReadonlyMap<number, ArenaEntityState>;
}

const KEPT_SNAPSHOTS = 64;
/** A correction bigger than this (world units) snaps instead of easing. */
const SNAP_DISTANCE = 150;
/** Share of the remaining correction applied per second. */
const EASE_PER_SECOND = 10;

function velocity(move: ArenaMove): { vx: number; vy: number } {
  const mx = move.x / 127;
  const my = move.y / 127;
  const len = Math.hypot(mx, my);
  const scale = len > 1 ? 1 / len : 1;
  const boost = move.buttons & 1 ? ARENA_BOOST : 1;
  return { vx: mx * scale * ARENA_SPEED * boost, vy: my * scale * ARENA_SPEED * boost };
}

export class World {
  width = 1000;
  height = 1000;
  private tickMs = 1000 / 30;
  private snapshots: Snapshot[] = [];
  /** Local clock minus server clock (ms), the smallest seen: the least-delayed state. */
  private offset = Infinity;
  private me: number | null = null;
  private own: { x: number; y: number } | null = null;
  private correction = { x: 0, y: 0 };
  private move: ArenaMove = { x: 0, y: 0, buttons: 0 };

  /** A new room: forget the old one. */
  enter(entityId: number, tickRateHz: number, state: ArenaStateView): void {
    this.me = entityId;
    this.tickMs = 1000 / Math.max(1, tickRateHz);
    this.snapshots = [];
    this.offset = Infinity;
    this.correction = { x: 0, y: 0 };
    if (state.width > 0) this.width = state.width;
    if (state.height > 0) this.height = state.height;
    const mine = state.entities.find((e) => e.id === entityId);
    this.own = mine ? { x: mine.x, y: mine.y } : null;
  }

  leave(): void {
    this.me = null;
    this.own = null;
    this.snapshots = [];
  }

  /** The keys held now. */
  steer(move: ArenaMove): void {
    this.move = move;
  }

  /** A State arrived at local time `now`; `settled` when the room has applied every input sent. */
  push(update: StateUpdate<ArenaStateView>, now: number, settled: boolean, rttMs: number): void {
    const serverAt = update.serverTimeUs / 1000;
    this.adopt(update.state, serverAt, now);
    const mine = this.me === null ? undefined : update.state.entities.find((e) => e.id === this.me);
    if (!mine) return;
    if (!this.own) {
      this.own = { x: mine.x, y: mine.y };
      return;
    }
    if (!settled) return; // inputs in flight: the server's position is behind the keys
    // Where the server's entity is by now: its position plus half a round trip of its motion.
    const ahead = rttMs / 2000;
    const target = this.clamp(mine.x + mine.vx * ahead, mine.y + mine.vy * ahead);
    const dx = target.x - this.own.x;
    const dy = target.y - this.own.y;
    if (Math.hypot(dx, dy) > SNAP_DISTANCE) {
      this.own = target;
      this.correction = { x: 0, y: 0 };
    } else {
      this.correction = { x: dx, y: dy };
    }
  }

  private adopt(state: ArenaStateView, serverAt: number, now: number): void {
    this.width = state.width > 0 ? state.width : this.width;
    this.height = state.height > 0 ? state.height : this.height;
    this.offset = Math.min(this.offset, now - serverAt);
    const entities = new Map(state.entities.map((e) => [e.id, e]));
    this.snapshots.push({ at: serverAt, entities });
    if (this.snapshots.length > KEPT_SNAPSHOTS) this.snapshots.shift();
  }

  private clamp(x: number, y: number): { x: number; y: number } {
    return { x: Math.min(this.width, Math.max(0, x)), y: Math.min(this.height, Math.max(0, y)) };
  }

  /** Advances the prediction of the player's own entity by `dtMs`. */
  step(dtMs: number): void {
    if (!this.own) return;
    const dt = Math.min(dtMs, 100) / 1000;
    const { vx, vy } = velocity(this.move);
    const ease = Math.min(1, EASE_PER_SECOND * dt);
    const cx = this.correction.x * ease;
    const cy = this.correction.y * ease;
    this.correction = { x: this.correction.x - cx, y: this.correction.y - cy };
    this.own = this.clamp(this.own.x + vx * dt + cx, this.own.y + vy * dt + cy);
    // Drift of the clocks: let the offset creep up so a one-off early state does not pin it.
    this.offset += dtMs * 0.0005;
  }

  /** Everything to draw at local time `now`. */
  view(now: number): Drawn[] {
    const last = this.snapshots[this.snapshots.length - 1];
    if (!last) return [];
    // Render one and a half ticks in the past, so there is nearly always a later state to move towards.
    const at = now - this.offset - this.tickMs * 1.5 - 5;
    let i = this.snapshots.length - 1;
    while (i > 0 && (this.snapshots[i]?.at ?? 0) > at) i--;
    const a = this.snapshots[i] ?? last;
    const b = this.snapshots[i + 1];
    const out: Drawn[] = [];
    for (const [id, ea] of (b ?? a).entities) {
      if (id === this.me && this.own) {
        const moving = this.move.x !== 0 || this.move.y !== 0;
        out.push({ id, x: this.own.x, y: this.own.y, boost: moving && (this.move.buttons & 1) !== 0, moving });
        continue;
      }
      const from = a.entities.get(id) ?? ea;
      let x: number;
      let y: number;
      if (b) {
        const t = Math.min(1, Math.max(0, (at - a.at) / Math.max(1, b.at - a.at)));
        x = from.x + (ea.x - from.x) * t;
        y = from.y + (ea.y - from.y) * t;
      } else {
        // No later state yet: carry on along the last velocity, for at most one tick.
        const ahead = Math.min(this.tickMs, Math.max(0, at - a.at)) / 1000;
        const p = this.clamp(ea.x + ea.vx * ahead, ea.y + ea.vy * ahead);
        x = p.x;
        y = p.y;
      }
      out.push({ id, x, y, boost: (ea.buttons & 1) !== 0 && (ea.vx !== 0 || ea.vy !== 0), moving: ea.vx !== 0 || ea.vy !== 0 });
    }
    return out;
  }

  /** The latest server-side position of every entity (for tests and tools). */
  latest(): ArenaEntityState[] {
    const last = this.snapshots[this.snapshots.length - 1];
    return last ? [...last.entities.values()] : [];
  }

  /** The predicted position of the player's own entity. */
  ownPosition(): { x: number; y: number } | null {
    return this.own;
  }
}
