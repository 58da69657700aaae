/**
 * An owner manages the notebook's secrets by name. Values are write-only:
 * typed here and sent once to the server, never shown and never read back
 * (the server never sends a value to a browser).
 */

import type { Api } from "../api/rest";
import { h, clear } from "./dom";

export class SecretsPanel {
  readonly el = h("details.secrets");
  private list = h("ul.secret-names");
  private status = h("p.status", { role: "status" });

  constructor(
    private readonly api: Api,
    private readonly notebookId: string,
  ) {
    const name = h("input", { placeholder: "NAME", pattern: "[A-Za-z_][A-Za-z0-9_]*", "aria-label": "Secret name" });
    const value = h("input", { type: "password", placeholder: "value (8+ characters)", autocomplete: "new-password", "aria-label": "Secret value" });
    const form = h(
      "form.secret-form",
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await this.api.setSecret(this.notebookId, name.value.trim(), value.value);
            this.status.textContent = `Saved ${name.value.trim()}. Running agents get it when they next start.`;
            value.value = "";
            name.value = "";
            await this.refresh();
          } catch (err) {
            this.status.textContent = (err as Error).message;
          }
        },
      },
      name,
      value,
      h("button.small", { type: "submit" }, "Set"),
    );
    this.el.append(h("summary", {}, "Secrets"), this.list, form, this.status);
    this.el.addEventListener("toggle", () => {
      if (this.el.open) void this.refresh();
    });
  }

  async refresh(): Promise<void> {
    try {
      const names = await this.api.listSecrets(this.notebookId);
      clear(this.list);
      if (names.length === 0) this.list.append(h("li.empty", {}, "No secrets."));
      for (const n of names) {
        this.list.append(
          h(
            "li",
            {},
            h("code", {}, n),
            " ",
            h(
              "button.small",
              {
                onclick: async () => {
                  await this.api.deleteSecret(this.notebookId, n).catch((e) => (this.status.textContent = e.message));
                  await this.refresh();
                },
              },
              "Remove",
            ),
          ),
        );
      }
    } catch (e) {
      this.status.textContent = (e as Error).message;
    }
  }
}
