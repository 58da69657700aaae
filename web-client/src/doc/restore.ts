/**
 * Restoring a cell or the whole notebook to how it was at a point of its
 * history, always as new changes (history is never rewritten, so a
 * restore can itself be restored away). Each change is one event, as
 * every writer here writes (`notebook.ts`), with `restore: {to_seq}`
 * beside the event in its message, so the history lists it as a restore
 * (sync-server `history/mod.rs`). Values are written as the Rust writers
 * write them: ImmutableString scalars, Text sources.
 */

import * as A from "@automerge/automerge";
import type { DocumentEvent } from "./events";
import {
  cellAttachments,
  cellMetadata,
  cellOrder,
  cellSource,
  cellType,
  hasCell,
  sourcePath,
  writeAttachments,
  writeMetadataKey,
  type CellType,
  type NotebookDoc,
} from "./notebook";
import { CELL_TYPES, type RawNotebook } from "./notebook-types";

/** A cell as restored: what a point of history says of it. */
export interface CellState {
  id: string;
  cellType: CellType;
  position: string;
  source: string;
  /** Parsed metadata values by key (tags, collapsed, source_hidden, unknown keys). */
  metadata: Record<string, unknown>;
  /** nbformat attachments (images in markdown), if any. */
  attachments: unknown;
}

/** Compare JSON values by their text: metadata is stored as JSON text. */
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

const imm = (s: string) => new A.ImmutableString(s);

function commit(doc: NotebookDoc, event: DocumentEvent, toSeq: number, fn: (d: RawNotebook) => void): NotebookDoc {
  const message = JSON.stringify({ ...event, restore: { to_seq: toSeq } });
  return A.change(doc, { message, time: Math.floor(Date.now() / 1000) }, fn);
}

export function asCellType(t: string): CellType {
  return (CELL_TYPES as readonly string[]).includes(t) ? (t as CellType) : "code";
}

/** The notebook's cells as they stand, in order: what an undo of a restore goes back to. */
export function currentState(doc: NotebookDoc): CellState[] {
  return cellOrder(doc).map((c) => ({
    id: c.id,
    cellType: c.cellType,
    position: c.position,
    source: cellSource(doc, c.id),
    metadata: cellMetadata(doc, c.id),
    attachments: cellAttachments(doc, c.id),
  }));
}

/**
 * Bring one cell back as it was: a deleted cell is created again under its
 * id, type and position with its source, metadata and attachments; an
 * existing one gets each of those back that differs, one event each.
 * Returns the document unchanged when nothing differs.
 */
export function restoreCell(doc: NotebookDoc, cell: CellState, toSeq: number): NotebookDoc {
  if (!hasCell(doc, cell.id)) {
    return commit(doc, { event: "CellCreated", cell_id: cell.id, cell_type: cell.cellType }, toSeq, (d) => {
      d.cells![cell.id] = { cell_type: imm(cell.cellType), position: imm(cell.position), source: "", metadata: {} };
      if (cell.source.length > 0) A.splice(d, sourcePath(cell.id), 0, 0, cell.source);
      for (const [key, value] of Object.entries(cell.metadata)) writeMetadataKey(d.cells![cell.id], key, value);
      writeAttachments(d.cells![cell.id], cell.attachments);
    });
  }
  let next = doc;
  if (cellType(next, cell.id) !== cell.cellType) {
    next = commit(next, { event: "CellTypeChanged", cell_id: cell.id, cell_type: cell.cellType }, toSeq, (d) => {
      d.cells![cell.id].cell_type = imm(cell.cellType);
    });
  }
  if (cellSource(next, cell.id) !== cell.source) {
    next = commit(next, { event: "SourceEdited", cell_id: cell.id }, toSeq, (d) => {
      A.updateText(d, sourcePath(cell.id), cell.source);
    });
  }
  const metadata = cellMetadata(next, cell.id);
  for (const key of new Set([...Object.keys(metadata), ...Object.keys(cell.metadata)])) {
    if (same(metadata[key], cell.metadata[key])) continue;
    next = commit(next, { event: "MetadataChanged", cell_id: cell.id, key }, toSeq, (d) => {
      writeMetadataKey(d.cells![cell.id], key, cell.metadata[key]);
    });
  }
  if (!same(cellAttachments(next, cell.id), cell.attachments)) {
    next = commit(next, { event: "AttachmentsChanged", cell_id: cell.id }, toSeq, (d) => {
      writeAttachments(d.cells![cell.id], cell.attachments);
    });
  }
  const position = cellOrder(next).find((c) => c.id === cell.id)?.position;
  if (position !== cell.position) {
    next = commit(next, { event: "CellMoved", cell_id: cell.id }, toSeq, (d) => {
      d.cells![cell.id].position = imm(cell.position);
    });
  }
  return next;
}

/**
 * The whole notebook as it was: cells that did not exist then are deleted,
 * the others restored one by one (`restoreCell`). Outputs are not touched:
 * they belong to the runtime.
 */
export function restoreNotebook(doc: NotebookDoc, cells: CellState[], toSeq: number): NotebookDoc {
  const keep = new Set(cells.map((c) => c.id));
  let next = doc;
  for (const c of cellOrder(doc)) {
    if (keep.has(c.id)) continue;
    next = commit(next, { event: "CellDeleted", cell_id: c.id }, toSeq, (d) => {
      delete d.cells![c.id];
    });
  }
  for (const cell of cells) next = restoreCell(next, cell, toSeq);
  return next;
}

/** Delete a cell as part of a restore (undoing a restore that brought it back). */
export function removeCell(doc: NotebookDoc, id: string, toSeq: number): NotebookDoc {
  if (!hasCell(doc, id)) return doc;
  return commit(doc, { event: "CellDeleted", cell_id: id }, toSeq, (d) => {
    delete d.cells![id];
  });
}
