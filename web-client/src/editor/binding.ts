/**
 * The binding between one cell's CodeMirror view and its Automerge Text.
 *
 * Local typing collects in a pending change set and is committed to the
 * document at most once per animation frame (one change, one
 * `SourceEdited`; a keystroke after a pause at once), or
 * earlier whenever anything else is about to touch the document (a remote
 * message, a run request, which must pin the source as typed). Remote
 * edits arrive as patches and are dispatched with
 * `Transaction.addToHistory.of(false)`, so each person's undo and redo only
 * ever touch their own typing (jupyterlab #10791); CodeMirror's history maps
 * the undo stack through them.
 *
 * Invariant: the editor shows the document's text with the pending changes
 * applied. Every sync message is applied only after pending typing is
 * committed (Replica.onBeforeRemote), so a patch's offsets are offsets into
 * exactly what the editor shows.
 */

import * as A from "@automerge/automerge";
import { Annotation, ChangeSet, Transaction, type ChangeSpec } from "@codemirror/state";
import type { EditorView, ViewUpdate } from "@codemirror/view";
import type { Replica, DocChange } from "../model/replica";
import { cellSource, sourcePath, spliceSource, type TextSplice } from "../doc/notebook";

/** One frame at 60 Hz: typing is committed at most this often. */
const FRAME_MS = 16;

/** Marks transactions that bring the document's changes into the editor. */
export const fromDocument = Annotation.define<boolean>();

/** A change set as splices, each in the text the ones before it leave. */
export function splicesOf(changes: ChangeSet): TextSplice[] {
  const edits: TextSplice[] = [];
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    edits.push({ from: fromA, deleteCount: toA - fromA, insert: inserted.toString() });
  });
  // Offsets are in the text before any of them: apply the last first.
  return edits.reverse();
}

/**
 * Bring the editor to the document's `text`, replacing only the span that
 * differs (a selection outside it stays put), outside the undo history.
 */
export function showDocumentText(view: EditorView, text: string): void {
  const shown = view.state.doc.toString();
  if (shown === text) return;
  let start = 0;
  while (start < shown.length && start < text.length && shown[start] === text[start]) start++;
  let end = 0;
  while (end < shown.length - start && end < text.length - start && shown[shown.length - 1 - end] === text[text.length - 1 - end]) end++;
  view.dispatch({
    changes: { from: start, to: shown.length - end, insert: text.slice(start, text.length - end) },
    annotations: [Transaction.addToHistory.of(false), fromDocument.of(true)],
  });
}

export class SourceBinding {
  private pending: ChangeSet | null = null;
  private frame: number | undefined;
  private committing = false;
  private leading = false;
  private lastCommitAt = -Infinity;
  private readonly unsubscribe: Array<() => void> = [];
  /** Called after every commit and remote change: presence, cursors. */
  onSynced: (() => void) | undefined;

  constructor(
    private readonly replica: Replica,
    readonly cellId: string,
    private readonly view: EditorView,
  ) {
    this.unsubscribe.push(
      replica.onBeforeRemote(() => this.commit()),
      replica.onChange((c) => this.onDocChange(c)),
    );
  }

  /** Feed from an EditorView.updateListener. */
  update(update: ViewUpdate): void {
    if (!update.docChanged) return;
    for (const tr of update.transactions) {
      if (tr.annotation(fromDocument) || !tr.docChanged) continue;
      this.pending = this.pending ? this.pending.compose(tr.changes) : tr.changes;
    }
    if (!this.pending || this.frame !== undefined || this.leading) return;
    if (performance.now() - this.lastCommitAt >= FRAME_MS) {
      // The first keystroke after a pause goes out at once (after this
      // task); the rest of a burst waits for the frame: still at most one
      // change per frame, without adding a frame to every lone keystroke.
      this.leading = true;
      queueMicrotask(() => {
        this.leading = false;
        this.commit();
      });
    } else {
      this.frame = requestAnimationFrame(() => {
        this.frame = undefined;
        this.commit();
      });
    }
  }

  get hasPending(): boolean {
    return this.pending !== null;
  }

  /**
   * Commit typing the editor holds but the document does not (done on the
   * page's preview, from the text the document now has), as if just typed.
   */
  adopt(changes: ChangeSet): void {
    if (changes.empty) return;
    this.pending = this.pending ? this.pending.compose(changes) : changes;
    this.commit();
  }

  /** Commit pending typing as one change. */
  commit(): void {
    if (this.frame !== undefined) {
      cancelAnimationFrame(this.frame);
      this.frame = undefined;
    }
    const pending = this.pending;
    if (!pending) return;
    this.pending = null;
    this.lastCommitAt = performance.now();
    const edits = splicesOf(pending);
    this.committing = true;
    try {
      this.replica.editNotebook((doc) => spliceSource(doc, this.cellId, edits));
    } finally {
      this.committing = false;
    }
    this.onSynced?.();
  }

  private onDocChange(change: DocChange): void {
    if (change.doc !== "notebook" || this.committing) return;
    const doc = this.replica.notebook;
    let reset = false;
    let changes: ChangeSet | null = null;
    let length = this.view.state.doc.length;
    for (const patch of change.patches) {
      const path = patch.path;
      if (path[0] !== "cells" || path[1] !== this.cellId) continue;
      if (path.length <= 3) {
        // The cell or its whole source was (re)placed.
        if (patch.action === "put" || patch.action === "del") reset = true;
        continue;
      }
      if (path[2] !== "source") continue;
      const index = Number(path[3]);
      let spec: ChangeSpec;
      if (patch.action === "splice") spec = { from: index, insert: patch.value };
      else if (patch.action === "del") spec = { from: index, to: index + (patch.length ?? 1) };
      else {
        reset = true;
        continue;
      }
      const step = ChangeSet.of(spec, length);
      changes = changes ? changes.compose(step) : step;
      length = step.newLength;
    }
    const annotations = [Transaction.addToHistory.of(false), fromDocument.of(true)];
    const expected = cellSource(doc, this.cellId);
    if (changes && !reset) {
      this.view.dispatch({ changes, annotations });
    }
    if (reset || (changes && this.view.state.doc.toString() !== expected)) {
      // Out of step (should not happen), or the source replaced: show the document's text.
      showDocumentText(this.view, expected);
    }
    if (changes || reset) this.onSynced?.();
  }

  /** An Automerge cursor for an editor offset (committed text only). */
  cursorAt(offset: number): string | undefined {
    this.commit();
    const doc = this.replica.notebook;
    const length = this.view.state.doc.length;
    try {
      return A.getCursor(doc, sourcePath(this.cellId), offset >= length ? "end" : offset);
    } catch {
      return undefined;
    }
  }

  /** The editor offset of an Automerge cursor, mapped through pending typing. */
  offsetOf(cursor: string): number | undefined {
    try {
      const pos = A.getCursorPosition(this.replica.notebook, sourcePath(this.cellId), cursor);
      const mapped = this.pending ? this.pending.mapPos(pos) : pos;
      return Math.min(mapped, this.view.state.doc.length);
    } catch {
      return undefined;
    }
  }

  destroy(): void {
    this.commit();
    for (const u of this.unsubscribe) u();
  }
}
