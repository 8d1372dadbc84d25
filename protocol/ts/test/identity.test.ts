// TickforgeClient with identity, against the fake server: the session token
// in Hello (given, or from a provider asked before every connect and
// reconnect), the verified id and display name from Welcome, the
// access-control closes 4003–4006 as AccessDeniedError (never retried,
// except a refused token once with a fresh one), and private rooms.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as flatbuffers from "flatbuffers";

import { AccessDeniedError, CloseError, ConnectError, encodeClientFrame, wire, type TokenRequest } from "../src/index.js";
import { vectorsDir } from "./cases.js";
import { FakeServer } from "./fake-server.js";
import { client, next, sent } from "./support.js";

/** A token provider handing out `tokens` in order (the last one again when they run out), recording each request. */
function provider(...tokens: string[]): { requests: TokenRequest[]; provide: (r: TokenRequest) => Promise<string> } {
  const requests: TokenRequest[] = [];
  return {
    requests,
    provide: (request) => {
      requests.push(request);
      return Promise.resolve(tokens[Math.min(requests.length, tokens.length) - 1] ?? "");
    },
  };
}

/** A fake server that refuses the Hellos carrying one of `refused` with 4003 `reason`. */
function refusing(refused: string[], reason = "auth_expired"): FakeServer {
  return new FakeServer({
    answer: (msg, socket) => {
      if (msg.type !== "hello" || !refused.includes(msg.token ?? "")) return undefined;
      socket.closeSoon(4003, reason);
      return null;
    },
  });
}

test("with a token and no player id, Hello carries the token and an empty player id, and Welcome names the player", async () => {
  const server = new FakeServer();
  const c = client(server, { playerId: undefined, token: "eyJ.session.token" });
  const welcome = await c.connect();
  assert.deepEqual(sent(server, "hello")[0], { type: "hello", playerId: "", token: "eyJ.session.token", clientVersion: "tickforge-ts/0.1.0", resumeToken: null });
  assert.equal(welcome.playerId, "g_fake", "the token's subject");
  assert.equal(welcome.name, "Ada");
  assert.equal(c.welcome?.name, "Ada");
  await c.close();
});

test("a Welcome from a server before identity falls back to the player id from the options", async () => {
  const server = new FakeServer({
    answer: (msg) =>
      msg.type === "hello"
        ? { type: "welcome", sessionId: 1n, nodeId: "old", tickRateHz: 30, serverTimeUs: 1n, protocolVersion: 1, playerId: null, name: null, resumeToken: null, resumeGraceMs: 0, resumed: false }
        : undefined,
  });
  const c = client(server);
  const welcome = await c.connect();
  assert.equal(welcome.playerId, "alice");
  assert.equal(welcome.name, "alice");
  await c.close();
});

test("the token provider is asked before connect and before every reconnect, and each Hello carries its token", async () => {
  const server = new FakeServer();
  const tokens = provider("t1", "t2", "t3");
  const c = client(server, { playerId: undefined, token: "ignored", tokenProvider: tokens.provide });
  await c.connect();
  for (const code of [1001, 4000]) {
    const back = next(c, "welcome");
    server.last.serverClose(code, "");
    await back;
  }
  assert.deepEqual(
    server.sockets.map((s) => sent(server, "hello", s)[0]?.token),
    ["t1", "t2", "t3"],
    "the provider wins over token, and a fresh token goes into every Hello",
  );
  assert.deepEqual(
    tokens.requests.map((r) => [r.attempt, r.rejected]),
    [
      [0, null],
      [1, null],
      [1, null],
    ],
  );
  await c.close();
});

test("after 4004, 4005 or 4006 the client stops with an AccessDeniedError and does not reconnect", async () => {
  for (const [code, reason, denial] of [
    [4004, "banned", "banned"],
    [4005, "replaced", "replaced"],
    [4006, "kicked", "kicked"],
  ] as const) {
    const server = new FakeServer();
    // Even a provider that could hand out a fresh token does not bring the player back.
    const c = client(server, { tokenProvider: provider("t").provide });
    await c.connect();
    const disconnected = next(c, "disconnected");
    const closed = next(c, "closed");
    server.last.serverClose(code, reason);
    const drop = await disconnected;
    assert.equal(drop.reconnecting, false, `${code} is not retried`);
    const error = await closed;
    assert.ok(error instanceof AccessDeniedError, String(error));
    assert.ok(error instanceof CloseError, "an AccessDeniedError is a CloseError");
    assert.equal(error.kind, "closed");
    assert.equal(error.code, code);
    assert.equal(error.reason, reason);
    assert.equal(error.denial, denial);
    assert.equal(error.byClient, false);
    assert.equal(error.retryable, false);
    assert.match(error.message, new RegExp(`^connection closed \\(${code} ${reason}\\): `));
    assert.equal(c.status, "closed");
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(server.sockets.length, 1, `no attempt after ${code}`);
  }
});

test("after 4005 a custom shouldReconnect is not asked: a replaced player stays out", async () => {
  const server = new FakeServer();
  const c = client(server, { shouldReconnect: () => true });
  await c.connect();
  const closed = next(c, "closed");
  server.last.serverClose(4005, "replaced");
  assert.ok((await closed) instanceof AccessDeniedError);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(server.sockets.length, 1);
});

test("a refused token without a token provider is not retried", async () => {
  const server = refusing(["stale"], "auth_signature");
  const c = client(server, { playerId: undefined, token: "stale" });
  await assert.rejects(c.connect(), (e: unknown) => e instanceof AccessDeniedError && e.code === 4003 && e.reason === "auth_signature" && e.denial === "token");
  assert.equal(server.sockets.length, 1);
  assert.equal(c.status, "closed");
});

test("connect retries a refused token once with the provider's next one", async () => {
  const server = refusing(["expired"]);
  const tokens = provider("expired", "fresh");
  const c = client(server, { playerId: undefined, tokenProvider: tokens.provide });
  const welcome = await c.connect();
  assert.equal(welcome.name, "Ada");
  assert.deepEqual(server.sockets.map((s) => sent(server, "hello", s)[0]?.token), ["expired", "fresh"]);
  const refusal = tokens.requests[1]?.rejected;
  assert.ok(refusal instanceof AccessDeniedError && refusal.reason === "auth_expired", "the provider learns which token was refused");
  await c.close();
});

test("a reconnect whose token is refused tries once more with a fresh token", async () => {
  const server = refusing(["stale"]);
  const tokens = provider("good", "stale", "fresh");
  const c = client(server, { tokenProvider: tokens.provide });
  await c.connect();
  const back = next(c, "welcome");
  server.last.serverClose(1001, "shutdown");
  await back;
  assert.deepEqual(server.sockets.map((s) => sent(server, "hello", s)[0]?.token), ["good", "stale", "fresh"]);
  assert.equal(tokens.requests[2]?.rejected?.code, 4003);
  await c.close();
});

test("a token refused again after the retry ends the attempts with the 4003", async () => {
  const server = refusing(["bad"]);
  const c = client(server, { tokenProvider: provider("ok", "bad").provide });
  await c.connect();
  const drops: boolean[] = [];
  c.on("disconnected", (d) => drops.push(d.reconnecting));
  const closed = next(c, "closed");
  server.last.serverClose(1001, "shutdown");
  const error = await closed;
  assert.ok(error instanceof AccessDeniedError && error.code === 4003 && error.reason === "auth_expired", String(error));
  assert.deepEqual(drops, [true, true, false], "the drop, the refused token retried once, then no more");
  assert.equal(server.sockets.length, 3);

  const stuck = provider("bad");
  await assert.rejects(client(server, { tokenProvider: stuck.provide }).connect(), AccessDeniedError);
  assert.equal(stuck.requests.length, 2, "connect, too, retries a refused token once");
});

test("a failing token provider fails the attempt with a retryable ConnectError, and the next attempt asks again", async () => {
  const server = new FakeServer();
  let calls = 0;
  const c = client(server, {
    tokenProvider: () => {
      calls++;
      if (calls === 2) throw new Error("login service down");
      return `t${calls}`;
    },
  });
  await c.connect();
  const drops: unknown[] = [];
  c.on("disconnected", (d) => drops.push(d.error));
  const back = next(c, "welcome");
  server.last.serverClose(1006, "");
  await back;
  const failed = drops[1];
  assert.ok(failed instanceof ConnectError && failed.retryable, String(failed));
  assert.match(String((failed.cause as Error).message), /login service down/);
  assert.deepEqual(server.sockets.map((s) => sent(server, "hello", s)[0]?.token), ["t1", "t3"], "no socket for the failed token");
  await c.close();
});

test("close while the token provider works cancels the attempt", async () => {
  const server = new FakeServer();
  let release: (token: string) => void = () => {};
  const c = client(server, { tokenProvider: () => new Promise<string>((r) => (release = r)) });
  const connecting = c.connect();
  await new Promise((r) => setTimeout(r, 5));
  await c.close();
  release("late");
  await assert.rejects(connecting, (e: unknown) => e instanceof CloseError && e.reason === "client_close");
  assert.equal(server.sockets.length, 0, "no socket is opened after close()");
  assert.equal(c.status, "closed");
});

test("createPrivate sends JoinRoom with private set, the bytes of the shared vector", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const room = await c.createPrivate("arena");
  const frame = server.last.frames.find((_, i) => server.last.received[i]?.type === "joinRoom");
  assert.ok(frame);
  assert.deepEqual(frame, new Uint8Array(readFileSync(`${vectorsDir}ts/client_create_private_room.bin`)));
  assert.deepEqual(frame, encodeClientFrame({ type: "joinRoom", roomId: null, mode: "arena", private: true }));
  const table = wire.ClientFrame.getRootAsClientFrame(new flatbuffers.ByteBuffer(frame)).message(new wire.JoinRoom()) as wire.JoinRoom;
  assert.equal(table.private_(), true);
  assert.equal(table.mode(), "arena");
  assert.equal(room.roomId, "room-1");
  await c.close();
});

test("a private room is joined again by id after a reconnect, and replaced by a new private room when gone", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const room = await c.createPrivate("arena");
  let rejoined = next(c, "joined");
  server.last.serverClose(1001, "shutdown");
  assert.equal((await rejoined).roomId, room.roomId);
  server.options.rooms.length = 0;
  rejoined = next(c, "joined");
  server.last.serverClose(1001, "shutdown");
  await rejoined;
  assert.deepEqual(
    sent(server, "joinRoom").map((j) => [j.roomId, j.mode, j.private]),
    [
      [room.roomId, null, false],
      [null, "arena", true],
    ],
    "by id, then a new private room, never a listed one",
  );
  await c.close();
});
