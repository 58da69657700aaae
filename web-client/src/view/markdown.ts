/**
 * Markdown as Jupyter renders it: CommonMark/GFM (marked), math with KaTeX
 * (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`), highlighted code blocks, and HTML
 * sanitised by DOMPurify, so a `<script>` or an `onerror=` in a markdown
 * cell never runs in anyone's page. Attachments (`attachment:name`) become
 * data URLs of the cell's attachments.
 */

import { Marked } from "marked";
import DOMPurify from "dompurify";
import katex from "katex";
import hljs from "highlight.js/lib/core";
import pythonLang from "highlight.js/lib/languages/python";
import bashLang from "highlight.js/lib/languages/bash";
import jsLang from "highlight.js/lib/languages/javascript";
import jsonLang from "highlight.js/lib/languages/json";
import sqlLang from "highlight.js/lib/languages/sql";

hljs.registerLanguage("python", pythonLang);
hljs.registerLanguage("bash", bashLang);
hljs.registerLanguage("javascript", jsLang);
hljs.registerLanguage("json", jsonLang);
hljs.registerLanguage("sql", sqlLang);

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const language = (lang ?? "").split(/\s/)[0];
      const body =
        language && hljs.getLanguage(language)
          ? hljs.highlight(text, { language }).value
          : escapeHtml(text);
      return `<pre><code class="hljs language-${escapeHtml(language)}">${body}</code></pre>`;
    },
  },
});

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

interface MathPiece {
  tex: string;
  display: boolean;
}

/**
 * Take math out of the source before markdown sees it (markdown would
 * mangle `_` and `*` inside it), leaving placeholders; code spans and
 * fenced blocks keep their dollars.
 */
export function extractMath(source: string): { text: string; math: MathPiece[] } {
  const math: MathPiece[] = [];
  let out = "";
  let i = 0;
  const put = (tex: string, display: boolean) => {
    math.push({ tex, display });
    out += `\uE000MATH${math.length - 1}\uE001`;
  };
  while (i < source.length) {
    if (source.startsWith("```", i) || source.startsWith("~~~", i)) {
      const fence = source.slice(i, i + 3);
      const end = source.indexOf(fence, i + 3);
      const stop = end < 0 ? source.length : end + 3;
      out += source.slice(i, stop);
      i = stop;
      continue;
    }
    const c = source[i];
    if (c === "`") {
      let run = 1;
      while (source[i + run] === "`") run++;
      const ticks = "`".repeat(run);
      const end = source.indexOf(ticks, i + run);
      const stop = end < 0 ? i + run : end + run;
      out += source.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === "\\" && (source[i + 1] === "$" || source[i + 1] === "\\")) {
      out += source.slice(i, i + 2);
      i += 2;
      continue;
    }
    const delims: [string, string, boolean][] = [
      ["$$", "$$", true],
      ["\\[", "\\]", true],
      ["\\(", "\\)", false],
      ["$", "$", false],
    ];
    let matched = false;
    for (const [open, close, display] of delims) {
      if (!source.startsWith(open, i)) continue;
      const from = i + open.length;
      if (open === "$" && (source[from] === " " || source[from] === undefined)) break;
      const end = source.indexOf(close, from);
      if (end < 0 || end === from) break;
      if (open === "$" && source.slice(from, end).includes("\n\n")) break;
      put(source.slice(from, end), display);
      i = end + close.length;
      matched = true;
      break;
    }
    if (matched) continue;
    out += c;
    i++;
  }
  return { text: out, math };
}

function renderMath(piece: MathPiece): string {
  try {
    return katex.renderToString(piece.tex, { displayMode: piece.display, throwOnError: false, trust: false, output: "html" });
  } catch {
    return `<code>${escapeHtml(piece.tex)}</code>`;
  }
}

/** Sanitised HTML for a markdown source. */
export function markdownToHtml(source: string, attachments?: Record<string, Record<string, string>>): string {
  const { text, math } = extractMath(source);
  const raw = marked.parse(text, { async: false }) as string;
  const clean = DOMPurify.sanitize(raw, {
    ADD_ATTR: ["target"],
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
  }) as string;
  // KaTeX's output is made here, from text: put it back after sanitising.
  let html = clean.replace(/\uE000MATH(\d+)\uE001/g, (_, n) => renderMath(math[Number(n)]));
  if (attachments) {
    html = html.replace(/src="attachment:([^"]+)"/g, (whole, name) => {
      const bundle = attachments[decodeURIComponent(name)];
      if (!bundle) return whole;
      const mime = Object.keys(bundle).find((m) => m.startsWith("image/"));
      return mime ? `src="data:${mime};base64,${bundle[mime].replace(/\s/g, "")}"` : whole;
    });
  }
  return html;
}

/** Render markdown into an element; links open in a new tab. */
export function renderMarkdown(el: HTMLElement, source: string, attachments?: Record<string, Record<string, string>>): void {
  el.innerHTML = markdownToHtml(source, attachments);
  for (const a of el.querySelectorAll("a[href]")) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
  }
}

/** LaTeX output (`text/latex`): KaTeX, math delimiters optional. */
export function renderLatex(el: HTMLElement, source: string): void {
  const { text, math } = extractMath(source.trim());
  if (math.length === 0) {
    el.innerHTML = renderMath({ tex: source.trim(), display: true });
    return;
  }
  const html = escapeHtml(text).replace(/\uE000MATH(\d+)\uE001/g, (_, n) => renderMath(math[Number(n)]));
  el.innerHTML = html;
}
