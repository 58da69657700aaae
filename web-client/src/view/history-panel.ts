/**
 * The history panel (a toolbar button shows it): the notebook's changes as
 * bursts of work, newest first, loaded a page at a time as the list
 * scrolls (`GET /api/notebooks/{id}/history`). Selecting a burst shows the
 * notebook as it was right after it, read-only, with the outputs of that
 * time (`GET …/history/{seq}`); each cell says whether it was deleted or
 * changed since and shows a line diff against now. Editors restore one
 * cell, or the whole notebook, to that point as new changes
 * (`doc/restore.ts`); the panel then offers to undo that restore, which
 * restores what the restore replaced, again as new changes. Every restore
 * listed can be undone the same way later, from any page (`undoBurst`).
 */

import "../styles/history.css";
import type { HistoryBurst, NotebookAt, CellAt } from "../api/rest";
import * as nb from "../doc/notebook";
import type { OutputManifest } from "../doc/runtime";
import { asCellType, currentState, removeCell, restoreCell, restoreNotebook, type CellState } from "../doc/restore";
import { lineDiff } from "../model/line-diff";
import type { NotebookPage } from "./notebook-page";
import { h, clear } from "./dom";
import { renderOutput } from "./outputs/render-output";

type HistoryHost = Pick<NotebookPage, "ctx" | "session" | "blobs">;

const KIND_LABELS: Record<string, string> = {
  created: "created cells",
  edited: "edited",
  moved: "moved cells",
  deleted: "deleted cells",
  ran: "ran",
  ai_run: "AI run",
  import: "imported the notebook",
  cleared_outputs: "cleared outputs",
  metadata: "changed metadata",
  restore: "restored",
  undid_ai_run: "undid an AI run",
  control: "interrupted or restarted",
  answered: "answered a prompt",
  created_notebook: "created the notebook",
  other: "changed",
};

/** What an undo of the last restore puts back. */
type Undo = { kind: "notebook"; cells: CellState[] } | { kind: "cell"; id: string; before: CellState | undefined };

function who(b: HistoryBurst): string {
  if (b.by) return `${b.by}${b.on_behalf_of ? ` for ${b.on_behalf_of}` : ""}`;
  return b.author;
}

function when(ms: number): string {
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export class HistoryPanel {
  readonly el = h("aside.history", { "aria-label": "History", hidden: true });
  readonly button: HTMLButtonElement;
  private list = h("ol.history-bursts");
  private sentinel = h("li.history-more", {}, "…");
  private view = h("section.history-view", { "aria-label": "The notebook as it was" });
  private next: number | null | undefined = undefined;
  private loading = false;
  private selected: HTMLElement | undefined;
  private point: NotebookAt | undefined;
  private undo: Undo | undefined;
  private undoButton = h("button.small.history-undo", { hidden: true, onclick: () => this.undoRestore() }, "Undo this restore");
  private status = h("span.history-status", { role: "status", "aria-live": "polite" });
  private observer: IntersectionObserver;

  constructor(private readonly host: HistoryHost) {
    this.button = h(
      "button.tool.viewer-ok",
      { title: "History", "aria-label": "History", "aria-pressed": "false", onclick: () => this.toggle() },
      "History",
    );
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void this.loadMore();
    });
    const list = h("div.history-list", {}, this.list);
    this.el.append(
      h(
        "header.history-head",
        {},
        h("h2", {}, "History"),
        this.undoButton,
        this.status,
        h("button.small", { title: "Close the history", onclick: () => this.toggle(false) }, "×"),
      ),
      h("div.history-body", {}, list, this.view),
    );
  }

  toggle(show = this.el.hidden): void {
    this.el.hidden = !show;
    document.body.classList.toggle("history-open", show);
    this.button.setAttribute("aria-pressed", String(show));
    if (show) this.reload();
    else this.observer.disconnect();
  }

  /** Start the list again from the newest change. */
  reload(): void {
    clear(this.list);
    this.next = undefined;
    this.list.append(this.sentinel);
    this.observer.observe(this.sentinel);
    void this.loadMore();
  }

  private async loadMore(): Promise<void> {
    if (this.loading || this.next === null) return;
    this.loading = true;
    try {
      const page = await this.host.ctx.api.history(this.host.ctx.notebookId, this.next);
      for (const b of page.bursts) this.list.insertBefore(this.burstItem(b), this.sentinel);
      this.next = page.next_before;
      if (this.next === null) {
        this.sentinel.textContent = "The notebook's start.";
        this.observer.unobserve(this.sentinel);
      }
    } catch (e) {
      this.status.textContent = `History unavailable: ${(e as Error).message}`;
    } finally {
      this.loading = false;
    }
    // Still room on screen: the observer does not fire again by itself.
    if (this.next !== null && !this.el.hidden && this.sentinelVisible()) void this.loadMore();
  }

  private sentinelVisible(): boolean {
    const r = this.sentinel.getBoundingClientRect();
    const box = this.list.parentElement?.getBoundingClientRect();
    return r.height > 0 && (!box || r.top < box.bottom);
  }

  private burstItem(b: HistoryBurst): HTMLElement {
    const label = b.kind === "restore" && b.restore_to ? `restored to change ${b.restore_to}` : KIND_LABELS[b.kind] ?? b.kind;
    const cells = b.cells.length + b.more_cells;
    const item = h(
      "li.history-burst",
      {
        "data-kind": b.kind,
        "data-first-seq": b.first_seq,
        "data-last-seq": b.last_seq,
        tabindex: 0,
        role: "button",
        title: `changes ${b.first_seq}–${b.last_seq}`,
      },
      h("span.history-who", {}, who(b)),
      " ",
      h("span.history-what", {}, label),
      cells > 0 ? h("span.history-cells", {}, ` · ${cells} cell${cells === 1 ? "" : "s"}`) : null,
      h("span.history-when", {}, `${when(b.last_ms)}${b.changes > 1 ? ` · ${b.changes} changes` : ""}`),
      b.kind === "restore" && !this.host.session.readOnly
        ? h(
            "button.small.history-undo-burst",
            {
              title: "Put back what this restore replaced, in the cells it touched",
              onclick: (e: Event) => {
                e.stopPropagation();
                void this.undoBurst(b);
              },
            },
            "Undo",
          )
        : null,
    );
    const select = () => void this.select(item, b.last_seq);
    item.addEventListener("click", select);
    item.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        select();
      }
    });
    return item;
  }

  private async select(item: HTMLElement, seq: number): Promise<void> {
    this.selected?.classList.remove("selected");
    this.selected = item;
    item.classList.add("selected");
    clear(this.view);
    this.view.append(h("p.history-loading", {}, "Loading…"));
    try {
      this.point = await this.host.ctx.api.notebookAt(this.host.ctx.notebookId, seq);
      if (this.selected === item) this.renderPoint();
    } catch (e) {
      clear(this.view);
      this.view.append(h("p.history-error", {}, `Cannot show this point: ${(e as Error).message}`));
    }
  }

  /** The notebook as it was at the selected point, each cell against now. */
  private renderPoint(): void {
    const point = this.point;
    if (!point) return;
    clear(this.view);
    const doc = this.host.session.notebook;
    const editable = !this.host.session.readOnly;
    const then = new Set(point.cells.map((c) => c.id));
    const added = nb.cellOrder(doc).filter((c) => !then.has(c.id)).length;
    this.view.append(
      h(
        "div.history-view-head",
        {},
        h("strong", {}, `As it was after change ${point.seq}`),
        ` (${when(point.at_ms)}), read-only`,
        added > 0 ? h("span.history-note", {}, ` · ${added} cell${added === 1 ? "" : "s"} added since`) : null,
        editable
          ? h("button.small.history-restore-all", { onclick: () => this.restoreAll(point) }, "Restore the whole notebook to this point")
          : null,
      ),
    );
    if (point.cells.length === 0) this.view.append(h("p.history-note", {}, "No cells at this point."));
    for (const cell of point.cells) this.view.append(this.cellAt(cell, point.seq, editable));
  }

  private cellAt(cell: CellAt, seq: number, editable: boolean): HTMLElement {
    const doc = this.host.session.notebook;
    const exists = nb.hasCell(doc, cell.id);
    const now = exists ? nb.cellSource(doc, cell.id) : "";
    const state = !exists ? "deleted since" : now !== cell.source || nb.cellType(doc, cell.id) !== cell.cell_type ? "changed since" : "as now";
    const diff = h("div.history-diff", { hidden: true });
    const outputs = h("div.history-outputs");
    for (const o of cell.outputs) {
      try {
        outputs.append(renderOutput(o as OutputManifest, this.host.blobs));
      } catch (e) {
        outputs.append(h("pre.history-error", {}, `output not shown: ${(e as Error).message}`));
      }
    }
    const el = h(
      "div.history-cell",
      { "data-cell-id": cell.id, "data-state": state.split(" ")[0] },
      h(
        "div.history-cell-head",
        {},
        h("span.history-type", {}, cell.cell_type + (cell.execution_count ? ` [${cell.execution_count}]` : "")),
        h("span.history-state", {}, state),
        state !== "as now"
          ? h("button.small.history-diff-toggle", { onclick: () => this.toggleDiff(diff, cell) }, "Diff with now")
          : null,
        editable && state !== "as now"
          ? h("button.small.history-restore-cell", { onclick: () => this.restoreOne(cell, seq) }, exists ? "Restore this cell" : "Bring back")
          : null,
      ),
      h("pre.history-source", {}, cell.source),
      diff,
      outputs,
    );
    return el;
  }

  private toggleDiff(diff: HTMLElement, cell: CellAt): void {
    diff.hidden = !diff.hidden;
    if (diff.hidden) return;
    clear(diff);
    const doc = this.host.session.notebook;
    const now = nb.hasCell(doc, cell.id) ? nb.cellSource(doc, cell.id) : "";
    for (const line of lineDiff(cell.source, now)) {
      const sign = line.op === "add" ? "+" : line.op === "del" ? "-" : " ";
      diff.append(h(`div.diff-${line.op}`, {}, `${sign} ${line.text}`));
    }
  }

  private static state(cell: CellAt): CellState {
    return {
      id: cell.id,
      cellType: asCellType(cell.cell_type),
      position: cell.position,
      source: cell.source,
      metadata: cell.metadata ?? {},
      attachments: cell.attachments ?? undefined,
    };
  }

  private restoreOne(cell: CellAt, seq: number): void {
    const doc = this.host.session.notebook;
    const before = currentState(doc).find((c) => c.id === cell.id);
    this.host.session.edit((d) => restoreCell(d, HistoryPanel.state(cell), seq));
    this.undo = { kind: "cell", id: cell.id, before };
    this.afterRestore(`Cell restored to change ${seq}.`);
  }

  private restoreAll(point: NotebookAt): void {
    const before = currentState(this.host.session.notebook);
    this.host.session.edit((d) => restoreNotebook(d, point.cells.map(HistoryPanel.state), point.seq));
    this.undo = { kind: "notebook", cells: before };
    this.afterRestore(`Notebook restored to change ${point.seq}.`);
  }

  private undoRestore(): void {
    const undo = this.undo;
    if (!undo) return;
    // Marked as a restore to the newest change this page knows of.
    const latest = this.latestSeq();
    if (undo.kind === "notebook") {
      this.host.session.edit((d) => restoreNotebook(d, undo.cells, latest));
    } else if (undo.before) {
      const before = undo.before;
      this.host.session.edit((d) => restoreCell(d, before, latest));
    } else {
      this.host.session.edit((d) => removeCell(d, undo.id, latest));
    }
    this.undo = undefined;
    this.afterRestore("Restore undone.");
  }

  /**
   * Undo a listed restore, from any page and after any reload: the cells
   * that differ between just before it and just after it get their
   * before-state back; edits made since to other cells stay.
   */
  private async undoBurst(b: HistoryBurst): Promise<void> {
    const id = this.host.ctx.notebookId;
    try {
      const [before, after] = await Promise.all([
        this.host.ctx.api.notebookAt(id, b.first_seq - 1),
        this.host.ctx.api.notebookAt(id, b.last_seq),
      ]);
      const was = new Map(before.cells.map((c) => [c.id, HistoryPanel.state(c)]));
      const became = new Map(after.cells.map((c) => [c.id, HistoryPanel.state(c)]));
      const touched = [...new Set([...was.keys(), ...became.keys()])].filter(
        (cell) => JSON.stringify(was.get(cell)) !== JSON.stringify(became.get(cell)),
      );
      this.host.session.edit((d) => {
        let next = d;
        for (const cell of touched) {
          const state = was.get(cell);
          next = state ? restoreCell(next, state, before.seq) : removeCell(next, cell, before.seq);
        }
        return next;
      });
      this.afterRestore(`Restore undone: ${touched.length} cell${touched.length === 1 ? "" : "s"} as before it.`);
    } catch (e) {
      this.status.textContent = `Cannot undo this restore: ${(e as Error).message}`;
    }
  }

  private latestSeq(): number {
    const first = this.list.querySelector<HTMLElement>(".history-burst");
    return Number(first?.dataset.lastSeq ?? 0);
  }

  private afterRestore(message: string): void {
    this.status.textContent = message;
    this.undoButton.hidden = this.undo === undefined;
    this.renderPoint();
    // The restore's own burst, once the server has it.
    window.setTimeout(() => {
      if (!this.el.hidden) this.reload();
    }, 500);
  }
}
