/**
 * Tab completion and Shift-Tab inspection from the kernel, as JupyterLab
 * does them: Tab after a name (not in leading whitespace, where it
 * indents) opens a popup of the kernel's matches with their kinds;
 * Shift-Tab shows the signature and docstring of the name at (or the call
 * around) the cursor. A busy kernel or a refusal shows as a short note,
 * never a hang. Only code cells of an editor's page ask (`enabled`).
 */

import { autocompletion, startCompletion, type Completion, type CompletionContext, type CompletionResult } from "@codemirror/autocomplete";
import { StateEffect, StateField, Prec, type Extension } from "@codemirror/state";
import { EditorView, keymap, showTooltip, type Tooltip } from "@codemirror/view";
import type { KernelAnswer, KernelQuery } from "../sync/wire";
import { codePointsBefore, utf16Offset } from "../model/kernel-questions";
import { renderAnsi } from "../view/outputs/ansi";

export interface KernelHelp {
  /** Whether this editor's cell may ask now (a code cell, an editor's page). */
  enabled(): boolean;
  ask(query: KernelQuery): Promise<KernelAnswer | undefined>;
}

/** A note or an inspection shown at a position; cleared by any edit or move. */
interface Hint {
  pos: number;
  kind: "note" | "inspect";
  text: string;
}

const setHint = StateEffect.define<Hint | null>();

const hintField = StateField.define<Hint | null>({
  create: () => null,
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setHint)) return e.value;
    return tr.docChanged || tr.selection ? null : value;
  },
  provide: (f) =>
    showTooltip.compute([f], (state): Tooltip | null => {
      const hint = state.field(f);
      if (!hint) return null;
      return {
        pos: hint.pos,
        above: false,
        create: () => {
          const dom = document.createElement("div");
          dom.className = hint.kind === "inspect" ? "kernel-inspect" : "kernel-note";
          if (hint.kind === "inspect") renderAnsi(dom, hint.text);
          else dom.textContent = hint.text;
          return { dom };
        },
      };
    }),
});

/** Jupyter's completion kinds as CodeMirror's icon types. */
function completionType(kind: string | undefined): string | undefined {
  switch (kind) {
    case "function":
    case "builtin_function_or_method":
      return "function";
    case "class":
    case "type":
      return "class";
    case "module":
      return "namespace";
    case "keyword":
      return "keyword";
    case "instance":
    case "statement":
      return "variable";
    case "param":
      return "variable";
    case "property":
      return "property";
    default:
      return kind ? "text" : undefined;
  }
}

function note(answer: KernelAnswer | undefined): string | undefined {
  if (!answer) return undefined;
  if (answer.status === "busy") return "The kernel is busy running a cell.";
  if (answer.status === "unavailable") return answer.reason;
  return undefined;
}

/**
 * The question Tab sent at once. CodeMirror waits 50 ms after an explicit
 * start before it calls the source; asking on the key press instead hides
 * that wait behind the kernel's round trip. The source takes the answer
 * when the text and cursor are still what was asked about.
 */
interface AskedOnKey {
  code: string;
  pos: number;
  answer: Promise<KernelAnswer | undefined>;
}

function askComplete(help: KernelHelp, code: string, pos: number): Promise<KernelAnswer | undefined> {
  return help.ask({ kind: "complete", code, cursor_pos: codePointsBefore(code, pos) });
}

function completionSource(help: KernelHelp, asked: WeakMap<EditorView, AskedOnKey>) {
  return async (ctx: CompletionContext): Promise<CompletionResult | null> => {
    if (!ctx.explicit || !help.enabled()) return null;
    const code = ctx.state.doc.toString();
    const early = ctx.view ? asked.get(ctx.view) : undefined;
    if (ctx.view) asked.delete(ctx.view);
    const answer =
      early && early.code === code && early.pos === ctx.pos ? await early.answer : await askComplete(help, code, ctx.pos);
    if (ctx.aborted || !answer) return null;
    const text = note(answer);
    if (text !== undefined) {
      ctx.view?.dispatch({ effects: setHint.of({ pos: ctx.pos, kind: "note", text }) });
      return null;
    }
    if (answer.status !== "complete" || answer.matches.length === 0) return null;
    const from = utf16Offset(code, answer.cursor_start);
    const options: Completion[] = answer.matches.map((label, i) => ({ label, type: completionType(answer.kinds?.[i]) }));
    return { from, to: utf16Offset(code, answer.cursor_end), options, validFor: /^[\w.]*$/ };
  };
}

/** Whether the cursor follows something to complete (not leading space). */
function afterName(view: EditorView): boolean {
  const sel = view.state.selection.main;
  if (!sel.empty) return false;
  const line = view.state.doc.lineAt(sel.head);
  return line.text.slice(0, sel.head - line.from).trim() !== "";
}

async function inspect(view: EditorView, help: KernelHelp): Promise<void> {
  const pos = view.state.selection.main.head;
  const code = view.state.doc.toString();
  const answer = await help.ask({ kind: "inspect", code, cursor_pos: codePointsBefore(code, pos), detail_level: 0 });
  if (view.state.selection.main.head !== pos || view.state.doc.toString() !== code) return; // moved on
  const text = note(answer);
  if (text !== undefined) {
    view.dispatch({ effects: setHint.of({ pos, kind: "note", text }) });
    return;
  }
  if (answer?.status !== "inspect") return;
  const plain = answer.data["text/plain"];
  const shown = answer.found && typeof plain === "string" ? plain : "Nothing found to inspect here.";
  view.dispatch({ effects: setHint.of({ pos, kind: answer.found ? "inspect" : "note", text: shown }) });
}

const theme = EditorView.baseTheme({
  ".kernel-inspect": {
    maxWidth: "min(80ch, 90vw)",
    maxHeight: "40vh",
    overflow: "auto",
    whiteSpace: "pre-wrap",
    fontFamily: "var(--mono, monospace)",
    fontSize: "12px",
    padding: "6px 8px",
  },
  ".kernel-note": { padding: "3px 8px", fontSize: "12px", fontStyle: "italic" },
});

export function kernelHelp(help: KernelHelp): Extension {
  const asked = new WeakMap<EditorView, AskedOnKey>();
  return [
    theme,
    hintField,
    autocompletion({ override: [completionSource(help, asked)], activateOnTyping: false, icons: true }),
    Prec.high(
      keymap.of([
        {
          key: "Tab",
          run: (view) => {
            if (!help.enabled() || !afterName(view)) return false;
            const code = view.state.doc.toString();
            const pos = view.state.selection.main.head;
            asked.set(view, { code, pos, answer: askComplete(help, code, pos) });
            return startCompletion(view);
          },
        },
        {
          key: "Shift-Tab",
          run: (view) => {
            if (!help.enabled() || !afterName(view)) return false;
            void inspect(view, help);
            return true;
          },
        },
        {
          key: "Escape",
          run: (view) => {
            if (!view.state.field(hintField)) return false;
            view.dispatch({ effects: setHint.of(null) });
            return true;
          },
        },
      ]),
    ),
  ];
}
