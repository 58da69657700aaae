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

/** A sync message this large has its changes applied in slices (`applyInSlices`). */
export const LARGE_SYNC_BYTES = 8 * 1024;
/** Main-thread time one slice may take before the page gets a turn. */
const SLICE_MS = 8;
/**
 * Changes handed to Automerge per call: as many as make about this many
 * bytes (each call has a fixed cost), at most `CHANGES_PER_CALL`. One call
 * is one piece of main-thread work: in nine cold opens of the benchmark's
 * notebook (`CATHODE_BENCH_OPENS=9 CATHODE_BENCH_ONLY=open`, the constant
 * changed by hand between runs), the longest task after the first editable
 * cell was p50 51 ms at 8 KB a call against 80-101 ms at 16 KB, the
 * replica taking over no later (1,287 against 1,257 ms).
 */
const BYTES_PER_CALL = 8 * 1024;
const CHANGES_PER_CALL = 64;

/** Give the page a turn (input, rendering) between slices. */
function yieldToPage(): Promise<void> {
  const scheduler = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  if (scheduler?.yield) return scheduler.yield();
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export class Replica {
  /**
   * The documents and sync states, made on first use: a page builds its
   * replica before Automerge's WebAssembly is in, and shows the server's
   * preview meanwhile (`started` says whether they exist yet).
   */
  private docs: { notebook: NotebookDoc; runtime: RuntimeDoc } | undefined;
  private states: Record<DocKind, A.SyncState> | undefined;
  private listeners = new Set<ChangeListener>();
  private beforeRemoteHooks = new Set<() => void>();

  constructor(notebook?: NotebookDoc, runtime?: RuntimeDoc) {
    if (notebook || runtime) this.docs = { notebook: notebook ?? A.init<RawNotebook>(), runtime: runtime ?? A.init<RawRuntime>() };
  }

  /** Whether the documents exist (nothing has needed Automerge before). */
  get started(): boolean {
    return this.docs !== undefined;
  }

  private get documents(): { notebook: NotebookDoc; runtime: RuntimeDoc } {
    return (this.docs ??= { notebook: A.init<RawNotebook>(), runtime: A.init<RawRuntime>() });
  }

  get notebook(): NotebookDoc {
    return this.documents.notebook;
  }

  set notebook(doc: NotebookDoc) {
    this.documents.notebook = doc;
  }

  get runtime(): RuntimeDoc {
    return this.documents.runtime;
  }

  set runtime(doc: RuntimeDoc) {
    this.documents.runtime = doc;
  }

  /** Either document as Automerge sees it: syncing treats both alike. */
  private doc(kind: DocKind): A.Doc<unknown> {
    return this.documents[kind] as A.Doc<unknown>;
  }

  private setDoc(kind: DocKind, doc: A.Doc<unknown>): void {
    if (kind === "notebook") this.notebook = doc as NotebookDoc;
    else this.runtime = doc as RuntimeDoc;
  }

  private get syncStates(): Record<DocKind, A.SyncState> {
    return (this.states ??= { notebook: A.initSyncState(), runtime: A.initSyncState() });
  }

  private set syncStates(states: Record<DocKind, A.SyncState>) {
    this.states = states;
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

  /**
   * Apply a sync message's changes a few at a time, giving the page a turn
   * every `SLICE_MS`; what is left for `receive` is the message without
   * its changes. The first sync of a large notebook is hundreds of
   * milliseconds of Automerge work, which in one piece would hold every
   * key typed meanwhile as long. One change is never split, so this helps
   * as far as the server's changes are small (an import's are: see
   * schema/src/imported.rs; the server sends changes, not the whole
   * document, to a peer that has nothing: sync-server room/incoming.rs).
   * A message under `LARGE_SYNC_BYTES`, or of one change (or one whole
   * document), is left as it is. `stillWanted` ends it early (the
   * connection was replaced).
   */
  async applyInSlices(doc: DocKind, message: Uint8Array, stillWanted: () => boolean): Promise<Uint8Array> {
    if (message.length < LARGE_SYNC_BYTES) return message;
    const decoded = A.decodeSyncMessage(message);
    const changes = decoded.changes;
    if (changes.length <= 1) return message;
    let next = 0;
    while (next < changes.length && stillWanted()) {
      const started = performance.now();
      while (next < changes.length && performance.now() - started < SLICE_MS) {
        const slice: Uint8Array[] = [];
        let bytes = 0;
        while (next < changes.length && slice.length < CHANGES_PER_CALL && (slice.length === 0 || bytes + changes[next].length <= BYTES_PER_CALL)) {
          bytes += changes[next].length;
          slice.push(changes[next++]);
        }
        this.applyChanges(doc, slice);
      }
      if (next < changes.length) await yieldToPage();
    }
    return A.encodeSyncMessage({ ...decoded, changes: [] });
  }

  private applyChanges(kind: DocKind, changes: Uint8Array[]): void {
    this.remote(kind, (patchCallback) => {
      const [next] = A.applyChanges(this.doc(kind), changes, { patchCallback });
      this.setDoc(kind, next);
    });
  }

  receive(kind: DocKind, message: Uint8Array): void {
    this.remote(kind, (patchCallback) => {
      const [next, state] = A.receiveSyncMessage(this.doc(kind), this.syncStates[kind], message, { patchCallback });
      this.setDoc(kind, next);
      this.syncStates[kind] = state;
    });
  }

  /**
   * Apply what came from the server with `apply` (pending typing committed
   * first: the invariant above) and tell everyone the patches it made.
   */
  private remote(doc: DocKind, apply: (patchCallback: (p: A.Patch[]) => void) => void): void {
    this.commitPending();
    let patches: A.Patch[] = [];
    apply((p) => {
      patches = patches.concat(p);
    });
    if (patches.length > 0) this.emit({ doc, patches, origin: "remote" });
  }

  /** The next message owed to the server for `doc`, if any. */
  generate(kind: DocKind): Uint8Array | null {
    const [state, msg] = A.generateSyncMessage(this.doc(kind), this.syncStates[kind]);
    this.syncStates[kind] = state;
    return msg;
  }

  /** Whether the server has every change of ours (as far as it told us). */
  acknowledged(kind: DocKind): boolean {
    if (!this.docs) return true;
    return A.hasOurChanges(this.doc(kind), this.syncStates[kind]);
  }
}
