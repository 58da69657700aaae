/** ANSI colours and carriage returns, as a terminal would show them. */

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAnsi, resolveCarriageReturns } from "../../src/view/outputs/ansi";

test("carriage returns overwrite from the line start", () => {
  assert.equal(resolveCarriageReturns("10%\r50%\r100%\ndone"), "100%\ndone");
  assert.equal(resolveCarriageReturns("abcdef\rXY"), "XYcdef");
  assert.equal(resolveCarriageReturns("a\r\nb"), "a\nb");
});

test("SGR colours become styles and reset", () => {
  const spans = parseAnsi("\u001b[31mred\u001b[0m plain \u001b[1;32mbold green\u001b[39m");
  assert.deepEqual(
    spans.map((s) => s.text),
    ["red", " plain ", "bold green"],
  );
  assert.equal(spans[0].style.fg, "var(--ansi-red)");
  assert.equal(spans[1].style.fg, undefined);
  assert.equal(spans[2].style.fg, "var(--ansi-green)");
  assert.equal(spans[2].style.bold, true);
});

test("256 and true colours, and other escapes dropped", () => {
  const spans = parseAnsi("\u001b[38;5;196mA\u001b[48;2;1;2;3mB\u001b[2KC");
  assert.equal(spans[0].style.fg, "rgb(255,0,0)");
  assert.equal(spans[1].style.bg, "rgb(1,2,3)");
  assert.equal(spans.map((s) => s.text).join(""), "ABC");
});

test("a traceback's text survives whole", () => {
  const tb = "\u001b[0;31mZeroDivisionError\u001b[0m: division by zero";
  assert.equal(parseAnsi(tb).map((s) => s.text).join(""), "ZeroDivisionError: division by zero");
});
