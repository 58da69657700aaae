/** The history panel's line diff: common lines kept, changes as removed then added, order preserved. */

import { test } from "node:test";
import assert from "node:assert/strict";
import { lineDiff } from "../../src/model/line-diff";

const show = (before: string, after: string) => lineDiff(before, after).map((l) => `${l.op === "add" ? "+" : l.op === "del" ? "-" : " "}${l.text}`);

test("a changed line in the middle is removed then added", () => {
  assert.deepEqual(show("a\nb\nc", "a\nB\nc"), [" a", "-b", "+B", " c"]);
});

test("insertions and deletions keep the common lines in order", () => {
  assert.deepEqual(show("one\ntwo\nthree\nfour", "zero\none\nthree\nfour\nfive"), ["+zero", " one", "-two", " three", " four", "+five"]);
});

test("identical and empty texts", () => {
  assert.deepEqual(show("x\ny", "x\ny"), [" x", " y"]);
  assert.deepEqual(show("", "new"), ["-", "+new"]);
});
