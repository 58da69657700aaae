/**
 * Jupyter's keyboard in command and edit mode, each operation checked in
 * the notebook document (so the server's layout checker saw every writer
 * the keys use, and refused none): insert, delete and its undo keeping the
 * cell's id, cell types and headings, copy/cut/paste, selection and merge,
 * moving, splitting, and the help overlay.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";
import { cellIds, forbidden, source, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

async function types(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).cathode.order().map((id: string) => document.querySelector(`[data-cell-id="${id}"]`)?.getAttribute("data-type")));
}

async function activeId(page: Page): Promise<string | undefined> {
  return page.evaluate(() => (window as any).cathode.page.controller.active);
}

async function typeInto(page: Page, text: string): Promise<void> {
  await page.keyboard.press("Enter");
  await page.keyboard.insertText(text);
  await page.keyboard.press("Escape");
}

test("command-mode keys edit the notebook as in JupyterLab", async () => {
  const notebook = await server.createNotebook("Keys");
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  await page.getByText("An empty notebook").waitFor();
  const k = (key: string) => page.keyboard.press(key);

  await k("b");
  await typeInto(page, "first");
  await k("b");
  await typeInto(page, "second");
  await k("a");
  await typeInto(page, "between");
  let ids = await waitFor("three cells", () => cellIds(page), (v) => v.length === 3);
  assert.deepEqual(await Promise.all(ids.map((id) => source(page, id))), ["first", "between", "second"]);

  // D D deletes, Z brings the same cell (same id) back, Shift-Z redoes.
  const deleted = await activeId(page);
  assert.equal(deleted, ids[1]);
  await k("d");
  await k("d");
  await waitFor("deleted", () => cellIds(page), (v) => v.length === 2 && !v.includes(deleted!));
  await k("z");
  ids = await waitFor("restored", () => cellIds(page), (v) => v.length === 3);
  assert.equal(ids[1], deleted);
  assert.equal(await source(page, deleted!), "between");
  await k("Shift+Z");
  await waitFor("deleted again", () => cellIds(page), (v) => v.length === 2);
  await k("z");
  await waitFor("restored again", () => cellIds(page), (v) => v.length === 3);

  // Types: M, R, Y; a heading with 2.
  await k("m");
  await waitFor("markdown", () => types(page), (t) => t[1] === "markdown");
  await k("r");
  await waitFor("raw", () => types(page), (t) => t[1] === "raw");
  await k("y");
  await waitFor("code", () => types(page), (t) => t[1] === "code");
  await k("2");
  await waitFor("heading", () => source(page, deleted!), (s) => s === "## between");
  // The document changes at once; the page shows it at the next frame.
  await waitFor("a markdown heading", () => types(page), (t) => t[1] === "markdown");

  // K/J move the selection; C, V paste a copy (a new id) below.
  await k("k");
  assert.equal(await activeId(page), ids[0]);
  await k("c");
  await k("j");
  await k("j");
  assert.equal(await activeId(page), ids[2]);
  await k("v");
  ids = await waitFor("pasted", () => cellIds(page), (v) => v.length === 4);
  assert.equal(await source(page, ids[3]), "first");
  assert.notEqual(ids[3], ids[0], "a pasted copy has its own id");

  // Ctrl-Shift-Up moves the pasted cell above "second".
  await k("Control+Shift+ArrowUp");
  const pasted = ids[3];
  ids = await waitFor("moved up", () => cellIds(page), (v) => v[2] === pasted);
  const sources = await Promise.all(ids.map((id) => source(page, id)));
  assert.deepEqual(sources, ["first", "## between", "first", "second"]);

  // Shift-J extends the selection; Shift-M merges the two into the first.
  await k("Shift+J");
  await k("Shift+M");
  ids = await waitFor("merged", () => cellIds(page), (v) => v.length === 3);
  assert.equal(await source(page, ids[2]), "first\n\nsecond");

  // X cuts, Shift-V pastes above.
  await k("x");
  ids = await waitFor("cut", () => cellIds(page), (v) => v.length === 2);
  await k("k");
  await k("Shift+V");
  ids = await waitFor("pasted above", () => cellIds(page), (v) => v.length === 3);
  assert.equal(await source(page, ids[0]), "first\n\nsecond");

  // Edit mode: Ctrl-Shift-Minus splits at the cursor.
  await page.locator(`[data-cell-id="${ids[0]}"] .gutter`).click();
  await k("Enter");
  await k("Control+Home");
  await k("ArrowDown");
  await k("ArrowDown");
  await k("Control+Shift+Minus");
  ids = await waitFor("split", () => cellIds(page), (v) => v.length === 4);
  assert.equal(await source(page, ids[0]), "first\n");
  assert.equal(await source(page, ids[1]), "second");

  // H shows the help; Escape closes it.
  await k("Escape");
  await k("h");
  await page.locator("dialog.help").waitFor();
  await screenshot(page, "keyboard-help");
  await k("Escape");
  await page.locator("dialog.help").waitFor({ state: "detached" });
  // Drag the first cell by its gutter onto the lower half of the last.
  ids = await cellIds(page);
  const last = page.locator(`[data-cell-id="${ids[3]}"]`);
  const box = (await last.boundingBox())!;
  await page.locator(`[data-cell-id="${ids[0]}"] .gutter`).dragTo(last, {
    targetPosition: { x: 200, y: box.height - 4 },
  });
  const dragged = await waitFor("dragged to the end", () => cellIds(page), (v) => v[3] === ids[0]);
  assert.deepEqual(dragged, [ids[1], ids[2], ids[3], ids[0]]);
  assert.deepEqual(await forbidden(page), []);
  await screenshot(page, "keyboard-after");
  await context.close();
});
