/**
 * A tool call and its result, each a compact card (`<details>`, closed):
 * the summary says which tool, on what, how it went, and links to the cell
 * it touched (selecting and scrolling to it); opened, the arguments (a
 * cell's source as code) or the result (an execution's outputs as text).
 * Everything is put in as text.
 */

import { h } from "../dom";
import type { AiOutputHooks } from "./hooks";

type Json = Record<string, unknown>;

function pretty(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function oneLine(text: string, max = 60): string {
  const line = text.split("\n").find((l) => l.trim()) ?? "";
  return line.length > max ? line.slice(0, max - 1) + "…" : line;
}

/** A few words on what a call is about: the first line of its source, or its first string argument. */
function gist(args: unknown): string {
  if (!args || typeof args !== "object") return typeof args === "string" ? oneLine(args) : "";
  const a = args as Json;
  for (const key of ["source", "code", "name", "query"]) if (typeof a[key] === "string") return oneLine(a[key] as string);
  return "";
}

/** A link to the cell a tool touched. */
function cellLink(cellId: unknown, hooks: AiOutputHooks | undefined): HTMLElement | string {
  if (typeof cellId !== "string" || !cellId) return "";
  const label = hooks?.label(cellId);
  if (!hooks || !label) return h("span.ai-cell-link.gone", { title: cellId }, "a cell no longer here");
  return h(
    "button.link.ai-cell-link",
    {
      title: `Go to ${label} (${cellId})`,
      "data-cell": cellId,
      onclick: (e: Event) => {
        e.preventDefault();
        e.stopPropagation();
        hooks.reveal(cellId);
      },
    },
    label,
  );
}

function argumentList(args: unknown): HTMLElement {
  if (!args || typeof args !== "object" || Array.isArray(args)) return h("pre.ai-args", {}, pretty(args));
  const list = h("dl.ai-args");
  for (const [key, value] of Object.entries(args as Json)) {
    const multiline = typeof value === "string" && (key === "source" || key === "code" || value.includes("\n"));
    list.append(h("dt", {}, key), h("dd", {}, multiline ? h("pre", {}, h("code", {}, value as string)) : h("code", {}, pretty(value))));
  }
  return list;
}

export function renderToolCall(value: Json, hooks: AiOutputHooks | undefined): HTMLElement {
  const status = String(value.status ?? "");
  const args = value.arguments ?? {};
  const cell = value.cell_id ?? (args as Json)?.cell_id;
  const what = gist(args);
  return h(
    `details.ai-tool-card.ai-tool-call.status-${status}`,
    { "data-call": String(value.call_id ?? "") },
    h(
      "summary",
      {},
      "⚙ ",
      h("code", {}, String(value.tool ?? "tool")),
      what ? h("span.ai-gist", {}, ` ${what}`) : "",
      h("span.ai-badge", {}, status),
      cellLink(cell, hooks),
    ),
    h("div.ai-card-body", {}, h("div.ai-card-label", {}, "Arguments"), argumentList(args)),
  );
}

/** An execution's outputs (execute_cell, read_cell, run_scratch) as text, else the result as JSON. */
function resultBody(result: unknown): HTMLElement {
  const r = result as Json | undefined;
  if (r && typeof r === "object" && typeof r.outputs === "string") {
    const box = h("div.ai-result-outputs");
    const facts = [
      typeof r.state === "string" ? r.state : "",
      typeof r.execution_count === "number" ? `[${r.execution_count}]` : "",
      r.failed === true ? "failed" : "",
      r.timed_out === true ? "timed out" : "",
    ].filter(Boolean);
    if (facts.length) box.append(h("div.ai-card-label", {}, `Execution: ${facts.join(" · ")}`));
    if (typeof r.source === "string") box.append(h("div.ai-card-label", {}, "Source"), h("pre", {}, h("code", {}, r.source)));
    box.append(h("div.ai-card-label", {}, "Outputs"), r.outputs ? h("pre.ai-output-text", {}, r.outputs) : h("div.ai-none", {}, "none"));
    return box;
  }
  return h("pre.ai-result", {}, pretty(result ?? ""));
}

export function renderToolResult(value: Json, hooks: AiOutputHooks | undefined): HTMLElement {
  const failed = value.ok === false;
  const result = value.result;
  const error = failed && result && typeof result === "object" ? (result as Json).error : undefined;
  return h(
    `details.ai-tool-card.ai-tool-result${failed ? ".failed" : ""}`,
    { "data-call": String(value.call_id ?? "") },
    h(
      "summary",
      {},
      failed ? "✗ " : "✓ ",
      h("code", {}, String(value.tool ?? "tool")),
      failed ? h("span.ai-gist", {}, ` ${oneLine(typeof error === "string" ? error : "failed", 80)}`) : h("span.ai-gist", {}, " result"),
      cellLink(value.cell_id, hooks),
    ),
    h("div.ai-card-body", {}, h("div.ai-card-label", {}, "Result"), resultBody(result)),
  );
}
