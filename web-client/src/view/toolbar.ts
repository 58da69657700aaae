/**
 * The notebook's toolbar: buttons for the controller's commands (each
 * gated there like its key) and the active cell's type.
 */

import type { CellType } from "../doc/notebook";
import type { NotebookController } from "../commands/controller";
import { h } from "./dom";

export function notebookToolbar(c: NotebookController): HTMLElement {
  const button = (label: string, title: string, action: () => void, cls = "") =>
    h(`button.tool${cls}`, { title, "aria-label": title, onclick: () => action() }, label);
  const typeSelect = h(
    "select.cell-type",
    { "aria-label": "Cell type", title: "Cell type" },
    ...(["code", "markdown", "raw", "ai", "sql"] as CellType[]).map((t) => h("option", { value: t }, t)),
  );
  typeSelect.addEventListener("change", () => {
    c.setType(typeSelect.value as CellType);
    typeSelect.blur();
  });
  const bar = h(
    "nav.toolbar",
    { "aria-label": "Notebook toolbar" },
    button("+", "Insert a cell below (B)", () => c.insert("below")),
    button("Cut", "Cut cells (X)", () => c.cut()),
    button("Copy", "Copy cells (C)", () => c.copy()),
    button("Paste", "Paste cells below (V)", () => c.paste("below")),
    button("↑", "Move up (Ctrl-Shift-Up)", () => c.move(-1)),
    button("↓", "Move down (Ctrl-Shift-Down)", () => c.move(1)),
    h("span.sep"),
    button("▶", "Run the selected cells and advance (Shift-Enter)", () => c.runCell("next"), ".run"),
    button("▶▶", "Run all cells", () => c.runAll()),
    button("⤒", "Run all cells above", () => c.runAbove()),
    button("⤓", "Run this cell and all below", () => c.runBelow()),
    button("■", "Interrupt the kernel (I I)", () => c.interrupt()),
    button("↻", "Restart the kernel (0 0)", () => c.restart()),
    button("↻▶▶", "Restart the kernel and run all", () => c.restartAndRunAll()),
    h("span.sep"),
    typeSelect,
    button("Hide output", "Hide the selected cells' outputs (O)", () => c.toggleOutput()),
    button("Clear", "Clear the selected cells' outputs", () => c.clearOutputs()),
    button("Clear all", "Clear all outputs", () => c.clearOutputs(true)),
  );
  // Keep the active cell's pending typing with it before any action.
  bar.addEventListener("mousedown", () => c.commitTyping());
  c.syncTypeSelect = () => {
    const t = c.activeType();
    if (t && typeSelect.value !== t) typeSelect.value = t;
  };
  return bar;
}
