/**
 * Find and replace and the contents without a DOM: queries (plain, regex,
 * case, a bad regex as a message), matches across cells and outputs in
 * UTF-16 offsets (what the editor and Automerge count), replacement text
 * with groups, where the current match goes after a change; headings
 * (none inside fences) and which cells a collapsed heading hides.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import {
  applyReplacements,
  compileQuery,
  describe,
  findInText,
  indexFromCell,
  indexNear,
  outputText,
  replacementsIn,
  searchCells,
  type CompiledQuery,
} from "../../src/model/find";
import { computeSections, headingsOf } from "../../src/model/contents";

function q(query: string, caseSensitive = false, regex = false): CompiledQuery & { ok: true } {
  const c = compileQuery(query, { caseSensitive, regex });
  assert.ok(c && c.ok, `query ${query} compiles`);
  return c;
}

test("plain queries are literal, case-insensitive unless asked", () => {
  assert.deepEqual(findInText("a.b A.B axb", q("a.b")).map((m) => m.from), [0, 4]);
  assert.deepEqual(findInText("a.b A.B axb", q("a.b", true)).map((m) => m.from), [0]);
  assert.deepEqual(findInText("x (y) [z] $1 \\", q("(y) [z] $1 \\")).map((m) => m.text), ["(y) [z] $1 \\"]);
  assert.equal(compileQuery("", { caseSensitive: false, regex: true }), undefined);
});

test("a bad regular expression is a message, and empty matches are skipped", () => {
  const bad = compileQuery("(unclosed", { caseSensitive: false, regex: true });
  assert.ok(bad && !bad.ok);
  assert.match(bad.error, /^Not a valid regular expression: .*unclosed|Unterminated group/);
  assert.equal(describe(bad, 0, -1), bad.error);
  assert.deepEqual(findInText("aXbXX", q("X*", true, true)).map((m) => [m.from, m.to]), [[1, 2], [3, 5]]);
  assert.deepEqual(findInText("one\ntwo", q("^t\\w+", false, true)).map((m) => m.text), ["two"], "^ is per line");
});

test("offsets are UTF-16 code units, as Automerge's JS API and CodeMirror count", () => {
  const text = "😀 café 😀 cafe";
  const matches = findInText(text, q("caf"));
  assert.deepEqual(matches.map((m) => m.from), [3, 11]);
  // The same offsets splice the same text in an Automerge Text.
  let doc = A.from<{ t: string }>({ t: text });
  doc = A.change(doc, (d) => {
    for (const m of [...matches].reverse()) A.splice(d, ["t"], m.from, m.to - m.from, "CAF");
  });
  assert.equal(doc.t, "😀 CAFé 😀 CAFe");
  assert.equal(applyReplacements(text, matches.map((m) => ({ ...m, insert: "CAF" }))), doc.t);
});

test("matches run across cells in order, sources before outputs, with the count", () => {
  const cells = [
    { id: "a", source: "apple pie", outputs: ["an apple"] },
    { id: "b", source: "no fruit here" },
    { id: "c", source: "Apple, apple", outputs: [""] },
  ];
  const matches = searchCells(cells, q("apple"));
  assert.deepEqual(
    matches.map((m) => [m.cell, m.part, m.from]),
    [["a", "source", 0], ["a", 0, 3], ["c", "source", 0], ["c", "source", 7]],
  );
  assert.equal(describe(q("apple"), matches.length, 2), "3 of 4");
  assert.equal(describe(q("apple"), 0, -1), "No results");
  assert.equal(searchCells(cells, q("Apple", true)).length, 1);
  const order = ["a", "b", "c"];
  assert.equal(indexFromCell(matches, order, "b"), 2, "from the active cell on");
  assert.equal(indexNear(matches, order, { cell: "c", part: "source", from: 1 }), 3);
  assert.equal(indexNear(matches, order, { cell: "c", part: "source", from: 8 }), 0, "wraps");
  assert.equal(indexNear([], order, undefined), -1);
});

test("replacements: literal text, or regex groups expanded; outputs never", () => {
  const cells = [{ id: "a", source: "x = foo(1) + foo(22)", outputs: ["foo(3)"] }];
  const plain = searchCells(cells, q("foo"));
  assert.equal(plain.length, 3);
  const edits = replacementsIn(plain, "$1bar");
  assert.equal(edits.length, 2, "the output match is not replaced");
  assert.equal(applyReplacements(cells[0].source, edits), "x = $1bar(1) + $1bar(22)");
  const rx = searchCells(cells, q("foo\\((?<n>\\d+)\\)", true, true)).filter((m) => m.part === "source");
  assert.equal(applyReplacements(cells[0].source, replacementsIn(rx, "bar[$1]")), "x = bar[1] + bar[22]");
  assert.equal(applyReplacements(cells[0].source, replacementsIn(rx, "<$<n>|$&|$$>")), "x = <1|foo(1)|$> + <22|foo(22)|$>");
  assert.equal(applyReplacements(cells[0].source, replacementsIn(rx, "$12")), "x = 12 + 222", "$12 with one group is $1 then 2");
});

test("outputs are searched as stream text or text/plain, without ANSI escapes", () => {
  assert.equal(outputText({ output_type: "stream", name: "stdout", text: "\x1b[31mred\x1b[0m apple\n" }), "red apple\n");
  assert.equal(
    outputText({ output_type: "execute_result", execution_count: 1, data: { "text/plain": { storage: "inline", value: "'apple'" }, "text/html": { storage: "inline", value: "<b>x</b>" } } }),
    "'apple'",
  );
  assert.equal(outputText({ output_type: "display_data", data: { "text/plain": { storage: "blob", sha256: "ab", size_bytes: 9 } } }), "");
  assert.equal(outputText({ output_type: "error", ename: "E", evalue: "v", traceback: [] }), "");
});

test("headings: # to ######, closing hashes and inline markup dropped, none in fences", () => {
  const src = "# Title #\nText\n## *Sub* `code`\n```\n# not a heading\n```\n####### seven\n#no-space\n  ### [Link](http://x) ###\n~~~\n## also not\n~~~";
  assert.deepEqual(headingsOf(src), [
    { level: 1, text: "Title" },
    { level: 2, text: "Sub code" },
    { level: 3, text: "Link" },
  ]);
  assert.deepEqual(headingsOf("plain text"), []);
});

test("a collapsed heading hides cells up to the next heading of the same or higher level", () => {
  const h = (level: number) => [{ level, text: "h" }];
  const cells = [
    { id: "h1", headings: h(1) },
    { id: "a", headings: [] },
    { id: "h2", headings: h(2) },
    { id: "b", headings: [] },
    { id: "h3", headings: h(3) },
    { id: "c", headings: [] },
    { id: "h2b", headings: h(2) },
    { id: "d", headings: [] },
    { id: "h1b", headings: h(1) },
    { id: "e", headings: [] },
  ];
  const two = computeSections(cells, new Set(["h2"]));
  assert.deepEqual([...two.hidden], ["b", "h3", "c"]);
  assert.equal(two.counts.get("h2"), 3);
  const one = computeSections(cells, new Set(["h1", "h3"]));
  assert.deepEqual([...one.hidden], ["a", "h2", "b", "h3", "c", "h2b", "d"]);
  assert.equal(one.counts.get("h1"), 7);
  assert.equal(one.counts.get("h3"), 1);
  assert.deepEqual(one.parents.get("c"), ["h1", "h2", "h3"]);
  assert.equal(computeSections(cells, new Set()).hidden.size, 0);
  assert.equal(computeSections(cells, new Set(["h1b"])).counts.get("h1b"), 1);
});
