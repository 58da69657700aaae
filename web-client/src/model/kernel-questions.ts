/**
 * Asking the notebook's kernel for completion and inspection (frames 0x30
 * and 0x31, schema/src/kernel_query.rs): ephemeral, never in a document.
 * Each kind keeps only its latest question: an older one resolves
 * `undefined` the moment a newer one is asked, and its late reply is
 * dropped, so a slow answer never replaces a fresh one.
 */

import type { Frame, KernelAnswer, KernelQuery } from "../sync/wire";

/** How long a question may wait before the page stops waiting. */
const TIMEOUT_MS = 5000;

interface Pending {
  kind: KernelQuery["kind"];
  resolve: (answer: KernelAnswer | undefined) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class KernelQuestions {
  private nextId = 1;
  private pending = new Map<number, Pending>();

  constructor(private readonly send: (frame: Frame) => boolean) {}

  ask(query: KernelQuery): Promise<KernelAnswer | undefined> {
    for (const [id, p] of this.pending) {
      if (p.kind === query.kind) this.settle(id, undefined);
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => this.settle(id, { status: "unavailable", reason: "the kernel did not answer in time" }),
        TIMEOUT_MS,
      );
      this.pending.set(id, { kind: query.kind, resolve, timer });
      if (!this.send({ type: "kernel_request", id, query })) {
        this.settle(id, { status: "unavailable", reason: "offline: the server is not connected" });
      }
    });
  }

  /** A reply arrived; one for a question no longer waiting is dropped. */
  replied(id: number, answer: KernelAnswer): void {
    this.settle(id, answer);
  }

  private settle(id: number, answer: KernelAnswer | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(answer);
  }
}

/** A UTF-16 offset in `text` as a count of code points (Jupyter's unit). */
export function codePointsBefore(text: string, utf16: number): number {
  let n = 0;
  for (let i = 0; i < utf16 && i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** A count of code points from the start of `text` as a UTF-16 offset. */
export function utf16Offset(text: string, codePoints: number): number {
  let i = 0;
  for (let n = 0; n < codePoints && i < text.length; n++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  return i;
}
