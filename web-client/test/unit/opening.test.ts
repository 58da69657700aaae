/**
 * The first frame of a long notebook holds the cells that fill the screen
 * and half as much again, by a guess from their line counts.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { cellsFillingScreen, lineCount } from "../../src/view/opening";

test("lines are counted as an editor shows them", () => {
  assert.equal(lineCount(""), 1);
  assert.equal(lineCount("x = 1"), 1);
  assert.equal(lineCount("a\nb\n"), 3);
});

test("cells are taken until they fill one and a half screens", () => {
  // 30 + 18 * 30 = 570 px a cell: 1,350 px take three cells (1,710 px), not two (1,140).
  assert.equal(cellsFillingScreen(Array(60).fill(30), 900), 3);
  // One-line cells are 48 px: 29 of them make 1,392 px.
  assert.equal(cellsFillingScreen(Array(60).fill(1), 900), 29);
  // A cell taller than the screen is enough alone.
  assert.equal(cellsFillingScreen([500, 1, 1], 900), 1);
});

test("a notebook shorter than the screen is held whole, and an empty one asks for one cell", () => {
  assert.equal(cellsFillingScreen([3, 4, 5], 900), 3);
  assert.equal(cellsFillingScreen([], 900), 1);
});
