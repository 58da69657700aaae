/**
 * A cell's outputs. Each output is keyed by its JSON string in the runtime
 * document, so a growing stream re-renders only that output and an
 * unchanged one is never touched (intheloop #372, #415). When a running
 * cell's outputs are cleared (`clear_output(wait=True)` clears at the next
 * output), the area keeps its height until the next output arrives or the
 * run ends, so progress displays do not flicker.
 */

import type { OutputManifest } from "../../doc/runtime";
import { h, clear } from "../dom";
import type { BlobCache } from "./blobs";
import { renderOutput } from "./render-output";
import { forgetFrame } from "./html-frame";
import type { AiOutputHooks } from "../ai/hooks";

export class OutputArea {
  readonly el = h("div.outputs", { role: "log", "aria-label": "Cell outputs" });
  private keys: string[] = [];
  private nodes: HTMLElement[] = [];

  constructor(
    private readonly blobs: BlobCache,
    private readonly hooks?: AiOutputHooks,
  ) {}

  get count(): number {
    return this.keys.length;
  }

  /** Show `raw` (the outputs' JSON strings); `running` holds the height on a clear. */
  update(raw: readonly string[], running: boolean): void {
    if (raw.length === this.keys.length && raw.every((r, i) => r === this.keys[i])) {
      if (!running) this.el.style.minHeight = "";
      return;
    }
    if (raw.length === 0 && running && this.keys.length > 0) {
      this.el.style.minHeight = `${this.el.offsetHeight}px`;
    } else if (raw.length > 0 || !running) {
      this.el.style.minHeight = "";
    }
    const nodes: HTMLElement[] = [];
    for (let i = 0; i < raw.length; i++) {
      if (this.keys[i] === raw[i] && this.nodes[i]) {
        nodes.push(this.nodes[i]);
        continue;
      }
      let output: OutputManifest;
      try {
        output = JSON.parse(raw[i]);
      } catch {
        nodes.push(h("div.output.unknown", {}, "(unreadable output)"));
        continue;
      }
      nodes.push(renderOutput(output, this.blobs, this.hooks));
    }
    for (const old of this.nodes) {
      if (!nodes.includes(old)) {
        for (const f of old.querySelectorAll("iframe")) forgetFrame(f);
        old.remove();
      }
    }
    nodes.forEach((node, i) => {
      if (this.el.children[i] !== node) this.el.insertBefore(node, this.el.children[i] ?? null);
    });
    this.keys = raw.slice();
    this.nodes = nodes;
  }

  reset(): void {
    clear(this.el);
    this.keys = [];
    this.nodes = [];
  }
}
