// What the headless-Chromium checks (dashboard-check.mjs, play-check.mjs)
// share: their command line, a hard deadline, launching Debian's chromium
// through playwright-core with the flags this closed network needs, and
// watching a page for errors and for requests that leave the server.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

/** A check that did not pass: reported as `<name>: FAILED: <why>`. */
export class CheckFailed extends Error {}

/** Fails the check with `message`. */
export const fail = (message) => {
  throw new CheckFailed(message);
};

/**
 * Parses `--url URL --screenshot PATH [--chromium PATH]` for the check
 * `name`; exits 64 with a usage line when they are wrong. Returns the
 * arguments and the URL's origin.
 */
export function checkArgs(name, example) {
  const usage = (message) => {
    console.error(`${name}: ${message}`);
    console.error(`usage: node ${name}.mjs --url ${example} --screenshot PATH [--chromium PATH]`);
    process.exit(64);
  };
  let args;
  try {
    args = parseArgs({
      options: {
        url: { type: "string" },
        screenshot: { type: "string" },
        chromium: { type: "string", default: process.env.TICKFORGE_CHROMIUM || "/usr/bin/chromium" },
      },
    }).values;
  } catch (e) {
    usage(e.message);
  }
  if (!args.url) usage("--url is required");
  if (!args.screenshot) usage("--screenshot is required");
  let origin;
  try {
    origin = new URL(args.url).origin;
  } catch {
    usage(`--url is not a URL: ${args.url}`);
  }
  return { args, origin };
}

/** Exits 1 if the check `name` is still running after `ms`. */
export function hardDeadline(name, ms) {
  const timer = setTimeout(() => {
    console.error(`${name}: FAILED: the check did not finish within ${ms / 1000} s`);
    process.exit(1);
  }, ms);
  timer.unref();
}

/** Launches headless chromium at `path` (a CheckFailed if it cannot). */
export async function launchChromium(path, timeout) {
  try {
    return await chromium.launch({
      executablePath: path,
      headless: true,
      timeout,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"],
    });
  } catch (e) {
    fail(`could not launch ${path}: ${e.message.split("\n")[0]}`);
  }
}

/**
 * Records into `problems` every console error, page error, HTTP error and
 * request to anything but `origin` (or its WebSocket form) on `page`;
 * `prefix` labels the lines ("" or "A: ").
 */
export function watchPage(page, origin, problems, prefix = "") {
  const ws = origin.replace(/^http/, "ws");
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`${prefix}console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`${prefix}page error: ${err.message}`));
  page.on("request", (req) => {
    const url = new URL(req.url());
    const local = url.origin === origin || url.origin === ws;
    if (url.protocol !== "data:" && !local) problems.push(`${prefix}request outside the server: ${req.url()}`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`${prefix}HTTP ${res.status()} for ${res.url()}`);
  });
}

/**
 * Reports a failed check `name` on stderr and saves a screenshot of each
 * `[page, path, fullPage]` that exists (best effort: the failure is what
 * matters); sets the exit code to 1.
 */
export async function reportFailure(name, error, shots) {
  const message = error instanceof CheckFailed ? error.message : `unexpected error: ${error.stack || error}`;
  console.error(`${name}: FAILED: ${message}`);
  for (const [page, path, fullPage] of shots) {
    if (!page) continue;
    try {
      mkdirSync(dirname(path), { recursive: true });
      await page.screenshot({ path, fullPage, timeout: 5_000 });
      console.error(`${name}: screenshot of the failed page: ${path}`);
    } catch {
      // the failure above is the one to report
    }
  }
  process.exitCode = 1;
}
