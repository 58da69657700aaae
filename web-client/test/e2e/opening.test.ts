/**
 * How a long notebook opens (see ARCHITECTURE, web-client "Opening"):
 *   - the page's first script asks for the preview before the app's bundle
 *     has even arrived, and the app uses that answer rather than asking
 *     again;
 *   - the preview is shown, and typed into, before Automerge's WebAssembly
 *     is in; the typing reaches the document once it is;
 *   - the first frame holds only the cells that fill the screen, and the
 *     rest join in order after it;
 *   - cell operations (a cell's collapser among them) wait for the replica;
 *   - the service worker is registered by a notebook's page once the
 *     notebook has opened, never by the list page (whose install would
 *     meet the notebook a person opens from it).
 *
 * The bundle and the WebAssembly are held back by routing their requests
 * (service workers blocked where that matters, so that every request
 * meets the route).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { TestServer, screenshot, useServerAndBrowser } from "./harness";
import { cellIds, forbidden, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** Sixty code cells of 30 lines (over the 64 KB of source at which a page uses the preview). */
function longNotebook(): { file: object; ids: string[] } {
  const ids = Array.from({ length: 60 }, (_, i) => `c${i}`);
  const cells = ids.map((id, i) => ({
    id,
    cell_type: "code",
    metadata: {},
    source: [`n${i} = ${i}\n`].concat(Array(29).fill("# ".padEnd(70, "z") + "\n")),
    execution_count: null,
    outputs: [],
  }));
  return { file: { nbformat: 4, nbformat_minor: 5, metadata: {}, cells }, ids };
}

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

test("a long notebook is shown and typed into before Automerge loads, asked for by the page's first script", async () => {
  const { file, ids } = longNotebook();
  const { id } = await server.api<{ id: string }>("POST", "/api/notebooks/import?name=opening", JSON.stringify(file));
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  // Signed in on the list first: the token is in storage, as when a person opens a notebook from there.
  await page.goto(`${server.url}/?token=${encodeURIComponent(server.token)}`);
  await page.getByRole("heading", { name: "Notebooks" }).waitFor();

  // How many cells the page held when its first editor appeared.
  await context.addInitScript(() => {
    const w = window as any;
    const observer = new MutationObserver(() => {
      if (!document.querySelector(".cell .cm-content")) return;
      w.__cellsAtFirstEditor = document.querySelectorAll(".cell").length;
      observer.disconnect();
    });
    observer.observe(document, { subtree: true, childList: true });
  });
  const previews: string[] = [];
  const previewAsked = gate();
  page.on("request", (r) => {
    if (!r.url().includes("/preview")) return;
    previews.push(r.url());
    previewAsked.open();
  });
  // The app's bundle waits until the preview was asked for (or 10 s): only
  // the first script can have asked by then.
  let askedBeforeTheBundle = false;
  await context.route(/\/assets\/app-[^/]*\.js$/, async (route) => {
    askedBeforeTheBundle = await Promise.race([previewAsked.opened.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    await route.continue();
  });
  const wasm = gate();
  await context.route(/\.wasm$/, async (route) => {
    await wasm.opened;
    await route.continue();
  });

  await page.goto(`${server.url}/notebooks/${id}`);
  const first = page.locator('[data-cell-id="c0"] .cm-content');
  await first.waitFor();
  assert.equal(askedBeforeTheBundle, true, "the first script asked for the preview");
  // Everything shows, and the first cell takes typing, with no Automerge at all.
  await waitFor("every cell", () => cellIds(page), (shown) => shown.length === ids.length);
  assert.deepEqual(await cellIds(page), ids, "the cells joined the page in their order");
  const atFirstEditor: number = await page.evaluate(() => (window as any).__cellsAtFirstEditor);
  assert.ok(atFirstEditor >= 1 && atFirstEditor < ids.length, `the first frame held ${atFirstEditor} of ${ids.length} cells`);
  assert.equal(await page.evaluate(() => (window as any).cathode.session.replica.started), false, "Automerge was not touched");
  await first.click();
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("End");
  await page.keyboard.type(" + 1");
  await screenshot(page, "opening-before-automerge");
  assert.equal(await page.evaluate(() => (window as any).cathode.session.replica.started), false);
  // A cell's own collapser waits for the replica as the keys do.
  await page.locator('[data-cell-id="c1"] .input-collapser').click();
  await page.locator(".sync.nudge", { hasText: "cell operations and running wait" }).waitFor();

  wasm.open();
  await waitFor("the replica taking over", () => page.evaluate(() => (window as any).cathode.previewing()), (p) => !p);
  const collapsed = () => page.locator('[data-cell-id="c1"]').evaluate((el) => el.classList.contains("input-hidden"));
  assert.equal(await collapsed(), false, "the collapser's click did nothing while the preview showed");
  await page.locator('[data-cell-id="c1"] .input-collapser').click();
  await waitFor("the collapser collapsing the input", collapsed, (c) => c);
  await waitFor(
    "the typing at the server",
    () => server.api<{ cells: { source: string | string[] }[] }>("GET", `/api/notebooks/${id}/ipynb`),
    (f) => [f.cells[0].source].flat().join("").startsWith("n0 = 0 + 1\n"),
  );
  assert.equal(previews.length, 1, "the app used the first script's request");
  assert.deepEqual(await forbidden(page), []);
  await context.close();
});

test("before Automerge loads, a small notebook's page refuses cell operations and says so", async () => {
  const notebook = await server.createNotebook("small, opening");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const wasm = gate();
  await context.route(/\.wasm$/, async (route) => {
    await wasm.opened;
    await route.continue();
  });
  await page.goto(`${server.url}/notebooks/${notebook}?token=${encodeURIComponent(server.token)}`);
  await page.getByText("Opening the notebook").waitFor();
  await page.keyboard.press("b");
  await page.locator(".sync.nudge", { hasText: "cell operations and running wait" }).waitFor();
  wasm.open();
  await page.getByText("An empty notebook").waitFor();
  await page.keyboard.press("b");
  await waitFor("the cell B added", () => cellIds(page), (ids) => ids.length === 1);
  assert.deepEqual(errors, []);
  assert.deepEqual(await forbidden(page), []);
  await context.close();
});

test("the app is kept for offline only by a notebook's page, once the notebook has opened", async () => {
  const notebook = await server.createNotebook("kept once opened");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // What the page was doing when it registered the service worker.
  await context.addInitScript(() => {
    const register = ServiceWorkerContainer.prototype.register;
    ServiceWorkerContainer.prototype.register = function (this: ServiceWorkerContainer, ...args: Parameters<typeof register>) {
      const session = (window as any).cathode?.session;
      (window as any).__registeredWhile = session ? { sync: session.status().sync, previewing: session.previewing } : "no notebook";
      return register.apply(this, args);
    };
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  const registrations = () => page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length);
  await page.goto(`${server.url}/?token=${encodeURIComponent(server.token)}`);
  await page.getByRole("heading", { name: "Notebooks" }).waitFor();
  // Long enough for the page's idle moment (where it used to register).
  await page.waitForTimeout(1500);
  assert.equal(await registrations(), 0, "the list page registered no worker");

  const wasm = gate();
  await context.route(/\.wasm$/, async (route) => {
    await wasm.opened;
    await route.continue();
  });
  await page.goto(`${server.url}/notebooks/${notebook}`);
  await page.getByText("Opening the notebook").waitFor();
  await page.waitForTimeout(1500);
  assert.equal(await registrations(), 0, "a notebook still opening registered no worker");
  wasm.open();
  await page.getByText("An empty notebook").waitFor();
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  assert.deepEqual(await page.evaluate(() => (window as any).__registeredWhile), { sync: "synced", previewing: false });
  await context.close();
});
