/**
 * Asking the runtime for something other than a run (interrupt, restart,
 * cancel) and answering `input()` (schema/src/control.rs). Editors cannot
 * write the runtime document, so both live in the notebook document: a
 * control is one JSON string under its id in `controls`, an answer one JSON
 * string under `"{execution}#{seq}"` in `input_answers`.
 */

import * as A from "@automerge/automerge";
import { changeOptions } from "./events";
import { newControlId } from "./ids";
import { str } from "./notebook-types";
import type { NotebookDoc } from "./notebook";

export type ControlKind =
  | { kind: "interrupt" }
  | { kind: "restart" }
  | { kind: "cancel"; execution_id: string }
  | { kind: "undo_ai_run"; ai_run: string };

export interface Control {
  control_id: string;
  requested_by: string;
  requested_at_ms: number;
  kind: ControlKind["kind"];
  execution_id?: string;
  ai_run?: string;
}

export function requestControl(doc: NotebookDoc, kind: ControlKind, requestedBy: string): NotebookDoc {
  if (!doc.controls) return doc;
  // Field order as serde writes it: the struct's fields, then the
  // flattened kind's tag and fields.
  const control: Control = {
    control_id: newControlId(),
    requested_by: requestedBy,
    requested_at_ms: Date.now(),
    ...kind,
  };
  return A.change(doc, changeOptions({ event: "ControlRequested", control_id: control.control_id }), (d) => {
    d.controls![control.control_id] = new A.ImmutableString(JSON.stringify(control));
  });
}

/** Every control requested, oldest first. */
export function controls(doc: NotebookDoc): Control[] {
  const out: Control[] = [];
  for (const [, raw] of Object.entries(doc.controls ?? {})) {
    try {
      out.push(JSON.parse(str(raw) ?? ""));
    } catch {
      // skipped
    }
  }
  out.sort((a, b) => a.requested_at_ms - b.requested_at_ms || (a.control_id < b.control_id ? -1 : 1));
  return out;
}

function answerKey(execution: string, seq: number): string {
  return `${execution}#${seq}`;
}

export function answerInput(
  doc: NotebookDoc,
  execution: string,
  seq: number,
  value: string,
  answeredBy: string,
): NotebookDoc {
  return putAnswer(doc, execution, seq, { value, answered_by: answeredBy });
}

/** Answer a password prompt with a sealed value (`model/seal.ts`): the password itself is never written. */
export function answerInputSealed(
  doc: NotebookDoc,
  execution: string,
  seq: number,
  sealed: { ephemeral_key: string; nonce: string; ciphertext: string },
  answeredBy: string,
): NotebookDoc {
  return putAnswer(doc, execution, seq, { value: "", answered_by: answeredBy, sealed });
}

/** One answer, in the field order serde writes InputAnswer. */
function putAnswer(doc: NotebookDoc, execution: string, seq: number, answer: object): NotebookDoc {
  if (!doc.input_answers) return doc;
  const raw = JSON.stringify(answer);
  return A.change(doc, changeOptions({ event: "InputAnswered", execution_id: execution }), (d) => {
    d.input_answers![answerKey(execution, seq)] = new A.ImmutableString(raw);
  });
}

/** Whether someone has answered this `input()` (the value is not shown). */
export function inputAnswered(doc: NotebookDoc, execution: string, seq: number): boolean {
  return doc.input_answers?.[answerKey(execution, seq)] !== undefined;
}

/** How an editor answers an AI run's request to act (schema/src/approval.rs). */
export type ApprovalDecision = "approve_once" | "approve_run" | "deny";

function approvalKey(execution: string, seq: number): string {
  return `${execution}#approval#${seq}`;
}

/** Answer an AI run's pending approval (kept beside `input()` answers). */
export function answerApproval(
  doc: NotebookDoc,
  execution: string,
  seq: number,
  decision: ApprovalDecision,
  answeredBy: string,
): NotebookDoc {
  if (!doc.input_answers) return doc;
  const raw = JSON.stringify({ decision, answered_by: answeredBy });
  return A.change(doc, changeOptions({ event: "ApprovalAnswered", execution_id: execution, seq }), (d) => {
    d.input_answers![approvalKey(execution, seq)] = new A.ImmutableString(raw);
  });
}

export function approvalAnswered(doc: NotebookDoc, execution: string, seq: number): boolean {
  return doc.input_answers?.[approvalKey(execution, seq)] !== undefined;
}
