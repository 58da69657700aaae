/** The framing round-trips and refuses what schema/src/wire.rs refuses. */

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, FrameError, type Frame } from "../../src/sync/wire";

test("frames round-trip", () => {
  const frames: Frame[] = [
    { type: "hello", hello: { protocol: 1, notebook_id: "n", token: "t" } },
    { type: "welcome", welcome: { protocol: 1, peer_id: "p-1", user: "ada", role: "editor" } },
    { type: "sync", doc: "runtime", message: new Uint8Array([0x42, 1, 2]) },
    { type: "sync", doc: "notebook", message: new Uint8Array([7]) },
    { type: "presence", state: { cell: "c-1" } },
    { type: "peers", peers: [{ peer_id: "p-1", user: "ada", role: "editor", state: null }] },
    { type: "error", error: { code: "forbidden", message: "no", fatal: false } },
  ];
  for (const f of frames) assert.deepEqual(decodeFrame(encodeFrame(f)), f);
});

test("the bytes are the Rust ones", () => {
  const sync = encodeFrame({ type: "sync", doc: "runtime", message: new Uint8Array([0x42]) });
  assert.deepEqual([...sync], [0x10, 1, 0x42]);
  const hello = encodeFrame({ type: "hello", hello: { protocol: 1, notebook_id: "nb", token: "cth_x" } });
  assert.equal(hello[0], 0x01);
  assert.equal(new TextDecoder().decode(hello.subarray(1)), '{"protocol":1,"notebook_id":"nb","token":"cth_x"}');
  const presence = encodeFrame({ type: "presence", state: { a: 1 } });
  assert.equal(presence[0], 0x20);
  assert.equal(new TextDecoder().decode(presence.subarray(1)), '{"state":{"a":1}}');
});

test("bad frames are errors", () => {
  for (const bytes of [[], [0x10], [0x10, 7, 1], [0x10, 0], [0x01, 0x7b], [0x55, 1]]) {
    assert.throws(() => decodeFrame(new Uint8Array(bytes)), FrameError, JSON.stringify(bytes));
  }
});
