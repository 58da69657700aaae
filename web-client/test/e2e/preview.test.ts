/**
 * A page shows the server's preview of a notebook (its documents as JSON)
 * before its own replica has them, and nothing done on the preview is
 * lost when the replica takes over: typing lands where it was typed, also
 * in a cell someone else changed meanwhile; cell operations wait for the
 * replica (the page says so) and work once it is there; and a viewer's
 * preview is read-only. The notebooks are large enough (over 64 KB of
 * source) for a page to use the preview at all.
 *
 * The replica is held back by holding the server's side of the page's
 * WebSocket (Playwright's `routeWebSocket`): the page's own messages still
 * go out, the server's wait until the test lets them through.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";
import { cellIds, forbidden, source, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

function codeCell(id: string, text: string, printed: string, n: number) {
  return {
    id,
    cell_type: "code",
    metadata: {},
    source: [text],
    execution_count: n,
    outputs: [{ output_type: "stream", name: "stdout", text: [printed] }],
  };
}

/** A page whose replica gets nothing from the server until `release`. */
async function openHeld(token: string, path: string): Promise<{ context: BrowserContext; page: Page; release: () => void }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  let held: (string | Buffer)[] | undefined = [];
  const sockets: { send: (m: string | Buffer) => void }[] = [];
  await page.routeWebSocket(/\/ws/, (ws) => {
    const upstream = ws.connectToServer();
    sockets.push(ws);
    upstream.onMessage((m) => (held ? held.push(m) : ws.send(m)));
  });
  await page.goto(`${server.url}${path}?token=${encodeURIComponent(token)}`);
  const release = () => {
    const queued = held ?? [];
    held = undefined;
    for (const m of queued) for (const ws of sockets) ws.send(m);
  };
  return { context, page, release };
}

/** Forty cells of 2 KB after `cells`: enough source for the preview to be used. */
function withFiller(cells: object[]): object {
  const filler = Array.from({ length: 40 }, (_, i) => ({
    id: `fill-${i}`,
    cell_type: "code",
    metadata: {},
    source: [`# filler ${i}\n` + "# ".padEnd(70, "x") + "\n".repeat(1)].concat(Array(28).fill("# ".padEnd(70, "y") + "\n")),
    execution_count: null,
    outputs: [],
  }));
  return { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [...cells, ...filler] };
}

const previewing = (page: Page) => page.evaluate(() => (window as any).cathode?.previewing() ?? false);

test("typing on the preview is kept when the replica takes over; cell operations wait for it", async () => {
  const file = withFiller([codeCell("first", "x = 1", "one\n", 1), codeCell("second", "y = 2", "two\n", 2)]);
  const { id } = await server.api<{ id: string }>("POST", "/api/notebooks/import?name=preview", JSON.stringify(file));
  const bobToken = await server.person("bob", id, "editor");
  const bob = await openAs(browser, server, bobToken, `/notebooks/${id}`);
  await bob.page.locator('[data-cell-id="second"] .output.stream', { hasText: "two" }).waitFor();

  const ada = await openHeld(server.token, `/notebooks/${id}`);
  const cellIn = (page: Page, cell: string) => page.locator(`[data-cell-id="${cell}"]`);
  // The preview shows the cells, their prompts and outputs, with no replica.
  await cellIn(ada.page, "second").locator(".output.stream", { hasText: "two" }).waitFor();
  assert.equal(await previewing(ada.page), true);
  assert.equal(await cellIn(ada.page, "first").locator(".prompt").innerText(), "[1]:");
  await screenshot(ada.page, "preview-before-the-replica");

  // Ada types at the end of both cells; Bob meanwhile changes the first.
  await cellIn(ada.page, "first").locator(".cm-content").click();
  await ada.page.keyboard.press("Control+End");
  await ada.page.keyboard.type(" + 40");
  await cellIn(ada.page, "second").locator(".cm-content").click();
  await ada.page.keyboard.press("Control+End");
  await ada.page.keyboard.type(" * 3");
  // A cell operation (command mode: Escape, then B) waits, and says so.
  await ada.page.keyboard.press("Escape");
  await ada.page.keyboard.press("b");
  await ada.page.locator(".sync.nudge", { hasText: "cell operations and running wait" }).waitFor();
  await cellIn(bob.page, "first").locator(".cm-content").click();
  await bob.page.keyboard.press("Control+Home");
  await bob.page.keyboard.type("# bob\n");
  await waitFor(
    "Bob's line at the server",
    () => server.api<{ cells: { id: string; source: string | string[] }[] }>("GET", `/api/notebooks/${id}/ipynb`),
    (f) => [f.cells[0].source].flat().join("").startsWith("# bob"),
  );
  assert.equal(await previewing(ada.page), true, "the replica was held back all along");
  assert.equal(await source(ada.page, "first"), "x = 1", "the preview is not written to");

  ada.release();
  await waitFor("the replica taking over", () => previewing(ada.page), (p) => !p);
  const expected = { first: "# bob\nx = 1 + 40", second: "y = 2 * 3" };
  for (const page of [ada.page, bob.page]) {
    for (const [cell, text] of Object.entries(expected)) {
      await waitFor(`${cell} at both pages`, () => source(page, cell), (s) => s === text);
    }
    const ids = await cellIds(page);
    assert.equal(ids.length, 42, "no cell was added while loading");
    assert.deepEqual(ids.slice(0, 2), ["first", "second"]);
  }
  // Once loaded, the same keys work.
  await cellIn(ada.page, "second").locator(".gutter").click();
  await ada.page.keyboard.press("b");
  await waitFor("the added cell at Bob's page", () => cellIds(bob.page), (ids) => ids.length === 43 && ids[2] !== "fill-0");
  // Ada's editors show what the document holds, and her typing stays hers to undo.
  for (const [cell, text] of Object.entries(expected)) {
    assert.equal(await ada.page.evaluate((c) => (window as any).cathode.editorText(c), cell), text);
  }
  await cellIn(ada.page, "second").locator(".cm-content").click();
  await ada.page.keyboard.press("Control+z");
  await waitFor("Ada's undo at Bob's page", () => source(bob.page, "second"), (s) => s === "y = 2");
  assert.deepEqual(await forbidden(ada.page), []);
  await ada.context.close();
  await bob.context.close();
});

test("a viewer's preview is read-only", async () => {
  const file = withFiller([codeCell("only", "z = 3", "three\n", 1)]);
  const { id } = await server.api<{ id: string }>("POST", "/api/notebooks/import?name=viewed", JSON.stringify(file));
  const carolToken = await server.person("carol", id, "viewer");
  const carol = await openHeld(carolToken, `/notebooks/${id}`);
  const content = carol.page.locator('[data-cell-id="only"] .cm-content');
  await content.waitFor();
  assert.equal(await previewing(carol.page), true);
  assert.equal(await carol.page.evaluate(() => document.body.classList.contains("read-only")), true);
  assert.equal(await content.getAttribute("contenteditable"), "false");
  await content.click();
  await carol.page.keyboard.type("nope");
  carol.release();
  await waitFor("the replica taking over", () => previewing(carol.page), (p) => !p);
  assert.equal(await source(carol.page, "only"), "z = 3");
  assert.deepEqual(await forbidden(carol.page), []);
  await carol.context.close();
});
