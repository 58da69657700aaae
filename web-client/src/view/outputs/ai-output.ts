/**
 * An AI cell's outputs, by the agent's contract (ARCHITECTURE.md, "The AI
 * cell's outputs"): the reply is markdown (rendered like any markdown
 * output); reasoning, tool calls, tool results and the run's status have
 * MIME types of their own, shown here compactly. Everything is text put
 * into the DOM as text: nothing a model wrote is ever parsed as HTML.
 */

import { h } from "../dom";

export const AI_MIME = {
  reasoning: "application/vnd.cathode.ai.reasoning+json",
  toolCall: "application/vnd.cathode.ai.tool-call+json",
  toolResult: "application/vnd.cathode.ai.tool-result+json",
  status: "application/vnd.cathode.ai.status+json",
} as const;

export const AI_MIME_TYPES: string[] = Object.values(AI_MIME);

type Json = Record<string, unknown>;

function pretty(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

export function renderAiOutput(mime: string, value: Json): HTMLElement {
  switch (mime) {
    case AI_MIME.reasoning:
      return h("details.ai-reasoning", {}, h("summary", {}, "Reasoning"), h("pre", {}, String(value.text ?? "")));
    case AI_MIME.toolCall: {
      const status = String(value.status ?? "");
      return h(
        `details.ai-tool-call.status-${status}`,
        {},
        h("summary", {}, "⚙ ", h("code", {}, String(value.tool ?? "tool")), ` ${status}`),
        h("pre", {}, pretty(value.arguments ?? {})),
      );
    }
    case AI_MIME.toolResult:
      return h(
        `details.ai-tool-result${value.ok === false ? ".failed" : ""}`,
        {},
        h("summary", {}, value.ok === false ? "✗ " : "✓ ", h("code", {}, String(value.tool ?? "tool")), " result"),
        h("pre", {}, pretty(value.result ?? "")),
      );
    case AI_MIME.status: {
      const usage = (value.usage ?? {}) as Json;
      const parts = [
        String(value.state ?? ""),
        value.model ? String(value.model) : "",
        value.turns !== undefined ? `${value.turns} turn${value.turns === 1 ? "" : "s"}` : "",
        usage.prompt_tokens !== undefined ? `${usage.prompt_tokens} + ${usage.completion_tokens ?? 0} tokens` : "",
      ].filter(Boolean);
      return h(
        `div.ai-status.state-${String(value.state ?? "")}`,
        {},
        parts.join(" · "),
        value.message ? h("div.ai-status-message", {}, String(value.message)) : "",
      );
    }
    default:
      return h("pre", {}, pretty(value));
  }
}
