/**
 * Output and markdown rendering decisions that need no DOM: which MIME
 * type an output shows (JupyterLab's order, HTML before text), where math
 * is taken out of markdown (never inside code), and the file name of an
 * export.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { chooseMime } from "../../src/view/outputs/render-output";
import { extractMath } from "../../src/view/markdown";
import { filenameFrom } from "../../src/api/rest";
import type { MimeBundle } from "../../src/doc/runtime";

const inline = (value: unknown) => ({ storage: "inline" as const, value });

test("the richest MIME type is shown, as JupyterLab chooses", () => {
  const bundle: MimeBundle = { "text/plain": inline("df"), "text/html": inline("<table>"), "image/png": inline("iVBOR") };
  assert.equal(chooseMime(bundle), "text/html");
  assert.equal(chooseMime({ "text/plain": inline("x"), "image/png": inline("iVBOR") }), "image/png");
  assert.equal(chooseMime({ "text/plain": inline("x"), "text/latex": inline("$x$") }), "text/latex");
  assert.equal(chooseMime({ "application/javascript": inline("1"), "text/html": inline("<b>") }), "application/javascript");
  assert.equal(chooseMime({ "application/vnd.custom+json": inline({}) }), "application/vnd.custom+json");
  assert.equal(chooseMime({ "text/plain": { storage: "blob", sha256: "ab", size_bytes: 3 } }), "text/plain");
  assert.equal(chooseMime({}), undefined);
});

test("math comes out of markdown, code keeps its dollars", () => {
  const { text, math } = extractMath("Cost $x_1 * y_2$ and\n\n$$\\int_0^1 f$$\n\n`echo $HOME` and\n```\nprice = $5\n```\nnot \\$5 either");
  assert.deepEqual(
    math.map((m) => [m.tex, m.display]),
    [
      ["x_1 * y_2", false],
      ["\\int_0^1 f", true],
    ],
  );
  assert.ok(text.includes("`echo $HOME`"));
  assert.ok(text.includes("price = $5"));
  assert.ok(text.includes("\\$5"));
  assert.ok(!text.includes("x_1"));
  assert.equal(extractMath("5 $ and 6 $").math.length, 0, "a lone dollar followed by a space is text");
  assert.deepEqual(
    extractMath("\\(a\\) and \\[b\\]").math.map((m) => m.display),
    [false, true],
  );
});

test("an export's file name comes from Content-Disposition", () => {
  assert.equal(filenameFrom(`attachment; filename="plain.ipynb"; filename*=UTF-8''Caf%C3%A9.ipynb`), "Café.ipynb");
  assert.equal(filenameFrom(`attachment; filename="plain.ipynb"`), "plain.ipynb");
  assert.equal(filenameFrom(""), undefined);
});
