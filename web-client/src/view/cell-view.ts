/**
 * One cell on the page: its prompt (`[n]`, `[*]`, queued, elapsed time),
 * its input (a CodeMirror editor mounted when the cell nears the viewport,
 * a rendered view for markdown), an `input()` box, and its outputs. It
 * re-renders only what changed since its last update, compared by identity
 * of the document's (structurally shared) objects.
 */

import type { EditorView, ViewUpdate, KeyBinding } from "@codemirror/view";
import { ChangeSet } from "@codemirror/state";
import * as nb from "../doc/notebook";
import type { CellType, CollapseFlag } from "../doc/notebook";
import type { ExecutionSummary, InputRequest } from "../doc/runtime";
import type { ApprovalDecision } from "../doc/controls";
import { createEditor, setEditorEditable, setEditorLanguage } from "../editor/cell-editor";
import { SourceBinding, showDocumentText, splicesOf } from "../editor/binding";
import { setRemoteCursors, type RemoteCursor } from "../editor/remote-cursors";
import type { NotebookSession } from "../model/session";
import { h } from "./dom";
import { renderMarkdown } from "./markdown";
import { OutputArea } from "./outputs/output-area";
import type { BlobCache } from "./outputs/blobs";
import { outputHooks, type AiCellHost } from "./ai/hooks";
import { AiPromptBar } from "./ai/prompt-bar";

export interface CellHost {
  session: NotebookSession;
  blobs: BlobCache;
  editKeys: (cellId: string) => KeyBinding[];
  /** The person clicked or focused into this cell. */
  activate: (cellId: string, mode: "command" | "edit") => void;
  /** A cell dragged by its gutter was dropped before or after this one. */
  drop: (dragged: string, target: string, where: "before" | "after") => void;
  /** The cell's own collapser for its input or output was clicked. */
  toggleCollapsed: (cellId: string, flag: CollapseFlag) => void;
  onEditorUpdate: (cellId: string, update: ViewUpdate) => void;
  /** Resolves once written; rejects (with the reason to show) when it cannot be. */
  answerInput: (executionId: string, request: InputRequest, value: string) => Promise<void>;
  answerApproval: (executionId: string, seq: number, decision: ApprovalDecision) => void;
  undoAiRun: (executionId: string) => void;
  cancel: (executionId: string) => void;
  /**
   * Whether this markdown cell's rendering may wait: true queues it, and
   * the page calls `renderDeferred` when it nears the viewport or the page
   * is idle.
   */
  deferMarkdown: (cellId: string) => boolean;
  /** AI cells' model picker and output actions (absent: neither is shown). */
  ai?: AiCellHost;
}

export interface CellRuntime {
  shown?: ExecutionSummary;
  latest?: ExecutionSummary;
  outputs: readonly string[];
  /** Someone answered the pending `input()`. */
  inputAnswered: boolean;
  /** Someone answered the AI run's pending approval. */
  approvalAnswered: boolean;
}

/** Write text only when it differs: an unchanged cell's DOM is never touched. */
function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

function setData(el: HTMLElement, key: string, value: string): void {
  if (el.dataset[key] !== value) el.dataset[key] = value;
}

function setTitle(el: HTMLElement, title: string): void {
  if (el.title !== title) el.title = title;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export class CellView {
  readonly el: HTMLElement;
  private prompt = h("div.prompt");
  private timing = h("div.timing");
  private inputArea = h("div.input-area");
  private editorHost = h("div.editor-host");
  private rendered = h("div.markdown.rendered", { tabindex: -1 });
  private note = h("div.cell-note", { hidden: true });
  private inputBox = h("div.stdin", { hidden: true });
  private approvalBox = h("div.approval", { hidden: true });
  private approvalKey = "";
  private aiActions = h("div.ai-actions", { hidden: true });
  private aiBar: AiPromptBar | undefined;
  private outputArea: OutputArea;
  private outputWrap = h("div.output-wrap");
  view: EditorView | undefined;
  binding: SourceBinding | undefined;
  /**
   * An editor opened on the page's preview (no replica yet): the text it
   * started from and the typing since, which `takeOverEditor` hands over.
   */
  private previewTyping: { base: string; changes: ChangeSet } | undefined;
  private placeholder = h("pre.editor-placeholder");
  private lastCell: unknown;
  private lastType: CellType | undefined;
  private lastRuntime: CellRuntime | undefined;
  private editingMarkdown = false;
  private renderedSource: string | undefined;
  /** The markdown shows its source as text until `renderDeferred`. */
  private markdownDeferred = false;
  private inputKey = "";
  private runtimeKey = "";
  private editable: boolean | undefined;
  private cursorsKey = "";
  private peopleKey = "";
  private people = h("div.people");

  constructor(
    readonly id: string,
    private readonly host: CellHost,
  ) {
    this.outputArea = new OutputArea(host.blobs, host.ai && outputHooks(host.ai, id));
    this.outputWrap.append(this.outputArea.el);
    this.el = h(
      "div.cell",
      { "data-cell-id": id, tabindex: -1 },
      h("div.gutter", {}, this.prompt, this.timing, this.people),
      h(
        "div.body",
        {},
        h("div.collapser.input-collapser", { title: "Collapse input", onclick: () => this.host.toggleCollapsed(this.id, "source_hidden") }),
        this.inputArea,
        this.note,
        this.inputBox,
        this.approvalBox,
        this.aiActions,
        h("div.collapser.output-collapser", { title: "Collapse output", onclick: () => this.host.toggleCollapsed(this.id, "outputs_hidden") }),
        this.outputWrap,
      ),
    );
    this.inputArea.append(this.editorHost, this.rendered);
    this.editorHost.append(this.placeholder);
    this.el.addEventListener("mousedown", (e) => {
      if ((e.target as HTMLElement).closest(".cm-editor, .stdin, iframe, button, a, input")) return;
      host.activate(id, "command");
    });
    this.rendered.addEventListener("dblclick", () => this.editMarkdown(true));
    this.enableDrag();
  }

  /** Drag a cell by its gutter; drop it on the upper or lower half of another. */
  private enableDrag(): void {
    const gutter = this.el.querySelector<HTMLElement>(".gutter")!;
    gutter.draggable = true;
    gutter.title = "Drag to move the cell";
    gutter.addEventListener("dragstart", (e) => {
      e.dataTransfer?.setData("application/x-cathode-cell", this.id);
      if (e.dataTransfer) e.dataTransfer.effectAllowed = "move";
    });
    const where = (e: DragEvent) => {
      const box = this.el.getBoundingClientRect();
      return e.clientY < box.top + box.height / 2 ? "before" : "after";
    };
    this.el.addEventListener("dragover", (e) => {
      if (!e.dataTransfer?.types.includes("application/x-cathode-cell")) return;
      e.preventDefault();
      this.el.dataset.drop = where(e);
    });
    this.el.addEventListener("dragleave", () => delete this.el.dataset.drop);
    this.el.addEventListener("drop", (e) => {
      const dragged = e.dataTransfer?.getData("application/x-cathode-cell");
      delete this.el.dataset.drop;
      if (!dragged || dragged === this.id) return;
      e.preventDefault();
      this.host.drop(dragged, this.id, where(e));
    });
  }

  get cellType(): CellType | undefined {
    return this.lastType;
  }

  /** Mount the real editor (when the cell nears the viewport or is focused). */
  mountEditor(): EditorView {
    if (this.view) return this.view;
    const session = this.host.session;
    const doc = session.notebook;
    const type = this.lastType ?? "code";
    const text = nb.cellSource(doc, this.id);
    const view = createEditor(this.editorHost, text, type, !session.readOnly, {
      keys: this.host.editKeys(this.id),
      onUpdate: (u) => {
        if (this.binding) this.binding.update(u);
        else if (this.previewTyping && u.docChanged) this.previewTyping.changes = this.previewTyping.changes.compose(u.changes);
        this.host.onEditorUpdate(this.id, u);
      },
      onFocus: () => this.host.activate(this.id, "edit"),
      kernel: {
        enabled: () => this.lastType === "code" && !session.readOnly,
        ask: (query) => session.kernel.ask(query),
      },
    });
    this.placeholder.remove();
    this.view = view;
    if (session.previewing) this.previewTyping = { base: text, changes: ChangeSet.empty(text.length) };
    else this.binding = new SourceBinding(session.replica, this.id, view);
    return view;
  }

  /**
   * The replica took over from the preview: bind the editor opened on it.
   * Typing done meanwhile is committed as typed when the cell's text is
   * still what the editor started from, else placed where it was typed
   * (at the preview's `heads`) and merged with what came since; the editor
   * then shows the document, with the selection kept where the text
   * around it did not change.
   */
  takeOverEditor(heads: string[]): void {
    const view = this.view;
    const typing = this.previewTyping;
    this.previewTyping = undefined;
    if (!view || this.binding) return;
    const session = this.host.session;
    const now = nb.cellSource(session.notebook, this.id);
    if (typing && !typing.changes.empty && now === typing.base) {
      this.binding = new SourceBinding(session.replica, this.id, view);
      this.binding.adopt(typing.changes);
      return;
    }
    if (typing && !typing.changes.empty) {
      const typed = view.state.doc.toString();
      session.replica.editNotebook((d) => {
        const placed = nb.spliceSourceAt(d, heads, this.id, splicesOf(typing.changes));
        // The replica lacks the preview's version (the connection was lost
        // before it came): keep what the person sees and typed. Text the
        // preview had and this replica lacks may then arrive twice; losing
        // the typing would be worse.
        return placed !== d ? placed : nb.setSource(d, this.id, typed);
      });
    }
    this.binding = new SourceBinding(session.replica, this.id, view);
    showDocumentText(view, nb.cellSource(session.notebook, this.id));
  }

  focusEditor(): void {
    if (this.lastType === "markdown") this.editMarkdown(true);
    const view = this.mountEditor();
    view.focus();
  }

  get editorFocused(): boolean {
    return this.view?.hasFocus ?? false;
  }

  /** Render markdown that waited for the viewport or an idle moment. */
  renderDeferred(): void {
    if (this.markdownDeferred) this.syncMarkdown(true);
  }

  /** Markdown shows its rendering until edited; running renders it again. */
  editMarkdown(editing: boolean): void {
    if (this.lastType !== "markdown") editing = true;
    this.editingMarkdown = editing;
    this.syncMarkdown(true);
    if (editing && this.lastType === "markdown") this.mountEditor().focus();
  }

  /**
   * Show the markdown rendered (or its editor). Markdown whose rendering
   * waits stays waiting while its source is unchanged unless `now`: the
   * replica's taking over from the preview touches every cell, and would
   * otherwise render fifty cells of math in one task.
   */
  private syncMarkdown(now = false): void {
    const isMd = this.lastType === "markdown";
    const showRendered = isMd && !this.editingMarkdown;
    if (this.rendered.hidden !== !showRendered) this.rendered.hidden = !showRendered;
    if (this.editorHost.hidden !== showRendered) this.editorHost.hidden = showRendered;
    if (!showRendered) return;
    const doc = this.host.session.notebook;
    const source = nb.cellSource(doc, this.id);
    if (source === this.renderedSource && (!this.markdownDeferred || !now)) return;
    this.renderedSource = source;
    if (source.trim() !== "" && this.host.deferMarkdown(this.id)) {
      // Off screen while the page opens: marked and KaTeX for fifty cells
      // would hold up the first editable cell.
      this.markdownDeferred = true;
      this.rendered.textContent = source;
      return;
    }
    this.markdownDeferred = false;
    if (source.trim() === "") this.rendered.innerHTML = '<p class="empty-md">Double-click (or press Enter) to edit markdown.</p>';
    else renderMarkdown(this.rendered, source, nb.cellAttachments(doc, this.id));
  }

  /** Bring the view up to date with the documents. */
  update(runtime: CellRuntime, now: number): void {
    const doc = this.host.session.notebook;
    const raw = doc.cells?.[this.id];
    if (raw !== this.lastCell) {
      this.lastCell = raw;
      const type = nb.cellType(doc, this.id) ?? "code";
      if (type !== this.lastType) {
        const wasType = this.lastType;
        this.lastType = type;
        setData(this.el, "type", type);
        if (this.view) setEditorLanguage(this.view, type);
        if (wasType !== undefined && type === "markdown") this.editingMarkdown = this.view?.hasFocus ?? false;
        this.note.textContent = type === "sql" ? "SQL cell: the query is kept; running it arrives with the SQL feature." : "";
        if (this.note.hidden !== (type !== "sql")) this.note.hidden = type !== "sql";
        if (type === "ai" && !this.aiBar && this.host.ai) {
          this.aiBar = new AiPromptBar(this.id, this.host.session, this.host.ai);
          this.inputArea.before(this.aiBar.el);
        }
        if (this.aiBar) this.aiBar.el.hidden = type !== "ai";
      }
      this.aiBar?.refresh();
      if (!this.view) setText(this.placeholder, nb.cellSource(doc, this.id) || " ");
      const meta = nb.cellMetadata(doc, this.id);
      const jupyter = (meta.jupyter as Record<string, unknown>) ?? {};
      this.el.classList.toggle("input-hidden", !!jupyter.source_hidden);
      this.el.classList.toggle("outputs-hidden", !!jupyter.outputs_hidden || meta.collapsed === true);
      this.syncMarkdown();
    }
    const editable = !this.host.session.readOnly;
    if (this.aiBar && this.aiBar.shownReadOnly === editable) this.aiBar.refresh();
    if (this.view && editable !== this.editable) {
      this.editable = editable;
      setEditorEditable(this.view, editable);
    }
    this.updateRuntime(runtime, now);
  }

  private updateRuntime(runtime: CellRuntime, now: number): void {
    const last = this.lastRuntime;
    const latest = runtime.latest;
    const shown = runtime.shown;
    const running = latest?.state === "running";
    const key = [
      this.lastType,
      latest?.executionId,
      latest?.state,
      latest?.startedAtMs,
      shown?.executionId,
      shown?.executionCount,
      shown?.endedAtMs,
      latest?.inputRequest?.seq,
      runtime.inputAnswered,
      latest?.approvalRequest?.seq,
      runtime.approvalAnswered,
    ].join("|");
    if (key === this.runtimeKey && !running && last && sameStrings(last.outputs, runtime.outputs)) return;
    this.runtimeKey = key;
    const queued = latest?.state === "queued";
    const isCode = this.lastType === "code" || this.lastType === "sql" || this.lastType === "ai";
    let mark = " ";
    if (running || queued) mark = "*";
    else if (shown?.executionCount !== undefined) mark = String(shown.executionCount);
    else if (this.lastType === "ai" && shown) mark = "AI";
    setText(this.prompt, isCode ? `[${mark}]:` : "");
    this.el.classList.toggle("running", running);
    this.el.classList.toggle("queued", queued);
    setData(this.el, "state", latest?.state ?? "");
    const title = queued
      ? "Queued"
      : running
        ? "Running"
        : latest?.state === "lost"
          ? "Lost: its runtime died while it ran"
          : latest?.state === "cancelled"
            ? "Cancelled"
            : "";
    setTitle(this.prompt, title);
    // Timing: elapsed while running, the duration after, lost shown as such.
    let timing = "";
    if (isCode && latest) {
      if (queued) timing = "queued";
      else if (running && latest.startedAtMs !== undefined) timing = formatDuration(now - latest.startedAtMs);
      else if (latest.state === "lost") timing = "lost";
      else if (latest.state === "cancelled") timing = "cancelled";
      else if (shown?.startedAtMs !== undefined && shown.endedAtMs !== undefined) timing = formatDuration(shown.endedAtMs - shown.startedAtMs);
    }
    const hasButton = !!this.timing.querySelector("button");
    if (!hasButton || !queued) setText(this.timing, timing);
    if (queued && latest) {
      if (!this.timing.querySelector("button")) {
        this.timing.append(h("button.link.cancel", { title: "Cancel this queued run", onclick: () => this.host.cancel(latest.executionId) }, "cancel"));
      }
    }
    this.outputArea.update(runtime.outputs, running);
    this.updateInputBox(runtime);
    this.updateApproval(runtime);
    this.updateAiActions(runtime);
    this.lastRuntime = runtime;
  }

  private updateInputBox(runtime: CellRuntime): void {
    const x = runtime.latest;
    const request = x?.state === "running" ? x.inputRequest : undefined;
    const key = request && !runtime.inputAnswered ? `${x!.executionId}#${request.seq}` : "";
    if (key === this.inputKey) return;
    this.inputKey = key;
    this.inputBox.textContent = "";
    this.inputBox.hidden = !key;
    if (!key || !request || !x) return;
    const field = h("input", {
      type: request.password ? "password" : "text",
      "aria-label": request.prompt || "input()",
      autocomplete: "off",
      disabled: this.host.session.readOnly,
    });
    const problem = h("span.input-problem", { role: "alert" });
    const submit = () => {
      field.disabled = true;
      this.host.answerInput(x.executionId, request, field.value).catch((e: unknown) => {
        field.disabled = false;
        problem.textContent = e instanceof Error ? e.message : String(e);
      });
    };
    field.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") submit();
    });
    this.inputBox.append(h("label", {}, h("span.prompt-text", {}, request.prompt), field), problem);
    if (document.activeElement === document.body || this.el.contains(document.activeElement)) field.focus();
  }

  /** Name tags of the other people on this cell. */
  showPeople(people: { name: string; color: string }[]): void {
    const key = people.map((p) => p.name + p.color).join("|");
    if (key === this.peopleKey) return;
    this.peopleKey = key;
    this.people.textContent = "";
    for (const p of people) this.people.append(h("span.person", { style: `background:${p.color}`, title: `${p.name} is here` }, p.name));
  }

  get hasRemoteCursors(): boolean {
    return this.cursorsKey !== "" && this.cursorsKey !== "[]";
  }

  /** An AI run waiting for someone to approve a tool call. */
  private updateApproval(runtime: CellRuntime): void {
    const x = runtime.latest;
    const request = x?.state === "running" ? x.approvalRequest : undefined;
    const key = request && !runtime.approvalAnswered ? `${x!.executionId}#${request.seq}` : "";
    if (key === this.approvalKey) return;
    this.approvalKey = key;
    this.approvalBox.textContent = "";
    this.approvalBox.hidden = !key;
    if (!key || !request || !x) return;
    const readOnly = this.host.session.readOnly;
    const answer = (decision: ApprovalDecision) => () => {
      this.host.answerApproval(x.executionId, request.seq, decision);
      for (const b of this.approvalBox.querySelectorAll("button")) b.disabled = true;
    };
    const args = JSON.stringify(request.arguments, null, 2);
    this.approvalBox.append(
      h("div.approval-what", {}, "The AI wants to run ", h("code", {}, request.tool), request.cell_id ? ` on a cell` : "", ":"),
      h("pre.approval-args", {}, args.length > 2000 ? args.slice(0, 2000) + "…" : args),
      h(
        "div.buttons",
        {},
        h("button.primary", { onclick: answer("approve_once"), disabled: readOnly }, "Approve"),
        h("button", { onclick: answer("approve_run"), disabled: readOnly }, "Approve all in this run"),
        h("button", { onclick: answer("deny"), disabled: readOnly }, "Deny"),
      ),
    );
  }

  /** A finished AI run can be undone: every change it made, reverted. */
  private updateAiActions(runtime: CellRuntime): void {
    const shown = runtime.shown;
    const show =
      this.lastType === "ai" && !!shown && (shown.state === "done" || shown.state === "error") && !this.host.session.readOnly;
    const key = show ? shown!.executionId : "";
    if (this.aiActions.dataset.run === key) return;
    this.aiActions.dataset.run = key;
    this.aiActions.textContent = "";
    this.aiActions.hidden = !show;
    if (show) {
      this.aiActions.append(
        h(
          "button.small",
          { title: "Revert every change this AI run made to the notebook", onclick: () => this.host.undoAiRun(key) },
          "Undo this AI run's changes",
        ),
      );
    }
  }

  /** Other people's cursors in this cell. */
  showRemoteCursors(cursors: { peerId: string; name: string; color: string; anchor: string; head: string }[]): void {
    if (!this.view || !this.binding) return;
    const resolved: RemoteCursor[] = [];
    for (const c of cursors) {
      const anchor = this.binding.offsetOf(c.anchor);
      const head = this.binding.offsetOf(c.head);
      if (anchor === undefined || head === undefined) continue;
      resolved.push({ peerId: c.peerId, name: c.name, color: c.color, anchor, head });
    }
    const key = JSON.stringify(resolved);
    if (key === this.cursorsKey) return;
    this.cursorsKey = key;
    this.view.dispatch({ effects: setRemoteCursors.of(resolved) });
  }

  destroy(): void {
    this.binding?.destroy();
    this.view?.destroy();
    this.outputArea.reset();
    this.el.remove();
  }
}
