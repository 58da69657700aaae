/**
 * The typed writers write what the Rust ones write (one change, one event
 * in the message; scalars as plain strings, sources as text), and two
 * replicas syncing through Automerge's sync protocol converge: concurrent
 * typing in one cell keeps both, concurrent moves never duplicate a cell.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import * as nb from "../../src/doc/notebook";
import { serverCreated } from "./created";
import { requestControl, answerInput, controls } from "../../src/doc/controls";
import { Replica } from "../../src/model/replica";


function events(doc: nb.NotebookDoc): string[] {
  return A.getAllChanges(doc).map((c) => JSON.parse(A.decodeChange(c).message ?? "{}").event);
}

test("each writer makes one change carrying its event", () => {
  let doc = serverCreated();
  let a: string, b: string;
  [doc, a] = nb.createCell(doc, "code", { at: "end" }, "a = 1");
  [doc, b] = nb.createCell(doc, "markdown", { at: "start" }, "# b");
  doc = nb.moveCell(doc, a, { at: "before", cell: b });
  doc = nb.spliceSource(doc, a, [{ from: 1, deleteCount: 2, insert: "bc" }]);
  doc = nb.setSource(doc, b, "# title\n\nbody");
  doc = nb.setCellType(doc, b, "raw");
  doc = nb.setCellMetadata(doc, a, "tags", ["x"]);
  doc = nb.setCellMetadata(doc, a, "tags", undefined);
  [doc] = nb.requestExecution(doc, a, "ada");
  doc = nb.requestRunBatch(doc, [a, b], "ada");
  doc = requestControl(doc, { kind: "interrupt" }, "ada");
  doc = answerInput(doc, "x-1", 0, "42", "ada");
  doc = nb.deleteCell(doc, b);
  assert.deepEqual(events(doc), [
    "NotebookCreated",
    "CellCreated",
    "CellCreated",
    "CellMoved",
    "SourceEdited",
    "SourceEdited",
    "CellTypeChanged",
    "MetadataChanged",
    "MetadataChanged",
    "ExecutionRequested",
    "RunAllRequested",
    "ControlRequested",
    "InputAnswered",
    "CellDeleted",
  ]);
  assert.equal(nb.cellSource(doc, a), "abc 1");
  assert.deepEqual(nb.cellOrder(doc).map((c) => c.id), [a]);
  const request = nb.runRequest(doc, a)!;
  assert.ok(request.batch, "the run all's request replaced the single one");
  assert.equal(request.heads.split(",").length >= 1, true);
  assert.equal(controls(doc)[0].kind, "interrupt");
});

test("scalars are plain strings and sources are text, as the layout requires", () => {
  let doc = serverCreated();
  let id: string;
  [doc, id] = nb.createCell(doc, "code", { at: "end" }, "x");
  doc = nb.setCellMetadata(doc, id, "k", { a: 1 });
  const ops = A.getAllChanges(doc)
    .slice(1)
    .flatMap((c) => A.decodeChange(c).ops);
  const makes = ops.filter((o) => o.action.startsWith("make")).map((o) => `${o.key}:${o.action}`);
  assert.deepEqual(makes.sort(), [`${id}:makeMap`, "metadata:makeMap", "source:makeText"].sort());
  const puts = ops.filter((o) => o.action === "set" && typeof o.key === "string");
  for (const p of puts) assert.equal(typeof p.value, "string", `${p.key} is a string scalar`);
  assert.deepEqual(puts.map((p) => p.key).sort(), ["cell_type", "k", "position"].sort());
});

/** Two replicas and an in-memory relay standing in for the server. */
function pair(): [Replica, Replica, () => void] {
  const origin = serverCreated();
  const a = new Replica(A.clone(origin, { actor: "aa".repeat(16) }));
  const b = new Replica(A.clone(origin, { actor: "bb".repeat(16) }));
  const exchange = () => {
    for (let round = 0; round < 20; round++) {
      let moved = false;
      const ab = a.generate("notebook");
      if (ab) {
        b.receive("notebook", ab);
        moved = true;
      }
      const ba = b.generate("notebook");
      if (ba) {
        a.receive("notebook", ba);
        moved = true;
      }
      if (!moved) return;
    }
  };
  return [a, b, exchange];
}

test("concurrent typing in one cell keeps both people's text", () => {
  const [a, b, exchange] = pair();
  let id = "";
  a.editNotebook((d) => {
    const [next, created] = nb.createCell(d, "code", { at: "end" }, "hello world");
    id = created;
    return next;
  });
  exchange();
  a.editNotebook((d) => nb.spliceSource(d, id, [{ from: 5, deleteCount: 0, insert: " there" }]));
  b.editNotebook((d) => nb.spliceSource(d, id, [{ from: 11, deleteCount: 0, insert: "!" }]));
  b.editNotebook((d) => nb.spliceSource(d, id, [{ from: 0, deleteCount: 0, insert: "😀" }]));
  exchange();
  const sa = nb.cellSource(a.notebook, id);
  assert.equal(sa, nb.cellSource(b.notebook, id));
  assert.equal(sa, "😀hello there world!");
  assert.ok(a.acknowledged("notebook") && b.acknowledged("notebook"));
});

test("concurrent moves and deletes never duplicate or lose a cell", () => {
  const [a, b, exchange] = pair();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    a.editNotebook((d) => {
      const [next, id] = nb.createCell(d, "code", { at: "end" }, `c${i}`);
      ids.push(id);
      return next;
    });
  }
  exchange();
  a.editNotebook((d) => nb.moveCell(d, ids[0], { at: "end" }));
  b.editNotebook((d) => nb.moveCell(d, ids[0], { at: "after", cell: ids[2] }));
  b.editNotebook((d) => nb.deleteCell(d, ids[4]));
  a.editNotebook((d) => nb.spliceSource(d, ids[4], [{ from: 0, deleteCount: 0, insert: "late " }]));
  exchange();
  const oa = nb.cellOrder(a.notebook).map((c) => c.id);
  const ob = nb.cellOrder(b.notebook).map((c) => c.id);
  assert.deepEqual(oa, ob);
  assert.equal(new Set(oa).size, oa.length);
  assert.equal(oa.length, 4);
  assert.ok(!oa.includes(ids[4]), "an edit inside a deleted cell does not resurrect it");
});
