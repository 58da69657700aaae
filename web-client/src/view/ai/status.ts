/**
 * How an AI run ended, said plainly: a finished run's model, turns and
 * tokens in a quiet line; a turn limit, an error, an interrupt or no model
 * configured as a headline with the agent's own message (masked by it).
 */

import { h } from "../dom";

type Json = Record<string, unknown>;

const HEADLINES: Record<string, string> = {
  turn_limit: "Stopped at the turn limit",
  error: "The AI run failed",
  interrupted: "Interrupted",
  unavailable: "No AI model available",
};

export function renderStatus(value: Json): HTMLElement {
  const state = String(value.state ?? "");
  const usage = (value.usage ?? {}) as Json;
  const context = (value.context ?? {}) as Json;
  const facts = [
    value.model ? String(value.model) : "",
    typeof value.turns === "number" ? `${value.turns} turn${value.turns === 1 ? "" : "s"}` : "",
    usage.prompt_tokens !== undefined ? `${usage.prompt_tokens} + ${usage.completion_tokens ?? 0} tokens` : "",
  ].filter(Boolean);
  const cut = Array.isArray(context.cut) ? context.cut.map(String) : [];
  const headline = HEADLINES[state];
  const message = value.message ? String(value.message) : "";
  return h(
    `div.ai-status.state-${state}`,
    headline ? { role: "alert" } : {},
    headline ? h("div.ai-status-headline", {}, headline) : h("span.ai-status-done", {}, state === "done" ? "Done" : state),
    message && message !== "interrupted" ? h("div.ai-status-message", {}, message) : "",
    facts.length ? h("div.ai-status-facts", {}, facts.join(" · ")) : "",
    cut.length ? h("div.ai-status-cut", {}, `To fit the model's context: ${cut.join("; ")}`) : "",
  );
}
