#!/usr/bin/env node
// Checks tickforge's built-in live dashboard in a real browser.
//
//   node ops/browser/dashboard-check.mjs --url http://127.0.0.1:7701/dashboard --screenshot PATH
//
// The dashboard is served on the admin listener (--admin-listen, default
// 127.0.0.1:7701), not on the public one.
//
// Launches Debian's chromium (/usr/bin/chromium, or --chromium PATH, or
// $TICKFORGE_CHROMIUM) headless through playwright-core, opens the page and
// waits until the tick-duration chart has at least two points and the CCU is
// above zero (so the server must be under load: rooms ticking, clients
// connected). It then records the charts' point counts and the key numbers,
// waits three seconds and checks that the page kept updating: every chart
// gained points (or its five-minute window is full and moved on) and the
// traffic numbers changed. Any console error, page error, failed response or
// request to another origin fails the check. It saves a full-page screenshot
// to PATH (also on failure, when it can), prints a JSON summary on stdout and
// exits 0; on failure it prints `dashboard-check: FAILED: <why>` on stderr
// and exits 1. The whole run is bounded to 60 seconds.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { checkArgs, fail, hardDeadline, launchChromium, reportFailure, watchPage } from "./check-common.mjs";

const DEADLINE_MS = 60_000;
const LAUNCH_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 25_000;
const OBSERVE_MS = 3_000;
const FULL_WINDOW_POINTS = 295; // ~300 samples: the chart slides instead of growing
const TIME_SERIES = ["tick-duration", "tick-lateness", "connections", "rooms-players", "messages", "bytes", "over-budget"];
const TRAFFIC = ["messages-in", "messages-out", "bytes-in", "bytes-out"];

const { args, origin } = checkArgs("dashboard-check", "http://127.0.0.1:ADMIN_PORT/dashboard");

const started = Date.now();
hardDeadline("dashboard-check", DEADLINE_MS);

// What the page shows now: chart point counts, key numbers, connection status.
function snapshot(page) {
  return page.evaluate(() => {
    const charts = {};
    for (const el of document.querySelectorAll("[data-chart]")) {
      charts[el.dataset.chart] = { points: Number(el.dataset.points || 0), lastT: Number(el.dataset.lastT || 0) };
    }
    const stats = {};
    for (const el of document.querySelectorAll("[data-stat]")) {
      stats[el.dataset.stat] = el.dataset.value !== undefined && el.dataset.value !== "" && !Number.isNaN(Number(el.dataset.value))
        ? Number(el.dataset.value)
        : el.textContent.trim();
    }
    return {
      status: document.querySelector(".status")?.dataset.status ?? null,
      samples: window.tickforgeDashboard?.samples?.length ?? null,
      shardRows: Number(document.querySelector('[data-table="shards"]')?.dataset.rows || 0),
      charts,
      stats,
    };
  });
}

const problems = [];
let browser;
let page;
let summary;
try {
  browser = await launchChromium(args.chromium, LAUNCH_TIMEOUT_MS);
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  watchPage(page, origin, problems);

  const response = await page.goto(args.url, { waitUntil: "load", timeout: 15_000 }).catch((e) => fail(`could not open ${args.url}: ${e.message.split("\n")[0]}`));
  if (!response || !response.ok()) fail(`GET ${args.url} answered HTTP ${response?.status()}`);

  await page.waitForFunction(() => {
    const points = Number(document.querySelector('[data-chart="tick-duration"]')?.dataset.points || 0);
    const ccu = Number(document.querySelector('[data-stat="ccu"]')?.dataset.value || 0);
    return points >= 2 && ccu > 0;
  }, null, { timeout: READY_TIMEOUT_MS, polling: 200 }).catch(async () => {
    const now = await snapshot(page).catch(() => ({}));
    fail(`within ${READY_TIMEOUT_MS / 1000} s the dashboard did not show >= 2 tick-duration points and CCU > 0 ` +
      `(is the server under load?): tick-duration points ${now.charts?.["tick-duration"]?.points}, ccu ${now.stats?.ccu}, ` +
      `status ${now.status}, samples ${now.samples}`);
  });
  const before = await snapshot(page);
  await page.waitForTimeout(OBSERVE_MS);
  const after = await snapshot(page);

  if (after.status !== "live") fail(`the connection status is "${after.status}", not "live"`);
  if (!(after.samples > before.samples || after.charts["tick-duration"].lastT > before.charts["tick-duration"].lastT)) {
    fail(`no new sample arrived in ${OBSERVE_MS / 1000} s (samples ${before.samples} -> ${after.samples})`);
  }
  for (const name of TIME_SERIES) {
    const a = before.charts[name];
    const b = after.charts[name];
    if (!a || !b) fail(`the page has no chart data-chart="${name}"`);
    const grew = b.points > a.points;
    const slid = a.points >= FULL_WINDOW_POINTS && b.lastT > a.lastT;
    if (!grew && !slid) fail(`chart "${name}" did not gain points in ${OBSERVE_MS / 1000} s (${a.points} -> ${b.points})`);
  }
  if (!TRAFFIC.some((name) => before.stats[name] !== after.stats[name])) {
    fail(`none of ${TRAFFIC.join(", ")} changed in ${OBSERVE_MS / 1000} s: ${JSON.stringify(after.stats)}`);
  }
  if (!(after.stats.ccu > 0)) fail(`CCU is ${after.stats.ccu}`);
  if (after.shardRows < 1) fail("the shard table has no rows");
  if (problems.length) fail(problems.join("; "));

  mkdirSync(dirname(args.screenshot), { recursive: true });
  await page.screenshot({ path: args.screenshot, fullPage: true, timeout: 10_000 });
  if (problems.length) fail(problems.join("; "));
  summary = {
    ok: true,
    url: args.url,
    screenshot: args.screenshot,
    node: after.stats.node,
    shards: after.stats.shards,
    status: after.status,
    samples: { before: before.samples, after: after.samples },
    points: Object.fromEntries(TIME_SERIES.map((n) => [n, { before: before.charts[n].points, after: after.charts[n].points }])),
    stats: Object.fromEntries(["ccu", "rooms", "players", "tick-p99", "over-budget", "overruns", "disconnects", ...TRAFFIC]
      .map((n) => [n, { before: before.stats[n], after: after.stats[n] }])),
    elapsed_ms: Date.now() - started,
  };
} catch (e) {
  await reportFailure("dashboard-check", e, [[page, args.screenshot, true]]);
} finally {
  await browser?.close().catch(() => {});
}
if (summary) console.log(JSON.stringify(summary, null, 2));
process.exit(process.exitCode ?? 0);
