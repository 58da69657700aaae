/**
 * The port of schema/src/position.rs makes the keys the Rust one makes:
 * for the same bounds, a Rust key is the TypeScript midpoint, with or
 * without three jitter digits; `evenlySpaced` is equal key for key. The
 * Rust keys come from `schema/examples/position_vectors.rs`, written to
 * dist-test/position-vectors.json by scripts/test-web.sh.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { keyBetween, evenlySpaced, isValidPosition } from "../../src/doc/position";

const vectorsFile = join(dirname(fileURLToPath(import.meta.url)), "../position-vectors.json");

interface Vectors {
  key_between: { before: string | null; after: string | null; keys: string[] }[];
  evenly_spaced: { n: number; keys: string[] }[];
}

test("key_between agrees with the Rust keys", { skip: !existsSync(vectorsFile) && "no Rust vectors" }, () => {
  const vectors: Vectors = JSON.parse(readFileSync(vectorsFile, "utf8"));
  assert.ok(vectors.key_between.length >= 10);
  for (const c of vectors.key_between) {
    const before = c.before ?? undefined;
    const after = c.after ?? undefined;
    const mid = keyBetween(before, after, []);
    for (const rust of c.keys) {
      const jittered = rust.length === mid.length + 3 && rust.startsWith(mid);
      assert.ok(rust === mid || jittered, `bounds ${c.before}..${c.after}: rust ${rust}, ours ${mid}`);
      if (jittered) {
        // The same jitter digits give the very same key.
        const digits = [...rust.slice(mid.length)].map((ch) =>
          "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".indexOf(ch),
        );
        assert.equal(keyBetween(before, after, digits), rust);
      }
    }
  }
});

test("evenly_spaced agrees with the Rust keys", { skip: !existsSync(vectorsFile) && "no Rust vectors" }, () => {
  const vectors: Vectors = JSON.parse(readFileSync(vectorsFile, "utf8"));
  for (const c of vectors.evenly_spaced) assert.deepEqual(evenlySpaced(c.n), c.keys, `n = ${c.n}`);
});

test("the Rust vectors exist when the test script runs", () => {
  if (process.env.CATHODE_REQUIRE_VECTORS === "1") assert.ok(existsSync(vectorsFile), vectorsFile);
});

test("keys order between their bounds and stay valid", () => {
  const a = keyBetween(undefined, undefined);
  const b = keyBetween(a, undefined);
  const c = keyBetween(a, b);
  const z = keyBetween(undefined, a);
  assert.ok(z < a && a < c && c < b, `${z} ${a} ${c} ${b}`);
  for (const k of [a, b, c, z]) assert.ok(isValidPosition(k), k);
  let keys = [keyBetween(undefined, undefined)];
  for (let i = 0; i < 500; i++) {
    keys.push(i % 2 === 0 ? keyBetween(undefined, keys[0]) : keyBetween(keys[0], keys[1]));
    keys = keys.sort();
  }
  assert.equal(new Set(keys).size, keys.length);
  for (let i = 0; i < 300; i++) {
    const x = keyBetween(undefined, undefined);
    const y = keyBetween(x, undefined);
    const k = keyBetween(x, y);
    assert.ok(x < k && k < y && isValidPosition(k));
  }
});
