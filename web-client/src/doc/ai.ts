/**
 * An AI cell's own settings in the notebook document: the model it asks
 * for, `metadata.cathode.model` (`provider/model`), which the agent reads at
 * the run request's heads (runtime-agent/src/ai/run.rs `wanted_model`);
 * without it the notebook's `metadata.cathode.ai_model`, else the server's
 * default. The notebook's approval mode, `metadata.cathode.ai_approval`
 * (runtime-agent/src/ai/approval.rs), says when the AI must ask before a
 * tool runs. Other keys under `cathode` are kept.
 */

import type { NotebookDoc } from "./notebook";
import { cellMetadata, notebookMetadata, setCellMetadata, setNotebookMetadata } from "./notebook";

type Json = Record<string, unknown>;

function cathodeOf(meta: Json): Json {
  const c = meta.cathode;
  return c && typeof c === "object" && !Array.isArray(c) ? (c as Json) : {};
}

/** The model this AI cell itself chose, if any. */
export function cellModel(doc: NotebookDoc, id: string): string | undefined {
  const m = cathodeOf(cellMetadata(doc, id)).model;
  return typeof m === "string" && m ? m : undefined;
}

/** The notebook's own default model, if any. */
export function notebookModel(doc: NotebookDoc): string | undefined {
  const m = cathodeOf(notebookMetadata(doc)).ai_model;
  return typeof m === "string" && m ? m : undefined;
}

/** Choose `model` for this AI cell (`undefined`: back to the default). */
export function setCellModel(doc: NotebookDoc, id: string, model: string | undefined): NotebookDoc {
  if (cellModel(doc, id) === model) return doc;
  const cathode = { ...cathodeOf(cellMetadata(doc, id)) };
  if (model) cathode.model = model;
  else delete cathode.model;
  return setCellMetadata(doc, id, "cathode", Object.keys(cathode).length ? cathode : undefined);
}

/** When the AI asks before a tool runs: never, before running code (the agent's default), or before every tool. */
export const APPROVAL_MODES = ["auto", "ask_execute", "ask_all"] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

export function approvalMode(doc: NotebookDoc): ApprovalMode {
  const m = cathodeOf(notebookMetadata(doc)).ai_approval;
  return (APPROVAL_MODES as readonly unknown[]).includes(m) ? (m as ApprovalMode) : "ask_execute";
}

export function setApprovalMode(doc: NotebookDoc, mode: ApprovalMode): NotebookDoc {
  if (approvalMode(doc) === mode) return doc;
  return setNotebookMetadata(doc, "cathode", { ...cathodeOf(notebookMetadata(doc)), ai_approval: mode });
}
