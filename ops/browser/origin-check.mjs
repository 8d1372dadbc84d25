#!/usr/bin/env node
// Checks in a real browser that a page from another origin cannot open
// tickforge's /ws, while the server's own /play page can.
//
//   node ops/browser/origin-check.mjs --url http://127.0.0.1:PORT/play --screenshot PATH
//
// Starts a tiny HTTP server of its own on another loopback port (so another
// origin: http://127.0.0.1:OTHER) serving one page whose script tries
// `new WebSocket("ws://127.0.0.1:PORT/ws", "tickforge.v1")`. In Debian's
// chromium (/usr/bin/chromium, or --chromium PATH, or $TICKFORGE_CHROMIUM),
// headless through playwright-core, that socket must fail without ever
// opening, the browser must report the server's HTTP 403, and the page must
// say so. Then the server's own /play page, in a fresh context, must open
// its session and join a room, with no console error, page error, failed
// response or request to another origin. It saves the /play page to PATH and
// the foreign page to PATH with "-foreign" before the extension, prints a
// JSON summary on stdout and exits 0; on failure it prints
// `origin-check: FAILED: <why>` on stderr and exits 1. The whole run is
// bounded to 60 seconds.

import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { dirname, extname } from "node:path";
import { checkArgs, fail, hardDeadline, launchChromium, reportFailure, watchPage } from "./check-common.mjs";

const DEADLINE_MS = 60_000;
const LAUNCH_TIMEOUT_MS = 20_000;
const SOCKET_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 15_000;

const { args, origin } = checkArgs("origin-check", "http://127.0.0.1:PORT/play");
const ext = extname(args.screenshot);
const foreignShot = `${args.screenshot.slice(0, args.screenshot.length - ext.length)}-foreign${ext || ".png"}`;
const target = `${origin.replace(/^http/, "ws")}/ws`;

const started = Date.now();
hardDeadline("origin-check", DEADLINE_MS);

/** The foreign page: tries the socket and publishes what happened in window.probe. */
function foreignPage(url) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>another site</title><link rel="icon" href="data:,"></head>
<body><h1>Another site</h1><p id="result">trying ${url}</p>
<script>
  window.probe = { opened: false, error: false, closed: false, code: null };
  const show = () => { document.getElementById("result").textContent = JSON.stringify(window.probe); };
  const socket = new WebSocket(${JSON.stringify(url)}, "tickforge.v1");
  socket.onopen = () => { window.probe.opened = true; show(); socket.close(); };
  socket.onerror = () => { window.probe.error = true; show(); };
  socket.onclose = (event) => { window.probe.closed = true; window.probe.code = event.code; show(); };
</script></body></html>`;
}

/** Serves the foreign page on 127.0.0.1 at a free port; resolves to its origin. */
function startForeignSite() {
  const server = createServer((req, res) => {
    if (req.url === "/" || req.url === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(foreignPage(target));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

let browser;
let site;
let foreign;
let play;
let summary;
try {
  site = await startForeignSite();
  if (site.origin === origin) fail(`the foreign site got the server's own origin ${origin}`);
  browser = await launchChromium(args.chromium, LAUNCH_TIMEOUT_MS);

  // The foreign page: its socket must fail, refused by the server.
  const foreignContext = await browser.newContext({ viewport: { width: 900, height: 400 } });
  foreign = await foreignContext.newPage();
  const foreignConsole = [];
  const foreignProblems = [];
  foreign.on("console", (msg) => {
    if (msg.type() === "error") foreignConsole.push(msg.text());
  });
  foreign.on("pageerror", (err) => foreignProblems.push(`page error: ${err.message}`));
  const response = await foreign.goto(`${site.origin}/`, { waitUntil: "load", timeout: 15_000 })
    .catch((e) => fail(`could not open the foreign page: ${e.message.split("\n")[0]}`));
  if (!response?.ok()) fail(`the foreign page answered HTTP ${response?.status()}`);
  try {
    await foreign.waitForFunction(() => window.probe && (window.probe.closed || window.probe.opened), null, { timeout: SOCKET_TIMEOUT_MS, polling: 50 });
  } catch {
    fail(`the foreign page's socket neither opened nor closed within ${SOCKET_TIMEOUT_MS / 1000} s`);
  }
  const probe = await foreign.evaluate(() => window.probe);
  if (probe.opened) fail(`a page from ${site.origin} opened ${target}: ${JSON.stringify(probe)}`);
  if (!probe.error || probe.code !== 1006) fail(`the foreign socket did not fail as refused: ${JSON.stringify(probe)}`);
  const refusal = foreignConsole.find((text) => text.includes(target) && /\b403\b/.test(text));
  if (!refusal) fail(`the browser did not report the server's 403 for ${target}; console: ${JSON.stringify(foreignConsole)}`);
  const unexpected = foreignConsole.filter((text) => !text.includes(target)).concat(foreignProblems);
  if (unexpected.length) fail(`the foreign page had other errors: ${unexpected.join("; ")}`);
  mkdirSync(dirname(foreignShot), { recursive: true });
  await foreign.screenshot({ path: foreignShot, timeout: 10_000 });

  // The server's own page connects.
  const problems = [];
  const playContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  play = await playContext.newPage();
  watchPage(play, origin, problems);
  const playResponse = await play.goto(args.url, { waitUntil: "load", timeout: 15_000 })
    .catch((e) => fail(`could not open ${args.url}: ${e.message.split("\n")[0]}`));
  if (!playResponse?.ok()) fail(`GET ${args.url} answered HTTP ${playResponse?.status()}`);
  try {
    await play.waitForFunction(() => {
      const s = window.tickforgePlay?.snapshot();
      return s && s.status === "open" && s.roomId && s.tick > 0;
    }, null, { timeout: READY_TIMEOUT_MS, polling: 50 });
  } catch {
    const now = await play.evaluate(() => window.tickforgePlay?.snapshot() ?? null).catch(() => null);
    fail(`the server's own /play page did not open its session and join a room; it shows ${JSON.stringify(now)}; ${problems.join("; ")}`);
  }
  const snap = await play.evaluate(() => window.tickforgePlay.snapshot());
  if (problems.length) fail(problems.join("; "));
  await play.screenshot({ path: args.screenshot, timeout: 10_000 });
  if (problems.length) fail(problems.join("; "));
  summary = {
    ok: true,
    server: origin,
    foreign_origin: site.origin,
    foreign_socket: probe,
    browser_reported: refusal,
    play: { status: snap.status, room: snap.roomId, tick: snap.tick },
    screenshots: [args.screenshot, foreignShot],
    elapsed_ms: Date.now() - started,
  };
} catch (e) {
  await reportFailure("origin-check", e, [[play, args.screenshot, false], [foreign, foreignShot, false]]);
} finally {
  await browser?.close().catch(() => {});
  site?.server.close();
}
if (summary) console.log(JSON.stringify(summary, null, 2));
process.exit(process.exitCode ?? 0);
