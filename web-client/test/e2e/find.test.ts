/**
 * Find and replace across a 50-cell notebook, and the table of contents
 * with collapsible sections, in real pages against a real server:
 * the count and "n of N", next and previous moving across cells with the
 * match selected in its editor, case and regex toggles (a bad regex is a
 * message, not an exception), outputs searched but never replaced, replace
 * all seen by another person and undone, one replacement undone with
 * Ctrl-Z in its cell like typing; a viewer finds but has no replace; the
 * contents list the headings in order, jump to a cell, Left and Right
 * collapse and expand a section, and typing in a code cell leaves the
 * list's DOM alone while renaming a heading updates it.
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

interface Spec {
  id: string;
  type: "markdown" | "code";
  source: string;
  output?: string;
}

/** 50 cells: headings every ten, a level-3 heading at 25, "apple" in many sources, one output. */
function specs(): Spec[] {
  const out: Spec[] = [];
  for (let i = 0; i < 50; i++) {
    if (i === 0) out.push({ id: "md-0", type: "markdown", source: "# Fruit notebook\nAn apple a day." });
    else if (i % 10 === 0) out.push({ id: `md-${i}`, type: "markdown", source: `## Section ${i}\nText about apple number ${i}.` });
    else if (i === 25) out.push({ id: "md-25", type: "markdown", source: "### Sub 25" });
    else if (i === 7) out.push({ id: "code-7", type: "code", source: 'name = "Apple"  # Apple with a capital' });
    else if (i % 3 === 0) out.push({ id: `code-${i}`, type: "code", source: `value_${i} = "apple"\nprint(value_${i})`, output: i === 3 ? "apple tree\n" : undefined });
    else out.push({ id: `code-${i}`, type: "code", source: `x_${i} = ${i}` });
  }
  return out;
}

function ipynb(cells: Spec[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: cells.map((c, i) =>
      c.type === "markdown"
        ? { id: c.id, cell_type: "markdown", metadata: {}, source: c.source }
        : {
            id: c.id,
            cell_type: "code",
            metadata: {},
            execution_count: c.output ? i : null,
            source: c.source,
            outputs: c.output ? [{ output_type: "stream", name: "stdout", text: c.output }] : [],
          },
    ),
  });
}

async function importNotebook(name: string, cells: Spec[]): Promise<string> {
  const response = await fetch(`${server.url}/api/notebooks/import?name=${encodeURIComponent(name)}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${server.token}` },
    body: ipynb(cells),
  });
  const body = await response.text();
  assert.equal(response.status, 201, body);
  return (JSON.parse(body) as { id: string }).id;
}

/** Where each match is, computed here independently of the page: [cell, from, to]. */
function expectedMatches(cells: Spec[], re: RegExp): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (const c of cells) for (const m of c.source.matchAll(re)) out.push([c.id, m.index!, m.index! + m[0].length]);
  return out;
}

async function opened(token: string, notebook: string): Promise<{ page: Page; close: () => Promise<void>; errors: string[] }> {
  const { context, page } = await openAs(browser, server, token, `/notebooks/${notebook}`);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await waitFor("50 cells", () => cellIds(page), (v) => v.length === 50, 60_000);
  await page.locator(".sync", { hasText: "synced" }).waitFor();
  return { page, close: () => context.close(), errors };
}

const countText = (page: Page) => page.locator(".find-count").innerText();
const activeId = (page: Page) => page.evaluate(() => (window as any).cathode.page.controller.active as string | undefined);

/** The selection in a cell's editor, and whether the current-match mark is drawn there. */
async function selectionIn(page: Page, id: string): Promise<{ from: number; to: number; marked: boolean }> {
  return page.evaluate((cell) => {
    const view = (window as any).cathode.page.views.get(cell).view;
    const s = view.state.selection.main;
    return { from: s.from, to: s.to, marked: !!document.querySelector(`[data-cell-id="${cell}"] .cm-find-current`) };
  }, id);
}

async function allSources(page: Page, cells: Spec[]): Promise<string[]> {
  return Promise.all(cells.map((c) => source(page, c.id)));
}

test("find across 50 cells: count, next and previous, toggles, replace all seen by another person, undo", async () => {
  const cells = specs();
  const notebook = await importNotebook("Find", cells);
  const bobToken = await server.person("bob", notebook, "editor");
  const ada = await opened(server.token, notebook);
  const bob = await opened(bobToken, notebook);
  const page = ada.page;
  const all = expectedMatches(cells, /apple/gi);
  assert.equal(all.length, 22);

  // Ctrl-F in command mode opens the bar with the query field focused.
  await page.keyboard.press("Control+f");
  await page.locator(".find-bar").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Find");
  await page.getByLabel("Find", { exact: true }).fill("apple");
  await waitFor("count", () => countText(page), (t) => t === `1 of ${all.length}`);

  // Enter moves to the next match, across cells; the match is selected in its editor.
  for (let k = 1; k <= 4; k++) {
    await page.keyboard.press("Enter");
    await waitFor(`match ${k + 1}`, () => countText(page), (t) => t === `${k + 1} of ${all.length}`);
    const [cell, from, to] = all[k];
    assert.equal(await activeId(page), cell);
    assert.deepEqual(await selectionIn(page, cell), { from, to, marked: true });
  }
  await screenshot(page, "find-next");
  // Shift-Enter goes back; from the first it wraps to the last.
  for (let k = 0; k < 4; k++) await page.keyboard.press("Shift+Enter");
  await waitFor("back to 1", () => countText(page), (t) => t === `1 of ${all.length}`);
  assert.equal(await activeId(page), all[0][0]);
  await page.keyboard.press("Shift+Enter");
  await waitFor("wrapped", () => countText(page), (t) => t === `${all.length} of ${all.length}`);
  const last = all[all.length - 1];
  assert.equal(await activeId(page), last[0]);
  assert.deepEqual(await selectionIn(page, last[0]), { from: last[1], to: last[2], marked: true });
  // The buttons do the same.
  await page.getByRole("button", { name: "Next match (Enter)" }).click();
  await waitFor("next by button", () => countText(page), (t) => t === `1 of ${all.length}`);

  // Case: "apple" but not "Apple".
  await page.getByLabel("Match case").check();
  await waitFor("case-sensitive count", () => countText(page), (t) => t.endsWith(` of ${expectedMatches(cells, /apple/g).length}`));
  await page.getByLabel("Match case").uncheck();
  // Regex: a pattern, then a bad one is a message (no exception in the page).
  await page.getByLabel("Regular expression").check();
  await page.getByLabel("Find", { exact: true }).fill('value_\\d+ = "apple"');
  const rx = expectedMatches(cells, /value_\d+ = "apple"/gi);
  assert.equal(rx.length, 15);
  await waitFor("regex count", () => countText(page), (t) => t === `1 of ${rx.length}`);
  await page.getByLabel("Find", { exact: true }).fill("(apple");
  await waitFor("bad regex message", () => countText(page), (t) => t.startsWith("Not a valid regular expression"));
  assert.equal(await page.getByLabel("Find", { exact: true }).getAttribute("aria-invalid"), "true");
  await screenshot(page, "find-bad-regex");
  await page.getByLabel("Regular expression").uncheck();

  // Outputs: searched when asked (the stream "apple tree" of code-3).
  await page.getByLabel("Find", { exact: true }).fill("apple tree");
  await waitFor("no source match", () => countText(page), (t) => t === "No results");
  await page.getByLabel("Search outputs").check();
  await waitFor("output match", () => countText(page), (t) => t === "1 of 1");
  assert.equal(await activeId(page), "code-3");
  await page.locator('[data-cell-id="code-3"] .find-current-output').waitFor();
  await page.getByLabel("Search outputs").uncheck();

  // Replace all: every source match, in one change per cell; the output stays.
  await page.getByLabel("Find", { exact: true }).fill("apple");
  await waitFor("count again", () => countText(page), (t) => t.endsWith(` of ${all.length}`));
  await page.getByLabel("Replace with").fill("pear");
  await page.getByRole("button", { name: "Replace every match in the cells' sources" }).click();
  const replaced = cells.map((c) => c.source.replace(/apple/gi, "pear"));
  await waitFor("replaced at Ada's", () => allSources(page, cells), (s) => JSON.stringify(s) === JSON.stringify(replaced));
  await waitFor("none left", () => countText(page), (t) => t === "No results");
  await page.locator(".find-note", { hasText: `Replaced ${all.length} in 21 cells.` }).waitFor();
  await waitFor("replaced at Bob's", () => allSources(bob.page, cells), (s) => JSON.stringify(s) === JSON.stringify(replaced), 30_000);
  await page.getByLabel("Search outputs").check();
  await waitFor("the output was not replaced", () => countText(page), (t) => t === "1 of 1");
  assert.match(await page.locator('[data-cell-id="code-3"] .outputs').innerText(), /apple tree/);
  await page.getByLabel("Search outputs").uncheck();
  await screenshot(page, "find-replaced-all");

  // Undo replace all: Ada's own replacements go, at both pages.
  const original = cells.map((c) => c.source);
  await page.getByRole("button", { name: "Undo the last replace all" }).click();
  await waitFor("restored at Ada's", () => allSources(page, cells), (s) => JSON.stringify(s) === JSON.stringify(original));
  await waitFor("restored at Bob's", () => allSources(bob.page, cells), (s) => JSON.stringify(s) === JSON.stringify(original), 30_000);
  await waitFor("count restored", () => countText(page), (t) => t.endsWith(` of ${all.length}`));

  // Replace one match, then Ctrl-Z in that cell undoes it like typing.
  // The search starts from the active cell: make it the first.
  await page.locator('[data-cell-id="md-0"] .gutter').click();
  await page.getByLabel("Find", { exact: true }).fill("");
  await page.getByLabel("Find", { exact: true }).fill("apple");
  await waitFor("first", () => countText(page), (t) => t === `1 of ${all.length}`);
  await page.getByLabel("Find", { exact: true }).press("Enter");
  await waitFor("second", () => countText(page), (t) => t === `2 of ${all.length}`);
  assert.equal(await activeId(page), "code-3");
  await page.getByLabel("Replace with").fill("plum");
  await page.getByLabel("Replace with").press("Enter");
  await waitFor("one replaced", () => source(page, "code-3"), (s) => s === 'value_3 = "plum"\nprint(value_3)');
  await waitFor("count after one", () => countText(page), (t) => t === `2 of ${all.length - 1}`);
  assert.equal(await activeId(page), all[2][0], "the next match is current");
  await waitFor("at Bob's", () => source(bob.page, "code-3"), (s) => s.includes("plum"));
  await page.getByLabel("Find", { exact: true }).press("Escape");
  await page.locator(".find-bar").waitFor({ state: "hidden" });
  await page.locator('[data-cell-id="code-3"] .cm-content').click();
  await page.keyboard.press("Control+z");
  await waitFor("undone by Ctrl-Z", () => source(page, "code-3"), (s) => s === cells[3].source);
  await waitFor("undone at Bob's", () => source(bob.page, "code-3"), (s) => s === cells[3].source);

  assert.deepEqual(await forbidden(page), []);
  assert.deepEqual(ada.errors, []);
  await bob.close();
  await ada.close();
});

test("a viewer can find but has no replace", async () => {
  const cells = specs();
  const notebook = await importNotebook("Find as viewer", cells);
  const viewerToken = await server.person("vic", notebook, "viewer");
  const vic = await opened(viewerToken, notebook);
  const page = vic.page;
  assert.equal(await page.evaluate(() => (window as any).cathode.session.role), "viewer");
  await page.keyboard.press("Control+f");
  await page.getByLabel("Find", { exact: true }).fill("apple");
  const all = expectedMatches(cells, /apple/gi);
  await waitFor("viewer's count", () => countText(page), (t) => t === `1 of ${all.length}`);
  await page.keyboard.press("Enter");
  await waitFor("viewer's next", () => countText(page), (t) => t === `2 of ${all.length}`);
  assert.equal(await activeId(page), all[1][0]);
  assert.equal(await page.locator(".replace-row").isVisible(), false);
  assert.equal(await page.getByRole("button", { name: "Replace every match in the cells' sources" }).isVisible(), false);
  // Even called directly, replacing writes nothing.
  await page.evaluate(() => (window as any).cathode.page.find.replaceAll());
  assert.equal(await source(page, "md-0"), cells[0].source);
  await screenshot(page, "find-viewer");
  assert.deepEqual(await forbidden(page), []);
  assert.deepEqual(vic.errors, []);
  await vic.close();
});

test("contents: headings in order, jump to a cell, Left and Right collapse and expand a section", async () => {
  const cells = specs();
  const notebook = await importNotebook("Contents", cells);
  const ada = await opened(server.token, notebook);
  const page = ada.page;
  await page.getByRole("button", { name: "Table of contents" }).click();
  const toc = page.locator("aside.contents");
  await toc.waitFor();
  const titles = () => toc.locator(".toc-item").allInnerTexts();
  assert.deepEqual(await titles(), ["Fruit notebook", "Section 10", "Section 20", "Sub 25", "Section 30", "Section 40"]);
  assert.deepEqual(await toc.locator(".toc-item").evaluateAll((els) => els.map((e) => e.getAttribute("data-level"))), ["1", "2", "2", "3", "2", "2"]);

  // Clicking a heading selects its cell and scrolls to it.
  await toc.getByRole("link", { name: "Section 20" }).click();
  await waitFor("jumped", () => activeId(page), (id) => id === "md-20");
  const box = (await page.locator('[data-cell-id="md-20"]').boundingBox())!;
  assert.ok(box.y >= 0 && box.y < 900, `cell in view at ${box.y}`);

  // Left collapses: 21..29 (with the level-3 heading 25) hide, 30 stays.
  const section = cells.slice(21, 30).map((c) => c.id);
  await page.keyboard.press("ArrowLeft");
  await page.locator('[data-cell-id="md-20"] .section-marker', { hasText: "9 cells hidden" }).waitFor();
  for (const id of section) assert.equal(await page.locator(`[data-cell-id="${id}"]`).isVisible(), false, `${id} hidden`);
  assert.equal(await page.locator('[data-cell-id="md-30"]').isVisible(), true);
  assert.equal(await page.locator('[data-cell-id="code-19"]').isVisible(), true);
  await screenshot(page, "contents-collapsed");
  // Down steps over the hidden cells, Up comes back.
  await page.keyboard.press("ArrowDown");
  await waitFor("stepped over", () => activeId(page), (id) => id === "md-30");
  await page.keyboard.press("k");
  await waitFor("back", () => activeId(page), (id) => id === "md-20");
  // Right expands.
  await page.keyboard.press("ArrowRight");
  await page.locator('[data-cell-id="md-20"] .section-marker').waitFor({ state: "detached" });
  for (const id of section) assert.equal(await page.locator(`[data-cell-id="${id}"]`).isVisible(), true, `${id} shown`);

  // Typing in a code cell leaves the contents' DOM alone.
  await page.evaluate(() => {
    const w = window as any;
    w.__tocMutations = 0;
    w.__tocObserver = new MutationObserver((r) => (w.__tocMutations += r.length));
    w.__tocObserver.observe(document.querySelector(".toc")!, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.locator('[data-cell-id="code-1"] .cm-content').click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(" # typed");
  await waitFor("typed", () => source(page, "code-1"), (s) => s.endsWith(" # typed"));
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => (window as any).__tocMutations), 0);
  // Renaming a heading updates the list.
  await page.keyboard.press("Escape");
  await toc.getByRole("link", { name: "Section 30" }).click();
  await waitFor("at 30", () => activeId(page), (id) => id === "md-30");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("End");
  await page.keyboard.type(" renamed");
  await page.keyboard.press("Escape");
  await waitFor("list updated", titles, (t) => t[4] === "Section 30 renamed");
  assert.ok((await page.evaluate(() => (window as any).__tocMutations)) > 0);
  assert.deepEqual(await forbidden(page), []);
  assert.deepEqual(ada.errors, []);
  await screenshot(page, "contents");
  await ada.close();
});
