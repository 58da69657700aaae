/**
 * One output as Jupyter renders it, choosing the richest MIME type it
 * shows (JupyterLab's order): JavaScript and HTML only in sandboxed frames,
 * images (SVG as an image, so its scripts never run), markdown, LaTeX,
 * JSON, plain text with ANSI colours; streams and tracebacks coloured.
 */

import type { MimeBundle, MimePayload, OutputManifest } from "../../doc/runtime";
import { h } from "../dom";
import { renderAnsi } from "./ansi";
import type { BlobCache } from "./blobs";
import { sandboxedFrame } from "./html-frame";
import { jsonTree } from "./json-tree";
import { renderLatex, renderMarkdown } from "../markdown";
import { AI_MIME_TYPES, aiKind, renderAiOutput } from "./ai-output";
import type { AiOutputHooks } from "../ai/hooks";
import { renderReply } from "../ai/reply";

const ORDER = [
  ...AI_MIME_TYPES,
  "application/javascript",
  "text/html",
  "text/markdown",
  "text/latex",
  "image/svg+xml",
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "application/json",
  "text/plain",
];

/** The MIME type an output shows: the first of JupyterLab's order it has. */
export function chooseMime(data: MimeBundle): string | undefined {
  for (const m of ORDER) if (data[m]) return m;
  return Object.keys(data).find((m) => m.endsWith("+json")) ?? Object.keys(data)[0];
}

function inlineText(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.join("");
  return JSON.stringify(value, null, 2);
}

/** Fill `el` once the payload (inline or from the blob store) is in hand. */
function withPayload(
  el: HTMLElement,
  payload: MimePayload,
  blobs: BlobCache,
  asText: (text: string) => void,
): void {
  if (payload.storage === "inline") {
    asText(inlineText(payload.value));
    return;
  }
  el.classList.add("loading");
  blobs.text(payload.sha256).then(
    (text) => {
      el.classList.remove("loading");
      asText(text);
    },
    (e) => {
      el.classList.remove("loading");
      el.textContent = `(could not load ${payload.sha256.slice(0, 12)}…: ${(e as Error).message})`;
    },
  );
}

function renderImage(el: HTMLElement, mime: string, payload: MimePayload, blobs: BlobCache, metadata: unknown): void {
  const img = h("img", { alt: "output image" });
  const meta = (metadata as Record<string, Record<string, unknown>> | undefined)?.[mime];
  if (meta && typeof meta.width === "number") img.width = meta.width;
  if (meta && typeof meta.height === "number") img.height = meta.height;
  el.append(img);
  if (payload.storage === "inline") {
    const value = inlineText(payload.value);
    if (mime === "image/svg+xml") {
      img.src = URL.createObjectURL(new Blob([value], { type: mime }));
    } else {
      img.src = `data:${mime};base64,${value.replace(/\s/g, "")}`;
    }
  } else {
    blobs.objectUrl(payload.sha256, mime).then(
      (url) => (img.src = url),
      () => (img.alt = "(image could not be loaded)"),
    );
  }
}

function renderMime(el: HTMLElement, data: MimeBundle, metadata: unknown, blobs: BlobCache, hooks?: AiOutputHooks): void {
  const mime = chooseMime(data);
  if (!mime) return;
  const payload = data[mime];
  el.dataset.mime = mime;
  if (AI_MIME_TYPES.includes(mime)) {
    withPayload(el, payload, blobs, (t) => {
      try {
        el.append(renderAiOutput(mime, JSON.parse(t), hooks));
      } catch {
        el.append(h("pre", {}, t));
      }
    });
    return;
  }
  switch (mime) {
    case "application/javascript":
      withPayload(el, payload, blobs, (t) => el.append(sandboxedFrame("javascript", t)));
      return;
    case "text/html":
      withPayload(el, payload, blobs, (t) => el.append(sandboxedFrame("html", t)));
      return;
    case "text/markdown":
      withPayload(el, payload, blobs, (t) => {
        if (aiKind(metadata) === "reply") return void el.append(renderReply(t, hooks));
        const md = h("div.markdown");
        renderMarkdown(md, t);
        el.append(md);
      });
      return;
    case "text/latex":
      withPayload(el, payload, blobs, (t) => {
        const box = h("div.latex");
        renderLatex(box, t);
        el.append(box);
      });
      return;
    case "application/json":
      withPayload(el, payload, blobs, (t) => {
        try {
          el.append(jsonTree(JSON.parse(t)));
        } catch {
          el.append(h("pre", {}, t));
        }
      });
      return;
    default:
      if (mime.startsWith("image/")) return renderImage(el, mime, payload, blobs, metadata);
      withPayload(el, payload, blobs, (t) => {
        const pre = h("pre.text");
        renderAnsi(pre, t);
        el.append(pre);
      });
  }
}

/** A stream whose text was cut: the full text is a click away. */
function truncationNote(pre: HTMLElement, output: Extract<OutputManifest, { output_type: "stream" }>, blobs: BlobCache): HTMLElement | null {
  const t = output.truncated;
  if (!t) return null;
  const note = h("div.truncated", {}, `${t.omitted_bytes.toLocaleString()} bytes not shown. `);
  if (t.full_text_sha256) {
    const sha = t.full_text_sha256;
    note.append(
      h(
        "button.link",
        {
          onclick: async () => {
            note.textContent = "Loading the full text…";
            try {
              const text = await blobs.text(sha);
              pre.textContent = "";
              renderAnsi(pre, text);
              note.remove();
            } catch (e) {
              note.textContent = `Could not load the full text: ${(e as Error).message}`;
            }
          },
        },
        "Show the full output",
      ),
    );
  }
  return note;
}

/** `hooks`: what an AI cell's outputs may do on the page (insert code, go to a cell). */
export function renderOutput(output: OutputManifest, blobs: BlobCache, hooks?: AiOutputHooks): HTMLElement {
  switch (output.output_type) {
    case "stream": {
      const el = h(`div.output.stream.${output.name === "stderr" ? "stderr" : "stdout"}`);
      const pre = h("pre");
      renderAnsi(pre, output.text);
      el.append(pre);
      const note = truncationNote(pre, output, blobs);
      if (note) el.append(note);
      return el;
    }
    case "error": {
      const el = h("div.output.error");
      const pre = h("pre");
      renderAnsi(pre, output.traceback.length ? output.traceback.join("\n") : `${output.ename}: ${output.evalue}`);
      el.append(pre);
      return el;
    }
    case "execute_result":
    case "display_data": {
      const el = h(`div.output.${output.output_type === "execute_result" ? "result" : "display"}`);
      renderMime(el, output.data, output.metadata, blobs, hooks);
      return el;
    }
    default:
      return h("div.output.unknown", {}, "(an output this page cannot show)");
  }
}
