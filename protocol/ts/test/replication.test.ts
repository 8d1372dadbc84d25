// The recorded interest-state stream (protocol/vectors/replication/stream.bin,
// written by protocol/tests/replication.rs): a TypeScript replica applying it
// holds, at every tick, exactly the entities the Rust server's interest area
// held (count and FNV-1a of their 17-byte records), like the Rust replica.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Replica, ReplicaError, isInterestState, type ReplicatedEntity } from "../src/replication.js";
import { vectorsDir } from "./cases.js";

function fnv(entities: ReplicatedEntity[]): number {
  const bytes = new Uint8Array(17);
  const view = new DataView(bytes.buffer);
  let h = 0x811c9dc5;
  for (const e of entities) {
    view.setUint32(0, e.id, true);
    view.setInt32(4, e.x, true);
    view.setInt32(8, e.y, true);
    view.setInt16(12, e.vx, true);
    view.setInt16(14, e.vy, true);
    view.setUint8(16, e.flags);
    for (const b of bytes) {
      h ^= b;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}

function records(): { frame: Uint8Array; count: number; hash: number }[] {
  const stream = new Uint8Array(readFileSync(`${vectorsDir}replication/stream.bin`));
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const out = [];
  let at = 0;
  while (at < stream.length) {
    const len = view.getUint32(at, true);
    const frame = stream.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    out.push({ frame, count: view.getUint32(at, true), hash: view.getUint32(at + 4, true) });
    at += 8;
  }
  return out;
}

test("a replica replaying the recorded stream holds the server's interest area at every tick", () => {
  const all = records();
  assert.equal(all.length, 2000);
  let replica = new Replica(1);
  all.forEach(({ frame, count, hash }, i) => {
    if (i === all.length / 2 - 1) replica = new Replica(1); // the member resumes from nothing
    assert.ok(isInterestState(frame));
    const applied = replica.apply(frame);
    assert.equal(applied.tick, BigInt(i + 1));
    const held = replica.entities();
    assert.deepEqual([held.length, fnv(held)], [count, hash], `tick ${i + 1}`);
  });
});

test("a delta without its keyframe and every truncation are refused", () => {
  const all = records();
  const delta = all.find((r, i) => i > 0 && i < all.length / 2 - 1 && r.frame.length > 80);
  assert.ok(delta);
  assert.throws(() => new Replica(1).apply(delta.frame), (e: unknown) => e instanceof ReplicaError && e.label === "replica_diverged");
  const first = all[0]!.frame;
  for (let cut = 1; cut < first.length; cut++) {
    const truncated = first.subarray(0, cut);
    let boundary = false;
    try {
      new Replica(1).apply(truncated);
      boundary = true;
    } catch (e) {
      assert.ok(e instanceof ReplicaError, `cut at ${cut}: ${String(e)}`);
    }
    if (boundary) assert.ok(cut >= 64, `a cut at ${cut} was accepted`);
  }
});
