/**
 * A cell's CodeMirror 6 editor: language per cell type, bracket matching,
 * closing brackets, indentation, search within the cell, per-user undo, the
 * Jupyter edit-mode keys, remote cursors, and the Automerge binding.
 */

import { EditorState, Compartment, type Extension } from "@codemirror/state";
import {
  EditorView,
  drawSelection,
  keymap,
  highlightSpecialChars,
  placeholder as placeholderExt,
  type KeyBinding,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { search, searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { python } from "@codemirror/lang-python";
import { markdown } from "@codemirror/lang-markdown";
import { sql } from "@codemirror/lang-sql";
import type { CellType } from "../doc/notebook";
import { remoteCursors } from "./remote-cursors";
import { findHighlight } from "./find-highlight";
import { kernelHelp, type KernelHelp } from "./kernel-help";

export interface EditorHooks {
  /** Edit-mode keys the notebook handles (run, leave, split, move between cells). */
  keys: KeyBinding[];
  onUpdate: (update: import("@codemirror/view").ViewUpdate) => void;
  onFocus: () => void;
  /** Completion and inspection from the kernel (code cells). */
  kernel?: KernelHelp;
}

const language = new Compartment();
const readOnly = new Compartment();

function languageFor(type: CellType): Extension {
  switch (type) {
    case "code":
      return python();
    case "markdown":
    case "ai":
      return markdown();
    case "sql":
      return sql();
    case "raw":
      return [];
  }
}

const placeholders: Partial<Record<CellType, string>> = {
  ai: "Ask the AI (AI cells run when the AI feature lands)…",
  sql: "SELECT … (SQL cells run when the SQL feature lands)",
};

export function createEditor(
  parent: HTMLElement,
  text: string,
  type: CellType,
  editable: boolean,
  hooks: EditorHooks,
): EditorView {
  const state = EditorState.create({
    doc: text,
    extensions: [
      hooks.kernel ? kernelHelp(hooks.kernel) : [],
      keymap.of(hooks.keys),
      highlightSpecialChars(),
      history(),
      drawSelection(),
      indentUnit.of("    "),
      EditorState.tabSize.of(4),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      highlightSelectionMatches(),
      search({ top: true }),
      keymap.of([...closeBracketsKeymap, ...searchKeymap, ...historyKeymap, indentWithTab, ...defaultKeymap]),
      language.of(languageFor(type)),
      readOnly.of([EditorState.readOnly.of(!editable), EditorView.editable.of(editable)]),
      placeholders[type] ? placeholderExt(placeholders[type]!) : [],
      remoteCursors(),
      findHighlight(),
      EditorView.updateListener.of(hooks.onUpdate),
      EditorView.domEventHandlers({ focus: () => hooks.onFocus() }),
      EditorView.contentAttributes.of({ "aria-label": `${type} cell source` }),
    ],
  });
  return new EditorView({ state, parent });
}

export function setEditorLanguage(view: EditorView, type: CellType): void {
  view.dispatch({ effects: language.reconfigure(languageFor(type)) });
}

export function setEditorEditable(view: EditorView, editable: boolean): void {
  view.dispatch({
    effects: readOnly.reconfigure([EditorState.readOnly.of(!editable), EditorView.editable.of(editable)]),
  });
}
