/**
 * The model's reply, as it streams: markdown through the page's renderer
 * (marked, then DOMPurify: nothing the model writes runs or styles the
 * page), and under each code block a button that inserts its code as a new
 * cell below the AI cell.
 */

import { h } from "../dom";
import { renderMarkdown } from "../markdown";
import type { AiOutputHooks } from "./hooks";

export function renderReply(markdown: string, hooks: AiOutputHooks | undefined): HTMLElement {
  const el = h("div.markdown.ai-reply");
  renderMarkdown(el, markdown);
  if (!hooks?.canEdit()) return el;
  for (const code of el.querySelectorAll<HTMLElement>("pre > code")) {
    const pre = code.parentElement!;
    const language = /(?:^|\s)language-(\S+)/.exec(code.className)?.[1] ?? "";
    // The code's text as marked read it (highlighting only adds spans).
    const text = (code.textContent ?? "").replace(/\n$/, "");
    pre.after(
      h(
        "div.ai-code-actions",
        {},
        h(
          "button.small.ai-insert-code",
          {
            title: "Insert this code as a new cell below the AI cell",
            onclick: (e: Event) => {
              e.stopPropagation();
              hooks.insertCode(text, language);
            },
          },
          "Insert as cell below",
        ),
      ),
    );
  }
  return el;
}
