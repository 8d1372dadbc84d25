#!/usr/bin/env node
// Plays tickforge's /play demo in a real browser, with two players.
//
//   node ops/browser/play-check.mjs --url http://127.0.0.1:PORT/play --screenshot PATH
//
// Launches Debian's chromium (/usr/bin/chromium, or --chromium PATH, or
// $TICKFORGE_CHROMIUM) headless through playwright-core with two separate
// browser contexts. Player A opens the page and joins a room; player B opens
// the invite link of that room. Both must see each other. A then holds two
// arrow keys for a second (towards the middle of the arena); B must see A's
// disc travel at least MIN_TRAVEL world units on both axes, and stop once A
// lets go. Both pages must show a live status, a round-trip time and a
// rising tick, and keep drawing frames. Any console error, page error,
// failed response or request to another origin fails the check. It saves B's
// view while A moves to PATH and A's view at the end to PATH with "-mover"
// before the extension (also on failure, when it can), prints a JSON summary on stdout and exits 0; on
// failure it prints `play-check: FAILED: <why>` on stderr and exits 1. The
// whole run is bounded to 60 seconds.

import { mkdirSync } from "node:fs";
import { dirname, extname } from "node:path";
import { checkArgs, fail, hardDeadline, launchChromium, reportFailure, watchPage } from "./check-common.mjs";

const DEADLINE_MS = 60_000;
const LAUNCH_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 15_000;
const HOLD_MS = 1_000;
const MIN_TRAVEL = 80; // world units per axis; full diagonal speed covers ~141 per second
const MOVE_TIMEOUT_MS = 5_000;

const { args, origin } = checkArgs("play-check", "http://127.0.0.1:PORT/play");
const ext = extname(args.screenshot);
const moverShot = `${args.screenshot.slice(0, args.screenshot.length - ext.length)}-mover${ext || ".png"}`;

const started = Date.now();
hardDeadline("play-check", DEADLINE_MS);

const problems = [];

/** What a page shows: its game snapshot and its HUD. */
function look(page) {
  return page.evaluate(() => {
    const snap = window.tickforgePlay?.snapshot() ?? null;
    const stat = (id) => document.getElementById(id)?.dataset.value ?? "";
    return {
      snap,
      status: document.getElementById("status")?.dataset.status ?? null,
      rtt: stat("rtt"),
      tick: stat("tick"),
      room: document.getElementById("room")?.textContent ?? "",
      players: document.querySelectorAll("#players li").length,
    };
  });
}

async function waitFor(page, what, predicate, arg, timeout) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
  } catch {
    const now = await look(page).catch(() => ({}));
    fail(`${what} (within ${timeout / 1000} s); the page shows ${JSON.stringify(now)}`);
  }
}

const seen = (id) => (snap) => snap?.entities?.find((e) => e.id === id) ?? null;

let browser;
let a;
let b;
let summary;
try {
  browser = await launchChromium(args.chromium, LAUNCH_TIMEOUT_MS);
  // One browser profile, two tabs: each tab is its own guest player
  // (the page keeps its guest session in sessionStorage, per tab).
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const open = async (who, url) => {
    const page = await context.newPage();
    watchPage(page, origin, problems, `${who}: `);
    const response = await page.goto(url, { waitUntil: "load", timeout: 15_000 }).catch((e) => fail(`${who} could not open ${url}: ${e.message.split("\n")[0]}`));
    if (!response || !response.ok()) fail(`${who}: GET ${url} answered HTTP ${response?.status()}`);
    return page;
  };

  // Player A joins some arena room.
  const base = new URL(args.url);
  const urlA = new URL(base);
  urlA.searchParams.set("name", "alice");
  a = await open("A", urlA.href);
  await waitFor(a, "A did not join a room and see its own disc", () => {
    const s = window.tickforgePlay?.snapshot();
    return s && s.status === "open" && s.roomId && s.entityId !== null && s.tick > 0 && s.entities.some((e) => e.id === s.entityId);
  }, null, READY_TIMEOUT_MS);
  const first = await look(a);
  const room = first.snap.roomId;
  const mover = first.snap.entityId;

  // Player B follows A's invite link.
  const urlB = new URL(base);
  urlB.searchParams.set("room", room);
  urlB.searchParams.set("name", "bob");
  b = await open("B", urlB.href);
  await waitFor(b, `B did not join room ${room} and see A's disc`, ([room, mover]) => {
    const s = window.tickforgePlay?.snapshot();
    return s && s.status === "open" && s.roomId === room && s.entities.some((e) => e.id === mover);
  }, [room, mover], READY_TIMEOUT_MS);
  const bJoined = await look(b);
  const watcher = bJoined.snap.entityId;
  const playerA = first.snap.playerId;
  if (!playerA?.startsWith("g_") || !bJoined.snap.playerId?.startsWith("g_") || bJoined.snap.playerId === playerA) {
    fail(`two tabs must be two guest players: A is ${playerA}, B is ${bJoined.snap.playerId}`);
  }
  await waitFor(b, "B does not show A's display name", (id) => window.tickforgePlay?.snapshot().entities.some((e) => e.id === id && e.name === "alice"), mover, READY_TIMEOUT_MS);
  await waitFor(a, "A does not see B", (id) => window.tickforgePlay?.snapshot().entities.some((e) => e.id === id), watcher, READY_TIMEOUT_MS);
  // Let B's interpolation settle on a few states.
  await b.waitForTimeout(300);

  // A holds two arrow keys towards the middle; B watches A's disc.
  const before = seen(mover)((await look(b)).snap);
  if (!before) fail("B lost A's disc");
  const keyX = before.x < 500 ? "ArrowRight" : "ArrowLeft";
  const keyY = before.y < 500 ? "ArrowDown" : "ArrowUp";
  const sx = keyX === "ArrowRight" ? 1 : -1;
  const sy = keyY === "ArrowDown" ? 1 : -1;
  const ownBefore = (await look(a)).snap.own;
  await a.bringToFront();
  await a.keyboard.down(keyX);
  await a.keyboard.down(keyY);
  await a.waitForTimeout(HOLD_MS / 2);
  // B's view mid-move: both players, A with its trail.
  mkdirSync(dirname(args.screenshot), { recursive: true });
  await b.screenshot({ path: args.screenshot, timeout: 10_000 });
  await a.waitForTimeout(HOLD_MS / 2);
  const ownHeld = (await look(a)).snap.own;
  await a.keyboard.up(keyX);
  await a.keyboard.up(keyY);

  await waitFor(b, `B did not see A's disc travel ${MIN_TRAVEL} units ${keyX}+${keyY} from (${before.x.toFixed(1)}, ${before.y.toFixed(1)})`,
    ([id, x0, y0, sx, sy, min]) => {
      const e = window.tickforgePlay?.snapshot().entities.find((e) => e.id === id);
      return e && (e.x - x0) * sx >= min && (e.y - y0) * sy >= min;
    }, [mover, before.x, before.y, sx, sy, MIN_TRAVEL], MOVE_TIMEOUT_MS);
  await waitFor(b, "B did not see A's disc stop after A let go of the keys", (id) => {
    const e = window.tickforgePlay?.snapshot().entities.find((e) => e.id === id);
    return e && e.vx === 0 && e.vy === 0;
  }, mover, MOVE_TIMEOUT_MS);
  const after = seen(mover)((await look(b)).snap);
  const ownMoved = (ownHeld.x - ownBefore.x) * sx >= MIN_TRAVEL / 2 && (ownHeld.y - ownBefore.y) * sy >= MIN_TRAVEL / 2;
  if (!ownMoved) fail(`A's own disc did not move while the keys were held: ${JSON.stringify(ownBefore)} -> ${JSON.stringify(ownHeld)}`);

  // Both HUDs are live: status, RTT, a rising tick, frames being drawn.
  const hudA1 = await look(a);
  const hudB1 = await look(b);
  await b.waitForTimeout(500);
  const hudA2 = await look(a);
  const hudB2 = await look(b);
  for (const [who, h1, h2] of [["A", hudA1, hudA2], ["B", hudB1, hudB2]]) {
    if (h2.status !== "live") fail(`${who}'s status is "${h2.status}", not "live"`);
    if (!(Number(h2.rtt) >= 0) || h2.rtt === "") fail(`${who} shows no round-trip time (${JSON.stringify(h2.rtt)})`);
    if (!(Number(h2.tick) > Number(h1.tick))) fail(`${who}'s tick did not rise: ${h1.tick} -> ${h2.tick}`);
    if (!(h2.snap.frames > h1.snap.frames)) fail(`${who} stopped drawing frames: ${h1.snap.frames} -> ${h2.snap.frames}`);
    if (h2.players !== 2) fail(`${who} lists ${h2.players} players, not 2`);
    if (h2.room !== room) fail(`${who} shows room "${h2.room}", not ${room}`);
  }
  if (problems.length) fail(problems.join("; "));

  await a.screenshot({ path: moverShot, timeout: 10_000 });
  if (problems.length) fail(problems.join("; "));

  // A reload keeps the player: same guest id, back in a room.
  await a.reload({ waitUntil: "load", timeout: 15_000 });
  await waitFor(a, "A did not come back after a reload", () => {
    const s = window.tickforgePlay?.snapshot();
    return s && s.status === "open" && s.roomId && s.entityId !== null;
  }, null, READY_TIMEOUT_MS);
  const reloaded = (await look(a)).snap.playerId;
  if (reloaded !== playerA) fail(`a reload changed the player: ${playerA} -> ${reloaded}`);
  if (problems.length) fail(problems.join("; "));
  summary = {
    ok: true,
    url: args.url,
    room,
    mover,
    watcher,
    players: { a: playerA, b: bJoined.snap.playerId, a_after_reload: reloaded },
    keys: [keyX, keyY],
    seen_by_b: { before: { x: before.x, y: before.y }, after: { x: after.x, y: after.y } },
    own_on_a: { before: ownBefore, while_held: ownHeld },
    rtt_ms: { a: Number(hudA2.rtt), b: Number(hudB2.rtt) },
    tick: { a: Number(hudA2.tick), b: Number(hudB2.tick) },
    screenshots: [args.screenshot, moverShot],
    elapsed_ms: Date.now() - started,
  };
} catch (e) {
  await reportFailure("play-check", e, [[b, args.screenshot, false], [a, moverShot, false]]);
} finally {
  await browser?.close().catch(() => {});
}
if (summary) console.log(JSON.stringify(summary, null, 2));
process.exit(process.exitCode ?? 0);
