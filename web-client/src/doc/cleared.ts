/**
 * Clearing cells' outputs (schema/src/cleared.rs): a fact of the notebook
 * document, so an editor clears without a runtime (none need be running)
 * and every page, the export and the AI see the same. A cell records the
 * execution it cleared and how many outputs it had then; outputs that same
 * execution writes afterwards (it was still running) show, and the next run
 * shows whole.
 */

import * as A from "@automerge/automerge";
import { changeOptions } from "./events";
import { str } from "./notebook-types";
import type { NotebookDoc } from "./notebook";
import type { ExecutionSummary } from "./runtime";

export interface OutputsCleared {
  executionId: string;
  outputs: number;
}

/** The raw value, for cheap change detection. */
export function outputsClearedRaw(doc: NotebookDoc, cellId: string): string | undefined {
  return str(doc.cells?.[cellId]?.outputs_cleared);
}

export function outputsCleared(doc: NotebookDoc, cellId: string): OutputsCleared | undefined {
  const raw = outputsClearedRaw(doc, cellId);
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as { execution_id?: unknown; outputs?: unknown };
    if (typeof v.execution_id !== "string" || typeof v.outputs !== "number") return undefined;
    return { executionId: v.execution_id, outputs: v.outputs };
  } catch {
    return undefined;
  }
}

/** What a cell shows after its clear: the shown run's outputs and count. */
export function applyClear<T>(
  clear: OutputsCleared | undefined,
  shown: ExecutionSummary | undefined,
  outputs: readonly T[],
): { shown: ExecutionSummary | undefined; outputs: readonly T[] } {
  if (!clear || !shown || clear.executionId !== shown.executionId) return { shown, outputs };
  const finished = shown.state !== "queued" && shown.state !== "running";
  return {
    shown: finished ? { ...shown, executionCount: undefined } : shown,
    outputs: outputs.slice(Math.min(clear.outputs, outputs.length)),
  };
}

/** Clear the outputs each cell shows now, in one change. */
export function clearOutputs(
  doc: NotebookDoc,
  cleared: { cellId: string; executionId: string; outputs: number }[],
): NotebookDoc {
  const live = cleared.filter((c) => doc.cells?.[c.cellId] !== undefined);
  if (live.length === 0) return doc;
  const event = { event: "CellOutputsCleared" as const, cells: live.map((c) => c.cellId) };
  return A.change(doc, changeOptions(event), (d) => {
    for (const c of live) {
      // Field order as serde writes OutputsCleared.
      const value = JSON.stringify({ execution_id: c.executionId, outputs: c.outputs });
      d.cells![c.cellId].outputs_cleared = new A.ImmutableString(value);
    }
  });
}
