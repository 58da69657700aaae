/**
 * Notebook-wide find and replace (Ctrl-F in command mode, as JupyterLab):
 * every cell's source and, when asked, its outputs' text (`model/find.ts`),
 * "3 of 17", next and previous (Enter, Shift-Enter, buttons), case and
 * regular-expression toggles, the current match selected in its cell's
 * editor and every match marked (`editor/find-highlight.ts`).
 *
 * Replacing types into the cell's own editor: one CodeMirror transaction
 * per cell, which the cell's `SourceBinding` commits at once through
 * `doc/notebook.ts`'s `spliceSource`, exactly as it commits typing. So a
 * replacement is an ordinary `SourceEdited` change that collaborators see
 * live, and it sits in this person's own undo history of that cell (Ctrl-Z
 * in the cell undoes it; other people's edits are never in it). Replace
 * all is therefore one change per cell, not one overall: a change carries
 * one event and `SourceEdited` names one cell (schema/src/event.rs), and
 * per-cell changes keep each cell's undo with the cell, as typing does.
 * "Undo replace all" undoes it in every cell nobody-here typed in since.
 * Outputs are searched but never replaced; viewers find but cannot replace.
 */

import { EditorView } from "@codemirror/view";
import { isolateHistory, undo, undoDepth } from "@codemirror/commands";
import * as nb from "../doc/notebook";
import * as rt from "../doc/runtime";
import type { DocChange } from "../model/replica";
import {
  compileQuery,
  describe,
  indexFromCell,
  indexNear,
  outputText,
  replacementsIn,
  searchCells,
  type CompiledQuery,
  type Match,
} from "../model/find";
import { setFindMarks } from "../editor/find-highlight";
import type { NotebookPage } from "./notebook-page";
import { h } from "./dom";

type FindHost = Pick<NotebookPage, "session" | "views" | "controller" | "schedule">;

interface ReplacedCell {
  cell: string;
  editor: EditorView;
  depth: number;
}

export class FindBar {
  readonly el: HTMLElement;
  private input = h("input.find-input", { type: "search", "aria-label": "Find", placeholder: "Find", autocomplete: "off", spellcheck: "false" });
  private replaceInput = h("input.replace-input", { type: "text", "aria-label": "Replace with", placeholder: "Replace", autocomplete: "off", spellcheck: "false" });
  private count = h("span.find-count", { role: "status", "aria-live": "polite" });
  private caseBox = h("input", { type: "checkbox" });
  private regexBox = h("input", { type: "checkbox" });
  private outputsBox = h("input", { type: "checkbox" });
  private replaceRow: HTMLElement;
  private undoAllButton: HTMLButtonElement;
  private note = h("span.find-note", { role: "status" });
  private query: CompiledQuery | undefined;
  private matches: Match[] = [];
  private index = -1;
  private frame: number | undefined;
  /** Per cell, what marks its editor shows (so unchanged editors are not touched). */
  private marked = new Map<string, string>();
  /** Markdown cells opened for editing to show a match, rendered again on close. */
  private openedMarkdown = new Set<string>();
  private lastReplaceAll: ReplacedCell[] = [];
  private outputsCache: { doc: rt.RuntimeDoc; byCell: Map<string, string[]> } | undefined;

  constructor(
    private readonly host: FindHost,
    /** Expand collapsed sections hiding a cell. */
    private readonly reveal: (cell: string) => void,
  ) {
    const toggle = (box: HTMLInputElement, label: string, title: string) =>
      h("label.find-toggle", { title }, box, h("span", {}, label));
    const button = (label: string, title: string, action: () => void) =>
      h("button.small", { title, "aria-label": title, onclick: () => action() }, label);
    this.undoAllButton = button("Undo replace all", "Undo the last replace all", () => this.undoReplaceAll());
    this.undoAllButton.hidden = true;
    this.replaceRow = h(
      "div.find-row.replace-row",
      {},
      this.replaceInput,
      button("Replace", "Replace this match (Enter in the replace box)", () => this.replaceCurrent()),
      button("Replace all", "Replace every match in the cells' sources", () => this.replaceAll()),
      this.undoAllButton,
    );
    this.el = h(
      "div.find-bar",
      { role: "search", "aria-label": "Find in the notebook", hidden: true },
      h(
        "div.find-row",
        {},
        this.input,
        this.count,
        button("↑", "Previous match (Shift-Enter)", () => this.go(-1)),
        button("↓", "Next match (Enter)", () => this.go(1)),
        toggle(this.caseBox, "Aa", "Match case"),
        toggle(this.regexBox, ".*", "Regular expression"),
        toggle(this.outputsBox, "outputs", "Search outputs too"),
        button("×", "Close (Escape)", () => this.close()),
      ),
      this.replaceRow,
      this.note,
    );
    // The toggles are labelled by their titles (for screen readers and tests).
    this.caseBox.setAttribute("aria-label", "Match case");
    this.regexBox.setAttribute("aria-label", "Regular expression");
    this.outputsBox.setAttribute("aria-label", "Search outputs");
    this.input.addEventListener("input", () => this.refresh(true));
    for (const box of [this.caseBox, this.regexBox, this.outputsBox]) box.addEventListener("change", () => this.refresh(true));
    this.input.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") {
        e.preventDefault();
        this.go(e.shiftKey ? -1 : 1);
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.close();
      } else if ((e.ctrlKey || e.metaKey) && (e.key === "f" || e.key === "F")) {
        e.preventDefault();
        this.input.select();
      }
    });
    this.replaceInput.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") {
        e.preventDefault();
        this.replaceCurrent();
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.close();
      }
    });
    host.session.replica.onChange((c) => this.onDocChange(c));
  }

  get isOpen(): boolean {
    return !this.el.hidden;
  }

  open(): void {
    this.el.hidden = false;
    this.replaceRow.hidden = this.host.session.readOnly;
    this.input.focus();
    this.input.select();
    this.refresh(true);
  }

  close(): void {
    if (this.el.hidden) return;
    this.el.hidden = true;
    this.matches = [];
    this.index = -1;
    this.updateMarks();
    CSS.highlights?.delete("find-current");
    for (const el of document.querySelectorAll(".find-current-output")) el.classList.remove("find-current-output");
    const c = this.host.controller;
    for (const id of this.openedMarkdown) if (id !== c.active || c.mode !== "edit") this.host.views.get(id)?.editMarkdown(false);
    this.openedMarkdown.clear();
    this.lastReplaceAll = [];
    this.undoAllButton.hidden = true;
    const active = c.active ? this.host.views.get(c.active) : undefined;
    active?.el.focus({ preventScroll: true });
  }

  private onDocChange(change: DocChange): void {
    if (!this.isOpen || !this.query?.ok) return;
    if (change.doc === "runtime" && !this.outputsBox.checked) return;
    if (this.frame !== undefined) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = undefined;
      if (this.isOpen) this.refresh(false);
    });
  }

  /** The outputs' searchable text per cell, for the runtime document as it stands. */
  private outputsByCell(): Map<string, string[]> {
    const doc = this.host.session.runtime;
    if (this.outputsCache?.doc === doc) return this.outputsCache.byCell;
    const byCell = new Map<string, string[]>();
    if (rt.runtimeReady(doc)) {
      for (const [cell, runs] of rt.cellExecutions(doc)) {
        if (runs.shown) byCell.set(cell, rt.outputs(doc, runs.shown.executionId).map(outputText));
      }
    }
    this.outputsCache = { doc, byCell };
    return byCell;
  }

  /**
   * Search again. `reveal`: the query or options changed, so show the
   * first match from the active cell on; otherwise (the notebook changed
   * under the bar) keep the current match where it was, without scrolling.
   */
  private refresh(reveal: boolean): void {
    const previous = this.matches[this.index];
    this.query = compileQuery(this.input.value, { caseSensitive: this.caseBox.checked, regex: this.regexBox.checked });
    const doc = this.host.session.notebook;
    const order = nb.cellOrder(doc).map((c) => c.id);
    if (this.query?.ok) {
      const outputs = this.outputsBox.checked ? this.outputsByCell() : undefined;
      const cells = order.map((id) => ({ id, source: nb.cellSource(doc, id), outputs: outputs?.get(id) }));
      this.matches = searchCells(cells, this.query);
      this.index = reveal ? indexFromCell(this.matches, order, this.host.controller.active) : indexNear(this.matches, order, previous);
    } else {
      this.matches = [];
      this.index = -1;
    }
    this.replaceRow.hidden = this.host.session.readOnly;
    this.showCount();
    this.updateMarks();
    if (reveal) this.showCurrent();
  }

  private showCount(): void {
    this.count.textContent = describe(this.query, this.matches.length, this.index);
    this.count.classList.toggle("error", this.query?.ok === false);
    this.input.setAttribute("aria-invalid", String(this.query?.ok === false));
  }

  /** Mark every match in each mounted editor; touch only editors whose marks changed. */
  private updateMarks(): void {
    const byCell = new Map<string, { from: number; to: number }[]>();
    let currentCell: string | undefined;
    let currentIndex = -1;
    this.matches.forEach((m, i) => {
      if (m.part !== "source") return;
      const list = byCell.get(m.cell) ?? [];
      if (i === this.index) {
        currentCell = m.cell;
        currentIndex = list.length;
      }
      list.push({ from: m.from, to: m.to });
      byCell.set(m.cell, list);
    });
    const cells = new Set([...this.marked.keys(), ...byCell.keys()]);
    for (const id of cells) {
      const editor = this.host.views.get(id)?.view;
      const ranges = byCell.get(id) ?? [];
      const current = id === currentCell ? currentIndex : -1;
      const key = ranges.length ? JSON.stringify([ranges, current]) : "";
      if (!editor) {
        this.marked.delete(id);
        continue;
      }
      if ((this.marked.get(id) ?? "") === key) continue;
      editor.dispatch({ effects: setFindMarks.of({ ranges, current }) });
      if (key) this.marked.set(id, key);
      else this.marked.delete(id);
    }
  }

  go(delta: -1 | 1): void {
    if (!this.isOpen) return;
    if (this.matches.length === 0) return;
    this.index = (this.index + delta + this.matches.length) % this.matches.length;
    this.showCount();
    this.updateMarks();
    this.showCurrent();
  }

  /** Select the current match's cell, scroll to it, select the match in its editor. */
  private showCurrent(): void {
    CSS.highlights?.delete("find-current");
    for (const el of document.querySelectorAll(".find-current-output")) el.classList.remove("find-current-output");
    const m = this.matches[this.index];
    if (!m) return;
    const view = this.host.views.get(m.cell);
    if (!view) return;
    const focused = document.activeElement as HTMLElement | null;
    this.reveal(m.cell);
    const c = this.host.controller;
    if (m.part === "source") {
      if (view.cellType === "markdown" && view.view?.dom.offsetParent == null) {
        // A rendered markdown cell shows its source to show the match.
        view.editMarkdown(true);
        this.openedMarkdown.add(m.cell);
      }
      const editor = view.mountEditor();
      this.updateMarks();
      editor.dispatch({
        selection: { anchor: m.from, head: m.to },
        effects: EditorView.scrollIntoView(m.from, { y: "center" }),
      });
    } else {
      const output = view.el.querySelector(".outputs")?.children[m.part] as HTMLElement | undefined;
      (output ?? view.el).scrollIntoView({ block: "center" });
      if (output) {
        output.classList.add("find-current-output");
        this.highlightInOutput(output, m);
      }
    }
    c.active = m.cell;
    c.anchor = undefined;
    c.mode = "command";
    if (focused && focused !== document.activeElement && this.el.contains(focused)) focused.focus();
    else if (!this.el.contains(document.activeElement)) this.input.focus();
    this.host.schedule();
    c.publishPresence();
  }

  /** Highlight the match's text in a rendered output (the same occurrence, if the rendering shows it). */
  private highlightInOutput(output: HTMLElement, m: Match): void {
    if (typeof Highlight === "undefined" || !CSS.highlights) return;
    const nth = this.matches.filter((x) => x.cell === m.cell && x.part === m.part && x.from < m.from && x.text === m.text).length;
    const text = output.textContent ?? "";
    let at = -1;
    for (let i = 0; i <= nth; i++) {
      at = text.indexOf(m.text, at + 1);
      if (at < 0) return;
    }
    const range = document.createRange();
    const walker = document.createTreeWalker(output, NodeFilter.SHOW_TEXT);
    let offset = 0;
    let started = false;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const length = node.textContent?.length ?? 0;
      if (!started && at < offset + length) {
        range.setStart(node, at - offset);
        started = true;
      }
      if (started && at + m.text.length <= offset + length) {
        range.setEnd(node, at + m.text.length - offset);
        CSS.highlights.set("find-current", new Highlight(range));
        return;
      }
      offset += length;
    }
  }

  /** Type `edits` into a cell's editor as one undoable step, committed at once. */
  private typeInto(cell: string, edits: { from: number; to: number; insert: string }[]): EditorView | undefined {
    const view = this.host.views.get(cell);
    if (!view || edits.length === 0) return undefined;
    const editor = view.mountEditor();
    view.binding?.commit();
    const source = nb.cellSource(this.host.session.notebook, cell);
    if (editor.state.doc.toString() !== source) return undefined;
    editor.dispatch({ changes: edits, userEvent: "input.replace", annotations: isolateHistory.of("full") });
    view.binding?.commit();
    return editor;
  }

  replaceCurrent(): void {
    if (this.host.session.readOnly || !this.isOpen) return;
    this.host.session.replica.commitPending();
    this.refresh(false);
    // Outputs are never replaced: the next match in a source is the one.
    let i = this.index;
    for (let n = 0; n < this.matches.length && this.matches[i]?.part !== "source"; n++) i = (i + 1) % this.matches.length;
    const m = this.matches[i];
    if (!m || m.part !== "source") {
      this.note.textContent = this.matches.length ? "Only matches in sources can be replaced." : "";
      return;
    }
    const [edit] = replacementsIn([m], this.replaceInput.value);
    if (!this.typeInto(m.cell, [edit])) return;
    this.note.textContent = "";
    this.refresh(false);
    const order = nb.cellOrder(this.host.session.notebook).map((c) => c.id);
    this.index = indexNear(this.matches, order, { cell: m.cell, part: "source", from: m.from + edit.insert.length });
    this.showCount();
    this.updateMarks();
    this.showCurrent();
  }

  replaceAll(): void {
    if (this.host.session.readOnly || !this.isOpen) return;
    this.host.session.replica.commitPending();
    this.refresh(false);
    const byCell = new Map<string, Match[]>();
    for (const m of this.matches) if (m.part === "source") byCell.set(m.cell, [...(byCell.get(m.cell) ?? []), m]);
    const replaced: ReplacedCell[] = [];
    let count = 0;
    for (const [cell, matches] of byCell) {
      const edits = replacementsIn(matches, this.replaceInput.value);
      const editor = this.typeInto(cell, edits);
      if (!editor) continue;
      replaced.push({ cell, editor, depth: undoDepth(editor.state) });
      count += edits.length;
    }
    this.lastReplaceAll = replaced;
    this.undoAllButton.hidden = replaced.length === 0;
    this.note.textContent = `Replaced ${count} in ${replaced.length} cell${replaced.length === 1 ? "" : "s"}.`;
    this.refresh(false);
  }

  /** Undo the last replace all in each cell whose own history has nothing newer. */
  undoReplaceAll(): void {
    let undone = 0;
    let skipped = 0;
    for (const r of this.lastReplaceAll) {
      const view = this.host.views.get(r.cell);
      if (!view || view.view !== r.editor || undoDepth(r.editor.state) !== r.depth) {
        skipped++;
        continue;
      }
      undo(r.editor);
      view.binding?.commit();
      undone++;
    }
    this.lastReplaceAll = [];
    this.undoAllButton.hidden = true;
    this.note.textContent =
      `Undid the replacements in ${undone} cell${undone === 1 ? "" : "s"}.` +
      (skipped ? ` ${skipped} changed since: undo those in the cell (Ctrl-Z).` : "");
    this.refresh(false);
  }
}
