/** The keyboard help overlay (H in command mode, or the ? button). */

import { COMMAND_KEYS } from "../commands/keymap";
import { h } from "./dom";

export function showHelp(): void {
  if (document.querySelector("dialog.help")) return;
  const dialog = h(
    "dialog.help",
    { "aria-label": "Keyboard shortcuts" },
    h("h2", {}, "Keyboard shortcuts"),
    h("p", {}, "Command mode (Esc): keys act on cells. Edit mode (Enter): keys type, plus these run keys."),
    h(
      "table",
      {},
      h("tbody", {}, ...COMMAND_KEYS.map(([keys, what]) => h("tr", {}, h("th", {}, h("kbd", {}, keys)), h("td", {}, what)))),
    ),
    h("button.primary", { onclick: () => dialog.close() }, "Close"),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
