/**
 * What the address names, read the same way by the page's first script
 * (early-preview.ts) and by the app (main.ts), which are separate bundles.
 */

/** The notebook `/notebooks/{id}` names, if the page is one. */
export function notebookIdFromPath(pathname: string): string | undefined {
  const match = /^\/notebooks\/([^/]+)\/?$/.exec(pathname);
  return match ? decodeURIComponent(match[1]) : undefined;
}

/** A preview request the first script started, handed to the app. */
export interface EarlyPreview {
  notebookId: string;
  token: string;
  response: Promise<Response>;
}

/** Where the first script leaves its request: the one thing both bundles share is the window. */
const SLOT = "__cathodeEarlyPreview";

export function leaveEarlyPreview(early: EarlyPreview): void {
  (window as unknown as Record<string, unknown>)[SLOT] = early;
}

/**
 * The first script's request, if it asked for this notebook with this
 * token (taken once: a second reader sends its own).
 */
export function takeEarlyPreview(notebookId: string, token: string): Promise<Response> | undefined {
  const slots = window as unknown as Record<string, EarlyPreview | undefined>;
  const early = slots[SLOT];
  slots[SLOT] = undefined;
  return early && early.notebookId === notebookId && early.token === token ? early.response : undefined;
}
