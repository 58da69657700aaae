/**
 * The notebook's AI approval mode in the toolbar: whether the AI runs its
 * tools freely, asks before running code, or asks before every tool. It is
 * a notebook setting in the document, so every collaborator's picker shows
 * the same choice and the agent reads it at each run. Viewers see it but
 * cannot change it.
 */

import { APPROVAL_MODES, approvalMode, type ApprovalMode } from "../doc/ai";
import type { NotebookDoc } from "../doc/notebook";
import { h } from "./dom";

const LABELS: Record<ApprovalMode, string> = {
  auto: "AI runs tools without asking",
  ask_execute: "AI asks before running code",
  ask_all: "AI asks before every tool",
};

export class AiApprovalPicker {
  readonly el: HTMLSelectElement;
  private shown: ApprovalMode | undefined;

  constructor(private readonly write: (mode: ApprovalMode) => void) {
    this.el = h(
      "select.ai-approval",
      { title: "When the AI asks for approval", "aria-label": "AI approvals" },
      ...APPROVAL_MODES.map((m) => h("option", { value: m }, LABELS[m])),
    );
    this.el.addEventListener("change", () => this.write(this.el.value as ApprovalMode));
  }

  /** Show the document's mode; touches the DOM only when something changed. */
  update(doc: NotebookDoc, readOnly: boolean): void {
    const mode = approvalMode(doc);
    if (mode !== this.shown) {
      this.shown = mode;
      this.el.value = mode;
    }
    if (this.el.disabled !== readOnly) this.el.disabled = readOnly;
  }
}
