// Reconnect delays: exponential growth to a ceiling, with the configured
// share of randomness.

import assert from "node:assert/strict";
import { test } from "node:test";

import { DEFAULT_RECONNECT, backoffDelay } from "../src/index.js";

const options = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5, maxAttempts: Infinity };

test("delays double per attempt up to the ceiling", () => {
  const top = () => 0; // no jitter taken off: the ceiling of each attempt
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, options, top)),
    [100, 200, 400, 800, 1000, 1000],
  );
});

test("jitter takes up to its share off the delay, never more", () => {
  for (const r of [0, 0.25, 0.5, 0.999999]) {
    const d = backoffDelay(3, options, () => r);
    assert.ok(d <= 400 && d >= 200, `attempt 3 with random ${r}: ${d} ms`);
  }
  assert.equal(backoffDelay(3, options, () => 0.5), 300);
  assert.equal(backoffDelay(3, { ...options, jitter: 0 }, () => 0.9), 400);
  assert.equal(backoffDelay(3, { ...options, jitter: 1 }, () => 0.5), 200);
});

test("two clients dropped together come back at different times", () => {
  let seed = 1;
  const random = () => ((seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff);
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4, DEFAULT_RECONNECT, random)));
  assert.ok(delays.size > 40, `only ${delays.size} distinct delays among 50 clients`);
});

test("out-of-range inputs stay within bounds", () => {
  assert.equal(backoffDelay(0, options, () => 0), 100);
  assert.equal(backoffDelay(1000, options, () => 0), 1000);
  assert.equal(backoffDelay(1, { ...options, jitter: 7 }, () => 2), 0);
});
