// The SDK against the real tickforge server. Not part of `npm test`: the
// Rust integration test server/tests/ts_client_live.rs compiles and runs this
// file with TICKFORGE_BIN set to the server binary cargo built, and this file
// starts and stops that server as each test needs. Every player is a guest:
// its token comes from the server's `POST /auth/guest` (guest sessions are
// on by default).

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net";
import { after, test } from "node:test";

import {
  AccessDeniedError,
  CloseError,
  ErrorCode,
  RefusedError,
  TickforgeClient,
  arenaMove,
  decodeArenaState,
  encodeArenaInput,
  fetchGuestSession,
  type ArenaStateView,
  type ClientEvents,
  type ClientOptions,
  type Disconnected,
  type GuestSession,
  type StateUpdate,
  type TokenRequest,
} from "../../src/index.js";

type Client = TickforgeClient<ArenaStateView>;

const BIN = process.env.TICKFORGE_BIN;
const running = new Set<Tickforge>();

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** One tickforge process on 127.0.0.1:port. */
class Tickforge {
  private exited: Promise<number | null>;

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  static async start(port: number, extra: string[] = []): Promise<Tickforge> {
    assert.ok(BIN, "TICKFORGE_BIN must name the tickforge binary (server/tests/ts_client_live.rs sets it)");
    // The admin listener on a free port, so servers never collide on its default.
    const args = ["--listen", `127.0.0.1:${port}`, "--admin-listen", "127.0.0.1:0", "--shards", "1", "--pin-cores", "false", "--log", "warn", "--drain-delay", "100ms"];
    const child = spawn(BIN, [...args, ...extra], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    const server = new Tickforge(port, child);
    running.add(server);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (res.ok) return server;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`tickforge on port ${port} did not become ready`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** The public listener's HTTP base URL (for `POST /auth/guest`). */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** SIGTERM: the server closes every client with 1001 and exits. */
  async stop(): Promise<void> {
    running.delete(this);
    this.child.kill("SIGTERM");
    const code = await this.exited;
    assert.equal(code, 0, "tickforge exits cleanly on SIGTERM");
  }
}

/**
 * A TCP relay in front of a server, so a test can cut connections the way a
 * network does: both sides' sockets are destroyed, and no WebSocket close
 * frame goes either way.
 */
class Relay {
  /** Relayed connections: the client's socket and the one to the server. */
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly listener: Server;

  private constructor(target: number) {
    this.listener = createServer((inbound) => {
      const outbound = tcpConnect(target, "127.0.0.1");
      const pair: [Socket, Socket] = [inbound, outbound];
      this.pairs.add(pair);
      inbound.pipe(outbound).pipe(inbound);
      const forget = () => {
        this.pairs.delete(pair);
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on("error", forget).on("close", forget);
      outbound.on("error", forget).on("close", forget);
    });
  }

  /** A relay on a free port of 127.0.0.1 to the server on `target`. */
  static start(target: number): Promise<Relay> {
    const relay = new Relay(target);
    return new Promise((resolve, reject) => {
      relay.listener.once("error", reject);
      relay.listener.listen(0, "127.0.0.1", () => {
        relays.add(relay);
        resolve(relay);
      });
    });
  }

  get url(): string {
    const address = this.listener.address();
    assert.ok(typeof address === "object" && address, "the relay listens");
    return `ws://127.0.0.1:${address.port}/ws`;
  }

  /** Cuts every relayed connection with a reset both ways: no close frame reaches either side. */
  cut(): number {
    const pairs = [...this.pairs];
    for (const [inbound, outbound] of pairs) {
      inbound.resetAndDestroy();
      outbound.resetAndDestroy();
    }
    return pairs.length;
  }

  stop(): Promise<void> {
    relays.delete(this);
    this.cut();
    return new Promise((resolve) => this.listener.close(() => resolve()));
  }
}

const relays = new Set<Relay>();

after(async () => {
  for (const relay of [...relays]) await relay.stop();
  for (const server of [...running]) await server.stop();
});

/**
 * Tokens of one guest called `name`, from `POST /auth/guest` at `baseUrl`:
 * the session is kept across reconnects and fetched again when it nears
 * expiry or the server refused its token (a restarted server may sign with
 * another key; the new session is a new guest).
 */
function guestTokens(baseUrl: string, name: string): (request: TokenRequest) => Promise<string> {
  let session: GuestSession | null = null;
  return async ({ rejected }) => {
    if (!session || rejected || session.expiresAt - Date.now() / 1000 < 60) session = await fetchGuestSession(baseUrl, name);
    return session.token;
  };
}

/** A guest player called `name`, with a fresh guest session from the server. */
function player(server: Tickforge, name: string, options: Partial<ClientOptions<ArenaStateView>> = {}): Client {
  return new TickforgeClient<ArenaStateView>({
    url: server.url,
    tokenProvider: guestTokens(server.baseUrl, name),
    decodeState: decodeArenaState,
    pingIntervalMs: 500,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    ...options,
  });
}

/** Resolves with the first `event` for which `accept` holds, failing after `ms`. */
function until<K extends keyof ClientEvents<ArenaStateView>>(
  c: Client,
  event: K,
  accept: (value: ClientEvents<ArenaStateView>[K]) => boolean = () => true,
  ms = 10_000,
): Promise<ClientEvents<ArenaStateView>[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching ${String(event)} event within ${ms} ms`));
    }, ms);
    const stop = c.on(event, (value) => {
      if (!accept(value)) return;
      clearTimeout(timer);
      stop();
      resolve(value);
    });
  });
}

test("a player joins, moves, and sees its inputs acknowledged and applied", async () => {
  const server = await Tickforge.start(await freePort());
  const c = player(server, "mover");
  const welcome = await c.connect();
  assert.equal(welcome.protocolVersion, 1);
  assert.equal(welcome.tickRateHz, 30);
  assert.equal(welcome.name, "mover", "the display name asked for");
  assert.match(welcome.playerId, /^g_/, "a guest's player id, the token's subject");
  const room = await c.joinOrCreate("arena");
  assert.equal(room.mode, "arena");
  assert.ok(room.state.entities.some((e) => e.id === room.entityId), "Joined carries the player's entity");

  const seq = c.sendInput(encodeArenaInput(arenaMove(1, 0)));
  assert.equal(seq, 1);
  const moving: StateUpdate<ArenaStateView> = await until(c, "state", (s) => s.ack === seq);
  const me = moving.state.entities.find((e) => e.id === room.entityId);
  assert.ok(me && me.vx === 200 && me.vy === 0, `the room applied the input: ${JSON.stringify(me)}`);
  assert.ok(moving.tick > room.tick);
  assert.ok(Math.abs(moving.serverTimeUs / 1000 - Date.now()) < 5_000, "server time is µs since the epoch");

  const rtt = await c.ping();
  assert.ok(rtt >= 0 && rtt < 1_000, `rtt ${rtt} ms`);
  await c.close();
  await server.stop();
});

test("two players in one room see each other come and go", async () => {
  const server = await Tickforge.start(await freePort());
  const alice = player(server, "alice");
  const bob = player(server, "bob");
  await alice.connect();
  const bobId = (await bob.connect()).playerId;
  const room = await alice.joinOrCreate("arena");
  const arrived = until(alice, "playerJoined");
  const joined = await bob.join(room.roomId);
  assert.equal(joined.roomId, room.roomId);
  // Others see the display name (also in player_id, for older clients), never the player id.
  assert.deepEqual(await arrived, { entityId: joined.entityId, name: "bob", playerId: "bob", away: false });
  assert.notEqual(bobId, "bob");
  assert.deepEqual(alice.players.map((p) => p.name).sort(), ["alice", "bob"]);
  assert.deepEqual(joined.players.map((p) => p.name).sort(), ["alice", "bob"]);
  await until(bob, "state", (s) => s.state.entities.some((e) => e.id === room.entityId));

  const gone = until(alice, "playerLeft");
  await bob.leave();
  assert.equal((await gone).name, "bob");
  await alice.close();
  await bob.close();
  await server.stop();
});

test("refused joins carry the server's error code", async () => {
  const server = await Tickforge.start(await freePort(), ["--room-capacity", "1"]);
  const c = player(server, "refused");
  await c.connect();
  await assert.rejects(c.join("no-such-room"), (e: unknown) => e instanceof RefusedError && e.code === ErrorCode.RoomNotFound);
  await assert.rejects(c.joinOrCreate("no-such-mode"), (e: unknown) => e instanceof RefusedError && e.codeName === "UnknownMode");
  const full = await c.joinOrCreate("arena");
  const other = player(server, "other");
  await other.connect();
  await assert.rejects(other.join(full.roomId), (e: unknown) => e instanceof RefusedError && e.code === ErrorCode.RoomFull);
  assert.equal(c.status, "open");
  await c.close();
  await other.close();
  await server.stop();
});

test("a server restart: 1001 shutdown, backoff while it is down, then back into a room", async () => {
  const port = await freePort();
  let server = await Tickforge.start(port);
  const c = player(server, "survivor");
  await c.connect();
  const before = await c.joinOrCreate("arena");

  const drops: Disconnected[] = [];
  c.on("disconnected", (d) => drops.push(d));
  const firstDrop = until(c, "disconnected");
  const downWhileRetrying = until(c, "disconnected", (d) => d.attempt >= 2);
  await server.stop();
  const drop = await firstDrop;
  assert.ok(drop.error instanceof CloseError, String(drop.error));
  assert.equal(drop.error.code, 1001);
  assert.equal(drop.error.reason, "shutdown");
  assert.equal(drop.reconnecting, true);
  const retry = await downWhileRetrying;
  assert.ok(retry.error instanceof CloseError && retry.error.code === 1006, `attempts fail while the server is down: ${String(retry.error)}`);

  const back = until(c, "joined", () => true, 15_000);
  server = await Tickforge.start(port);
  const room = await back;
  assert.equal(room.mode, "arena");
  assert.notEqual(room.roomId, before.roomId, "the old room died with the old server");
  assert.equal(c.status, "open");
  const delays = drops.map((d) => d.delayMs);
  for (let i = 1; i < Math.min(delays.length, 3); i++) {
    assert.ok((delays[i] ?? 0) <= 200, `delays stay under the ceiling: ${delays.join(", ")}`);
  }
  const seq = c.sendInput(encodeArenaInput(arenaMove(0, 1)));
  await until(c, "state", (s) => s.ack === seq);
  await c.close();
  await server.stop();
});

test("a private room is joined only by its id, and a second login of the same player replaces the first with 4005", async () => {
  const server = await Tickforge.start(await freePort());
  const session = await fetchGuestSession(server.baseUrl, "twin");
  const first = player(server, "twin", { tokenProvider: undefined, token: session.token });
  const welcome = await first.connect();
  assert.equal(welcome.playerId, session.playerId);
  assert.equal(welcome.name, "twin");
  const hideout = await first.createPrivate("arena");

  const stranger = player(server, "stranger");
  await stranger.connect();
  const elsewhere = await stranger.joinOrCreate("arena");
  assert.notEqual(elsewhere.roomId, hideout.roomId, "join-or-create never lands in a private room");
  const friend = player(server, "friend");
  await friend.connect();
  assert.equal((await friend.join(hideout.roomId)).roomId, hideout.roomId, "the id lets a friend in");

  const replaced = until(first, "closed");
  const second = player(server, "twin", { tokenProvider: undefined, token: session.token });
  assert.equal((await second.connect()).playerId, session.playerId);
  const error = await replaced;
  assert.ok(error instanceof AccessDeniedError, String(error));
  assert.equal(error.code, 4005);
  assert.equal(error.reason, "replaced");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(first.status, "closed", "a replaced connection does not come back");
  assert.equal(second.status, "open");

  for (const c of [second, stranger, friend]) await c.close();
  await server.stop();
});

test("a connection cut without a close frame is resumed: the same room and entity, stopped while away, acks continuing", async () => {
  const server = await Tickforge.start(await freePort());
  const relay = await Relay.start(server.port);
  // The first attempt waits long enough for the room to have stopped the entity.
  const phone = player(server, "phone", { url: relay.url, reconnect: { initialDelayMs: 500, maxDelayMs: 1_000, jitter: 0 } });
  const welcome = await phone.connect();
  assert.ok(welcome.resumeGraceMs > 0, `the server holds seats for a resume: ${welcome.resumeGraceMs} ms`);
  const room = await phone.joinOrCreate("arena");
  const friend = player(server, "friend");
  await friend.connect();
  await friend.join(room.roomId);

  const moving = phone.sendInput(encodeArenaInput(arenaMove(1, 0)));
  await until(phone, "state", (s) => s.ack === moving && s.state.entities.some((e) => e.id === room.entityId && e.vx !== 0));
  const seen: boolean[] = [];
  friend.on("playerAway", (p) => {
    if (p.entityId === room.entityId) seen.push(p.away);
  });
  const away = until(friend, "playerAway", (p) => p.entityId === room.entityId && p.away);
  const back = until(friend, "playerAway", (p) => p.entityId === room.entityId && !p.away);
  const joinedAgain: unknown[] = [];
  phone.on("joined", (j) => joinedAgain.push(j));
  const drop = until(phone, "disconnected");
  const resumed = until(phone, "resumed");

  assert.equal(relay.cut(), 1, "the phone's connection is cut");
  const d = await drop;
  assert.ok(d.error instanceof CloseError && d.error.code === 1006, String(d.error));
  assert.equal(d.resuming, true);
  assert.equal((await away).name, "phone", "the friend sees the phone away while its seat is held");
  const r = await resumed;
  assert.equal(r.room.roomId, room.roomId, "the same room");
  assert.equal(r.room.entityId, room.entityId, "the same entity");
  assert.equal(r.moved, false);
  assert.equal(r.lastInputSeq, moving, "acks continue from the last input applied");
  assert.ok(r.gapTicks >= 0);
  const me = r.room.state.entities.find((e) => e.id === room.entityId);
  assert.ok(me && me.vx === 0 && me.vy === 0, `the room stopped the entity while away: ${JSON.stringify(me)}`);
  assert.equal(phone.welcome?.resumed, true);
  assert.deepEqual(joinedAgain, [], "a resume is not a join");
  await back;
  assert.deepEqual(seen, [true, false], "the friend saw the phone away, then back");

  const next = phone.sendInput(encodeArenaInput(arenaMove(0, 1)));
  assert.equal(next, (moving ?? 0) + 1);
  await until(phone, "state", (s) => s.ack === next);
  for (const c of [phone, friend]) await c.close();
  await relay.stop();
  await server.stop();
});
