/**
 * The notebook's commands and one person's own UI state: the active cell,
 * the selection, command or edit mode, the cell clipboard and cell-op
 * history. Everything written goes through the typed writers (doc/) via
 * the session; the keyboard (keymap.ts) and the toolbar call these.
 */

import type { KeyBinding } from "@codemirror/view";
import * as nb from "../doc/notebook";
import type { CellType, CollapseFlag } from "../doc/notebook";
import { requestControl } from "../doc/controls";
import { clearOutputs } from "../doc/cleared";
import * as rt from "../doc/runtime";
import { newCellId } from "../doc/ids";
import type { NotebookPage } from "../view/notebook-page";
import { showHelp } from "../view/help";
import { CommandModeKeys, type NotebookCommands } from "./keymap";
import { gateUntilReadable } from "./gate";
import {
  CellHistory,
  deleteOp,
  insertOp,
  mergeOp,
  moveOp,
  moveToOp,
  snapshot,
  splitOp,
  typeOp,
  type CellSnapshot,
} from "./cell-ops";
import { colorFor, type PresenceState } from "../view/presence";

export class NotebookController implements NotebookCommands {
  active: string | undefined;
  anchor: string | undefined;
  mode: "command" | "edit" = "command";
  private clipboard: CellSnapshot[] = [];
  private history: CellHistory;
  private keys: CommandModeKeys;

  constructor(private readonly page: NotebookPage) {
    this.history = new CellHistory(page.session);
    this.keys = new CommandModeKeys(this);
    gateUntilReadable(this, () => this.loading());
  }

  /** Whether the replica cannot be read yet (see `commands/gate.ts`); the person is told. */
  private loading(): boolean {
    if (!this.session.previewing && this.session.ready) return false;
    this.page.stillLoading();
    return true;
  }

  private get session() {
    return this.page.session;
  }

  private get doc() {
    return this.session.notebook;
  }

  private get order(): string[] {
    return this.page.cellOrder;
  }

  /** The selected cells, in notebook order. */
  selected(): string[] {
    const order = this.order;
    if (!this.active) return [];
    const a = order.indexOf(this.active);
    const b = this.anchor ? order.indexOf(this.anchor) : a;
    if (a < 0) return [];
    if (b < 0) return [this.active];
    return order.slice(Math.min(a, b), Math.max(a, b) + 1);
  }

  afterRender(): void {
    const order = this.order;
    if (this.active && !order.includes(this.active)) {
      this.active = order[0];
      this.anchor = undefined;
      this.mode = "command";
    }
    if (!this.active && order.length) this.active = order[0];
    const selected = new Set(this.selected());
    for (const [id, view] of this.page.views) {
      view.el.classList.toggle("active", id === this.active);
      view.el.classList.toggle("selected", selected.has(id));
      view.el.classList.toggle("editing", id === this.active && this.mode === "edit");
    }
    if (document.body.dataset.mode !== this.mode) document.body.dataset.mode = this.mode;
    this.syncTypeSelect();
  }

  activate(id: string, mode: "command" | "edit"): void {
    const changed = this.active !== id || this.mode !== mode;
    this.active = id;
    this.anchor = undefined;
    this.mode = mode;
    if (mode === "command") {
      const view = this.page.views.get(id);
      if (view && !view.editorFocused) view.el.focus({ preventScroll: true });
    }
    if (changed) {
      this.page.schedule();
      this.publishPresence();
    }
  }

  /** Tell the room where this person is and, editing, their selection. */
  publishPresence(): void {
    const view = this.active ? this.page.views.get(this.active) : undefined;
    let cursor: PresenceState["cursor"];
    if (this.mode === "edit" && view?.view && view.binding && view.view.hasFocus) {
      const sel = view.view.state.selection.main;
      const anchor = view.binding.cursorAt(sel.anchor);
      const head = sel.head === sel.anchor ? anchor : view.binding.cursorAt(sel.head);
      if (anchor && head) cursor = { anchor, head };
    }
    const state: PresenceState = {
      name: this.session.user,
      color: colorFor(this.session.peerId ?? ""),
      cell: this.active ?? null,
      mode: this.mode,
      cursor,
    };
    this.session.setPresence(state);
  }

  private view(id = this.active) {
    return id ? this.page.views.get(id) : undefined;
  }

  private scrollToActive(): void {
    this.view()?.el.scrollIntoView({ block: "nearest" });
  }

  onKeyDown(e: KeyboardEvent): void {
    const target = e.target as HTMLElement | null;
    if (document.querySelector("dialog[open]")) return;
    if (target?.closest(".cm-editor, input, textarea, select, [contenteditable=true]")) return;
    if (this.mode === "edit") this.mode = "command";
    if (this.keys.handle(e)) {
      e.preventDefault();
      e.stopPropagation();
    }
  }

  /** Edit-mode keys, bound inside each cell's editor. */
  editKeys(id: string): KeyBinding[] {
    const run = (advance: "stay" | "next" | "insert") => () => {
      this.active = id;
      this.runCell(advance);
      return true;
    };
    const atEdge = (dir: -1 | 1) => () => {
      const view = this.view(id)?.view;
      if (!view) return false;
      const sel = view.state.selection.main;
      const line = view.state.doc.lineAt(sel.head);
      const edge = dir === -1 ? line.number === 1 : line.number === view.state.doc.lines;
      if (!sel.empty || !edge) return false;
      const order = this.order;
      const next = order[order.indexOf(id) + dir];
      if (!next) return false;
      this.active = next;
      this.enterEdit(dir === -1 ? "end" : "start");
      return true;
    };
    return [
      { key: "Shift-Enter", run: run("next") },
      { key: "Mod-Enter", run: run("stay") },
      { key: "Alt-Enter", run: run("insert") },
      {
        key: "Escape",
        run: () => {
          this.leaveEdit(id);
          return true;
        },
      },
      {
        key: "Mod-Shift--",
        run: () => {
          this.split(id);
          return true;
        },
      },
      { key: "ArrowUp", run: atEdge(-1) },
      { key: "ArrowDown", run: atEdge(1) },
    ];
  }

  private leaveEdit(id: string): void {
    const view = this.view(id);
    view?.binding?.commit();
    this.mode = "command";
    this.active = id;
    view?.view?.contentDOM.blur();
    if (view?.cellType === "markdown") view.editMarkdown(false);
    view?.el.focus({ preventScroll: true });
    this.page.schedule();
    this.publishPresence();
  }

  enterEdit(at: "start" | "end" | "keep" = "keep"): void {
    const view = this.view();
    if (!view) return;
    this.mode = "edit";
    view.focusEditor();
    const cm = view.view;
    if (cm && at !== "keep") {
      const pos = at === "start" ? 0 : cm.state.doc.length;
      cm.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    }
    this.page.schedule();
    this.publishPresence();
  }

  // ---- running ---------------------------------------------------------

  runCell(advance: "stay" | "next" | "insert"): void {
    const ids = this.selected();
    if (ids.length === 0) return;
    for (const id of ids) this.view(id)?.binding?.commit();
    // Code cells run on the kernel; AI cells run their prompt (the agent
    // runs them beside the kernel's queue).
    const code = ids.filter((id) => {
      const t = nb.cellType(this.doc, id);
      return t === "code" || t === "ai";
    });
    const kernelCells = code.filter((id) => nb.cellType(this.doc, id) === "code");
    if (code.length === 1 || kernelCells.length <= 1) {
      for (const id of code) this.session.edit((d) => nb.requestExecution(d, id, this.session.user)[0]);
    } else {
      this.session.edit((d) => nb.requestRunBatch(d, kernelCells, this.session.user));
      for (const id of code) {
        if (!kernelCells.includes(id)) this.session.edit((d) => nb.requestExecution(d, id, this.session.user)[0]);
      }
    }
    for (const id of ids) if (nb.cellType(this.doc, id) === "markdown") this.view(id)?.editMarkdown(false);
    const wasEdit = this.mode === "edit";
    const last = ids[ids.length - 1];
    this.anchor = undefined;
    if (advance === "stay") {
      this.active = last;
      if (wasEdit && nb.cellType(this.doc, last) !== "markdown") return;
      this.leaveEditQuiet();
    } else if (advance === "next") {
      const order = this.order;
      const next = order[order.indexOf(last) + 1];
      if (next) {
        this.active = next;
        this.leaveEditQuiet();
        if (wasEdit) this.enterEdit();
      } else {
        this.active = last;
        this.insertCell("below", "code");
        this.enterEdit();
      }
    } else {
      this.active = last;
      this.insertCell("below", "code");
      this.enterEdit();
    }
    this.scrollToActive();
    this.page.schedule();
  }

  private leaveEditQuiet(): void {
    if (this.mode === "edit") {
      for (const v of this.page.views.values()) if (v.editorFocused) v.view?.contentDOM.blur();
    }
    this.mode = "command";
    this.view()?.el.focus({ preventScroll: true });
    this.publishPresence();
  }

  runAll(): void {
    this.session.replica.commitPending();
    this.session.edit((d) => nb.requestRunBatch(d, this.order, this.session.user));
  }

  runAbove(): void {
    const i = this.active ? this.order.indexOf(this.active) : -1;
    if (i <= 0) return;
    this.session.replica.commitPending();
    this.session.edit((d) => nb.requestRunBatch(d, this.order.slice(0, i), this.session.user));
  }

  runBelow(): void {
    const i = this.active ? this.order.indexOf(this.active) : -1;
    if (i < 0) return;
    this.session.replica.commitPending();
    this.session.edit((d) => nb.requestRunBatch(d, this.order.slice(i), this.session.user));
  }

  interrupt(): void {
    this.session.edit((d) => requestControl(d, { kind: "interrupt" }, this.session.user));
  }

  restart(): void {
    this.session.edit((d) => requestControl(d, { kind: "restart" }, this.session.user));
  }

  restartAndRunAll(): void {
    this.restart();
    this.runAll();
  }

  // ---- cells -------------------------------------------------------------

  private insertCell(where: "above" | "below", type: CellType): string {
    const id = newCellId();
    const placement: nb.Placement = this.active
      ? where === "above"
        ? { at: "before", cell: this.active }
        : { at: "after", cell: this.active }
      : { at: "end" };
    this.history.run(insertOp(type, placement, "", id));
    this.active = id;
    this.anchor = undefined;
    this.page.render();
    return id;
  }

  /** A new cell with `source` right below `after` (an AI reply's code), selected; undone like any insert. */
  insertBelowWith(after: string, type: CellType, source: string): string {
    const id = newCellId();
    this.history.run(insertOp(type, { at: "after", cell: after }, source, id));
    this.active = id;
    this.anchor = undefined;
    this.mode = "command";
    this.page.render();
    this.view()?.el.focus({ preventScroll: true });
    this.scrollToActive();
    this.publishPresence();
    return id;
  }

  insert(where: "above" | "below"): void {
    this.insertCell(where, "code");
    this.mode = "command";
    this.view()?.el.focus({ preventScroll: true });
    this.scrollToActive();
    this.publishPresence();
  }

  deleteSelected(): void {
    const ids = this.selected();
    if (ids.length === 0) return;
    const order = this.order;
    const after = order[order.indexOf(ids[ids.length - 1]) + 1] ?? order[order.indexOf(ids[0]) - 1];
    this.history.run(deleteOp(this.doc, ids));
    this.active = after;
    this.anchor = undefined;
    this.page.render();
    this.view()?.el.focus({ preventScroll: true });
  }

  setType(type: CellType): void {
    const ids = this.selected();
    if (ids.length === 0) return;
    this.history.run(typeOp(this.doc, ids, type));
  }

  heading(level: number): void {
    const id = this.active;
    if (!id) return;
    const source = nb.cellSource(this.doc, id);
    const stripped = source.replace(/^#{1,6}\s*/, "");
    const next = `${"#".repeat(level)} ${stripped}`;
    const before = nb.cellType(this.doc, id) ?? "code";
    this.history.run({
      label: "heading",
      redo: (d) => nb.setSource(nb.setCellType(d, id, "markdown"), id, next),
      undo: (d) => nb.setCellType(nb.setSource(d, id, source), id, before),
    });
    this.view(id)?.editMarkdown(false);
  }

  copy(): void {
    this.clipboard = this.selected().map((id) => snapshot(this.doc, id));
    try {
      localStorage.setItem("cathode.cell-clipboard", JSON.stringify(this.clipboard));
    } catch {
      // fine: the clipboard stays in this page
    }
  }

  cut(): void {
    this.copy();
    this.deleteSelected();
  }

  paste(where: "above" | "below"): void {
    let cells = this.clipboard;
    if (cells.length === 0) {
      try {
        cells = JSON.parse(localStorage.getItem("cathode.cell-clipboard") ?? "[]");
      } catch {
        cells = [];
      }
    }
    if (cells.length === 0) return;
    const copies = cells.map((c) => ({ ...c, id: newCellId() }));
    let anchor: nb.Placement = this.active
      ? where === "above"
        ? { at: "before", cell: this.active }
        : { at: "after", cell: this.active }
      : { at: "end" };
    const steps = copies.map((c) => {
      const op = insertOp(c.type, anchor, c.source, c.id);
      anchor = { at: "after", cell: c.id };
      return { op, c };
    });
    this.history.run({
      label: "paste cells",
      redo: (d) =>
        steps.reduce((acc, { op, c }) => {
          let next = op.redo(acc);
          for (const [k, v] of Object.entries(c.metadata)) next = nb.setCellMetadata(next, c.id, k, v);
          return next;
        }, d),
      undo: (d) => steps.reduce((acc, { c }) => nb.deleteCell(acc, c.id), d),
    });
    this.active = copies[copies.length - 1].id;
    this.anchor = undefined;
    this.page.render();
  }

  undoCells(): void {
    this.selectAfter(this.history.undo()?.select?.undo);
  }

  redoCells(): void {
    this.selectAfter(this.history.redo()?.select?.redo);
  }

  private selectAfter(id: string | undefined): void {
    if (!id || !nb.hasCell(this.doc, id)) return;
    this.active = id;
    this.anchor = undefined;
    this.page.render();
    this.view()?.el.focus({ preventScroll: true });
  }

  select(delta: -1 | 1, extend: boolean): void {
    const order = this.order;
    if (!this.active) return;
    const i = order.indexOf(this.active);
    const next = order[i + delta];
    if (!next) return;
    if (extend) this.anchor ??= this.active;
    else this.anchor = undefined;
    this.active = next;
    this.mode = "command";
    this.view()?.el.focus({ preventScroll: true });
    this.scrollToActive();
    this.page.schedule();
    this.publishPresence();
  }

  selectAll(): void {
    const order = this.order;
    if (order.length === 0) return;
    this.anchor = order[0];
    this.active = order[order.length - 1];
    this.page.schedule();
  }

  move(delta: -1 | 1): void {
    const op = moveOp(this.doc, this.selected(), delta);
    if (op) this.history.run(op);
    this.page.render();
    this.scrollToActive();
  }

  /** Drag and drop: `id` goes before or after `target`. */
  moveTo(id: string, target: nb.Placement): void {
    this.history.run(moveToOp(this.doc, id, target));
  }

  merge(): void {
    let ids = this.selected();
    if (ids.length === 1) {
      const order = this.order;
      const below = order[order.indexOf(ids[0]) + 1];
      if (!below) return;
      ids = [ids[0], below];
    }
    const op = mergeOp(this.doc, ids);
    if (!op) return;
    this.history.run(op);
    this.active = ids[0];
    this.anchor = undefined;
  }

  split(id: string): void {
    const view = this.view(id);
    const cm = view?.view;
    if (!cm) return;
    view!.binding?.commit();
    const offset = cm.state.selection.main.head;
    const newId = newCellId();
    this.history.run(splitOp(this.doc, id, offset, newId));
    this.active = newId;
    this.page.render();
    this.enterEdit("start");
  }

  private toggleJupyterFlag(ids: string[], key: CollapseFlag, force?: boolean): void {
    for (const id of ids) {
      const meta = nb.cellMetadata(this.doc, id);
      const jupyter = { ...((meta.jupyter as Record<string, unknown>) ?? {}) };
      const on = force ?? !jupyter[key];
      if (on) jupyter[key] = true;
      else delete jupyter[key];
      this.session.edit((d) => nb.setCellMetadata(d, id, "jupyter", Object.keys(jupyter).length ? jupyter : undefined));
    }
  }

  /** Clear the outputs the selected cells (or all cells) show now. */
  clearOutputs(all = false): void {
    const runtime = this.session.runtime;
    if (!rt.runtimeReady(runtime)) return;
    const runs = rt.cellExecutions(runtime);
    const cleared = (all ? this.order : this.selected()).flatMap((cellId) => {
      const shown = runs.get(cellId)?.shown;
      return shown ? [{ cellId, executionId: shown.executionId, outputs: rt.outputStrings(runtime, shown.executionId).length }] : [];
    });
    if (cleared.length > 0) this.session.edit((d) => clearOutputs(d, cleared));
  }

  toggleInput(): void {
    this.toggleJupyterFlag(this.selected(), "source_hidden");
  }

  toggleOutput(force?: boolean): void {
    this.toggleJupyterFlag(this.selected(), "outputs_hidden", force);
  }

  /** A cell's own collapser: that cell only, whatever is selected. */
  toggleCollapsed(id: string, key: CollapseFlag): void {
    this.toggleJupyterFlag([id], key);
  }

  help(): void {
    showHelp();
  }

  save(): void {
    this.session.replica.commitPending();
    this.session.saveNow();
  }

  /** The toolbar's cell-type picker follows the active cell (set by `view/toolbar.ts`). */
  syncTypeSelect: () => void = () => {};

  /** The active cell's type, for the toolbar. */
  activeType(): CellType | undefined {
    return this.active ? nb.cellType(this.doc, this.active) : undefined;
  }

  /** Keep the active cell's pending typing with it before a toolbar action. */
  commitTyping(): void {
    this.session.replica.commitPending();
  }
}
