/**
 * Typed access to the notebook document, writing exactly what the Rust
 * typed writers write (schema/src/notebook.rs), so the server's layout
 * checker (schema/src/layout.rs) accepts every change: scalars are
 * ImmutableStrings, a source is Automerge Text, metadata values are JSON
 * strings, a run request is one JSON string. Every write is one change
 * carrying one event (`events.ts`).
 */

import * as A from "@automerge/automerge";
import { changeOptions, type DocumentEvent } from "./events";
import { newCellId, newRequestId } from "./ids";
import { keyBetween } from "./position";
import { str, type CellType, type RawCell, type RawNotebook, CELL_TYPES } from "./notebook-types";

export type NotebookDoc = A.Doc<RawNotebook>;
export type { CellType } from "./notebook-types";

export const SCHEMA_VERSION = 1;

export interface RunRequest {
  request_id: string;
  requested_by: string;
  requested_at_ms: number;
  /** Notebook heads when the request was made, comma-joined hex. */
  heads: string;
  batch?: string;
  /** Absent means true (serde default). */
  allow_stdin?: boolean;
}

export interface CellInfo {
  id: string;
  cellType: CellType;
  position: string;
}

export type Placement =
  | { at: "start" }
  | { at: "end" }
  | { at: "after"; cell: string }
  | { at: "before"; cell: string };

/** Why a document cannot be used yet, or at all. */
export type SchemaProblem = "not_initialised" | "newer_schema" | "wrong_kind";

export function schemaProblem(doc: NotebookDoc): SchemaProblem | undefined {
  const version = doc.schema_version;
  if (typeof version !== "number") return "not_initialised";
  if (version > SCHEMA_VERSION) return "newer_schema";
  if (str(doc.kind) !== "notebook") return "wrong_kind";
  if (!doc.cells) return "not_initialised";
  return undefined;
}

function parseCellType(v: unknown): CellType {
  const s = str(v);
  return (CELL_TYPES as readonly string[]).includes(s ?? "") ? (s as CellType) : "code";
}

/** Cells in notebook order: by position, ties by id, as every replica orders them. */
export function cellOrder(doc: NotebookDoc): CellInfo[] {
  const cells = doc.cells;
  if (!cells) return [];
  const out: CellInfo[] = [];
  for (const id of Object.keys(cells)) {
    const cell = cells[id];
    if (!cell || typeof cell !== "object") continue;
    out.push({ id, cellType: parseCellType(cell.cell_type), position: str(cell.position) ?? "" });
  }
  out.sort((a, b) =>
    a.position < b.position ? -1 : a.position > b.position ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  );
  return out;
}

function rawCell(doc: NotebookDoc, id: string): RawCell | undefined {
  return doc.cells?.[id];
}

export function hasCell(doc: NotebookDoc, id: string): boolean {
  return rawCell(doc, id) !== undefined;
}

export function cellType(doc: NotebookDoc, id: string): CellType | undefined {
  const c = rawCell(doc, id);
  return c ? parseCellType(c.cell_type) : undefined;
}

export function cellSource(doc: NotebookDoc, id: string): string {
  const s = rawCell(doc, id)?.source as unknown;
  return typeof s === "string" ? s : (str(s) ?? "");
}

/** Jupyter's flags for a collapsed input or output, kept in `metadata.jupyter`. */
export type CollapseFlag = "source_hidden" | "outputs_hidden";

export function cellMetadata(doc: NotebookDoc, id: string): Record<string, unknown> {
  const meta = rawCell(doc, id)?.metadata;
  const out: Record<string, unknown> = {};
  if (!meta) return out;
  for (const key of Object.keys(meta)) {
    const raw = str(meta[key]);
    if (raw === undefined) continue;
    try {
      out[key] = JSON.parse(raw);
    } catch {
      // Not JSON: skipped, as the Rust reader skips it.
    }
  }
  return out;
}

export function cellAttachments(doc: NotebookDoc, id: string): Record<string, Record<string, string>> | undefined {
  const raw = str(rawCell(doc, id)?.attachments);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

export function runRequest(doc: NotebookDoc, id: string): RunRequest | undefined {
  const raw = str(rawCell(doc, id)?.run_request);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as RunRequest;
  } catch {
    return undefined;
  }
}

export function notebookMetadata(doc: NotebookDoc): Record<string, unknown> {
  const meta = doc.metadata;
  const out: Record<string, unknown> = {};
  if (!meta) return out;
  for (const key of Object.keys(meta)) {
    try {
      out[key] = JSON.parse(str(meta[key]) ?? "");
    } catch {
      // skipped
    }
  }
  return out;
}

/** The path of a cell's source, for text splices and cursors. */
export function sourcePath(id: string): A.Prop[] {
  return ["cells", id, "source"];
}

function commit(doc: NotebookDoc, event: DocumentEvent, fn: (d: RawNotebook) => void): NotebookDoc {
  return A.change(doc, changeOptions(event), fn);
}

const imm = (s: string) => new A.ImmutableString(s);

function positionFor(doc: NotebookDoc, placement: Placement, moving?: string): string {
  const order = cellOrder(doc).filter((c) => c.id !== moving);
  const indexOf = (target: string) => {
    const i = order.findIndex((c) => c.id === target);
    if (i < 0) throw new Error(`no cell ${target}`);
    return i;
  };
  switch (placement.at) {
    case "start":
      return keyBetween(undefined, order[0]?.position);
    case "end":
      return keyBetween(order[order.length - 1]?.position, undefined);
    case "after": {
      const i = indexOf(placement.cell);
      return keyBetween(order[i].position, order[i + 1]?.position);
    }
    case "before": {
      const i = indexOf(placement.cell);
      return keyBetween(i === 0 ? undefined : order[i - 1].position, order[i].position);
    }
  }
}

/** Create a cell; `id` may name a deleted cell to bring it back (undo). */
export function createCell(
  doc: NotebookDoc,
  type: CellType,
  placement: Placement,
  source: string,
  id: string = newCellId(),
): [NotebookDoc, string] {
  const position = positionFor(doc, placement);
  const next = commit(doc, { event: "CellCreated", cell_id: id, cell_type: type }, (d) => {
    d.cells![id] = {
      cell_type: imm(type),
      position: imm(position),
      source: "",
      metadata: {},
    };
    if (source.length > 0) A.splice(d, sourcePath(id), 0, 0, source);
  });
  return [next, id];
}

export function moveCell(doc: NotebookDoc, id: string, placement: Placement): NotebookDoc {
  if (!hasCell(doc, id)) return doc;
  if ((placement.at === "after" || placement.at === "before") && placement.cell === id) return doc;
  const position = positionFor(doc, placement, id);
  return commit(doc, { event: "CellMoved", cell_id: id }, (d) => {
    d.cells![id].position = imm(position);
  });
}

export function deleteCell(doc: NotebookDoc, id: string): NotebookDoc {
  if (!hasCell(doc, id)) return doc;
  return commit(doc, { event: "CellDeleted", cell_id: id }, (d) => {
    delete d.cells![id];
  });
}

/** One text edit in UTF-16 code units of the current source. */
export interface TextSplice {
  from: number;
  deleteCount: number;
  insert: string;
}

/**
 * Apply edits (each in coordinates of the source as it stands after the
 * ones before it) to a cell's source as one change.
 */
export function spliceSource(doc: NotebookDoc, id: string, edits: TextSplice[]): NotebookDoc {
  if (!hasCell(doc, id) || edits.length === 0) return doc;
  return commit(doc, { event: "SourceEdited", cell_id: id }, (d) => {
    for (const e of edits) A.splice(d, sourcePath(id), e.from, e.deleteCount, e.insert);
  });
}

/**
 * As `spliceSource`, with the offsets in the source as it stood at `heads`
 * (typing done on an older copy of the notebook): Automerge merges it with
 * whatever came since. Unchanged when the document lacks `heads`.
 */
export function spliceSourceAt(doc: NotebookDoc, heads: A.Heads, id: string, edits: TextSplice[]): NotebookDoc {
  if (edits.length === 0 || !A.hasHeads(doc, heads) || !hasCell(A.view(doc, heads), id)) return doc;
  return A.changeAt(doc, heads, changeOptions({ event: "SourceEdited", cell_id: id }), (d) => {
    for (const e of edits) A.splice(d, sourcePath(id), e.from, e.deleteCount, e.insert);
  }).newDoc;
}

/** Replace the whole source as the smallest edit (as Rust's `set_source`). */
export function setSource(doc: NotebookDoc, id: string, source: string): NotebookDoc {
  if (!hasCell(doc, id) || cellSource(doc, id) === source) return doc;
  return commit(doc, { event: "SourceEdited", cell_id: id }, (d) => {
    A.updateText(d, sourcePath(id), source);
  });
}

export function setCellType(doc: NotebookDoc, id: string, type: CellType): NotebookDoc {
  if (!hasCell(doc, id) || cellType(doc, id) === type) return doc;
  return commit(doc, { event: "CellTypeChanged", cell_id: id, cell_type: type }, (d) => {
    d.cells![id].cell_type = imm(type);
  });
}

/** Inside a change: one metadata key as the Rust writers store it (JSON text). */
export function writeMetadataKey(cell: RawCell, key: string, value: unknown): void {
  if (!cell.metadata) cell.metadata = {};
  if (value === undefined) delete cell.metadata[key];
  else cell.metadata[key] = imm(JSON.stringify(value));
}

/** Inside a change: a cell's attachments as the Rust writers store them. */
export function writeAttachments(cell: RawCell, attachments: unknown): void {
  if (attachments === undefined || attachments === null) delete cell.attachments;
  else cell.attachments = imm(JSON.stringify(attachments));
}

/** Set one metadata key (`undefined` removes it). Keys merge independently. */
export function setCellMetadata(doc: NotebookDoc, id: string, key: string, value: unknown): NotebookDoc {
  if (!hasCell(doc, id)) return doc;
  return commit(doc, { event: "MetadataChanged", cell_id: id, key }, (d) => writeMetadataKey(d.cells![id], key, value));
}

/** Set one notebook metadata key (`undefined` removes it), as the Rust writer does. */
export function setNotebookMetadata(doc: NotebookDoc, key: string, value: unknown): NotebookDoc {
  return commit(doc, { event: "NotebookMetadataChanged", key }, (d) => {
    if (!d.metadata) return;
    if (value === undefined) delete d.metadata[key];
    else d.metadata[key] = imm(JSON.stringify(value));
  });
}

export function setAttachments(doc: NotebookDoc, id: string, attachments: unknown): NotebookDoc {
  if (!hasCell(doc, id)) return doc;
  return commit(doc, { event: "AttachmentsChanged", cell_id: id }, (d) => writeAttachments(d.cells![id], attachments));
}

function headsString(doc: NotebookDoc): string {
  return A.getHeads(doc).join(",");
}

/** Ask the runtime to run a cell as it stands in this replica. */
export function requestExecution(doc: NotebookDoc, id: string, requestedBy: string): [NotebookDoc, RunRequest | undefined] {
  if (!hasCell(doc, id)) return [doc, undefined];
  const request: RunRequest = {
    request_id: newRequestId(),
    requested_by: requestedBy,
    requested_at_ms: Date.now(),
    heads: headsString(doc),
  };
  const next = commit(doc, { event: "ExecutionRequested", cell_id: id, request_id: request.request_id }, (d) => {
    d.cells![id].run_request = imm(JSON.stringify(request));
  });
  return [next, request];
}

/**
 * Run several code cells in order as one batch (Rust's `request_run_all`,
 * restricted to `ids` for run above/below): one change, one batch id, the
 * same heads; the agent stops the batch at the first error.
 */
export function requestRunBatch(doc: NotebookDoc, ids: string[], requestedBy: string): NotebookDoc {
  const heads = headsString(doc);
  const batch = newRequestId();
  const at = Date.now();
  const planned = ids
    .filter((id) => cellType(doc, id) === "code")
    .map((id) => {
      const request: RunRequest = {
        request_id: newRequestId(),
        requested_by: requestedBy,
        requested_at_ms: at,
        heads,
        batch,
      };
      return [id, JSON.stringify(request)] as const;
    });
  if (planned.length === 0) return doc;
  return commit(doc, { event: "RunAllRequested", batch, cells: planned.length }, (d) => {
    for (const [id, raw] of planned) d.cells![id].run_request = imm(raw);
  });
}

/** Every change ever made, decoded, as text: what a test searches for a value that must never have been written. */
export function historyText(doc: NotebookDoc): string {
  return A.getAllChanges(doc)
    .map((c) => JSON.stringify(A.decodeChange(c)))
    .join("\n");
}
