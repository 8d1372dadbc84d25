// The SDK against the real tickforge server. Not part of `npm test`: the
// Rust integration test server/tests/ts_client_live.rs compiles and runs this
// file with TICKFORGE_BIN set to the server binary cargo built, and this file
// starts and stops that server as each test needs.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { after, test } from "node:test";

import {
  CloseError,
  ErrorCode,
  RefusedError,
  TickforgeClient,
  arenaMove,
  decodeArenaState,
  encodeArenaInput,
  type ArenaStateView,
  type ClientEvents,
  type ClientOptions,
  type Disconnected,
  type StateUpdate,
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
    const args = ["--listen", `127.0.0.1:${port}`, "--admin-listen", "127.0.0.1:0", "--shards", "1", "--pin-cores", "false", "--log", "warn"];
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

  /** SIGTERM: the server closes every client with 1001 and exits. */
  async stop(): Promise<void> {
    running.delete(this);
    this.child.kill("SIGTERM");
    const code = await this.exited;
    assert.equal(code, 0, "tickforge exits cleanly on SIGTERM");
  }
}

after(async () => {
  for (const server of [...running]) await server.stop();
});

function player(server: Tickforge, playerId: string, options: Partial<ClientOptions<ArenaStateView>> = {}): Client {
  return new TickforgeClient<ArenaStateView>({
    url: server.url,
    playerId,
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
  await bob.connect();
  const room = await alice.joinOrCreate("arena");
  const arrived = until(alice, "playerJoined");
  const joined = await bob.join(room.roomId);
  assert.equal(joined.roomId, room.roomId);
  assert.deepEqual(await arrived, { entityId: joined.entityId, playerId: "bob" });
  assert.deepEqual(alice.players.map((p) => p.playerId).sort(), ["alice", "bob"]);
  await until(bob, "state", (s) => s.state.entities.some((e) => e.id === room.entityId));

  const gone = until(alice, "playerLeft");
  await bob.leave();
  assert.equal((await gone).playerId, "bob");
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
