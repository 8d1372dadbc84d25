// Session resume against the fake server: after an unexpected drop the
// client presents its resume token within the grace and takes its seat back
// (a `resumed` event, no JoinRoom, inputs continuing after the room's last
// applied one); when the seat is gone it joins again; it follows an unasked
// Redirect that carries a resume token; it shows away members; and it
// ignores message types of newer servers.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as flatbuffers from "flatbuffers";

import { CloseError, RedirectError, encodeArenaInput, wire, type Resumed } from "../src/index.js";
import { FakeServer, arenaState } from "./fake-server.js";
import { client, next, sent, type Client } from "./support.js";

const idle = encodeArenaInput({ x: 0, y: 0, buttons: 0 });

/** Events of `c` in the order they came, by name. */
function record(c: Client, ...events: ("joined" | "resumed" | "left" | "welcome" | "disconnected")[]): string[] {
  const seen: string[] = [];
  for (const event of events) c.on(event, () => seen.push(event));
  return seen;
}

test("a drop within the grace is resumed: the same room and entity, no JoinRoom, a resumed event with the gap", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000 });
  const c = client(server, { token: "session-token" });
  const welcome = await c.connect();
  assert.equal(welcome.resumeGraceMs, 5_000);
  assert.equal(welcome.resumed, false);
  const room = await c.joinOrCreate("arena");
  assert.deepEqual([c.sendInput(idle), c.sendInput(idle)], [1, 2]);
  const first = server.last;
  const seen = record(c, "joined", "resumed", "left");

  const drop = next(c, "disconnected");
  const resumed = next(c, "resumed");
  first.breakOff();
  const d = await drop;
  assert.ok(d.error instanceof CloseError && d.error.code === 1006);
  assert.equal(d.resuming, true, "the next attempt offers the resume token");
  const r: Resumed<unknown> = await resumed;

  const again = server.last;
  assert.notEqual(again, first);
  assert.deepEqual(sent(server, "hello", again)[0], {
    type: "hello",
    playerId: "alice",
    token: "session-token",
    clientVersion: "tickforge-ts/0.1.0",
    resumeToken: first.resumeToken,
  });
  assert.equal(sent(server, "joinRoom", again).length, 0, "no JoinRoom after a resume");
  assert.equal(r.room.roomId, room.roomId);
  assert.equal(r.room.entityId, room.entityId);
  assert.equal(r.gapTicks, 30, "from tick 10 before the drop to tick 40");
  assert.ok(r.gapMs >= 0);
  assert.equal(r.lastInputSeq, 2);
  assert.equal(r.lostInputs, 0);
  assert.equal(r.moved, false);
  assert.deepEqual(seen, ["resumed"], "neither joined nor left");
  assert.equal(c.status, "open");
  assert.equal(c.joinedRoom?.roomId, room.roomId);
  assert.equal(c.welcome?.resumed, true);
  assert.equal(c.sendInput(idle), 3, "inputs continue after the last one applied");
  await c.close();
});

test("inputs the room never applied are counted as lost, and their numbers are not used again", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000 });
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  for (let i = 0; i < 4; i++) c.sendInput(idle);
  const seat = server.last.seat;
  assert.ok(seat);
  seat.lastInputSeq = 1; // inputs 2–4 were lost with the connection
  const resumed = next(c, "resumed");
  server.last.breakOff();
  const r = await resumed;
  assert.equal(r.lastInputSeq, 1);
  assert.equal(r.lostInputs, 3);
  assert.equal(c.sendInput(idle), 5);

  // A new seat (a rejoin) starts with nothing applied: inputs of the old seat are not counted as lost.
  const rejoined = next(c, "joined");
  server.last.breakOff();
  server.held.clear();
  await rejoined;
  const again = next(c, "resumed");
  server.last.breakOff();
  const r2 = await again;
  assert.equal(r2.lastInputSeq, 0);
  assert.equal(r2.lostInputs, 0);
  assert.equal(c.sendInput(idle), 6);
  await c.close();
});

test("a connection the client drops itself (a silent server) is closed with 4100, keeping the seat, and resumed", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000, pong: false });
  const c = client(server, { pingIntervalMs: 10, silenceTimeoutMs: 60 });
  await c.connect();
  const room = await c.joinOrCreate("arena");
  const first = server.last;
  const drop = await next(c, "disconnected");
  assert.ok(drop.error instanceof CloseError && drop.error.reason === "server_silent");
  assert.equal(first.closedByClient?.code, 4100, "any code but 1000 keeps the seat");
  const r = await next(c, "resumed");
  assert.equal(r.room.entityId, room.entityId);
  await c.close();
});

test("after the grace the client joins again: its Hello carries no resume token", async () => {
  const server = new FakeServer({ resumeGraceMs: 20 });
  const c = client(server, { reconnect: { initialDelayMs: 80, jitter: 0 } });
  await c.connect();
  const room = await c.joinOrCreate("arena");
  const seen = record(c, "joined", "resumed");
  const drop = next(c, "disconnected");
  const rejoined = next(c, "joined");
  server.last.breakOff();
  assert.equal((await drop).resuming, true);
  const again = await rejoined;
  assert.equal(sent(server, "hello")[0]?.resumeToken, null, "the client knows the seat is gone");
  assert.deepEqual(sent(server, "joinRoom")[0], { type: "joinRoom", roomId: room.roomId, mode: null, private: false });
  assert.notEqual(again.entityId, room.entityId, "a new seat");
  assert.deepEqual(seen, ["joined"]);
  await c.close();
});

test("a resume token refused with 4003 auth_resume_expired is dropped and the client joins again at once", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000 });
  const c = client(server, { reconnect: { initialDelayMs: 5, jitter: 0 } });
  await c.connect();
  const room = await c.joinOrCreate("arena");
  const drops: { code: number; reason: string; resuming: boolean; delayMs: number }[] = [];
  c.on("disconnected", (d) => drops.push({ code: (d.error as CloseError).code, reason: (d.error as CloseError).reason, resuming: d.resuming, delayMs: d.delayMs }));
  const rejoined = next(c, "joined");
  const first = server.last;
  first.breakOff();
  server.held.clear(); // the server already gave the seat up
  const again = await rejoined;
  assert.equal(again.roomId, room.roomId);
  assert.deepEqual(
    server.sockets.slice(1).map((s) => sent(server, "hello", s)[0]?.resumeToken ?? null),
    [first.resumeToken, null],
    "a Hello with the resume token, refused, then one without",
  );
  assert.deepEqual(drops, [
    { code: 1006, reason: "", resuming: true, delayMs: 5 },
    { code: 4003, reason: "auth_resume_expired", resuming: false, delayMs: 0 },
  ]);
  assert.equal(c.status, "open");
  await c.close();
});

test("a Welcome that did not resume (the seat is gone, the token is good) is followed by the ordinary rejoin", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000 });
  const c = client(server, { token: "session-token" });
  await c.connect();
  const room = await c.joinOrCreate("arena");
  const seen = record(c, "joined", "resumed");
  const rejoined = next(c, "joined");
  const first = server.last;
  first.breakOff();
  server.held.clear();
  await rejoined;
  assert.equal(sent(server, "hello")[0]?.resumeToken, first.resumeToken);
  assert.deepEqual(sent(server, "joinRoom")[0], { type: "joinRoom", roomId: room.roomId, mode: null, private: false });
  assert.deepEqual(seen, ["joined"]);
  await c.close();
});

test("no resume after close(), after leaving the room, or with resume: false", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000 });
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  await c.close();
  assert.equal(server.sockets[0]?.closedByClient?.code, 1000);
  assert.equal(server.held.size, 0, "a close with 1000 gives the seat up");

  await c.connect();
  await c.joinOrCreate("arena");
  await c.leave();
  const back = next(c, "welcome");
  server.last.breakOff();
  assert.equal((await back).resumed, false);
  assert.equal(sent(server, "hello").at(0)?.resumeToken, null, "no room, no seat to take back");
  await c.close();

  const off = client(server, { resume: false });
  await off.connect();
  await off.joinOrCreate("arena");
  const rejoined = next(off, "joined");
  server.last.breakOff();
  await rejoined;
  assert.equal(sent(server, "hello")[0]?.resumeToken, null);
  await off.close();
});

test("an unasked Redirect with a resume token moves the client to the room's new node, into the same seat", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000 });
  const c = client(server);
  await c.connect();
  const room = await c.joinOrCreate("arena");
  const old = server.last;
  // The target node holds the seat for the token it issued.
  server.held.set("moved-token", { roomId: room.roomId, entityId: room.entityId, lastInputSeq: 0, until: Date.now() + 5_000 });
  const drop = next(c, "disconnected");
  const resumed = next(c, "resumed");
  old.deliver({ type: "redirect", url: "ws://node-b.example/ws", roomId: room.roomId, resumeToken: "moved-token" });
  const d = await drop;
  assert.ok(d.error instanceof RedirectError && d.error.url === "ws://node-b.example/ws" && d.error.roomId === room.roomId);
  assert.deepEqual([d.reconnecting, d.resuming, d.delayMs], [true, true, 0]);
  assert.equal(old.closedByClient?.code, 4100, "the old connection is let go of without giving up the seat");
  const r = await resumed;
  assert.equal(server.last.url, "ws://node-b.example/ws");
  assert.equal(sent(server, "hello")[0]?.resumeToken, "moved-token");
  assert.equal(r.moved, true);
  assert.equal(r.room.roomId, room.roomId);
  assert.equal(r.room.entityId, room.entityId);

  // Later drops reconnect to the node the room lives on now.
  const back = next(c, "resumed");
  server.last.breakOff();
  await back;
  assert.equal(server.last.url, "ws://node-b.example/ws");
  await c.close();
});

for (const when of ["with the Welcome", "after the rejoin began"] as const) {
  test(`a resume that reaches a node not holding the seat follows the Redirect there (${when}), without an error for the rejoin`, async () => {
    const server: FakeServer = new FakeServer({
      resumeGraceMs: 5_000,
      answer: (msg, socket) => {
        if (msg.type !== "hello" || msg.resumeToken === null || socket.url !== "ws://game.example/ws") return undefined;
        // This node does not hold the seat: an ordinary Welcome (the Hello had a token), then where the seat is.
        const seat = server.held.get(msg.resumeToken);
        assert.ok(seat, "the seat is held");
        server.held.set("node-b-token", seat);
        socket.deliver({ type: "welcome", sessionId: 99n, nodeId: "a", tickRateHz: 30, serverTimeUs: 1n, protocolVersion: 1, playerId: "g", name: "Ada", resumeToken: "a-token", resumeGraceMs: 5_000, resumed: false });
        const redirect = { type: "redirect", url: "ws://node-b.example/ws", roomId: seat.roomId, resumeToken: "node-b-token" } as const;
        if (when === "with the Welcome") return redirect;
        setTimeout(() => socket.deliver(redirect), 5);
        return null;
      },
    });
    const c = client(server, { token: "session-token" });
    await c.connect();
    const room = await c.joinOrCreate("arena");
    const errors: unknown[] = [];
    c.on("error", (e) => errors.push(e));
    const resumed = next(c, "resumed");
    server.last.breakOff();
    const r = await resumed;
    assert.equal(server.last.url, "ws://node-b.example/ws");
    assert.equal(sent(server, "hello")[0]?.resumeToken, "node-b-token");
    assert.equal(r.room.entityId, room.entityId);
    assert.equal(r.moved, true);
    assert.deepEqual(errors, []);
    await c.close();
  });
}

test("when the moved room's seat is gone, the client joins the room by id at its new node", async () => {
  const server = new FakeServer({ resumeGraceMs: 5_000 });
  const c = client(server, { token: "session-token" });
  await c.connect();
  const room = await c.joinOrCreate("arena");
  const rejoined = next(c, "joined");
  server.last.deliver({ type: "redirect", url: "ws://node-b.example/ws", roomId: room.roomId, resumeToken: "unknown-token" });
  const again = await rejoined;
  assert.equal(server.last.url, "ws://node-b.example/ws");
  assert.deepEqual(sent(server, "joinRoom")[0], { type: "joinRoom", roomId: room.roomId, mode: null, private: false });
  assert.equal(again.roomId, room.roomId);
  await c.close();
});

test("an unasked Redirect without a resume token is reported as an error and changes nothing", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  const error = next(c, "error");
  server.last.deliver({ type: "redirect", url: "ws://node-b.example/ws", roomId: "r", resumeToken: null });
  assert.ok((await error) instanceof RedirectError);
  assert.equal(server.sockets.length, 1);
  assert.equal(c.status, "open");
  await c.close();
});

test("members whose connection dropped are shown away until they come back", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  server.last.deliver({ type: "playerJoined", player: { entityId: 9, playerId: "Bob", name: "Bob", away: false } });
  const away = next(c, "playerAway");
  server.last.deliver({ type: "playerAway", player: { entityId: 9, playerId: "Bob", name: "Bob", away: false }, away: true });
  assert.deepEqual(await away, { entityId: 9, name: "Bob", playerId: "Bob", away: true });
  assert.equal(c.players.find((p) => p.entityId === 9)?.away, true);
  const back = next(c, "playerAway");
  server.last.deliver({ type: "playerAway", player: { entityId: 9, playerId: "Bob", name: "Bob", away: true }, away: false });
  assert.equal((await back).away, false);
  assert.equal(c.players.find((p) => p.entityId === 9)?.away, false);
  await c.close();
});

test("a Joined lists away members as away", async () => {
  const server: FakeServer = new FakeServer({
    answer: (msg) =>
      msg.type === "joinRoom"
        ? {
            ...server.joinedFor("r", 1),
            players: [
              { entityId: 1, playerId: "alice", name: "alice", away: false },
              { entityId: 2, playerId: "Bob", name: "Bob", away: true },
            ],
          }
        : undefined,
  });
  const c = client(server);
  await c.connect();
  const room = await c.joinOrCreate("arena");
  assert.deepEqual(
    room.players.map((p) => [p.name, p.away]),
    [
      ["alice", false],
      ["Bob", true],
    ],
  );
  await c.close();
});

test("a message type this client does not know is ignored, and the connection goes on", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  await c.joinOrCreate("arena");
  const builder = new flatbuffers.Builder(64);
  const left = wire.Left.createLeft(builder, builder.createString("r"));
  builder.finish(wire.ServerFrame.createServerFrame(builder, 42 as wire.ServerMessage, left), "TFS1");
  const drops: unknown[] = [];
  c.on("disconnected", (d) => drops.push(d));
  c.on("error", (e) => drops.push(e));
  server.last.deliver(builder.asUint8Array().slice());
  const state = next(c, "state");
  server.last.deliver({ type: "state", tick: 11n, serverTimeUs: 1n, state: arenaState([]), acks: [] });
  assert.equal((await state).tick, 11, "the next State is handed over as usual");
  assert.deepEqual(drops, []);
  assert.equal(c.status, "open");
  assert.equal(server.sockets.length, 1);
  await c.close();
});
