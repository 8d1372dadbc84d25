// Byte compatibility with the Rust side through protocol/vectors/: this
// SDK's encoders must produce the committed ts/<case>.bin; every vector,
// written by Rust or by TypeScript, must verify and decode to the case's
// fields; and this SDK's verifier must accept and refuse every corruption of
// every vector exactly as the Rust verifier does (mutations.json, written by
// protocol/tests/vectors.rs). TICKFORGE_WRITE_VECTORS=1 rewrites ts/.

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";

import { WRITE_ENV, accepted, decodeCase, encodeCase, fnv1a, hex, loadCases, vectorsDir, type Case } from "./cases.js";

const writing = process.env[WRITE_ENV] === "1";
const cases = loadCases();
const MUTATIONS = ["truncate", "xor01", "xor80", "xorff"] as const;

function vectorPath(lang: "rust" | "ts", c: Case): string {
  return `${vectorsDir}${lang}/${c.name}.bin`;
}

function committed(lang: "rust" | "ts", c: Case): Uint8Array {
  const path = vectorPath(lang, c);
  assert.ok(
    existsSync(path),
    lang === "rust"
      ? `${path} is missing: the Rust side writes it (${WRITE_ENV}=1 cargo test -p tickforge-protocol --test vectors)`
      : `${path} is missing: rewrite with ${WRITE_ENV}=1 npm test`,
  );
  return new Uint8Array(readFileSync(path));
}

test("the TypeScript encoders produce the committed vectors", () => {
  const stale: string[] = [];
  for (const c of cases) {
    const fresh = encodeCase(c);
    if (writing) {
      writeFileSync(vectorPath("ts", c), fresh);
      continue;
    }
    const old = existsSync(vectorPath("ts", c)) ? committed("ts", c) : null;
    if (old === null) stale.push(`${c.name}: ts/${c.name}.bin is missing`);
    else if (hex(old) !== hex(fresh)) stale.push(`${c.name}: now ${hex(fresh)}, committed ${hex(old)}`);
  }
  assert.deepEqual(
    stale,
    [],
    `the TypeScript encoding changed; byte compatibility with the committed vectors is broken. ` +
      `If intended, rewrite with ${WRITE_ENV}=1 npm test, then ${WRITE_ENV}=1 cargo test -p tickforge-protocol --test vectors, and commit.`,
  );
});

for (const lang of ["rust", "ts"] as const) {
  test(`vectors written by ${lang === "rust" ? "Rust" : "TypeScript"} decode to the case fields`, () => {
    for (const c of cases) {
      const bytes = lang === "ts" && writing ? encodeCase(c) : committed(lang, c);
      const [message, fields] = decodeCase(c, bytes);
      assert.equal(message, c.message, `${lang}/${c.name}.bin holds another message`);
      assert.deepEqual(fields, c.fields, `${lang}/${c.name}.bin decodes to other fields`);
    }
  });
}

test("the verifier refuses exactly the corruptions the Rust verifier refuses", () => {
  const doc = JSON.parse(readFileSync(`${vectorsDir}mutations.json`, "utf8")) as {
    files: Record<string, { root: Case["root"]; fnv1a: string } & Record<(typeof MUTATIONS)[number], string>>;
  };
  const differences: string[] = [];
  let checked = 0;
  for (const c of cases) {
    for (const lang of ["rust", "ts"] as const) {
      const name = `${lang}/${c.name}.bin`;
      const bytes = lang === "ts" && writing ? encodeCase(c) : committed(lang, c);
      const recorded = doc.files[name];
      if (!recorded) {
        differences.push(`${name} has no verdicts in mutations.json`);
        continue;
      }
      if (recorded.fnv1a !== fnv1a(bytes)) {
        // While rewriting, a changed vector waits for the Rust side to record its verdicts.
        if (!(writing && lang === "ts")) {
          differences.push(`${name} changed since mutations.json was written (${WRITE_ENV}=1 cargo test -p tickforge-protocol --test vectors)`);
        }
        continue;
      }
      for (const mutation of MUTATIONS) {
        const line: string = recorded[mutation];
        assert.equal(line.length, bytes.length, `${name} ${mutation}: one verdict per byte`);
        for (let i = 0; i < bytes.length; i++) {
          let mutated: Uint8Array;
          if (mutation === "truncate") {
            mutated = bytes.slice(0, i);
          } else {
            mutated = bytes.slice();
            mutated[i] = (mutated[i] ?? 0) ^ { xor01: 0x01, xor80: 0x80, xorff: 0xff }[mutation];
          }
          const ours = accepted(c.root, mutated) ? "1" : "0";
          checked++;
          if (ours !== line[i]) {
            differences.push(`${name} ${mutation} at byte ${i}: Rust ${line[i] === "1" ? "accepts" : "refuses"}, TypeScript ${ours === "1" ? "accepts" : "refuses"}`);
          }
        }
      }
    }
  }
  assert.deepEqual(differences, []);
  assert.ok(checked > 10_000, `only ${checked} corruptions checked`);
});
