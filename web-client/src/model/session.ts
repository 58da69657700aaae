/**
 * One open notebook: the replica of its two documents, the connection that
 * syncs them, their local copy in IndexedDB, and presence. The rest of the
 * page reads documents from here and writes through `edit`, never through
 * the socket.
 */

import { KernelQuestions } from "./kernel-questions";
import * as A from "@automerge/automerge";
import { Connection, type ConnectionStatus } from "../sync/connection";
import type { DocStorage } from "../sync/persistence";
import type { LocalCopy } from "./local-copy";
import { DOC_KINDS, type DocKind, type ErrorFrame, type PeerPresence, type Role, type Welcome } from "../sync/wire";
import { LARGE_SYNC_BYTES, Replica, type DocChange } from "./replica";
import { schemaProblem, type NotebookDoc } from "../doc/notebook";
import type { NotebookPreview } from "../api/rest";

const NEWER_SCHEMA =
  "This notebook was written by a newer cathode than this page knows: reload, or ask for the server to be upgraded. Nothing was changed.";
import type { RawNotebook } from "../doc/notebook-types";
import type { RawRuntime, RuntimeDoc } from "../doc/runtime";

export type SyncState = "loading" | "connecting" | "syncing" | "synced" | "offline" | "failed";

export interface SessionStatus {
  sync: SyncState;
  detail?: string;
  role?: Role;
  user?: string;
  peerId?: string;
  /** Changes of ours the server has not acknowledged yet. */
  unsent: boolean;
}

export interface SessionOptions {
  serverUrl: string;
  wsUrl: string;
  notebookId: string;
  token: string;
  /**
   * Open from (and keep) a local copy in IndexedDB; without it (Node
   * tests) everything comes by sync and nothing is kept.
   */
  localCopy?: LocalCopy;
  WebSocketImpl?: typeof WebSocket;
}

type StatusListener = (status: SessionStatus) => void;
type PeersListener = (peers: Map<string, PeerPresence>) => void;

/**
 * A notebook this large (its cells' sources, in UTF-16 units) opens from
 * the server's preview. Automerge's loading grows with the text: 200
 * cells of 2 KB took it about 500 ms in Node here (one operation per
 * character), so at this size it is roughly 80 ms (scaled, not measured).
 */
const PREVIEW_WORTH_CHARS = 64 * 1024;

/** How long loading the local copy waits for the preview to be shown. */
const PREVIEW_WAIT_MS = 400;

function previewSize(preview: NotebookPreview): number {
  let size = 0;
  for (const cell of Object.values(preview.notebook.doc.cells ?? {})) {
    const source = (cell as { source?: unknown }).source;
    if (typeof source === "string") size += source.length;
  }
  return size;
}

export class NotebookSession {
  readonly replica: Replica;
  readonly connection: Connection;
  private storage: DocStorage | undefined;
  private statusListeners = new Set<StatusListener>();
  private peersListeners = new Set<PeersListener>();
  private errorListeners = new Set<(e: ErrorFrame) => void>();
  readonly peers = new Map<string, PeerPresence>();
  /** Completion and inspection questions for the kernel (never in a document). */
  readonly kernel = new KernelQuestions((frame) => this.connection.send(frame));
  /** Every error frame received: tests check none was `forbidden`. */
  readonly errors: ErrorFrame[] = [];
  private welcome: Welcome | undefined;
  private connState: ConnectionStatus = { state: "connecting" };
  private flushScheduled = false;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private idleSave: number | undefined;
  private lastStatus = "";
  /**
   * The server's JSON of both documents (`setPreview`), read in place of
   * the replica until the replica holds everything it shows: applying a
   * large notebook's first sync takes Automerge hundreds of milliseconds,
   * parsing its JSON a few.
   */
  private preview: NotebookPreview | undefined;
  /** The notebook heads the preview showed: typing done on it is placed there. */
  previewHeads: string[] | undefined;
  /**
   * Edits made while previewing (cell operations wait for the replica: see
   * the controller; these are the rest, such as a collapsed input), applied
   * by `applyQueuedEdits` once the editors' typing on the preview is in.
   */
  private queuedEdits: Array<(doc: NotebookDoc) => NotebookDoc> = [];

  constructor(private readonly options: SessionOptions) {
    this.replica = new Replica();
    this.storage = options.localCopy?.storage;
    this.connection = new Connection(
      { url: options.wsUrl, notebookId: options.notebookId, token: options.token, WebSocketImpl: options.WebSocketImpl },
      {
        welcome: (w) => this.afterLocalCopy(() => this.onWelcome(w)),
        sync: (doc, msg) => this.afterLocalCopy(() => this.onSync(doc, msg)),
        peers: (p) => this.afterLocalCopy(() => this.applyPeers(p)),
        kernelReply: (id, answer) => this.kernel.replied(id, answer),
        error: (e) => this.afterLocalCopy(() => this.onError(e)),
        status: (s) =>
          this.afterLocalCopy(() => {
            this.connState = s;
            if (s.state !== "connected") {
              this.peers.clear();
              for (const l of this.peersListeners) l(this.peers);
            }
            this.endPreviewIfCaughtUp();
            this.publishStatus();
          }),
      },
    );
    this.replica.onChange((c) => this.onLocalOrRemote(c));
  }

  get notebookId(): string {
    return this.options.notebookId;
  }

  get serverUrl(): string {
    return this.options.serverUrl;
  }

  get token(): string {
    return this.options.token;
  }

  /**
   * What the connection delivered while the local copy was still loading,
   * in order; `undefined` once it is loaded.
   */
  private waiting: Array<() => void> | undefined = [];

  /**
   * Run `fn` now, or once the local copy is loaded: the socket opens while
   * IndexedDB is read, but a sync message may only meet the documents as
   * the local copy leaves them.
   */
  private afterLocalCopy(fn: () => void): void {
    if (this.waiting) this.waiting.push(fn);
    else fn();
  }

  /**
   * Connect, and load the local copy (if any) meanwhile. Loading it holds
   * the page for a few hundred milliseconds on a large notebook, so it
   * waits (at most `PREVIEW_WAIT_MS`) for `previewShown`: the page shows
   * the server's preview first.
   */
  async open(previewShown?: Promise<unknown>): Promise<void> {
    performance.mark("cathode:open");
    this.connection.start();
    const copy = await this.options.localCopy?.bytes;
    if (previewShown && (copy?.notebook || copy?.runtime)) {
      await Promise.race([previewShown, new Promise((r) => setTimeout(r, PREVIEW_WAIT_MS))]);
    }
    try {
      if (copy?.notebook) this.replica.notebook = A.loadIncremental(this.replica.notebook, copy.notebook);
      if (copy?.runtime) this.replica.runtime = A.loadIncremental(this.replica.runtime, copy.runtime);
    } catch {
      // A damaged local copy: start from the server's.
      this.replica.notebook = A.init<RawNotebook>();
      this.replica.runtime = A.init<RawRuntime>();
    }
    performance.mark("cathode:local-copy-loaded");
    this.markReady();
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    for (const fn of waiting) fn();
    this.endPreviewIfCaughtUp();
    this.publishStatus();
  }

  /**
   * Show `preview` until the replica holds what it shows. Ignored once the
   * replica can be read (the page then already shows the notebook), and
   * for a small notebook, whose replica is about as quick: the preview
   * only pays where Automerge's loading takes long enough to notice.
   */
  setPreview(preview: NotebookPreview): void {
    if (this.ready || this.previewHeads || previewSize(preview) < PREVIEW_WORTH_CHARS) return;
    this.preview = preview;
    this.previewHeads = preview.notebook.heads;
    performance.mark("cathode:preview");
    this.publishStatus();
  }

  /** Whether the page reads the server's preview rather than the replica. */
  get previewing(): boolean {
    return this.preview !== undefined;
  }

  /**
   * The replica takes over from the preview once it holds both documents'
   * previewed heads, or, when it cannot get them (the connection lost),
   * once it can be read at all. The page then hands its editors' typing
   * over and calls `applyQueuedEdits`.
   */
  private endPreviewIfCaughtUp(): void {
    const p = this.preview;
    if (!p || !this.ready) return;
    const caughtUp = A.hasHeads(this.replica.notebook, p.notebook.heads) && A.hasHeads(this.replica.runtime, p.runtime.heads);
    const cut = this.connState.state !== "connected" && this.connState.state !== "connecting";
    if (!caughtUp && !cut) return;
    this.preview = undefined;
    performance.mark("cathode:replica-took-over");
  }

  /** Apply the edits made while previewing, in order (see `queuedEdits`). */
  applyQueuedEdits(): void {
    const queued = this.queuedEdits;
    this.queuedEdits = [];
    for (const fn of queued) this.edit(fn);
  }

  close(): void {
    this.replica.commitPending();
    this.saveNow();
    this.connection.stop();
  }

  get role(): Role | undefined {
    return this.welcome?.role ?? this.options.localCopy?.lastRole ?? this.preview?.role;
  }

  get user(): string {
    return this.welcome?.user ?? "";
  }

  get peerId(): string | undefined {
    return this.welcome?.peer_id;
  }

  get readOnly(): boolean {
    const role = this.role;
    return role !== undefined && role !== "owner" && role !== "editor";
  }

  get notebook(): NotebookDoc {
    return this.preview ? (this.preview.notebook.doc as NotebookDoc) : this.replica.notebook;
  }

  get runtime(): RuntimeDoc {
    return this.preview ? (this.preview.runtime.doc as RuntimeDoc) : this.replica.runtime;
  }

  /**
   * Whether the notebook document can be read (synced at least once). Never
   * before `open`: until then Automerge may not be loaded.
   */
  get ready(): boolean {
    return this.replica.started && schemaProblem(this.replica.notebook) === undefined;
  }

  status(): SessionStatus {
    let sync: SyncState;
    switch (this.connState.state) {
      case "connecting":
        // Reconnecting with a local copy in hand is working offline.
        sync = this.ready && this.welcome ? "offline" : "connecting";
        break;
      case "connected":
        sync = this.isSynced() ? "synced" : "syncing";
        break;
      case "disconnected":
      case "offline":
        sync = "offline";
        break;
      case "failed":
        sync = "failed";
        break;
    }
    const detail = this.connState.state === "failed" ? this.connState.reason : undefined;
    return {
      sync,
      detail,
      role: this.role,
      user: this.welcome?.user,
      peerId: this.welcome?.peer_id,
      unsent: !DOC_KINDS.every((k) => this.replica.acknowledged(k)),
    };
  }

  private isSynced(): boolean {
    return this.ready && DOC_KINDS.every((k) => this.replica.acknowledged(k));
  }

  onStatus(l: StatusListener): () => void {
    this.statusListeners.add(l);
    l(this.status());
    return () => this.statusListeners.delete(l);
  }

  /**
   * Resolves the first time the page reads its own replica (no preview)
   * and holds everything the server has: the notebook has finished
   * opening.
   */
  loaded(): Promise<void> {
    return new Promise((resolve) => {
      const listener: StatusListener = (s) => {
        if (s.sync !== "synced" || this.previewing) return;
        this.statusListeners.delete(listener);
        resolve();
      };
      this.onStatus(listener);
    });
  }

  onPeers(l: PeersListener): () => void {
    this.peersListeners.add(l);
    return () => this.peersListeners.delete(l);
  }

  onServerError(l: (e: ErrorFrame) => void): () => void {
    this.errorListeners.add(l);
    return () => this.errorListeners.delete(l);
  }

  private publishStatus(): void {
    const s = this.status();
    const key = JSON.stringify(s);
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    for (const l of this.statusListeners) l(s);
  }

  /** Write the notebook document through typed writers. */
  edit(fn: (doc: NotebookDoc) => NotebookDoc): void {
    if (this.readOnly) return;
    if (this.preview) {
      this.queuedEdits.push(fn);
      return;
    }
    // Nothing to edit yet (and, before `open`, no Automerge to edit with).
    if (!this.ready) return;
    this.replica.commitPending();
    this.replica.editNotebook(fn);
  }

  setPresence(state: unknown): void {
    this.connection.setPresence(state);
  }

  setOnline(online: boolean): void {
    this.connection.setOnline(online);
  }

  private onWelcome(w: Welcome): void {
    performance.mark("cathode:welcome");
    this.welcome = w;
    this.options.localCopy?.rememberRole(w.role);
    this.replica.resetSync();
    this.flush();
    this.publishStatus();
  }

  /** Sync messages still being applied in slices; later ones wait behind them. */
  private incoming: Promise<void> | undefined;

  /**
   * Apply a sync message: in order, and a large one in slices with the
   * page taking turns between them (`Replica.applyInSlices`).
   */
  private onSync(doc: DocKind, message: Uint8Array): void {
    if (!this.incoming && message.length < LARGE_SYNC_BYTES) return this.applySync(doc, message);
    const welcome = this.welcome;
    const stillWanted = () => this.welcome === welcome;
    const applied = (this.incoming ?? Promise.resolve())
      .then(() => this.replica.applyInSlices(doc, message, stillWanted))
      .then((rest) => {
        // A message from a connection since replaced is not answered: the
        // new one syncs afresh (its changes, applied, are kept).
        if (stillWanted()) this.applySync(doc, rest);
      })
      .catch((e) => console.warn("could not apply the server's sync message", e))
      .finally(() => {
        if (this.incoming === applied) this.incoming = undefined;
      });
    this.incoming = applied;
  }

  private readyMarked = false;

  /** The moment the whole first sync (or the local copy) made the replica readable. */
  private markReady(): void {
    if (this.readyMarked || !this.ready) return;
    this.readyMarked = true;
    performance.mark("cathode:notebook-ready");
  }

  private applySync(doc: DocKind, message: Uint8Array): void {
    try {
      this.replica.receive(doc, message);
    } catch (e) {
      console.warn("could not apply the server's sync message", e);
      return;
    }
    this.markReady();
    this.endPreviewIfCaughtUp();
    if (schemaProblem(this.replica.notebook) === "newer_schema") {
      // Never write into a layout this page does not know.
      this.connection.stop();
      this.connState = { state: "failed", reason: NEWER_SCHEMA };
      this.publishStatus();
      return;
    }
    this.flush();
    this.publishStatus();
  }

  private applyPeers(update: PeerPresence[]): void {
    for (const p of update) {
      if (p.state === null) this.peers.delete(p.peer_id);
      else this.peers.set(p.peer_id, p);
    }
    for (const l of this.peersListeners) l(this.peers);
  }

  private onError(e: ErrorFrame): void {
    this.errors.push(e);
    if (e.code === "forbidden") console.warn("the server refused a change:", e.message);
    for (const l of this.errorListeners) l(e);
  }

  private onLocalOrRemote(change: DocChange): void {
    if (change.origin === "local") this.scheduleFlush();
    this.scheduleSave(change.origin === "local");
  }

  /** Local changes go out in one message per document per task. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
      this.publishStatus();
    });
  }

  /** Send whatever the server is owed for both documents. */
  flush(): void {
    if (!this.connection.isOpen) return;
    for (const doc of DOC_KINDS) {
      const msg = this.replica.generate(doc);
      if (msg) this.connection.sendSync(doc, msg);
    }
  }

  /**
   * Our own typing is written to the local copy within 300 ms, as the only
   * copy until the server has it. What came from the server waits for an
   * idle moment (at most 2 s): the first save of a freshly opened notebook
   * encodes the whole document, which would otherwise land in the middle
   * of its first render.
   */
  private scheduleSave(local: boolean): void {
    if (!this.storage) return;
    if (local) {
      if (this.saveTimer) return;
      this.cancelIdleSave();
      this.saveTimer = setTimeout(() => {
        this.saveTimer = undefined;
        this.saveNow();
      }, 300);
    } else if (!this.saveTimer && this.idleSave === undefined) {
      this.idleSave = requestIdleCallback(
        () => {
          this.idleSave = undefined;
          this.saveNow();
        },
        { timeout: 2000 },
      );
    }
  }

  private cancelIdleSave(): void {
    if (this.idleSave !== undefined) cancelIdleCallback(this.idleSave);
    this.idleSave = undefined;
  }

  /** Write what changed to the local copy now; resolves once written. */
  saveNow(): Promise<void> {
    if (!this.storage) return Promise.resolve();
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.cancelIdleSave();
    this.replica.commitPending();
    void this.storage.save("notebook", this.replica.notebook);
    return this.storage.save("runtime", this.replica.runtime);
  }
}
