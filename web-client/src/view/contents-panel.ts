/**
 * The table of contents (a toolbar button shows it): the markdown cells'
 * headings in notebook order; clicking one selects its cell and scrolls
 * to it. Collapsible sections as in JupyterLab: in command mode on a
 * heading cell, Left hides the cells below it up to the next heading of
 * the same or a higher level, Right shows them again; a collapsed heading
 * shows how many cells it hides. Collapse state is this viewer's own and
 * never written to the document.
 *
 * Cost: headings are parsed again only for a markdown cell whose source
 * changed, and only after a change touching a markdown cell's source or
 * the cells' set, types or order (patch paths say which), so typing in a
 * code cell does no work here; the list's DOM is rebuilt only when the
 * headings themselves changed.
 */

import * as nb from "../doc/notebook";
import type { DocChange } from "../model/replica";
import { computeSections, headingsOf, sectionLevel, type ContentsCell, type Heading, type Sections } from "../model/contents";
import type { NotebookPage } from "./notebook-page";
import { h, clear } from "./dom";

type ContentsHost = Pick<NotebookPage, "session" | "views" | "controller" | "schedule">;

export class ContentsPanel {
  readonly el = h("aside.contents", { "aria-label": "Table of contents", hidden: true });
  private list = h("ol.toc");
  readonly button: HTMLButtonElement;
  private cells: ContentsCell[] = [];
  private parsed = new Map<string, { source: string; headings: Heading[] }>();
  private collapsed = new Set<string>();
  private sections: Sections = { hidden: new Set(), counts: new Map(), parents: new Map() };
  private dirty = true;
  private listKey: string | undefined;
  /** What was last applied to the cells' DOM: hidden cells, markers. */
  private shownHidden = new Set<string>();
  private markers = new Map<string, { el: HTMLElement; count: number }>();

  constructor(private readonly host: ContentsHost) {
    this.el.append(h("h2", {}, "Contents"), this.list);
    this.button = h(
      "button.tool.viewer-ok",
      { title: "Table of contents", "aria-label": "Table of contents", "aria-pressed": "false", onclick: () => this.toggle() },
      "☰ Contents",
    );
    host.session.replica.onChange((c) => this.onDocChange(c));
  }

  toggle(show = this.el.hidden): void {
    this.el.hidden = !show;
    document.body.classList.toggle("contents-open", show);
    this.button.setAttribute("aria-pressed", String(show));
    if (show) this.renderList();
  }

  private onDocChange(change: DocChange): void {
    if (change.doc !== "notebook" || this.dirty) return;
    const doc = this.host.session.notebook;
    for (const p of change.patches) {
      if (p.path[0] !== "cells" && p.path.length > 0) continue;
      const field = p.path[2];
      if (p.path.length <= 2 || field === "cell_type" || field === "position") {
        this.dirty = true;
        return;
      }
      if (field === "source" && (nb.cellType(doc, String(p.path[1])) === "markdown" || this.parsed.has(String(p.path[1])))) {
        this.dirty = true;
        return;
      }
    }
  }

  /** After the page rendered: bring headings, the list and hidden cells up to date. */
  afterRender(): void {
    if (this.dirty) {
      this.dirty = false;
      const doc = this.host.session.notebook;
      const parsed = new Map<string, { source: string; headings: Heading[] }>();
      this.cells = nb.cellOrder(doc).map(({ id, cellType }) => {
        if (cellType !== "markdown") return { id, headings: [] };
        const source = nb.cellSource(doc, id);
        const before = this.parsed.get(id);
        const entry = before && before.source === source ? before : { source, headings: headingsOf(source) };
        parsed.set(id, entry);
        return { id, headings: entry.headings };
      });
      this.parsed = parsed;
      for (const id of this.collapsed) if (!this.cells.some((c) => c.id === id && sectionLevel(c) !== undefined)) this.collapsed.delete(id);
      this.recompute();
    }
    // The person moved into a collapsed section (a run, a click, undo): show it.
    const active = this.host.controller.active;
    if (active && this.sections.hidden.has(active)) this.reveal(active);
    this.applyToCells();
  }

  private recompute(): void {
    this.sections = computeSections(this.cells, this.collapsed);
    if (!this.el.hidden) this.renderList();
  }

  private renderList(): void {
    const entries: { id: string; heading: Heading; first: boolean }[] = [];
    for (const c of this.cells) c.headings.forEach((heading, i) => entries.push({ id: c.id, heading, first: i === 0 }));
    const key = JSON.stringify([entries, [...this.collapsed].sort()]);
    if (key === this.listKey) return;
    this.listKey = key;
    clear(this.list);
    if (entries.length === 0) this.list.append(h("li.toc-empty", {}, "No headings: markdown cells' # headings show here."));
    for (const e of entries) {
      const collapsed = e.first && this.collapsed.has(e.id);
      this.list.append(
        h(
          `li.toc-item.toc-level-${e.heading.level}`,
          { "data-toc-cell": e.id, "data-level": e.heading.level },
          h("a", { href: "#", class: collapsed ? "collapsed" : undefined, onclick: (ev: Event) => (ev.preventDefault(), this.jump(e.id)) }, e.heading.text || "(untitled)"),
        ),
      );
    }
  }

  /** Select a heading's cell and scroll to it. */
  jump(id: string): void {
    this.reveal(id);
    const view = this.host.views.get(id);
    if (!view) return;
    this.host.controller.activate(id, "command");
    view.el.focus({ preventScroll: true });
    view.el.scrollIntoView({ block: "start" });
  }

  /** Whether `id` is a heading cell (one that can collapse a section). */
  isHeading(id: string | undefined): boolean {
    const cell = id ? this.cells.find((c) => c.id === id) : undefined;
    return !!cell && sectionLevel(cell) !== undefined;
  }

  isCollapsed(id: string): boolean {
    return this.collapsed.has(id);
  }

  isHidden(id: string): boolean {
    return this.sections.hidden.has(id);
  }

  collapse(id: string): boolean {
    if (!this.isHeading(id) || this.collapsed.has(id)) return false;
    this.collapsed.add(id);
    this.recompute();
    this.applyToCells();
    return true;
  }

  expand(id: string): boolean {
    if (!this.collapsed.delete(id)) return false;
    this.recompute();
    this.applyToCells();
    return true;
  }

  /** Expand every collapsed heading that hides `id`. */
  reveal(id: string): void {
    if (!this.sections.hidden.has(id)) return;
    for (const parent of this.sections.parents.get(id) ?? []) this.collapsed.delete(parent);
    this.recompute();
    this.applyToCells();
  }

  /** Hide and show cells and put markers on collapsed headings, touching only what changed. */
  private applyToCells(): void {
    const { hidden, counts } = this.sections;
    for (const id of this.shownHidden) {
      if (!hidden.has(id)) this.host.views.get(id)?.el.classList.remove("section-hidden");
    }
    for (const id of hidden) {
      const el = this.host.views.get(id)?.el;
      if (el && !el.classList.contains("section-hidden")) el.classList.add("section-hidden");
    }
    this.shownHidden = new Set(hidden);
    for (const [id, marker] of this.markers) {
      if (counts.has(id)) continue;
      marker.el.remove();
      this.host.views.get(id)?.el.classList.remove("section-collapsed");
      this.markers.delete(id);
    }
    for (const [id, count] of counts) {
      const view = this.host.views.get(id);
      if (!view) continue;
      let marker = this.markers.get(id);
      if (marker && marker.el.parentElement === view.el && marker.count === count) continue;
      marker?.el.remove();
      const el = h(
        "button.section-marker",
        { title: "Show the hidden cells (Right)", onclick: () => (this.expand(id), this.host.schedule()) },
        `▸ ${count} cell${count === 1 ? "" : "s"} hidden`,
      );
      view.el.append(el);
      view.el.classList.add("section-collapsed");
      marker = { el, count };
      this.markers.set(id, marker);
    }
  }
}
