// The /play page's controls: arrow keys or WASD to move, Shift to boost,
// or hold a finger / the mouse on the arena to move towards it. Reports the
// arena input whenever it changes, and lets go of everything when the page
// loses focus, so a player never keeps running into a wall unattended.

import { arenaMove, type ArenaMove } from "../src/index.js";

const DIRECTIONS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
  KeyA: [-1, 0],
  KeyD: [1, 0],
  KeyW: [0, -1],
  KeyS: [0, 1],
};
const BOOST_KEYS = new Set(["ShiftLeft", "ShiftRight"]);
/** Pointer closer than this to the player's circle (world units) means stop. */
const POINTER_DEAD_ZONE = 12;

export class Controls {
  private readonly held = new Set<string>();
  private pointer: { x: number; y: number; boost: boolean } | null = null;
  private last: ArenaMove = { x: 0, y: 0, buttons: 0 };

  constructor(
    private readonly canvas: HTMLCanvasElement,
    /** World position of a canvas point, and the player's own position. */
    private readonly toWorld: (clientX: number, clientY: number) => { x: number; y: number },
    private readonly ownPosition: () => { x: number; y: number } | null,
    private readonly changed: (move: ArenaMove) => void,
  ) {
    window.addEventListener("keydown", (e) => this.key(e, true));
    window.addEventListener("keyup", (e) => this.key(e, false));
    window.addEventListener("blur", () => this.releaseAll());
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) this.releaseAll();
    });
    canvas.addEventListener("pointerdown", (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.point(e);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (this.pointer) this.point(e);
    });
    for (const end of ["pointerup", "pointercancel"] as const) {
      canvas.addEventListener(end, () => {
        this.pointer = null;
        this.update();
      });
    }
  }

  /** The input for what is held now. */
  current(): ArenaMove {
    let dx = 0;
    let dy = 0;
    for (const code of this.held) {
      const d = DIRECTIONS[code];
      if (d) {
        dx += d[0];
        dy += d[1];
      }
    }
    const boost = [...this.held].some((c) => BOOST_KEYS.has(c));
    if (dx === 0 && dy === 0 && this.pointer) {
      const me = this.ownPosition();
      if (me) {
        const px = this.pointer.x - me.x;
        const py = this.pointer.y - me.y;
        const len = Math.hypot(px, py);
        if (len > POINTER_DEAD_ZONE) return arenaMove(px / len, py / len, boost || this.pointer.boost);
      }
      return arenaMove(0, 0);
    }
    return arenaMove(Math.sign(dx), Math.sign(dy), boost);
  }

  /** Re-evaluates the input (the player moved relative to the pointer) and reports a change. */
  update(): void {
    const move = this.current();
    if (move.x !== this.last.x || move.y !== this.last.y || move.buttons !== this.last.buttons) {
      this.last = move;
      this.changed(move);
    }
  }

  private key(e: KeyboardEvent, down: boolean): void {
    if (e.target instanceof HTMLInputElement) return; // typing a name
    if (!(e.code in DIRECTIONS) && !BOOST_KEYS.has(e.code)) return;
    e.preventDefault();
    if (down) this.held.add(e.code);
    else this.held.delete(e.code);
    this.update();
  }

  private point(e: PointerEvent): void {
    const p = this.toWorld(e.clientX, e.clientY);
    this.pointer = { x: p.x, y: p.y, boost: e.shiftKey };
    this.update();
  }

  private releaseAll(): void {
    this.held.clear();
    this.pointer = null;
    this.update();
  }

  /** Whether the canvas is being steered with a pointer. */
  get pointing(): boolean {
    return this.pointer !== null && this.canvas.isConnected;
  }
}
