// The /play page: the arena game in the browser, built on the SDK. It plays
// as a guest of the server that serves the page: each browser tab keeps its
// own guest session (token, player id, display name) in sessionStorage, so a
// reload is the same player and two tabs are two players. It joins the room
// named in the URL (or any arena room with a free seat) and keeps the URL
// pointing at the room, so the link invites friends. After a dropped
// connection it takes its seat back (the SDK's resume) and says so; members
// whose connection dropped are drawn faded as "away". Bundled with the SDK
// into server/src/web/play.js by scripts/bundle.mjs.

import {
  AccessDeniedError,
  CloseError,
  ConnectError,
  DEFAULT_RECONNECT,
  ErrorCode,
  GuestSessionError,
  RedirectError,
  RefusedError,
  TickforgeClient,
  backoffDelay,
  decodeArenaState,
  encodeArenaInput,
  fetchGuestSession,
  type ArenaMove,
  type ArenaStateView,
  type GuestSession,
  type JoinedRoom,
  type TickforgeError,
  type TokenRequest,
} from "../src/index.js";
import { Controls } from "./controls.js";
import { Renderer, colorOf } from "./render.js";
import { World } from "./world.js";

type Client = TickforgeClient<ArenaStateView>;

/** The display name last chosen in this browser (localStorage: every tab starts with it). */
const NAME_KEY = "tickforge.play.name";
/** This tab's guest session (sessionStorage: survives a reload, not shared with other tabs). */
const SESSION_KEY = "tickforge.play.session";
const MAX_NAME = 32;
/** A session that expires sooner than this (seconds) is replaced before connecting. */
const EXPIRY_MARGIN_S = 60;

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with the server's clock). */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The guest-session failure behind a failed connection attempt, if that is what it was. */
function guestFailure(error: TickforgeError): GuestSessionError | null {
  if (error instanceof GuestSessionError) return error;
  return error instanceof ConnectError && error.cause instanceof GuestSessionError ? error.cause : null;
}

function describe(error: TickforgeError): string {
  if (error instanceof RedirectError) return "the room moved to another server";
  if (error instanceof CloseError) return `${error.code}${error.reason ? ` ${error.reason}` : ""}`;
  const guest = guestFailure(error);
  if (guest) return guest.reason === "rate_limited" ? "too many new players from here" : `no guest session: ${guest.reason}`;
  return error.message;
}

/** What to tell a player the server turned away. */
function deniedMessage(error: AccessDeniedError): string {
  switch (error.denial) {
    case "replaced":
      return "This player connected from another tab · reload to play here";
    case "banned":
      return "This player is banned from this server";
    case "kicked":
      return "An operator removed you from the game · reload to play again";
    case "token":
      return `The server refused this session (${error.reason}) · reload to play again`;
  }
}

// ------------------------------------------------------------ the guest session

function storedSession(): GuestSession | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null") as Partial<GuestSession> | null;
    if (!s || typeof s.token !== "string" || typeof s.playerId !== "string" || typeof s.name !== "string" || typeof s.expiresAt !== "number") {
      return null;
    }
    return { token: s.token, playerId: s.playerId, name: s.name, expiresAt: s.expiresAt };
  } catch {
    return null;
  }
}

function fresh(session: GuestSession): boolean {
  return session.expiresAt - Date.now() / 1000 > EXPIRY_MARGIN_S;
}

/**
 * The token for each Hello (the SDK asks before every connect and
 * reconnect): the tab's stored session while it is fresh and was not
 * refused, else a new guest session under the current name, stored for
 * reloads. A new session is a new guest: the player id changes with it.
 */
async function provideToken(request: TokenRequest): Promise<string> {
  const stored = storedSession();
  if (stored && fresh(stored) && request.rejected === null) return stored.token;
  const session = await fetchGuestSession(location.origin, playerName || undefined);
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session.token;
}

// ------------------------------------------------------------ page state

const params = new URLSearchParams(location.search);
const mode = params.get("mode") || "arena";
let wantedRoom = params.get("room");
/** A name in the URL starts a new guest under it, unless this tab already plays under that name. */
const askedName = params.get("name")?.trim().slice(0, MAX_NAME) || null;
if (askedName !== null && storedSession()?.name !== askedName) sessionStorage.removeItem(SESSION_KEY);
/** The display name: the session's, once the server said it; empty lets the server pick one. */
let playerName = askedName ?? storedSession()?.name ?? (localStorage.getItem(NAME_KEY) || "").slice(0, MAX_NAME);

const ui = {
  status: element("status"),
  statusText: element("status-text"),
  rtt: element("rtt"),
  tick: element("tick"),
  room: element("room"),
  count: element("count"),
  players: element<HTMLUListElement>("players"),
  toasts: element("toasts"),
  name: element<HTMLInputElement>("name"),
  nameForm: element<HTMLFormElement>("name-form"),
  invite: element<HTMLButtonElement>("invite"),
  stage: element("stage"),
  canvas: element<HTMLCanvasElement>("arena"),
};

const world = new World();
const renderer = new Renderer(ui.canvas, ui.stage);
const names = new Map<number, string>();
/** Members whose connection dropped while the server holds their seat. */
const away = new Set<number>();
/** Seats this page took back after a drop (for the snapshot). */
let resumes = 0;
let client: Client | null = null;
let message: string | null = "connecting…";
let lastTick = 0;
let move: ArenaMove = { x: 0, y: 0, buttons: 0 };
/** When the last input went out (performance.now() ms). */
let inputAt = 0;
/** An input unacknowledged this long was dropped on the way (the server counts those): stop waiting for it. */
const ACK_PATIENCE_MS = 500;

function send(c: Client, next: ArenaMove): void {
  if (c.sendInput(encodeArenaInput(next)) !== null) inputAt = performance.now();
}

const controls = new Controls(
  ui.canvas,
  (x, y) => renderer.toWorld(x, y, world.width, world.height),
  () => world.ownPosition(),
  (next) => {
    move = next;
    world.steer(next);
    if (client) send(client, next);
  },
);

// ------------------------------------------------------------ HUD

function toast(text: string, tone: "info" | "good" | "warn" | "bad" = "info"): void {
  const el = document.createElement("div");
  el.className = `toast ${tone}`;
  el.textContent = text;
  ui.toasts.prepend(el);
  while (ui.toasts.children.length > 5) ui.toasts.lastElementChild?.remove();
  setTimeout(() => el.classList.add("gone"), 3500);
  setTimeout(() => el.remove(), 4000);
}

function setStatus(status: string, text = status): void {
  ui.status.dataset.status = status;
  ui.statusText.textContent = text;
}

function setStat(el: HTMLElement, value: number | null, text: string): void {
  el.dataset.value = value === null ? "" : String(value);
  el.textContent = text;
}

function renderPlayers(): void {
  const me = client?.entityId ?? null;
  const room = client?.joinedRoom;
  ui.players.replaceChildren(
    ...[...names.entries()]
      .sort((a, b) => Number(b[0] === me) - Number(a[0] === me) || a[0] - b[0])
      .map(([id, name]) => {
        const li = document.createElement("li");
        const dot = document.createElement("span");
        dot.className = "swatch";
        dot.style.background = colorOf(id);
        li.append(dot, document.createTextNode(id === me ? `${name} (you)` : away.has(id) ? `${name} (away)` : name));
        if (away.has(id)) {
          li.style.opacity = "0.5";
          li.title = "connection lost: the seat is held for a moment";
        }
        return li;
      }),
  );
  ui.count.textContent = room ? `${names.size} / ${room.capacity}` : "–";
}

let hudAt = 0;
function refreshHud(now: number): void {
  if (now - hudAt < 100) return;
  hudAt = now;
  const rtt = client?.smoothedRttMs ?? null;
  setStat(ui.rtt, rtt, rtt === null ? "–" : `${rtt < 10 ? rtt.toFixed(1) : Math.round(rtt)} ms`);
  setStat(ui.tick, lastTick || null, lastTick ? String(lastTick) : "–");
}

// ------------------------------------------------------------ the connection

function wsUrl(): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
}

function showRoomInUrl(roomId: string): void {
  const url = new URL(location.href);
  url.searchParams.set("room", roomId);
  url.searchParams.delete("name");
  history.replaceState(null, "", url);
}

async function enter(c: Client): Promise<void> {
  if (wantedRoom) {
    try {
      await c.join(wantedRoom);
      return;
    } catch (e) {
      if (!(e instanceof RefusedError && (e.code === ErrorCode.RoomNotFound || e.code === ErrorCode.RoomFull))) throw e;
      toast(e.code === ErrorCode.RoomFull ? "That room is full: joining another one" : "That room is gone: joining another one", "warn");
    }
  }
  await c.joinOrCreate(mode);
}

/** Shows the room just joined, or taken back after a drop (a resume keeps the entity, so the disc stays). */
function enterRoom(c: Client, room: JoinedRoom<ArenaStateView>): void {
  world.enter(room.entityId, room.tickRateHz, room.state);
  names.clear();
  away.clear();
  for (const p of room.players) {
    names.set(p.entityId, p.name);
    if (p.away) away.add(p.entityId);
  }
  wantedRoom = room.roomId;
  showRoomInUrl(room.roomId);
  ui.room.textContent = room.roomId;
  ui.room.title = room.roomId;
  lastTick = room.tick;
  message = null;
  renderPlayers();
  // A new (or resumed) seat stands still: tell the room what is held right now.
  if (move.x !== 0 || move.y !== 0 || move.buttons !== 0) send(c, move);
}

function wire(c: Client): void {
  c.on("status", (status) => {
    if (c !== client) return;
    setStatus(status === "open" ? "live" : status);
  });
  c.on("welcome", (welcome) => {
    if (c !== client) return;
    const picked = !playerName;
    playerName = welcome.name;
    if (document.activeElement !== ui.name) ui.name.value = welcome.name;
    if (picked) toast(`You play as ${welcome.name}: type a name above to change it`, "good");
  });
  c.on("joined", (room) => {
    if (c !== client) return;
    enterRoom(c, room);
  });
  c.on("resumed", (r) => {
    if (c !== client) return;
    resumes++;
    enterRoom(c, r.room);
    const gap = r.gapTicks === 1 ? "1 tick" : `${r.gapTicks} ticks`;
    toast(r.moved ? `The room moved to another server: you are back in it (${gap} missed)` : `Reconnected: the same seat, ${gap} missed`, "good");
  });
  c.onState((update) => {
    if (c !== client) return;
    lastTick = update.tick;
    const settled = (update.ack !== null && update.ack === c.lastInputSeq) || performance.now() - inputAt > ACK_PATIENCE_MS;
    world.push(update, wallMs(), settled, c.smoothedRttMs ?? 0);
  });
  c.on("playerJoined", (p) => {
    if (c !== client) return;
    names.set(p.entityId, p.name);
    renderPlayers();
    toast(`${p.name} joined`, "good");
  });
  c.on("playerLeft", (p) => {
    if (c !== client) return;
    names.delete(p.entityId);
    away.delete(p.entityId);
    renderPlayers();
    toast(`${p.name} left`);
  });
  c.on("playerAway", (p) => {
    if (c !== client) return;
    if (p.away) away.add(p.entityId);
    else away.delete(p.entityId);
    renderPlayers();
    toast(p.away ? `${p.name} lost the connection: the seat is held` : `${p.name} is back`, p.away ? "warn" : "good");
  });
  c.on("disconnected", (d) => {
    if (c !== client) return;
    world.leave();
    if (d.reconnecting) {
      message = d.resuming ? `connection lost (${describe(d.error)}) · taking your seat back…` : `connection lost (${describe(d.error)}) · reconnecting…`;
      toast(`Connection lost (${describe(d.error)}); attempt ${d.attempt} in ${(d.delayMs / 1000).toFixed(1)} s`, "warn");
    }
  });
  c.on("closed", (error) => {
    if (c !== client) return;
    if (error instanceof AccessDeniedError) {
      world.leave();
      names.clear();
      renderPlayers();
      message = deniedMessage(error);
      toast(message, "bad");
      return;
    }
    message = `disconnected (${describe(error)}) · reload to play again`;
    toast(`Disconnected: ${describe(error)}`, "bad");
  });
  c.on("error", (error) => {
    if (c !== client) return;
    if (error instanceof RefusedError && error.code === ErrorCode.ServerBusy) {
      // The room closed under us: find another.
      world.leave();
      wantedRoom = null;
      void c.joinOrCreate(mode).catch((e: TickforgeError) => toast(`Could not join: ${describe(e)}`, "bad"));
    }
    toast(error.message, "warn");
  });
}

/** Connects with the tab's guest session, retrying with backoff until the server answers. */
async function play(): Promise<void> {
  const c: Client = new TickforgeClient({
    url: wsUrl(),
    tokenProvider: provideToken,
    clientVersion: "tickforge-play/1",
    decodeState: decodeArenaState,
    pingIntervalMs: 1000,
  });
  client = c;
  wire(c);
  for (let attempt = 1; c === client; attempt++) {
    try {
      if (c.status !== "open") {
        setStatus("connecting");
        await c.connect();
      }
      await enter(c);
      return;
    } catch (e) {
      if (c !== client) return;
      const error = e as TickforgeError;
      const guest = guestFailure(error);
      if (error instanceof AccessDeniedError || guest?.reason === "disabled") {
        message = error instanceof AccessDeniedError ? deniedMessage(error) : "This server does not offer guest play";
        setStatus("closed", "not playing");
        toast(message, "bad");
        return;
      }
      const waitS = guest?.retryAfterSeconds ?? 0;
      const delay = Math.max(backoffDelay(attempt, DEFAULT_RECONNECT), waitS * 1000);
      message = `cannot join (${describe(error)}) · retrying in ${(delay / 1000).toFixed(1)} s`;
      if (c.status !== "open") setStatus("reconnecting", "retrying");
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Plays on under another name: a new guest session carries it. */
async function rename(name: string): Promise<void> {
  const trimmed = name.trim().slice(0, MAX_NAME);
  if (!trimmed || trimmed === playerName) return;
  playerName = trimmed;
  localStorage.setItem(NAME_KEY, trimmed);
  sessionStorage.removeItem(SESSION_KEY);
  const old = client;
  client = null;
  names.clear();
  world.leave();
  message = "reconnecting as " + trimmed + "…";
  await old?.close();
  await play();
  toast(`Playing as ${playerName}`, "good");
}

// ------------------------------------------------------------ page wiring

ui.name.value = playerName;
ui.name.placeholder = "your name";
ui.nameForm.addEventListener("submit", (e) => {
  e.preventDefault();
  ui.name.blur();
  void rename(ui.name.value);
});
ui.name.addEventListener("change", () => void rename(ui.name.value));
ui.invite.addEventListener("click", () => {
  const room = client?.joinedRoom?.roomId;
  if (!room) return;
  const link = `${location.origin}/play?room=${encodeURIComponent(room)}`;
  navigator.clipboard.writeText(link).then(
    () => toast("Invite link copied: send it to a friend", "good"),
    () => toast(link),
  );
});

let previous = performance.now();
function frame(now: number): void {
  const dt = now - previous;
  previous = now;
  world.step(dt);
  controls.update();
  renderer.draw(world.view(wallMs()), world.width, world.height, client?.entityId ?? null, names, message, away);
  refreshHud(now);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

/** What the page shows, for tests and the curious (`tickforgePlay.snapshot()` in the console). */
(window as unknown as { tickforgePlay: unknown }).tickforgePlay = {
  snapshot: () => ({
    status: client?.status ?? "idle",
    playerId: client?.welcome?.playerId ?? null,
    name: playerName,
    roomId: client?.joinedRoom?.roomId ?? null,
    entityId: client?.entityId ?? null,
    tick: lastTick,
    rttMs: client?.smoothedRttMs ?? null,
    frames: renderer.frames,
    own: world.ownPosition(),
    entities: world.latest().map((e) => ({ id: e.id, x: e.x, y: e.y, vx: e.vx, vy: e.vy, name: names.get(e.id) ?? null, away: away.has(e.id) })),
    resumes,
  }),
};

void play();
