/**
 * The notebook page (`/notebooks/{id}`): header (name, connection, runtime
 * and kernel, who is here), toolbar, and the cells. State lives in the
 * Automerge documents (NotebookSession); this module keeps only what is
 * one person's own: which cells are selected, command or edit mode, the
 * cell clipboard and the cell-operation undo stack.
 *
 * Rendering is scheduled once per animation frame after any change, and
 * each cell view compares the document's structurally shared objects with
 * what it showed, so a keystroke or an arriving output re-renders only the
 * cell it touched (intheloop #372, jupyterlab #10213).
 */

import type { Api, Me, NotebookPreview } from "../api/rest";
import * as nb from "../doc/notebook";
import { requestControl, answerInput, answerInputSealed, inputAnswered, answerApproval, approvalAnswered } from "../doc/controls";
import { sealAnswer } from "../model/seal";
import * as rt from "../doc/runtime";
import { NotebookSession } from "../model/session";
import { websocketUrl } from "../sync/connection";
import { applyClear, outputsCleared, outputsClearedRaw } from "../doc/cleared";
import { CellView, type CellHost, type CellRuntime } from "./cell-view";
import { TAIL_CELLS_PER_FRAME, cellsFillingScreen, lineCount } from "./opening";
import { h, clear } from "./dom";
import { notebookToolbar } from "./toolbar";
import { BlobCache } from "./outputs/blobs";
import { NotebookController } from "../commands/controller";
import { PresenceList, asPresence, colorFor } from "./presence";
import { RuntimeBar } from "./runtime-bar";
import { showHelp } from "./help";
import { SecretsPanel } from "./secrets-panel";
import { FindBar } from "./find-bar";
import { ContentsPanel } from "./contents-panel";
import { HistoryPanel } from "./history-panel";
import { AiApprovalPicker } from "./ai-approval-picker";
import { setApprovalMode } from "../doc/ai";
import { outlineKeys } from "../commands/outline-keys";
import { withAiPeers } from "./ai/presence";
import { aiCellHost } from "./ai/page-host";
import type { LocalCopy } from "../model/local-copy";

export interface NotebookContext {
  api: Api;
  token: string;
  me: Me;
  notebookId: string;
  /** Started by the page's entry while the WebAssembly loaded. */
  localCopy: LocalCopy;
  /** The server's preview, fetched from the start (undefined when it failed). */
  preview: Promise<NotebookPreview | undefined>;
  /**
   * Automerge's WebAssembly, loaded. The page shows the preview without it
   * (compiling it took 100 to 250 ms after the preview had arrived, in
   * cold opens of the benchmark's notebook), and opens its session after.
   */
  automerge: Promise<void>;
}

export class NotebookPage {
  readonly session: NotebookSession;
  readonly blobs: BlobCache;
  readonly views = new Map<string, CellView>();
  readonly cellsEl = h("div.cells", { role: "list", "aria-label": "Cells" });
  readonly controller: NotebookController;
  readonly find: FindBar;
  readonly contents: ContentsPanel;
  readonly history: HistoryPanel;
  private frame: number | undefined;
  private lastRuntimeDoc: rt.RuntimeDoc | undefined;
  private lastAnswers: unknown;
  private cellRuns = new Map<string, rt.CellExecutions>();
  private order: string[] = [];
  private observer: IntersectionObserver;
  private presence: PresenceList;
  private syncBadge = h("span.sync", { role: "status", "aria-live": "polite" });
  private runtimeBar: RuntimeBar;
  private tick: ReturnType<typeof setInterval> | undefined;
  private aiHost = aiCellHost(this);

  constructor(
    readonly ctx: NotebookContext,
    private readonly root: HTMLElement,
  ) {
    this.session = new NotebookSession({
      serverUrl: window.location.origin,
      wsUrl: websocketUrl(window.location.origin),
      notebookId: ctx.notebookId,
      token: ctx.token,
      localCopy: ctx.localCopy,
    });
    this.blobs = new BlobCache(ctx.api);
    this.controller = new NotebookController(this);
    this.contents = new ContentsPanel(this);
    this.history = new HistoryPanel(this);
    this.find = new FindBar(this, (id) => this.contents.reveal(id));
    this.presence = new PresenceList((peer) => this.follow(peer));
    this.runtimeBar = new RuntimeBar(ctx.api, ctx.notebookId, this.session, this.controller);
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          const id = (e.target as HTMLElement).dataset.cellId;
          if (id) this.mountQueue.add(id);
          this.observer.unobserve(e.target);
        }
        this.pumpMounts();
      },
      { rootMargin: "600px 0px" },
    );
  }

  async open(): Promise<void> {
    clear(this.root);
    const title = h("h1.title", {}, "…");
    const named = (name: string) => {
      title.textContent = name;
      document.title = `${name} · cathode`;
    };
    // Resolves once the preview (if the page uses it) has been painted.
    const previewShown = this.ctx.preview.then((preview) => {
      if (preview) {
        named(preview.name);
        this.session.setPreview(preview);
        if (!this.session.previewing) return;
        this.schedule();
        return new Promise((painted) => requestAnimationFrame(() => setTimeout(painted, 0)));
      }
      this.ctx.api.getNotebook(this.ctx.notebookId).then(
        (n) => named(n.name),
        () => (title.textContent = this.ctx.notebookId),
      );
    });
    title.title = "Click to rename";
    title.addEventListener("click", () => this.renameFrom(title));
    const toolbar = notebookToolbar(this.controller);
    toolbar.append(
      h("span.sep"),
      this.aiApproval.el,
      h("span.sep"),
      h("button.tool.viewer-ok", { title: "Find and replace (Ctrl-F)", "aria-label": "Find and replace", onclick: () => this.find.open() }, "Find"),
      this.contents.button,
      this.history.button,
    );
    const secrets = h("div.secrets-slot");
    this.root.append(
      h(
        "header.topbar",
        {},
        h("a.brand", { href: "/" }, "cathode"),
        title,
        h("span.spacer"),
        this.presence.el,
        this.syncBadge,
        this.runtimeBar.el,
        h("button.small", { onclick: () => showHelp(), title: "Keyboard shortcuts (H)" }, "?"),
      ),
      toolbar,
      secrets,
      this.find.el,
      this.contents.el,
      this.history.el,
      h("main.notebook", {}, this.cellsEl),
    );
    this.session.onStatus((s) => {
      const labels: Record<string, string> = {
        loading: "loading",
        connecting: "connecting…",
        syncing: "syncing…",
        synced: "synced",
        offline: "offline: working on the local copy",
        failed: `cannot open: ${s.detail ?? ""}`,
      };
      this.syncBadge.classList.remove("nudge");
      this.syncBadge.textContent = labels[s.sync] + (s.sync === "synced" || !s.unsent ? "" : " (unsent changes)");
      this.syncBadge.dataset.state = s.sync;
      document.body.classList.toggle("read-only", this.session.readOnly);
      if (s.role) this.syncBadge.title = s.user ? `${s.user} as ${s.role}` : `as ${s.role}`;
      if (s.role === "owner" && !secrets.firstChild) {
        secrets.append(new SecretsPanel(this.ctx.api, this.ctx.notebookId).el);
      }
      this.schedule();
    });
    this.session.onPeers((peers) => {
      this.presence.render(withAiPeers(peers), this.session.peerId, this.session.user || this.ctx.me.name);
      this.showCursors();
      this.followUpdate();
    });
    this.session.replica.onChange(() => this.schedule());
    window.addEventListener("keydown", outlineKeys(this.controller, () => this.order, this.find, this.contents));
    window.addEventListener("keydown", (e) => this.controller.onKeyDown(e));
    window.addEventListener("pagehide", () => this.session.close());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.session.saveNow();
    });
    this.tick = setInterval(() => this.tickRunning(), 250);
    (window as unknown as { cathode: unknown }).cathode = this.debugHandle();
    await this.ctx.automerge;
    await this.session.open(previewShown);
    this.runtimeBar.start();
    this.schedule();
  }

  /**
   * A cell operation was asked for while the page still shows the preview
   * (the controller makes them wait): say so where the loading shows,
   * until the next status.
   */
  stillLoading(): void {
    this.syncBadge.textContent = "loading: cell operations and running wait a moment";
    this.syncBadge.classList.add("nudge");
  }

  /** What tests and the benchmark read: nothing a user relies on. */
  private debugHandle(): unknown {
    return {
      session: this.session,
      page: this,
      order: () => this.order.slice(),
      source: (id: string) => nb.cellSource(this.session.notebook, id),
      notebookMetadata: () => nb.notebookMetadata(this.session.notebook),
      notebookHistory: () => nb.historyText(this.session.notebook),
      editorText: (id: string) => this.views.get(id)?.view?.state.doc.toString(),
      errors: () => this.session.errors.slice(),
      /** Whether the page still shows the server's preview (no replica yet). */
      previewing: () => this.session.previewing,
      handledControls: () => Object.keys(this.session.replica.runtime.handled_controls ?? {}).length,
      /** Editors still waiting to mount (cells that neared the viewport). */
      mountsPending: () => this.mountQueue.size,
      /** Markdown cells still waiting to be rendered in idle time. */
      markdownPending: () => this.markdownQueue.size,
    };
  }

  schedule(): void {
    if (this.frame !== undefined) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = undefined;
      this.render();
    });
  }

  get cellOrder(): string[] {
    return this.order;
  }

  private readonly aiApproval = new AiApprovalPicker((mode) => this.session.edit((d) => setApprovalMode(d, mode)));
  private runtimeCache = new Map<string, CellRuntime>();
  private mountQueue = new Set<string>();
  /** Markdown cells whose rendering waits (see `CellHost.deferMarkdown`). */
  private markdownQueue = new Set<string>();
  private markdownIdle: number | undefined;
  /** True while the notebook's cells first join the page. */
  private opening = false;
  /**
   * How many leading cells the page holds while a long notebook joins it
   * (`Infinity` once it holds them all).
   */
  private shownCells = Infinity;
  private mountFrame: number | undefined;
  private firstEditorMarked = false;
  /** The cells on the page were rendered from the server's preview. */
  private showsPreview = false;

  /**
   * Mount the editors of cells near the viewport a few milliseconds per
   * frame, top first: the page shows every cell (as plain text) at once
   * and stays responsive while 200 editors come up behind it.
   */
  private pumpMounts(): void {
    if (this.mountFrame !== undefined || this.mountQueue.size === 0) return;
    this.mountFrame = requestAnimationFrame(() => {
      this.mountFrame = undefined;
      const start = performance.now();
      const pending = this.order.filter((id) => this.mountQueue.has(id));
      for (const id of this.mountQueue) if (!this.views.has(id)) this.mountQueue.delete(id);
      for (const id of pending) {
        this.mountQueue.delete(id);
        this.markdownQueue.delete(id);
        const view = this.views.get(id);
        view?.renderDeferred();
        view?.mountEditor();
        if (!this.firstEditorMarked && view?.cellType !== "markdown") {
          this.firstEditorMarked = true;
          performance.mark("cathode:first-editor");
        }
        if (performance.now() - start > 8) break;
      }
      this.pumpMounts();
    });
  }

  /** Render waiting markdown, top first, in the page's idle time. */
  private pumpMarkdown(): void {
    if (this.markdownIdle !== undefined || this.markdownQueue.size === 0) return;
    this.markdownIdle = requestIdleCallback(
      (deadline) => {
        this.markdownIdle = undefined;
        // Past the timeout there is no idle time left to measure: a frame's
        // worth of cells, then the page gets a turn.
        const until = performance.now() + 8;
        for (const id of this.order) {
          if (!this.markdownQueue.delete(id)) continue;
          this.views.get(id)?.renderDeferred();
          if (deadline.didTimeout ? performance.now() > until : deadline.timeRemaining() < 3) break;
        }
        for (const id of this.markdownQueue) if (!this.views.has(id)) this.markdownQueue.delete(id);
        this.pumpMarkdown();
      },
      { timeout: 300 },
    );
  }

  /** The clear each cached runtime view was computed with. */
  private clearCache = new Map<string, string | undefined>();

  /**
   * A cell's runtime view, recomputed only when the runtime document, the
   * answers or the cell's own clear changed.
   */
  private runtimeFor(id: string): CellRuntime {
    const clearRaw = outputsClearedRaw(this.session.notebook, id);
    const cached = this.runtimeCache.get(id);
    if (cached && this.clearCache.get(id) === clearRaw) return cached;
    const fresh = this.computeRuntime(id);
    this.runtimeCache.set(id, fresh);
    this.clearCache.set(id, clearRaw);
    return fresh;
  }

  private computeRuntime(id: string): CellRuntime {
    const runs = this.cellRuns.get(id);
    const doc = this.session.runtime;
    const { shown, outputs } = applyClear(
      outputsCleared(this.session.notebook, id),
      runs?.shown,
      runs?.shown ? rt.outputStrings(doc, runs.shown.executionId) : [],
    );
    const latest = runs?.latest;
    const req = latest?.state === "running" ? latest.inputRequest : undefined;
    const approval = latest?.state === "running" ? latest.approvalRequest : undefined;
    return {
      shown,
      latest,
      outputs,
      inputAnswered: req ? inputAnswered(this.session.notebook, latest!.executionId, req.seq) : false,
      approvalAnswered: approval ? approvalAnswered(this.session.notebook, latest!.executionId, approval.seq) : false,
    };
  }

  render(): void {
    const previewing = this.session.previewing;
    if (!this.session.ready && !previewing) {
      if (this.order.length === 0) {
        clear(this.cellsEl);
        const s = this.session.status();
        this.cellsEl.append(h("p.placeholder", {}, s.sync === "failed" ? `This notebook cannot be opened: ${s.detail ?? ""}` : "Opening the notebook…"));
      }
      return;
    }
    const doc = this.session.notebook;
    if (this.showsPreview && !previewing) {
      // The replica took over: editors opened on the preview join it,
      // with whatever was typed into them.
      for (const view of this.views.values()) view.takeOverEditor(this.session.previewHeads ?? []);
      this.session.applyQueuedEdits();
    }
    this.showsPreview = previewing;
    this.aiApproval.update(doc, this.session.readOnly);
    const runtimeDoc = this.session.runtime;
    if (runtimeDoc !== this.lastRuntimeDoc || doc.input_answers !== this.lastAnswers) {
      this.lastRuntimeDoc = runtimeDoc;
      this.lastAnswers = doc.input_answers;
      this.cellRuns = rt.runtimeReady(runtimeDoc) ? rt.cellExecutions(runtimeDoc) : new Map();
      this.runtimeCache.clear();
    }
    const allCells = nb.cellOrder(doc).map((c) => c.id);
    // A long notebook joins the page over a few frames (see `opening.ts`).
    const firstRender = this.order.length === 0 && allCells.length > 0;
    const tailing = this.shownCells !== Infinity;
    if (firstRender) {
      const lines = (function* () {
        for (const id of allCells) yield lineCount(nb.cellSource(doc, id));
      })();
      this.shownCells = cellsFillingScreen(lines, window.innerHeight);
    } else if (tailing) this.shownCells += TAIL_CELLS_PER_FRAME;
    if (this.shownCells >= allCells.length) this.shownCells = Infinity;
    const order = this.shownCells === Infinity ? allCells : allCells.slice(0, this.shownCells);
    const seen = new Set(order);
    for (const [id, view] of this.views) {
      if (!seen.has(id)) {
        this.observer.unobserve(view.el);
        view.destroy();
        this.views.delete(id);
      }
    }
    if (this.cellsEl.querySelector(".placeholder")) clear(this.cellsEl);
    const now = Date.now();
    let prev: Element | null = null;
    this.opening = firstRender || tailing;
    for (const id of order) {
      let view = this.views.get(id);
      if (!view) {
        view = new CellView(id, this.cellHost());
        this.views.set(id, view);
        this.observer.observe(view.el);
      }
      const expected: Element | null = prev ? prev.nextElementSibling : this.cellsEl.firstElementChild;
      if (expected !== view.el) this.cellsEl.insertBefore(view.el, expected);
      view.update(this.runtimeFor(id), now);
      prev = view.el;
    }
    if (firstRender) {
      performance.mark("cathode:cells-rendered");
      // The top of the notebook is editable in this very frame; the rest
      // mount as they near the viewport, a few per frame.
      this.opening = false;
      // Read the layout once, then write: a read after each cell's
      // rendering would lay out all the cells again every time.
      const onScreen: CellView[] = [];
      for (const id of order) {
        const view = this.views.get(id);
        if (!view) continue;
        if (view.el.offsetTop > window.innerHeight) break;
        onScreen.push(view);
      }
      // Editors first: each one reads the layout as it starts, which then
      // need not lay out the rendered markdown (and its math) as well.
      let mounting = 0;
      let mounted = false;
      for (const view of onScreen) {
        if (view.cellType !== "markdown" && mounting <= 12) {
          const start = performance.now();
          view.mountEditor();
          mounting += performance.now() - start;
          mounted = true;
        }
      }
      for (const view of onScreen) {
        this.markdownQueue.delete(view.id);
        view.renderDeferred();
      }
      this.pumpMarkdown();
      if (mounted && !this.firstEditorMarked) {
        this.firstEditorMarked = true;
        performance.mark("cathode:first-editor");
      }
    }
    this.order = order;
    if (this.shownCells !== Infinity) this.schedule();
    else if (tailing) performance.mark("cathode:all-cells");
    if (order.length === 0) this.cellsEl.append(h("p.placeholder", {}, "An empty notebook: press B or the + button to add a cell."));
    this.controller.afterRender();
    this.contents.afterRender();
    this.showCursors();
    this.runtimeBar.update();
  }

  /** Running cells' elapsed time, four times a second. */
  private tickRunning(): void {
    const now = Date.now();
    for (const [id, runs] of this.cellRuns) {
      if (runs.latest?.state === "running") this.views.get(id)?.update(this.runtimeFor(id), now);
    }
  }

  private cellHost(): CellHost {
    return {
      session: this.session,
      blobs: this.blobs,
      editKeys: (id) => this.controller.editKeys(id),
      activate: (id, mode) => this.controller.activate(id, mode),
      drop: (dragged, target, where) => this.controller.moveTo(dragged, { at: where, cell: target }),
      toggleCollapsed: (id, flag) => this.controller.toggleCollapsed(id, flag),
      onEditorUpdate: (_id, u) => {
        if (u.selectionSet || u.docChanged || u.focusChanged) this.controller.publishPresence();
      },
      answerInput: async (x, request, value) => {
        if (request.sealing_key) {
          const sealed = await sealAnswer(request.sealing_key, x, request.seq, value);
          this.session.edit((d) => answerInputSealed(d, x, request.seq, sealed, this.session.user));
        } else {
          this.session.edit((d) => answerInput(d, x, request.seq, value, this.session.user));
        }
      },
      answerApproval: (x, seq, decision) =>
        this.session.edit((d) => answerApproval(d, x, seq, decision, this.session.user)),
      undoAiRun: (x) => this.session.edit((d) => requestControl(d, { kind: "undo_ai_run", ai_run: x }, this.session.user)),
      cancel: (x) => this.session.edit((d) => requestControl(d, { kind: "cancel", execution_id: x }, this.session.user)),
      deferMarkdown: (id) => {
        if (!this.opening) return false;
        this.markdownQueue.add(id);
        return true;
      },
      ai: this.aiHost,
    };
  }

  /** Put each remote cursor in the cell it is in (and only there). */
  private showCursors(): void {
    const byCell = new Map<string, { peerId: string; name: string; color: string; anchor: string; head: string }[]>();
    for (const [peerId, p] of withAiPeers(this.session.peers)) {
      if (peerId === this.session.peerId) continue;
      const state = asPresence(p.state);
      if (!state?.cell || !state.cursor || state.mode !== "edit") continue;
      const list = byCell.get(state.cell) ?? [];
      list.push({ peerId, name: p.user || state.name, color: colorFor(peerId), anchor: state.cursor.anchor, head: state.cursor.head });
      byCell.set(state.cell, list);
    }
    const here = this.peopleByCell();
    for (const [id, view] of this.views) {
      view.el.classList.toggle("has-remote", here.has(id));
      view.showPeople(here.get(id) ?? []);
      const cursors = byCell.get(id);
      if (cursors || view.hasRemoteCursors) view.showRemoteCursors(cursors ?? []);
    }
  }

  /** Which other people are on which cell (command or edit mode). */
  private peopleByCell(): Map<string, { name: string; color: string }[]> {
    const out = new Map<string, { name: string; color: string }[]>();
    for (const [peerId, p] of withAiPeers(this.session.peers)) {
      if (peerId === this.session.peerId) continue;
      const cell = asPresence(p.state)?.cell;
      if (!cell) continue;
      const list = out.get(cell) ?? [];
      list.push({ name: p.user, color: colorFor(peerId) });
      out.set(cell, list);
    }
    return out;
  }

  private followUpdate(): void {
    const peer = this.presence.following;
    if (!peer) return;
    const state = asPresence(withAiPeers(this.session.peers).get(peer)?.state);
    if (state?.cell) this.views.get(state.cell)?.el.scrollIntoView({ block: "nearest" });
  }

  private follow(peer: string | undefined): void {
    this.presence.render(withAiPeers(this.session.peers), this.session.peerId, this.session.user);
    if (peer) this.followUpdate();
  }

  /** Rename in place: the title becomes a field; Enter saves, Escape cancels. */
  private renameFrom(title: HTMLElement): void {
    if (this.session.readOnly || title.querySelector("input")) return;
    const before = title.textContent ?? "";
    const input = h("input.title-input", { value: before, "aria-label": "Notebook name" });
    let finished = false;
    const done = async (save: boolean) => {
      if (finished) return;
      finished = true;
      const name = input.value.trim();
      title.textContent = before;
      if (!save || !name || name === before) return;
      try {
        const renamed = await this.ctx.api.renameNotebook(this.ctx.notebookId, name);
        title.textContent = renamed.name;
        document.title = `${renamed.name} · cathode`;
      } catch (e) {
        title.title = (e as Error).message;
      }
    };
    input.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") void done(true);
      if (e.key === "Escape") void done(false);
    });
    input.addEventListener("blur", () => void done(true));
    title.textContent = "";
    title.append(input);
    input.focus();
    input.select();
  }

  close(): void {
    clearInterval(this.tick);
    this.session.close();
  }
}

export async function showNotebook(root: HTMLElement, ctx: NotebookContext): Promise<NotebookSession> {
  const page = new NotebookPage(ctx, root);
  await page.open();
  return page.session;
}
