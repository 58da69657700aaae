/**
 * A notebook's local copy in IndexedDB, read from the moment the page knows
 * which notebook it shows: the read needs no WebAssembly, so it overlaps
 * Automerge's loading instead of following it.
 *
 * Tried and dropped: opening a page without a local copy from the server's
 * stored documents (one saved document to `load`) instead of syncing
 * everything. In Chromium here both took the same time for 200 cells of
 * 2 KB (first editor p50 962 ms against 917 ms over 8 alternating opens,
 * timed by hand with a throwaway script):
 * Automerge's work on 325,000 operations costs the same either way.
 */

import { DocStorage } from "../sync/persistence";
import type { Role } from "../sync/wire";

const ROLES: readonly Role[] = ["owner", "editor", "viewer", "runtime"];

export interface LocalCopyBytes {
  notebook?: Uint8Array;
  runtime?: Uint8Array;
}

export class LocalCopy {
  readonly storage: DocStorage;
  readonly bytes: Promise<LocalCopyBytes>;

  /**
   * The role the server last gave us here: until its welcome, a page that
   * opened from the local copy (the server down) is read-only if we were a
   * viewer, rather than taking typing the server will refuse.
   */
  lastRole: Role | undefined;
  private readonly roleKey: string;

  constructor(notebookId: string) {
    this.storage = new DocStorage(notebookId);
    this.bytes = Promise.all([this.storage.load("notebook"), this.storage.load("runtime")]).then(
      ([notebook, runtime]) => ({ notebook, runtime }),
    );
    this.roleKey = `cathode.role.${notebookId}`;
    try {
      const role = localStorage.getItem(this.roleKey) as Role | null;
      this.lastRole = role && ROLES.includes(role) ? role : undefined;
    } catch {
      // storage refused: the page learns its role at each welcome
    }
  }

  rememberRole(role: Role): void {
    this.lastRole = role;
    try {
      localStorage.setItem(this.roleKey, role);
    } catch {
      // as above
    }
  }
}
