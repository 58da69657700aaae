/**
 * The runtime's state and kernel, with start and restart: the agent's own
 * session status from the runtime document (starting, idle, busy,
 * restarting, dead) when one holds the lease, else what the server says
 * (`GET …/runtime`: none, starting, dead with its reason).
 */

import type { Api, RuntimeStatus } from "../api/rest";
import * as rt from "../doc/runtime";
import type { NotebookSession } from "../model/session";
import type { NotebookController } from "../commands/controller";
import { h, clear } from "./dom";

export class RuntimeBar {
  readonly el = h("div.runtime-bar", { role: "status", "aria-label": "Runtime" });
  private server: RuntimeStatus | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastKey = "";
  private kernels: { name: string; display_name: string }[] = [];
  private chosen: string | undefined;

  constructor(
    private readonly api: Api,
    private readonly notebookId: string,
    private readonly session: NotebookSession,
    private readonly controller: NotebookController,
  ) {}

  start(): void {
    this.api.kernelspecs().then(
      (k) => {
        this.kernels = k.kernelspecs;
        this.lastKey = "";
        this.update();
      },
      () => undefined,
    );
    void this.poll();
    this.timer = setInterval(() => void this.poll(), 3000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (document.visibilityState === "hidden") return;
    try {
      this.server = await this.api.runtimeStatus(this.notebookId);
    } catch {
      this.server = undefined;
    }
    this.update();
  }

  update(): void {
    const doc = this.session.runtime;
    const current = rt.runtimeReady(doc) ? rt.currentSession(doc) : undefined;
    const serverState = this.server?.state;
    let state: string;
    let kernel = current?.kernel ?? this.server?.kernel ?? "";
    let reason = "";
    const holder = rt.runtimeReady(doc) ? rt.lease(doc) : undefined;
    const fresh = !!current && !!holder && holder.expires_at_ms > Date.now() && current.status !== "dead";
    if (!fresh) {
      state = serverState ?? (current ? current.status : "none");
      reason = this.server?.reason ?? "";
      if (serverState === "none") kernel = this.server?.kernel ?? "";
    } else {
      state = current!.status;
    }
    const key = `${state}|${kernel}|${reason}|${this.session.readOnly}|${this.kernels.length}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    clear(this.el);
    this.el.dataset.state = state;
    this.el.append(
      h("span.kernel-name", { title: "Kernel" }, kernel || "no kernel"),
      h(`span.runtime-state.state-${state}`, { title: reason || state }, state),
    );
    if (reason && (state === "dead" || state === "none")) this.el.append(h("span.reason", { title: reason }, "ⓘ"));
    if (!this.session.readOnly) {
      const running = state !== "none" && state !== "dead";
      if (this.kernels.length > 1) {
        const select = h(
          "select.kernel-choice",
          { "aria-label": "Kernel to start", title: "Kernel to start or restart with" },
          ...this.kernels.map((k) => h("option", { value: k.name }, k.display_name || k.name)),
        );
        select.value = this.chosen ?? (kernel || this.kernels[0].name);
        select.addEventListener("change", () => (this.chosen = select.value));
        this.el.append(select);
      }
      this.el.append(
        h(
          "button.small",
          {
            onclick: async () => {
              try {
                // POST starts the agent, or restarts a running one.
                this.server = await this.api.startRuntime(this.notebookId, this.chosen);
              } catch (e) {
                this.el.title = (e as Error).message;
              }
              this.update();
            },
            title: running ? "Restart the runtime agent and its kernel" : "Start the runtime",
          },
          running ? "Restart runtime" : "Start",
        ),
      );
      if (running) {
        this.el.append(
          h(
            "button.small",
            { onclick: () => this.controller.interrupt(), title: "Interrupt the running cell (I I)" },
            "Interrupt",
          ),
        );
      }
    }
  }
}
