// TickforgeClient against the in-memory server of fake-server.ts: the
// handshake, joins, inputs and acks, pings, typed errors for everything the
// server can say or break, reconnects with backoff and rejoining, and a
// clean close.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CloseError,
  ConnectError,
  DecodeError,
  ErrorCode,
  RedirectError,
  RefusedError,
  StateError,
  TimeoutError,
  decodeArenaInput,
  encodeArenaInput,
  type Disconnected,
  RateLimitedError,
  isRateLimitClose,
} from "../src/index.js";
import { FakeServer, arenaState } from "./fake-server.js";
import { client, next, sent } from "./support.js";

test("connect offers the subprotocol, says Hello with the player id and resolves with Welcome", async () => {
  const server = new FakeServer();
  const c = client(server, { token: "secret", clientVersion: "my-game/3" });
  const statuses: string[] = [];
  c.on("status", (s) => statuses.push(s));
  const welcome = await c.connect();
  assert.equal(welcome.nodeId, "fake");
  assert.equal(welcome.tickRateHz, 30);
  assert.equal(welcome.serverTimeUs, 1_700_000_000_000_000);
  assert.equal(c.status, "open");
  assert.deepEqual(server.last.protocols, ["tickforge.v1"]);
  assert.equal(server.last.binaryType, "arraybuffer");
  assert.deepEqual(server.last.received[0], { type: "hello", playerId: "alice", token: "secret", clientVersion: "my-game/3", resumeToken: null });
  assert.deepEqual(statuses, ["connecting", "open"]);
  assert.equal(welcome.playerId, "alice", "the verified player id");
  assert.equal(welcome.name, "Ada", "the display name");
  await c.close();
});

test("joinOrCreate and join resolve with the room and its decoded state", async () => {
  const server = new FakeServer({ rooms: ["lobby"] });
  const c = client(server);
  await c.connect();
  const room = await c.joinOrCreate("arena");
  assert.equal(room.roomId, "room-1");
  assert.equal(room.entityId, 1);
  assert.equal(room.tick, 10);
  assert.deepEqual(room.state.entities.map((e) => [e.id, e.x, e.y]), [[1, 100, 200]]);
  assert.deepEqual(sent(server, "joinRoom")[0], { type: "joinRoom", roomId: null, mode: "arena", private: false });
  assert.equal(c.joinedRoom?.roomId, "room-1");

  await assert.rejects(c.join("lobby"), StateError, "joining while in a room");
  await c.leave();
  assert.equal(c.joinedRoom, null);
  const lobby = await c.join("lobby");
  assert.equal(lobby.roomId, "lobby");
  assert.deepEqual(sent(server, "joinRoom")[1], { type: "joinRoom", roomId: "lobby", mode: null, private: false });
  await c.close();
});

test("a refused join rejects with the server's error code and message", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await assert.rejects(c.join("nowhere"), (e: unknown) => {
    assert.ok(e instanceof RefusedError);
    assert.equal(e.kind, "refused");
    assert.equal(e.code, ErrorCode.RoomNotFound);
    assert.equal(e.codeName, "RoomNotFound");
    assert.equal(e.serverMessage, "room nowhere not found");
    return true;
  });
  assert.equal(c.status, "open", "a refusal keeps the connection");
  await c.close();
});

test("a redirected join rejects with where the room lives", async () => {
  const server = new FakeServer({
    answer: (msg) => (msg.type === "joinRoom" ? { type: "redirect", url: "ws://other:7700/ws", roomId: "r9", resumeToken: null } : undefined),
  });
  const c = client(server);
  await c.connect();
  await assert.rejects(c.joinOrCreate("arena"), (e: unknown) => e instanceof RedirectError && e.url === "ws://other:7700/ws" && e.roomId === "r9");
  await c.close();
});

test("inputs carry increasing sequence numbers and the time; states hand over the player's own ack", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  assert.equal(c.sendInput(encodeArenaInput({ x: 1, y: 0, buttons: 0 })), null, "no input outside a room");
  const room = await c.joinOrCreate("arena");
  const before = BigInt(Date.now()) * 1000n;
  const seqs = [c.sendInput(encodeArenaInput({ x: 127, y: 0, buttons: 0 })), c.sendInput(encodeArenaInput({ x: 0, y: -127, buttons: 1 }))];
  const after = BigInt(Date.now() + 1) * 1000n;
  assert.deepEqual(seqs, [1, 2]);
  assert.equal(c.lastInputSeq, 2);
  const inputs = sent(server, "input");
  assert.deepEqual(inputs.map((i) => i.seq), [1, 2]);
  for (const input of inputs) assert.ok(input.clientTimeUs >= before - 1000n && input.clientTimeUs <= after, `${input.clientTimeUs}`);
  assert.deepEqual(decodeArenaInput(inputs[1]!.payload!), { x: 0, y: -127, buttons: 1 });

  const update = next(c, "state");
  server.last.deliver({
    type: "state",
    tick: 11n,
    serverTimeUs: 1_700_000_000_033_000n,
    state: arenaState([{ id: room.entityId, x: 106.5, y: 200, vx: 200, vy: 0, buttons: 0 }]),
    acks: [
      { entityId: 99, lastInputSeq: 7 },
      { entityId: room.entityId, lastInputSeq: 2 },
    ],
  });
  const state = await update;
  assert.equal(state.tick, 11);
  assert.equal(state.serverTimeUs, 1_700_000_000_033_000);
  assert.equal(state.ack, 2);
  assert.equal(state.acks.length, 2);
  assert.equal(state.state.entities[0]?.x, 106.5);
  await c.close();
});

test("ping measures the round trip, and automatic pings keep the RTT current", async () => {
  const server = new FakeServer();
  const c = client(server, { pingIntervalMs: 20 });
  const first = next(c, "rtt");
  await c.connect();
  const sample = await first;
  assert.ok(sample.rttMs >= 0 && sample.smoothedRttMs >= 0);
  const rtt = await c.ping();
  assert.ok(rtt >= 0 && rtt < 1000);
  assert.equal(c.rttMs, rtt);
  await next(c, "rtt"); // the next automatic one
  assert.ok(sent(server, "ping").length >= 3);
  const nonces = sent(server, "ping").map((p) => p.nonce);
  assert.equal(new Set(nonces).size, nonces.length, "every ping has its own nonce");
  await c.close();
});

test("an unanswered ping or join times out with a TimeoutError", async () => {
  const server = new FakeServer({ pong: false });
  const c = client(server, { requestTimeoutMs: 30 });
  await c.connect();
  await assert.rejects(c.ping(), (e: unknown) => e instanceof TimeoutError && e.awaited === "Pong");
  await c.close();
});

test("a server frame that fails verification closes with 1007 bad_frame and rejects what waits", async () => {
  const server = new FakeServer({ pong: false });
  const c = client(server);
  await c.connect();
  const socket = server.last;
  const pending = c.ping();
  const closed = next(c, "closed");
  socket.deliver(new Uint8Array([8, 0, 0, 0, 0x54, 0x46, 0x53, 0x31, 0xff, 0xff, 0xff, 0x7f]));
  const error = await closed;
  assert.ok(error instanceof CloseError);
  assert.equal(error.code, 1007);
  assert.equal(error.reason, "bad_frame");
  assert.equal(error.byClient, true);
  assert.ok(error.cause instanceof DecodeError);
  assert.equal(error.retryable, false);
  await assert.rejects(pending, (e: unknown) => e === error);
  assert.equal(c.status, "closed");
  assert.ok(socket.closedByClient, "the client closed the socket");
});

test("a text frame closes with 1003 text_frame; a frame of another kind with 1008 unexpected_message", async () => {
  for (const [data, code, reason] of [
    ["hello", 1003, "text_frame"],
    [arenaState([]), 1008, "unexpected_message"],
  ] as const) {
    const server = new FakeServer();
    const c = client(server);
    await c.connect();
    const closed = next(c, "closed");
    server.last.deliver(data);
    const error = await closed;
    assert.ok(error instanceof CloseError && error.code === code && error.reason === reason, `${String(error)}`);
  }
});

test("game state the game cannot decode closes with 1007 bad_state", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  const closed = next(c, "closed");
  server.last.deliver({ type: "state", tick: 1n, serverTimeUs: 1n, state: new Uint8Array([1, 2, 3]), acks: [] });
  const error = await closed;
  assert.ok(error instanceof CloseError && error.code === 1007 && error.reason === "bad_state");
  assert.ok(error.cause instanceof DecodeError);
});

test("a close by the server carries its code and reason, and a retryable one reconnects and rejoins the room", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const room = await c.joinOrCreate("arena");
  const disconnected = next(c, "disconnected");
  const rejoined = next(c, "joined");
  server.last.serverClose(4001, "idle_timeout");
  const drop = await disconnected;
  assert.ok(drop.error instanceof CloseError);
  assert.equal(drop.error.code, 4001);
  assert.equal(drop.error.reason, "idle_timeout");
  assert.equal(drop.reconnecting, true);
  assert.equal(drop.attempt, 1);
  assert.equal(drop.delayMs, 5);
  assert.equal(c.status, "reconnecting");
  assert.equal(c.sendInput(encodeArenaInput({ x: 1, y: 1, buttons: 0 })), null, "no input while reconnecting");
  const again = await rejoined;
  assert.equal(again.roomId, room.roomId, "the same room by id");
  assert.equal(server.sockets.length, 2);
  assert.deepEqual(sent(server, "joinRoom")[0], { type: "joinRoom", roomId: room.roomId, mode: null, private: false });
  assert.equal(c.status, "open");
  await c.close();
});

test("when the room is gone after a reconnect, the client joins its mode instead", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  server.options.rooms.length = 0; // the server restarted: its rooms are gone
  const rejoined = next(c, "joined");
  server.last.serverClose(1001, "shutdown");
  const room = await rejoined;
  assert.equal(room.roomId, "room-2");
  assert.deepEqual(
    sent(server, "joinRoom").map((j) => [j.roomId, j.mode]),
    [
      ["room-1", null],
      [null, "arena"],
    ],
  );
  await c.close();
});

test("failed attempts back off exponentially until the server is back", async () => {
  const server = new FakeServer();
  const c = client(server, { reconnect: { initialDelayMs: 4, maxDelayMs: 16, factor: 2, jitter: 0 } });
  await c.connect();
  const drops: { attempt: number; delayMs: number; code: number }[] = [];
  c.on("disconnected", (d) => drops.push({ attempt: d.attempt, delayMs: d.delayMs, code: (d.error as CloseError).code }));
  server.options.reachable = false;
  server.last.serverClose(1006, "");
  while (drops.length < 4) await next(c, "disconnected");
  server.options.reachable = true;
  await next(c, "welcome");
  assert.deepEqual(
    drops.slice(0, 4).map((d) => [d.attempt, d.delayMs, d.code]),
    [
      [1, 4, 1006],
      [2, 8, 1006],
      [3, 16, 1006],
      [4, 16, 1006],
    ],
  );
  assert.equal(c.status, "open");
  await c.close();
});

test("a refused connection that reports only an error, with no close, still fails and is retried", async () => {
  const server = new FakeServer({ reachable: false, refusal: "error-only" });
  await assert.rejects(client(server).connect(), (e: unknown) => e instanceof CloseError && e.code === 1006);
  server.options.reachable = true;
  const c = client(server);
  await c.connect();
  server.options.reachable = false;
  const drops: Disconnected[] = [];
  c.on("disconnected", (d) => drops.push(d));
  server.last.serverClose(1001, "shutdown");
  while (drops.length < 2) await next(c, "disconnected");
  assert.ok(drops[1]?.error instanceof CloseError && drops[1].error.code === 1006, `the refused attempt fails at once: ${String(drops[1]?.error)}`);
  server.options.reachable = true;
  await next(c, "welcome");
  await c.close();
});

test("a protocol violation is not retried, and neither is a drop after the attempts ran out", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const closed = next(c, "closed");
  server.last.serverClose(1008, "unexpected_message");
  const error = await closed;
  assert.ok(error instanceof CloseError && error.code === 1008 && error.reason === "unexpected_message");
  assert.equal(server.sockets.length, 1);

  const limited = client(server, { reconnect: { initialDelayMs: 1, maxAttempts: 2, jitter: 0 } });
  await limited.connect();
  server.options.reachable = false;
  const gaveUp = next(limited, "closed");
  server.last.serverClose(1001, "shutdown");
  const last = await gaveUp;
  assert.ok(last instanceof CloseError && last.code === 1006);
  assert.equal(server.sockets.length, 4, "the first connection and two attempts");
  assert.equal(limited.status, "closed");
});

test("a rate-limit close is a RateLimitedError naming the limit, and is not retried", async () => {
  const limits = [
    ["frame_rate_exceeded", "frames"],
    ["ping_rate_exceeded", "pings"],
    ["join_rate_exceeded", "joins"],
  ] as const;
  for (const [reason, limit] of limits) {
    const server = new FakeServer();
    const c = client(server);
    await c.connect();
    const closed = next(c, "closed");
    server.last.serverClose(1008, reason);
    const error = await closed;
    assert.ok(error instanceof RateLimitedError, reason);
    assert.ok(error instanceof CloseError && error.code === 1008 && error.reason === reason);
    assert.equal(error.limit, limit);
    assert.equal(error.retryable, false);
    assert.equal(server.sockets.length, 1, "no reconnect");
  }
  assert.ok(isRateLimitClose(1008, "ping_rate_exceeded"));
  assert.ok(!isRateLimitClose(1008, "unexpected_message"));
});

test("reconnect: false stays closed after a drop", async () => {
  const server = new FakeServer();
  const c = client(server, { reconnect: false });
  await c.connect();
  const closed = next(c, "closed");
  server.last.serverClose(4000, "slow_consumer");
  const error = await closed;
  assert.ok(error instanceof CloseError && error.code === 4000 && error.retryable);
  assert.equal(server.sockets.length, 1);
});

test("a server that goes silent is dropped as server_silent and reconnected", async () => {
  const server = new FakeServer({ pong: false });
  const c = client(server, { pingIntervalMs: 10, silenceTimeoutMs: 60 });
  await c.connect();
  const drop = await next(c, "disconnected");
  assert.ok(drop.error instanceof CloseError);
  assert.equal(drop.error.reason, "server_silent");
  assert.equal(drop.error.byClient, true);
  assert.equal(drop.reconnecting, true);
  await next(c, "welcome");
  await c.close();
});

test("connect fails with typed errors: refused, wrong subprotocol, no Welcome", async () => {
  await assert.rejects(client(new FakeServer({ reachable: false })).connect(), (e: unknown) => e instanceof CloseError && e.code === 1006);
  await assert.rejects(client(new FakeServer({ protocol: "" })).connect(), ConnectError);
  const silent = client(new FakeServer({ welcome: false }), { requestTimeoutMs: 30 });
  await assert.rejects(silent.connect(), (e: unknown) => e instanceof TimeoutError && e.awaited === "Welcome");
  assert.equal(silent.status, "closed");
  await assert.rejects(
    client(new FakeServer(), {
      webSocket: () => {
        throw new SyntaxError("bad url");
      },
    }).connect(),
    ConnectError,
  );
  assert.throws(() => client(new FakeServer(), { playerId: "" }), RangeError, "no token and no player id");
  assert.throws(() => client(new FakeServer(), { playerId: "x".repeat(129) }), RangeError);
  assert.doesNotThrow(() => client(new FakeServer(), { playerId: undefined, token: "t" }));
});

test("calls that the state does not allow reject with a StateError", async () => {
  const server = new FakeServer();
  const c = client(server);
  await assert.rejects(c.joinOrCreate("arena"), StateError);
  await assert.rejects(c.ping(), StateError);
  await c.connect();
  await assert.rejects(c.leave(), StateError);
  const first = c.joinOrCreate("arena");
  await assert.rejects(c.joinOrCreate("arena"), StateError);
  await first;
  await c.close();
});

test("an unasked ServerBusy in a room means the room closed", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  const error = next(c, "error");
  server.last.deliver({ type: "error", code: ErrorCode.ServerBusy, message: "the room closed" });
  const e = await error;
  assert.ok(e instanceof RefusedError && e.codeName === "ServerBusy");
  assert.equal(c.joinedRoom, null);
  await c.close();
});

test("players joining and leaving are tracked by their display names", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  const joined = next(c, "playerJoined");
  // A server with identity writes the display name into both fields.
  server.last.deliver({ type: "playerJoined", player: { entityId: 9, playerId: "Bob the Brave", name: "Bob the Brave", away: false } });
  assert.deepEqual(await joined, { entityId: 9, name: "Bob the Brave", playerId: "Bob the Brave", away: false });
  // A server before identity sends only the player id: it is the name.
  server.last.deliver({ type: "playerJoined", player: { entityId: 10, playerId: "carol", name: null, away: false } });
  assert.deepEqual(c.players.map((p) => p.name).sort(), ["Bob the Brave", "alice", "carol"]);
  const left = next(c, "playerLeft");
  server.last.deliver({ type: "playerLeft", player: { entityId: 9, playerId: "Bob the Brave", name: "Bob the Brave", away: false } });
  assert.equal((await left).name, "Bob the Brave");
  assert.deepEqual(c.players.map((p) => p.name).sort(), ["alice", "carol"]);
  await c.close();
});

test("close sends 1000, stops reconnecting, rejects what waits and emits closed once", async () => {
  const server = new FakeServer({ pong: false });
  const c = client(server);
  await c.connect();
  const waiting = c.ping();
  const closedEvents: unknown[] = [];
  c.on("closed", (e) => closedEvents.push(e));
  await c.close();
  assert.deepEqual(server.last.closedByClient, { code: 1000, reason: "bye" });
  await assert.rejects(waiting, (e: unknown) => e instanceof CloseError && e.code === 1000 && e.reason === "client_close");
  assert.equal(c.status, "closed");
  assert.equal(closedEvents.length, 1);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(server.sockets.length, 1, "no reconnect after close()");

  // A closed client can connect again.
  await c.connect();
  assert.equal(c.status, "open");
  await c.close();
});

test("close during a reconnect wait cancels the attempt", async () => {
  const server = new FakeServer();
  const c = client(server, { reconnect: { initialDelayMs: 50, jitter: 0 } });
  await c.connect();
  const drop = next(c, "disconnected");
  server.last.serverClose(1001, "shutdown");
  await drop;
  await c.close();
  assert.equal(c.status, "closed");
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(server.sockets.length, 1);
});
