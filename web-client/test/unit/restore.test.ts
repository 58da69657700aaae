/**
 * Restoring brings back what a point of history held, as new changes each
 * marked as a restore: a deleted cell with its source, metadata and
 * attachments; an existing cell's changed metadata keys and attachments;
 * and restoring the state taken before (the undo) puts it all back.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import * as nb from "../../src/doc/notebook";
import { serverCreated } from "./created";
import { currentState, restoreCell, restoreNotebook } from "../../src/doc/restore";


const ATTACHMENT = { "dot.png": { "image/png": "iVBORw0KGgo=" } };

function messages(doc: nb.NotebookDoc, after: number): { event: string; restore?: { to_seq: number } }[] {
  return A.getAllChanges(doc)
    .slice(after)
    .map((c) => JSON.parse(A.decodeChange(c).message ?? "{}"));
}

test("a deleted cell comes back with its source, metadata and attachments", () => {
  let doc = serverCreated();
  let id: string;
  [doc, id] = nb.createCell(doc, "markdown", { at: "end" }, "![dot](attachment:dot.png)");
  doc = nb.setCellMetadata(doc, id, "tags", ["keep"]);
  doc = nb.setCellMetadata(doc, id, "jupyter", { source_hidden: true });
  doc = nb.setAttachments(doc, id, ATTACHMENT);
  const then = currentState(doc).find((c) => c.id === id)!;
  doc = nb.deleteCell(doc, id);
  assert.equal(nb.hasCell(doc, id), false);

  const before = A.getAllChanges(doc).length;
  doc = restoreCell(doc, then, 7);
  assert.equal(nb.cellSource(doc, id), "![dot](attachment:dot.png)");
  assert.deepEqual(nb.cellMetadata(doc, id), { tags: ["keep"], jupyter: { source_hidden: true } });
  assert.deepEqual(nb.cellAttachments(doc, id), ATTACHMENT);
  assert.deepEqual(messages(doc, before), [{ event: "CellCreated", cell_id: id, cell_type: "markdown", restore: { to_seq: 7 } }]);
});

test("an existing cell gets its metadata keys and attachments back, one event each, and the undo reverses it", () => {
  let doc = serverCreated();
  let id: string;
  [doc, id] = nb.createCell(doc, "code", { at: "end" }, "x = 1");
  doc = nb.setCellMetadata(doc, id, "tags", ["a"]);
  const then = currentState(doc);
  doc = nb.setCellMetadata(doc, id, "tags", undefined);
  doc = nb.setCellMetadata(doc, id, "collapsed", true);
  doc = nb.setAttachments(doc, id, ATTACHMENT);
  const now = currentState(doc);

  const before = A.getAllChanges(doc).length;
  doc = restoreNotebook(doc, then, 3);
  assert.deepEqual(nb.cellMetadata(doc, id), { tags: ["a"] });
  assert.equal(nb.cellAttachments(doc, id), undefined);
  const events = messages(doc, before);
  assert.deepEqual(events.map((e) => e.event).sort(), ["AttachmentsChanged", "MetadataChanged", "MetadataChanged"]);
  assert.ok(events.every((e) => e.restore?.to_seq === 3));
  // Nothing differs any more: restoring again writes nothing.
  assert.equal(restoreNotebook(doc, then, 3), doc);

  // The undo of that restore is a restore to the state taken before it.
  doc = restoreNotebook(doc, now, 3);
  assert.deepEqual(nb.cellMetadata(doc, id), { collapsed: true });
  assert.deepEqual(nb.cellAttachments(doc, id), ATTACHMENT);
});
