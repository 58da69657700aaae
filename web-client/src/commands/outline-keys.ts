/**
 * Command-mode keys for find and the sections, registered before the
 * notebook's keymap (`keymap.ts`) so they take the keys first: Ctrl-F opens
 * the notebook's find bar (in a cell's editor Ctrl-F stays CodeMirror's
 * search within the cell); on a heading cell Left collapses its section and
 * Right expands it; Up/Down (K/J) step over cells a collapsed heading hides,
 * as JupyterLab does.
 */

import type { NotebookController } from "./controller";
import type { ContentsPanel } from "../view/contents-panel";
import type { FindBar } from "../view/find-bar";

export function outlineKeys(controller: NotebookController, order: () => string[], find: FindBar, contents: ContentsPanel): (e: KeyboardEvent) => void {
  const done = (e: KeyboardEvent) => {
    e.preventDefault();
    e.stopImmediatePropagation();
  };
  return (e) => {
    const target = e.target as HTMLElement | null;
    if (document.querySelector("dialog[open]")) return;
    if (target?.closest(".cm-editor, input, textarea, select, [contenteditable=true]")) return;
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && !e.altKey && !e.shiftKey && (e.key === "f" || e.key === "F")) {
      find.open();
      return done(e);
    }
    if (ctrl || e.altKey || e.shiftKey) return;
    const active = controller.active;
    if (!active) return;
    if (e.key === "ArrowLeft" && contents.isHeading(active)) {
      contents.collapse(active);
      return done(e);
    }
    if (e.key === "ArrowRight" && contents.isCollapsed(active)) {
      contents.expand(active);
      return done(e);
    }
    const step = e.key === "ArrowDown" || e.key === "j" ? 1 : e.key === "ArrowUp" || e.key === "k" ? -1 : 0;
    if (step === 0) return;
    const ids = order();
    let i = ids.indexOf(active) + step;
    if (!contents.isHidden(ids[i] ?? "")) return;
    while (i >= 0 && i < ids.length && contents.isHidden(ids[i])) i += step;
    if (i >= 0 && i < ids.length) {
      controller.activate(ids[i], "command");
      document.querySelector(`.cell[data-cell-id="${CSS.escape(ids[i])}"]`)?.scrollIntoView({ block: "nearest" });
    }
    return done(e);
  };
}
