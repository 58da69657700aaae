import { test } from "node:test";
import assert from "node:assert/strict";
import { KernelQuestions, codePointsBefore, utf16Offset } from "../../src/model/kernel-questions";
import { decodeFrame, encodeFrame, type Frame } from "../../src/sync/wire";

test("positions convert between UTF-16 and code points, astral characters included", () => {
  const text = "s = '😀é'\nimport o";
  const utf16 = text.length;
  const points = [...text].length;
  assert.equal(codePointsBefore(text, utf16), points);
  assert.equal(utf16Offset(text, points), utf16);
  assert.equal(utf16Offset(text, points - 1), utf16 - 1);
  // Inside the emoji's pair the count does not split it.
  assert.equal(codePointsBefore(text, 6), 6);
  assert.equal(utf16Offset(text, 6), 7);
});

test("a newer question of a kind drops the older one and its late reply", async () => {
  const sent: Frame[] = [];
  const q = new KernelQuestions((f) => (sent.push(f), true));
  const first = q.ask({ kind: "complete", code: "import o", cursor_pos: 8 });
  const inspect = q.ask({ kind: "inspect", code: "print(", cursor_pos: 6, detail_level: 0 });
  const second = q.ask({ kind: "complete", code: "import os", cursor_pos: 9 });
  assert.equal(await first, undefined, "the older completion is dropped");
  const ids = sent.map((f) => (f.type === "kernel_request" ? f.id : -1));
  q.replied(ids[0], { status: "complete", matches: ["stale"], cursor_start: 7, cursor_end: 8 });
  q.replied(ids[2], { status: "complete", matches: ["os"], cursor_start: 7, cursor_end: 9 });
  q.replied(ids[1], { status: "busy" });
  assert.deepEqual(await second, { status: "complete", matches: ["os"], cursor_start: 7, cursor_end: 9 });
  assert.deepEqual(await inspect, { status: "busy" });
});

test("offline, a question is answered unavailable at once", async () => {
  const q = new KernelQuestions(() => false);
  const answer = await q.ask({ kind: "complete", code: "x", cursor_pos: 1 });
  assert.equal(answer?.status, "unavailable");
});

test("kernel frames round-trip in the Rust layout", () => {
  const frame: Frame = { type: "kernel_request", id: 3, query: { kind: "complete", code: "import o", cursor_pos: 8 } };
  const bytes = encodeFrame(frame);
  assert.equal(bytes[0], 0x30);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(bytes.subarray(1))), {
    id: 3,
    query: { kind: "complete", code: "import o", cursor_pos: 8 },
  });
  assert.deepEqual(decodeFrame(bytes), frame);
  const reply = new TextEncoder().encode(JSON.stringify({ id: 3, answer: { status: "busy" } }));
  assert.deepEqual(decodeFrame(new Uint8Array([0x31, ...reply])), { type: "kernel_reply", id: 3, answer: { status: "busy" } });
});
