/**
 * A notebook's local copy in IndexedDB, read from the moment the page knows
 * which notebook it shows: the read needs no WebAssembly, so it overlaps
 * Automerge's loading instead of following it.
 *
 * Tried and dropped: opening a page without a local copy from the server's
 * stored documents (one saved document to `load`) instead of syncing
 * everything. In Chromium here both took the same time for 200 cells of
 * 2 KB (first editor p50 962 ms against 917 ms over 8 alternating opens):
 * Automerge's work on 325,000 operations costs the same either way.
 */

import { DocStorage } from "../sync/persistence";

export interface LocalCopyBytes {
  notebook?: Uint8Array;
  runtime?: Uint8Array;
}

export class LocalCopy {
  readonly storage: DocStorage;
  readonly bytes: Promise<LocalCopyBytes>;

  constructor(notebookId: string) {
    this.storage = new DocStorage(notebookId);
    this.bytes = Promise.all([this.storage.load("notebook"), this.storage.load("runtime")]).then(
      ([notebook, runtime]) => ({ notebook, runtime }),
    );
  }
}
