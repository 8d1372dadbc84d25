// Draws the /play arena on a canvas: a grid floor, every player as a
// coloured disc with a fading trail and a name tag, the player's own disc
// ringed in white, and a glow while boosting. Sized to its container and
// sharp on high-density screens.

import type { Drawn } from "./world.js";

const PALETTE = ["#4f9dff", "#3ccf91", "#f5a524", "#e5534b", "#b083f0", "#2ec4d6", "#f778ba", "#c9d05c", "#ff8f5a", "#8ad4ff"];
const RADIUS = 15;
const TRAIL_POINTS = 22;
const TRAIL_STEP = 3;

/** A player's colour, stable for its entity id. */
export function colorOf(entityId: number): string {
  return PALETTE[entityId % PALETTE.length] ?? "#ffffff";
}

export class Renderer {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly trails = new Map<number, { x: number; y: number }[]>();
  private size = 0;
  private ratio = 1;
  /** Frames drawn so far (the browser test checks the page animates). */
  frames = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly container: HTMLElement,
  ) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("this browser has no 2D canvas");
    this.ctx = ctx;
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
  }

  private resize(): void {
    const box = this.container.getBoundingClientRect();
    const size = Math.max(200, Math.floor(Math.min(box.width, box.height)));
    this.ratio = window.devicePixelRatio || 1;
    this.size = size;
    this.canvas.style.width = `${size}px`;
    this.canvas.style.height = `${size}px`;
    this.canvas.width = Math.round(size * this.ratio);
    this.canvas.height = Math.round(size * this.ratio);
  }

  /** World coordinates of a point given in client (page) pixels. */
  toWorld(clientX: number, clientY: number, width: number, height: number): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((clientX - r.left) / r.width) * width, y: ((clientY - r.top) / r.height) * height };
  }

  /** One frame: the floor, every entity (`away` ones dimmed and labelled), and `message` over it all. */
  draw(
    entities: readonly Drawn[],
    width: number,
    height: number,
    me: number | null,
    names: ReadonlyMap<number, string>,
    message: string | null,
    away: ReadonlySet<number> = new Set(),
  ): void {
    const ctx = this.ctx;
    const s = (this.size * this.ratio) / Math.max(width, height);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(s, 0, 0, s, 0, 0);
    this.floor(width, height, s);

    const present = new Set(entities.map((e) => e.id));
    for (const id of this.trails.keys()) if (!present.has(id)) this.trails.delete(id);
    for (const e of entities) this.trail(e);
    // Others first, the player on top.
    const ordered = [...entities].sort((a, b) => Number(a.id === me) - Number(b.id === me));
    for (const e of ordered) this.disc(e, e.id === me, names.get(e.id) ?? `#${e.id}`, s, away.has(e.id));

    if (message) {
      ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
      ctx.fillStyle = "rgba(13, 16, 23, 0.72)";
      ctx.fillRect(0, 0, this.size, this.size);
      ctx.fillStyle = "#e6e9ef";
      ctx.font = "600 18px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(message, this.size / 2, this.size / 2);
    }
    this.frames++;
  }

  private floor(width: number, height: number, s: number): void {
    const ctx = this.ctx;
    const glow = ctx.createRadialGradient(width / 2, height / 2, 0, width / 2, height / 2, Math.max(width, height) * 0.75);
    glow.addColorStop(0, "#161c28");
    glow.addColorStop(1, "#0d1017");
    ctx.fillStyle = glow;
    ctx.fillRect(0, 0, width, height);
    ctx.lineWidth = 1 / s;
    for (let v = 50; v < Math.max(width, height); v += 50) {
      ctx.strokeStyle = v % 250 === 0 ? "#263042" : "#182030";
      ctx.beginPath();
      if (v < width) {
        ctx.moveTo(v, 0);
        ctx.lineTo(v, height);
      }
      if (v < height) {
        ctx.moveTo(0, v);
        ctx.lineTo(width, v);
      }
      ctx.stroke();
    }
    ctx.strokeStyle = "#4f9dff55";
    ctx.lineWidth = 3 / s;
    ctx.strokeRect(0, 0, width, height);
  }

  private trail(e: Drawn): void {
    let points = this.trails.get(e.id);
    if (!points) {
      points = [];
      this.trails.set(e.id, points);
    }
    const lastPoint = points[points.length - 1];
    if (!lastPoint || Math.hypot(lastPoint.x - e.x, lastPoint.y - e.y) > TRAIL_STEP) {
      points.push({ x: e.x, y: e.y });
      if (points.length > TRAIL_POINTS) points.shift();
    } else if (!e.moving && points.length > 1) {
      points.shift(); // standing still: the trail fades away
    }
    const ctx = this.ctx;
    const color = colorOf(e.id);
    ctx.lineCap = "round";
    for (let i = 1; i < points.length; i++) {
      const a = points[i - 1];
      const b = points[i];
      if (!a || !b) continue;
      ctx.globalAlpha = (i / points.length) * 0.45;
      ctx.strokeStyle = color;
      ctx.lineWidth = RADIUS * (0.25 + (0.75 * i) / points.length);
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  /** A player's disc; one whose connection dropped (`away`) is drawn faded, its label saying so. */
  private disc(e: Drawn, own: boolean, name: string, s: number, away: boolean): void {
    const ctx = this.ctx;
    ctx.globalAlpha = away ? 0.35 : 1;
    const color = colorOf(e.id);
    const r = own ? RADIUS + 2 : RADIUS;
    if (e.boost) {
      ctx.shadowColor = color;
      ctx.shadowBlur = 28 * s;
    }
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(e.x, e.y, r, 0, Math.PI * 2);
    ctx.fill();
    ctx.shadowBlur = 0;
    // A soft highlight gives the disc some volume.
    const shine = ctx.createRadialGradient(e.x - r * 0.35, e.y - r * 0.35, 0, e.x, e.y, r);
    shine.addColorStop(0, "rgba(255,255,255,0.35)");
    shine.addColorStop(1, "rgba(255,255,255,0)");
    ctx.fillStyle = shine;
    ctx.fill();
    if (own) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 3;
      ctx.stroke();
    }
    const label = own ? `${name} (you)` : away ? `${name} (away)` : name;
    ctx.font = `${own ? 600 : 500} ${13 / s}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.lineWidth = 3 / s;
    ctx.strokeStyle = "rgba(13,16,23,0.85)";
    ctx.strokeText(label, e.x, e.y - r - 4);
    ctx.fillStyle = own ? "#ffffff" : "#cdd3de";
    ctx.fillText(label, e.x, e.y - r - 4);
    ctx.globalAlpha = 1;
  }
}
