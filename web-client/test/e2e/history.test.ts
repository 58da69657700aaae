/**
 * History and time travel: two people edit, one deletes a cell, and a
 * third brings it back from the history panel (with its id and source;
 * the others see it); then the whole notebook is restored to its import,
 * after a look at a cell's diff against now, and that restore is undone;
 * a listed restore is undone later from another page after a reload.
 * Every restore is new changes the server accepts (none refused).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";
import { cellIds, source, forbidden, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

function code(id: string, text: string) {
  return { id, cell_type: "code", metadata: {}, source: [text], execution_count: null, outputs: [] };
}

async function typeAtEnd(page: Page, cell: string, text: string): Promise<void> {
  await page.locator(`[data-cell-id="${cell}"] .cm-content`).click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(text, { delay: 10 });
  await page.keyboard.press("Escape");
}

test("a deleted cell comes back from the history panel, and a whole-notebook restore is undone", async () => {
  const file = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [code("first", "x = 1"), code("second", "y = 2")] };
  const { id } = await server.api<{ id: string }>("POST", "/api/notebooks/import?name=timetravel", JSON.stringify(file));
  const bobToken = await server.person("bob", id, "editor");
  const carolToken = await server.person("carol", id, "editor");
  const ada = await openAs(browser, server, server.token, `/notebooks/${id}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${id}`);
  for (const p of [ada.page, bob.page]) await waitFor("both cells", () => cellIds(p), (ids) => ids.length === 2);

  await typeAtEnd(ada.page, "first", " # ada");
  await typeAtEnd(bob.page, "second", " # bob");
  for (const p of [ada.page, bob.page]) {
    await waitFor("both edits everywhere", async () => [await source(p, "first"), await source(p, "second")], ([a, b]) => a === "x = 1 # ada" && b === "y = 2 # bob");
  }
  await bob.page.locator(`[data-cell-id="second"] .gutter`).click();
  await bob.page.keyboard.press("d");
  await bob.page.keyboard.press("d");
  for (const p of [ada.page, bob.page]) await waitFor("the cell deleted", () => cellIds(p), (ids) => ids.join() === "first");

  // A third person opens the history.
  const carol = await openAs(browser, server, carolToken, `/notebooks/${id}`);
  await waitFor("carol's copy", () => cellIds(carol.page), (ids) => ids.join() === "first");
  await carol.page.getByRole("button", { name: "History" }).click();
  const deleted = carol.page.locator(`li.history-burst[data-kind="deleted"]`);
  await deleted.waitFor({ timeout: 30_000 });
  assert.match(await deleted.innerText(), /bob/);
  const kinds = await carol.page.locator("li.history-burst").evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.kind));
  assert.deepEqual(kinds.slice(-2), ["import", "created_notebook"], `${kinds}`);
  assert.ok(kinds.indexOf("deleted") < kinds.lastIndexOf("edited"), `newest first: ${kinds}`);

  // The point just before the delete: the cell as it was, deleted since.
  await carol.page.locator(`li.history-burst[data-kind="deleted"] + li.history-burst`).click();
  const gone = carol.page.locator(`.history-cell[data-cell-id="second"]`);
  await gone.waitFor();
  assert.equal(await gone.getAttribute("data-state"), "deleted");
  assert.equal(await gone.locator(".history-source").innerText(), "y = 2 # bob");
  await screenshot(carol.page, "history-before-delete");
  await gone.getByRole("button", { name: "Bring back" }).click();
  for (const p of [ada.page, bob.page, carol.page]) {
    await waitFor("the cell back, in its place, with its source", async () => [(await cellIds(p)).join(), await source(p, "second")], ([ids, s]) => ids === "first,second" && s === "y = 2 # bob");
  }
  // The restore is listed as one.
  await carol.page.locator(`li.history-burst[data-kind="restore"]`).first().waitFor({ timeout: 30_000 });

  // The notebook as imported: a diff against now, then restore it whole.
  await carol.page.locator(`li.history-burst[data-kind="import"]`).click();
  const first = carol.page.locator(`.history-cell[data-cell-id="first"]`);
  await first.waitFor();
  assert.equal(await first.getAttribute("data-state"), "changed");
  await first.getByRole("button", { name: "Diff with now" }).click();
  assert.equal(await first.locator(".diff-del").innerText(), "- x = 1");
  assert.equal(await first.locator(".diff-add").innerText(), "+ x = 1 # ada");
  await carol.page.getByRole("button", { name: "Restore the whole notebook to this point" }).click();
  for (const p of [ada.page, bob.page]) {
    await waitFor("the notebook as imported", async () => [await source(p, "first"), await source(p, "second")], ([a, b]) => a === "x = 1" && b === "y = 2");
  }
  await screenshot(carol.page, "history-restored");

  // Undo that restore: both edits are back, for everyone.
  await carol.page.getByRole("button", { name: "Undo this restore" }).click();
  for (const p of [ada.page, bob.page, carol.page]) {
    await waitFor("the restore undone", async () => [(await cellIds(p)).join(), await source(p, "first"), await source(p, "second")], ([ids, a, b]) => ids === "first,second" && a === "x = 1 # ada" && b === "y = 2 # bob");
  }
  for (const p of [ada.page, bob.page, carol.page]) assert.deepEqual(await forbidden(p), []);

  // Any listed restore can be undone later, from another page after a
  // reload: Ada undoes Carol's undo, and the notebook is as imported again.
  await ada.page.reload();
  await waitFor("Ada's copy after the reload", () => cellIds(ada.page), (ids) => ids.length === 2);
  await ada.page.getByRole("button", { name: "History" }).click();
  const newest = ada.page.locator(`li.history-burst[data-kind="restore"]`).first();
  await newest.waitFor({ timeout: 30_000 });
  await newest.getByRole("button", { name: "Undo" }).click();
  for (const p of [ada.page, bob.page, carol.page]) {
    await waitFor("Carol's undo undone", async () => [(await cellIds(p)).join(), await source(p, "first"), await source(p, "second")], ([ids, a, b]) => ids === "first,second" && a === "x = 1" && b === "y = 2");
  }
  assert.deepEqual(await forbidden(ada.page), []);

  // A viewer reads the history but gets no restore buttons.
  const vicToken = await server.person("vic", id, "viewer");
  const vic = await openAs(browser, server, vicToken, `/notebooks/${id}`);
  await waitFor("vic's copy", () => cellIds(vic.page), (ids) => ids.length === 2);
  await vic.page.getByRole("button", { name: "History" }).click();
  await vic.page.locator(`li.history-burst[data-kind="import"]`).click();
  await vic.page.locator(`.history-cell[data-cell-id="first"]`).waitFor();
  assert.equal(await vic.page.locator(".history-restore-cell, .history-restore-all, .history-undo-burst").count(), 0);
  for (const c of [ada, bob, carol, vic]) await c.context.close();
});
