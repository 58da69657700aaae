/**
 * An AI cell's outputs, by the agent's contract (ARCHITECTURE.md, "The AI
 * cell's outputs"): the reply is markdown (`view/ai/reply.ts`: the page's
 * sanitising renderer, with "insert as cell" under code blocks); reasoning
 * (collapsed), tool calls and results (`view/ai/tool-card.ts`) and the
 * run's status (`view/ai/status.ts`) have MIME types of their own. Nothing
 * a model wrote is ever parsed as HTML except through the sanitiser.
 */

import { h } from "../dom";
import type { AiOutputHooks } from "../ai/hooks";
import { renderToolCall, renderToolResult } from "../ai/tool-card";
import { renderStatus } from "../ai/status";

export const AI_MIME = {
  reasoning: "application/vnd.cathode.ai.reasoning+json",
  toolCall: "application/vnd.cathode.ai.tool-call+json",
  toolResult: "application/vnd.cathode.ai.tool-result+json",
  status: "application/vnd.cathode.ai.status+json",
} as const;

export const AI_MIME_TYPES: string[] = Object.values(AI_MIME);

type Json = Record<string, unknown>;

/** Which AI output this is (`metadata.cathode.ai`), if it is one. */
export function aiKind(metadata: unknown): string | undefined {
  const c = (metadata as Json | undefined)?.cathode as Json | undefined;
  return typeof c?.ai === "string" ? c.ai : undefined;
}

export function renderAiOutput(mime: string, value: Json, hooks?: AiOutputHooks): HTMLElement {
  switch (mime) {
    case AI_MIME.reasoning:
      return h("details.ai-reasoning", {}, h("summary", {}, "Reasoning"), h("pre", {}, String(value.text ?? "")));
    case AI_MIME.toolCall:
      return renderToolCall(value, hooks);
    case AI_MIME.toolResult:
      return renderToolResult(value, hooks);
    case AI_MIME.status:
      return renderStatus(value);
    default:
      return h("pre", {}, JSON.stringify(value, null, 2));
  }
}
