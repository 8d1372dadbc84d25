// fetchGuestSession against a small local HTTP server standing in for
// `POST /auth/guest`: the request it makes, the session it returns, and a
// typed GuestSessionError for every way of not getting one.

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";

import { GuestSessionError, TickforgeError, fetchGuestSession, type FetchLike } from "../src/index.js";

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** What the stand-in answers next, and what it was asked. */
let reply: (res: ServerResponse) => void = (res) => res.writeHead(500).end();
const seen: Seen[] = [];

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk: string) => (body += chunk));
  req.on("end", () => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", contentType: req.headers["content-type"], body });
    reply(res);
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function json(status: number, body: unknown, headers: Record<string, string> = {}): (res: ServerResponse) => void {
  return (res) => res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

const SESSION = { token: "eyJ.guest.token", player_id: "g_4k2m9q", name: "Ada", expires_at: 1_900_000_000 };

test("a guest session is asked for with a POST of the name and comes back typed", async () => {
  seen.length = 0;
  reply = json(200, SESSION);
  const session = await fetchGuestSession(`${base}/`, "Ada");
  assert.deepEqual(session, { token: "eyJ.guest.token", playerId: "g_4k2m9q", name: "Ada", expiresAt: 1_900_000_000 });
  assert.deepEqual(seen, [{ method: "POST", url: "/auth/guest", contentType: "application/json", body: '{"name":"Ada"}' }]);
});

test("without a name the request has no body, and the server picks the name", async () => {
  seen.length = 0;
  reply = json(200, { ...SESSION, name: "Guest-7F3A" });
  const session = await fetchGuestSession(base);
  assert.equal(session.name, "Guest-7F3A");
  assert.equal(seen[0]?.body, "");
  assert.equal(seen[0]?.contentType, undefined);
});

test("429 is rate_limited with the Retry-After seconds", async () => {
  reply = json(429, { error: "rate_limited" }, { "retry-after": "17" });
  await assert.rejects(fetchGuestSession(base, "Ada"), (e: unknown) => {
    assert.ok(e instanceof GuestSessionError);
    assert.ok(e instanceof TickforgeError);
    assert.equal(e.kind, "guest");
    assert.equal(e.reason, "rate_limited");
    assert.equal(e.status, 429);
    assert.equal(e.retryAfterSeconds, 17);
    return true;
  });
});

test("404 is disabled, 400 bad_request, another status http, and none of them has a Retry-After", async () => {
  for (const [status, reason] of [
    [404, "disabled"],
    [400, "bad_request"],
    [503, "http"],
  ] as const) {
    reply = (res) => res.writeHead(status, { "retry-after": "5" }).end();
    await assert.rejects(
      fetchGuestSession(base, "Ada"),
      (e: unknown) => e instanceof GuestSessionError && e.reason === reason && e.status === status && e.retryAfterSeconds === null,
      `${status}`,
    );
  }
});

test("an answer that is not a session is bad_response", async () => {
  for (const body of ["not json", JSON.stringify({ token: "", player_id: "g", name: "n", expires_at: 1 }), JSON.stringify({ ...SESSION, expires_at: "soon" })]) {
    reply = (res) => res.writeHead(200, { "content-type": "application/json" }).end(body);
    await assert.rejects(fetchGuestSession(base), (e: unknown) => e instanceof GuestSessionError && e.reason === "bad_response", body);
  }
});

test("no server at all is network, with the cause", async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(
    fetchGuestSession(`http://127.0.0.1:${port}`),
    (e: unknown) => e instanceof GuestSessionError && e.reason === "network" && e.status === 0 && e.cause !== undefined,
  );
});

test("an injected fetch is used instead of the global one, and an HTTP-date Retry-After counts down", async () => {
  const calls: string[] = [];
  const inSeconds = new Date(Date.now() + 30_000).toUTCString();
  const fake: FetchLike = (url, init) => {
    calls.push(`${init.method} ${url}`);
    return Promise.resolve({ status: 429, headers: { get: (h: string) => (h === "retry-after" ? inSeconds : null) }, json: () => Promise.resolve({}) });
  };
  await assert.rejects(fetchGuestSession("https://game.example", undefined, { fetch: fake }), (e: unknown) => {
    assert.ok(e instanceof GuestSessionError && e.retryAfterSeconds !== null);
    assert.ok(e.retryAfterSeconds >= 28 && e.retryAfterSeconds <= 30, `${e.retryAfterSeconds}`);
    return true;
  });
  assert.deepEqual(calls, ["POST https://game.example/auth/guest"]);
});
