/**
 * A large sync message is applied a slice at a time, the page getting
 * turns between slices, and what is left is the message without its
 * changes: the replica ends as it would have with one `receive`.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import * as nb from "../../src/doc/notebook";
import { serverCreated } from "./created";
import { LARGE_SYNC_BYTES, Replica } from "../../src/model/replica";

/** The server's notebook: `cells` cells of about 4 KB, one change each. */
function serverNotebook(cells: number): nb.NotebookDoc {
  let doc = serverCreated();
  for (let i = 0; i < cells; i++) {
    [doc] = nb.createCell(doc, "code", { at: "end" }, `# cell ${i}\n` + "x = 1  # padding\n".repeat(240));
  }
  return doc;
}

test("a large sync message is applied in slices, with turns for the page between them", async () => {
  const server = serverNotebook(120);
  const changes = A.getAllChanges(server);
  // As the server sends a peer that has nothing (changes, not the whole document).
  const message = A.encodeSyncMessage({ heads: A.getHeads(server), need: [], have: [], changes });
  let turns = 0;
  const globals = globalThis as { scheduler?: unknown };
  const before = globals.scheduler;
  globals.scheduler = {
    yield: () => {
      turns++;
      return new Promise<void>((r) => setTimeout(r, 0));
    },
  };
  try {
    const replica = new Replica();
    let remoteChanges = 0;
    replica.onChange((c) => {
      if (c.origin === "remote") remoteChanges++;
    });
    const rest = await replica.applyInSlices("notebook", message, () => true);
    assert.ok(turns >= 2, `the page got ${turns} turns`);
    assert.ok(remoteChanges > turns, "each slice told the page what changed");
    assert.equal(A.decodeSyncMessage(rest).changes.length, 0, "what is left carries no changes");
    assert.ok(rest.length < message.length / 100);
    replica.receive("notebook", rest);
    assert.deepEqual(A.getHeads(replica.notebook).sort(), A.getHeads(server).sort());
    const order = nb.cellOrder(replica.notebook).map((c) => c.id);
    assert.deepEqual(order, nb.cellOrder(server).map((c) => c.id));
    assert.equal(nb.cellSource(replica.notebook, order[119]), nb.cellSource(server, order[119]));
  } finally {
    globals.scheduler = before;
  }
});

test("slicing stops when the connection is replaced, and leaves a one-change message alone", async () => {
  const server = serverNotebook(60);
  const changes = A.getAllChanges(server);
  const message = A.encodeSyncMessage({ heads: A.getHeads(server), need: [], have: [], changes });
  const replica = new Replica();
  let asked = 0;
  // Wanted for the first slice only: the connection is replaced after it.
  await replica.applyInSlices("notebook", message, () => asked++ === 0);
  const applied = nb.cellOrder(replica.notebook).length;
  assert.ok(applied > 0 && applied < 60, `${applied} cells applied`);

  // One change over the size that is sliced (text that does not compress).
  let noisy = "";
  for (let i = 0; noisy.length < 20_000; i++) noisy += ((i * 2654435761) >>> 0).toString(36);
  const [big] = nb.createCell(serverCreated(), "code", { at: "end" }, noisy);
  const last = A.getAllChanges(big).slice(-1);
  const one = A.encodeSyncMessage({ heads: A.getHeads(big), need: [], have: [], changes: last });
  assert.ok(one.length >= LARGE_SYNC_BYTES, `${one.length} bytes`);
  const untouched = new Replica();
  assert.equal(await untouched.applyInSlices("notebook", one, () => true), one);
});
