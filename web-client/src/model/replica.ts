/**
 * A peer's copies of the notebook's two documents and its sync states with
 * the server (as client/src/replica.rs): local changes and received sync
 * messages both end here, and everyone interested hears the patches.
 *
 * Invariant kept for the editors: before a sync message is applied, every
 * editor's typing not yet committed is committed (`beforeRemote`), so the
 * patches that follow apply to exactly what each editor shows.
 */

import * as A from "@automerge/automerge";
import type { DocKind } from "../sync/wire";
import type { NotebookDoc } from "../doc/notebook";
import type { RuntimeDoc, RawRuntime } from "../doc/runtime";
import type { RawNotebook } from "../doc/notebook-types";

export interface DocChange {
  doc: DocKind;
  patches: A.Patch[];
  /** `local`: this page's own edit; `remote`: from the server. */
  origin: "local" | "remote";
}

export type ChangeListener = (change: DocChange) => void;

export class Replica {
  notebook: NotebookDoc;
  runtime: RuntimeDoc;
  private syncStates: Record<DocKind, A.SyncState> = {
    notebook: A.initSyncState(),
    runtime: A.initSyncState(),
  };
  private listeners = new Set<ChangeListener>();
  private beforeRemoteHooks = new Set<() => void>();

  constructor(notebook?: NotebookDoc, runtime?: RuntimeDoc) {
    this.notebook = notebook ?? A.init<RawNotebook>();
    this.runtime = runtime ?? A.init<RawRuntime>();
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called before remote changes land: editors commit their pending typing. */
  onBeforeRemote(hook: () => void): () => void {
    this.beforeRemoteHooks.add(hook);
    return () => this.beforeRemoteHooks.delete(hook);
  }

  commitPending(): void {
    for (const hook of this.beforeRemoteHooks) hook();
  }

  private emit(change: DocChange): void {
    for (const l of this.listeners) l(change);
  }

  /** Apply a local edit of the notebook document made by typed writers. */
  editNotebook(fn: (doc: NotebookDoc) => NotebookDoc): void {
    const before = this.notebook;
    const after = fn(before);
    if (after === before) return;
    const patches = A.diff(after, A.getHeads(before), A.getHeads(after));
    this.notebook = after;
    this.emit({ doc: "notebook", patches, origin: "local" });
  }

  /** Reset sync states: a new session with the server. */
  resetSync(): void {
    this.syncStates = { notebook: A.initSyncState(), runtime: A.initSyncState() };
  }

  receive(doc: DocKind, message: Uint8Array): void {
    this.commitPending();
    let patches: A.Patch[] = [];
    const patchCallback = (p: A.Patch[]) => {
      patches = patches.concat(p);
    };
    if (doc === "notebook") {
      const [next, state] = A.receiveSyncMessage(this.notebook, this.syncStates.notebook, message, { patchCallback });
      this.notebook = next;
      this.syncStates.notebook = state;
    } else {
      const [next, state] = A.receiveSyncMessage(this.runtime, this.syncStates.runtime, message, { patchCallback });
      this.runtime = next;
      this.syncStates.runtime = state;
    }
    if (patches.length > 0) this.emit({ doc, patches, origin: "remote" });
  }

  /** The next message owed to the server for `doc`, if any. */
  generate(doc: DocKind): Uint8Array | null {
    if (doc === "notebook") {
      const [state, msg] = A.generateSyncMessage(this.notebook, this.syncStates.notebook);
      this.syncStates.notebook = state;
      return msg;
    }
    const [state, msg] = A.generateSyncMessage(this.runtime, this.syncStates.runtime);
    this.syncStates.runtime = state;
    return msg;
  }

  /** Whether the server has every change of ours (as far as it told us). */
  acknowledged(doc: DocKind): boolean {
    return doc === "notebook"
      ? A.hasOurChanges(this.notebook, this.syncStates.notebook)
      : A.hasOurChanges(this.runtime, this.syncStates.runtime);
  }
}
