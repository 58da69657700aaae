/**
 * Both documents of each notebook kept in IndexedDB, so a reload or a
 * dropped connection keeps working on the local copy and merges on
 * reconnect.
 *
 * Storage is append-only chunks (what `saveIncremental` returns) keyed by
 * notebook, document and a random id, so two tabs saving at once never
 * overwrite each other's changes: loading concatenates every chunk. Once
 * there are many, a tab writes its whole document as one chunk and deletes
 * only the chunks it had read or written itself (everything in them is in
 * what it wrote).
 */

import * as A from "@automerge/automerge";
import type { DocKind } from "./wire";

const DB_NAME = "cathode";
const STORE = "chunks";
const COMPACT_AFTER = 64;

type ChunkKey = [string, DocKind, string];

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => {
      open.result.createObjectStore(STORE);
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

export class DocStorage {
  private db: Promise<IDBDatabase> | undefined;
  /** Chunks this tab knows are contained in its documents. */
  private known: Record<DocKind, ChunkKey[]> = { notebook: [], runtime: [] };
  private compacted: Record<DocKind, boolean> = { notebook: false, runtime: false };
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly notebookId: string) {}

  private database(): Promise<IDBDatabase> {
    this.db ??= openDb();
    return this.db;
  }

  private range(doc: DocKind): IDBKeyRange {
    return IDBKeyRange.bound([this.notebookId, doc, ""], [this.notebookId, doc, "\uffff"]);
  }

  /** Every stored chunk of one document, concatenated; `undefined` if none. */
  async load(doc: DocKind): Promise<Uint8Array | undefined> {
    try {
      const db = await this.database();
      const tx = db.transaction(STORE, "readonly");
      const store = tx.objectStore(STORE);
      const keys = (await request(store.getAllKeys(this.range(doc)))) as ChunkKey[];
      const values = (await request(store.getAll(this.range(doc)))) as Uint8Array[];
      this.known[doc] = keys;
      if (values.length === 0) return undefined;
      const total = values.reduce((n, v) => n + v.length, 0);
      const out = new Uint8Array(total);
      let at = 0;
      for (const v of values) {
        out.set(v, at);
        at += v.length;
      }
      return out;
    } catch {
      return undefined; // private browsing, quota: work without it
    }
  }

  /** Append what changed since the last save of this document. */
  save(doc: DocKind, current: A.Doc<unknown>): Promise<void> {
    // The first save of a tab, and every so often, writes the whole
    // document (compressed, fast to load) and drops the chunks it covers.
    // A whole save also moves the point the next incremental one starts
    // from, so it is never encoded twice (for 200 cells of 2 KB each
    // encoding is a long task).
    const compact = this.known[doc].length >= COMPACT_AFTER || !this.compacted[doc];
    if (compact) this.compacted[doc] = true;
    const whole = compact ? A.save(current) : undefined;
    const chunk = whole ? new Uint8Array() : A.saveIncremental(current);
    if (!whole && chunk.length === 0) return this.writing;
    this.writing = this.writing.then(async () => {
      try {
        const db = await this.database();
        const tx = db.transaction(STORE, "readwrite");
        const store = tx.objectStore(STORE);
        const key: ChunkKey = [this.notebookId, doc, `${Date.now().toString(36)}-${crypto.randomUUID()}`];
        if (whole) {
          store.put(whole, key);
          for (const old of this.known[doc]) store.delete(old);
          this.known[doc] = [key];
        } else {
          store.put(chunk, key);
          this.known[doc].push(key);
        }
        await new Promise<void>((resolve, reject) => {
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
        });
      } catch {
        // Storage is a cache; the server has the truth.
      }
    });
    return this.writing;
  }

  /** Forget a notebook's local copy (signing out, a deleted notebook). */
  async clear(): Promise<void> {
    const db = await this.database();
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).delete(this.range("notebook"));
    tx.objectStore(STORE).delete(this.range("runtime"));
  }
}
