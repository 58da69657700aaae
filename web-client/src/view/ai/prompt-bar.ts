/**
 * Above an AI cell's prompt: the model it will ask, chosen among the models
 * the server offers (`GET /api/ai/models`, never a key), stored in the
 * cell (`doc/ai.ts`) where the agent reads it at the run request's heads;
 * "Server default" clears the cell's own choice. Shift-Enter or Ctrl-Enter
 * runs the cell, as for code.
 */

import type { AiModels } from "../../api/rest";
import { cellModel, notebookModel, setCellModel } from "../../doc/ai";
import type { NotebookSession } from "../../model/session";
import { h } from "../dom";
import type { AiCellHost } from "./hooks";

export class AiPromptBar {
  readonly el = h("div.ai-prompt-bar");
  private select = h("select.ai-model", { "aria-label": "Model" });
  private hint = h("span.ai-hint", {}, "Shift-Enter sends the prompt, with the notebook as context.");
  private models: AiModels | undefined;
  private shownKey = "";
  /** Whether the picker was last shown to a viewer (the role may come after the models). */
  shownReadOnly: boolean | undefined;

  constructor(
    private readonly cellId: string,
    private readonly session: NotebookSession,
    host: AiCellHost,
  ) {
    this.el.append(h("label", {}, "Model ", this.select), this.hint);
    this.select.disabled = true;
    this.select.addEventListener("change", () => {
      const model = this.select.value || undefined;
      this.session.edit((d) => setCellModel(d, this.cellId, model));
    });
    this.select.addEventListener("keydown", (e) => e.stopPropagation());
    host.models().then(
      (m) => {
        this.models = m;
        this.refresh();
      },
      (e: unknown) => {
        this.hint.textContent = `The server's models could not be read: ${e instanceof Error ? e.message : String(e)}`;
      },
    );
  }

  /** Follow the document (someone else may choose another model). */
  refresh(): void {
    const m = this.models;
    if (!m) return;
    const doc = this.session.notebook;
    const chosen = cellModel(doc, this.cellId) ?? "";
    const fallback = notebookModel(doc) ?? m.default ?? "";
    const readOnly = this.session.readOnly;
    const key = [chosen, fallback, readOnly].join("|");
    if (key === this.shownKey) return;
    this.shownKey = key;
    this.shownReadOnly = readOnly;
    if (!m.configured) {
      this.select.replaceChildren(h("option", { value: "" }, "none configured"));
      this.select.disabled = true;
      this.hint.textContent = m.how_to_configure ?? "No AI provider is configured on this server.";
      return;
    }
    const options = [h("option", { value: "" }, `Default (${fallback || "the server's"})`)];
    for (const model of m.models) options.push(h("option", { value: model.id }, model.id));
    if (chosen && !m.models.some((x) => x.id === chosen)) {
      options.push(h("option", { value: chosen }, `${chosen} (not configured here)`));
    }
    this.select.replaceChildren(...options);
    this.select.value = chosen;
    this.select.disabled = readOnly;
  }
}
