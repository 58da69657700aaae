/**
 * Cell operations as the notebook's commands perform them, each written
 * through the typed writers, with what it takes to undo it (command-mode Z
 * and Shift-Z undo and redo one person's own cell operations, never
 * another's). Cell ids stay stable: a moved, retyped or restored cell keeps
 * its id; only pasted copies get new ones.
 */

import * as nb from "../doc/notebook";
import type { CellType, NotebookDoc } from "../doc/notebook";
import type { NotebookSession } from "../model/session";

export interface CellSnapshot {
  id: string;
  type: CellType;
  source: string;
  metadata: Record<string, unknown>;
}

/** One undoable step: apply it forward or back. */
export interface CellOp {
  label: string;
  /** The cell to select after undoing or redoing it. */
  select?: { undo?: string; redo?: string };
  undo: (doc: NotebookDoc) => NotebookDoc;
  redo: (doc: NotebookDoc) => NotebookDoc;
}

export function snapshot(doc: NotebookDoc, id: string): CellSnapshot {
  return { id, type: nb.cellType(doc, id) ?? "code", source: nb.cellSource(doc, id), metadata: nb.cellMetadata(doc, id) };
}

/** Recreate a cell (by id) after `after`, or at the start. */
export function restore(doc: NotebookDoc, cell: CellSnapshot, after: string | undefined): NotebookDoc {
  if (nb.hasCell(doc, cell.id)) return doc;
  const placement: nb.Placement = after && nb.hasCell(doc, after) ? { at: "after", cell: after } : { at: "start" };
  let [next] = nb.createCell(doc, cell.type, placement, cell.source, cell.id);
  for (const [k, v] of Object.entries(cell.metadata)) next = nb.setCellMetadata(next, cell.id, k, v);
  return next;
}

export class CellHistory {
  private undoStack: CellOp[] = [];
  private redoStack: CellOp[] = [];

  constructor(private readonly session: NotebookSession) {}

  /** Perform `op` and remember it. */
  run(op: CellOp): void {
    this.session.edit(op.redo);
    this.undoStack.push(op);
    if (this.undoStack.length > 200) this.undoStack.shift();
    this.redoStack = [];
  }

  /** Undo the last operation; what it says to select after, if anything. */
  undo(): CellOp | undefined {
    const op = this.undoStack.pop();
    if (!op) return undefined;
    this.session.edit(op.undo);
    this.redoStack.push(op);
    return op;
  }

  redo(): CellOp | undefined {
    const op = this.redoStack.pop();
    if (!op) return undefined;
    this.session.edit(op.redo);
    this.undoStack.push(op);
    return op;
  }
}

/** The cell before `id` in order, if any. */
export function previousOf(doc: NotebookDoc, id: string): string | undefined {
  const order = nb.cellOrder(doc);
  const i = order.findIndex((c) => c.id === id);
  return i > 0 ? order[i - 1].id : undefined;
}

export function deleteOp(doc: NotebookDoc, ids: string[]): CellOp {
  const order = nb.cellOrder(doc).map((c) => c.id);
  const snaps = ids
    .filter((id) => nb.hasCell(doc, id))
    .sort((a, b) => order.indexOf(a) - order.indexOf(b))
    .map((id) => ({ cell: snapshot(doc, id), after: order[order.indexOf(id) - 1] }));
  return {
    label: "delete cells",
    select: { undo: snaps[0]?.cell.id },
    redo: (d) => snaps.reduce((acc, s) => nb.deleteCell(acc, s.cell.id), d),
    undo: (d) => snaps.reduce((acc, s) => restore(acc, s.cell, s.after), d),
  };
}

export function insertOp(type: CellType, placement: nb.Placement, source: string, id: string): CellOp {
  return {
    label: "insert cell",
    select: { redo: id },
    redo: (d) => (nb.hasCell(d, id) ? d : nb.createCell(d, type, placement, source, id)[0]),
    undo: (d) => nb.deleteCell(d, id),
  };
}

export function typeOp(doc: NotebookDoc, ids: string[], type: CellType): CellOp {
  const before = ids.map((id) => [id, nb.cellType(doc, id) ?? "code"] as const);
  return {
    label: "change cell type",
    redo: (d) => before.reduce((acc, [id]) => nb.setCellType(acc, id, type), d),
    undo: (d) => before.reduce((acc, [id, t]) => nb.setCellType(acc, id, t), d),
  };
}

export function moveOp(doc: NotebookDoc, ids: string[], direction: -1 | 1): CellOp | undefined {
  const order = nb.cellOrder(doc).map((c) => c.id);
  const indices = ids.map((id) => order.indexOf(id)).filter((i) => i >= 0).sort((a, b) => a - b);
  if (indices.length === 0) return undefined;
  const first = indices[0];
  const last = indices[indices.length - 1];
  const block = order.slice(first, last + 1);
  if (direction === -1 && first === 0) return undefined;
  if (direction === 1 && last === order.length - 1) return undefined;
  const pivot = direction === -1 ? order[first - 1] : order[last + 1];
  const place = (d: NotebookDoc, cells: string[], placement: nb.Placement) => {
    let acc = d;
    let anchor = placement;
    for (const id of cells) {
      acc = nb.moveCell(acc, id, anchor);
      anchor = { at: "after", cell: id };
    }
    return acc;
  };
  return {
    label: "move cells",
    redo: (d) => place(d, block, direction === -1 ? { at: "before", cell: pivot } : { at: "after", cell: pivot }),
    // Back: the pivot goes to the other side of the block.
    undo: (d) => nb.moveCell(d, pivot, direction === -1 ? { at: "after", cell: block[block.length - 1] } : { at: "before", cell: block[0] }),
  };
}

/** Move one cell to just before or after another (drag and drop). */
export function moveToOp(doc: NotebookDoc, id: string, target: nb.Placement): CellOp {
  const before = previousOf(doc, id);
  return {
    label: "move cell",
    redo: (d) => nb.moveCell(d, id, target),
    undo: (d) => nb.moveCell(d, id, before ? { at: "after", cell: before } : { at: "start" }),
  };
}

/** Merge cells into the first: its source joined by blank lines, the rest deleted. */
export function mergeOp(doc: NotebookDoc, ids: string[]): CellOp | undefined {
  const order = nb.cellOrder(doc).map((c) => c.id);
  const sorted = ids.filter((id) => nb.hasCell(doc, id)).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  if (sorted.length < 2) return undefined;
  const [first, ...rest] = sorted;
  const original = nb.cellSource(doc, first);
  const joined = sorted.map((id) => nb.cellSource(doc, id)).join("\n\n");
  const del = deleteOp(doc, rest);
  return {
    label: "merge cells",
    redo: (d) => del.redo(nb.setSource(d, first, joined)),
    undo: (d) => nb.setSource(del.undo(d), first, original),
  };
}

/** Split a cell at `offset`: the text after it goes to a new cell below. */
export function splitOp(doc: NotebookDoc, id: string, offset: number, newId: string): CellOp {
  const source = nb.cellSource(doc, id);
  const head = source.slice(0, offset).replace(/\n$/, "");
  const tail = source.slice(offset).replace(/^\n/, "");
  const type = nb.cellType(doc, id) ?? "code";
  return {
    label: "split cell",
    redo: (d) => nb.createCell(nb.setSource(d, id, head), type, { at: "after", cell: id }, tail, newId)[0],
    undo: (d) => nb.setSource(nb.deleteCell(d, newId), id, source),
  };
}
