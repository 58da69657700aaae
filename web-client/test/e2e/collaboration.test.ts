/**
 * Two people in one notebook, each in their own browser context: typing at
 * once in one cell converges with nothing lost and each one's undo undoes
 * only their own typing; each sees the other in the presence list and
 * their cursor in the right cell; a viewer gets the page read-only; edits
 * made offline converge without duplicates on reconnect, and a reload
 * while the server is down opens the notebook from its local copy.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";
import { cellIds, forbidden, source, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
const shared = useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** Focus the editor of cell `index` and put the cursor at its end. */
async function editCell(page: Page, index: number): Promise<void> {
  const cell = page.locator(".cell").nth(index);
  await cell.locator(".cm-content").click();
  await page.keyboard.press("Control+End");
}

test("concurrent typing in one cell converges, and undo is per person", async () => {
  const notebook = await server.createNotebook("Together");
  const bobToken = await server.person("bob", notebook, "editor");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${notebook}`);
  await ada.page.getByText("An empty notebook").waitFor();
  await ada.page.keyboard.press("b");
  const [id] = await waitFor("a cell at Ada's", () => cellIds(ada.page), (ids) => ids.length === 1);
  await waitFor("the cell at Bob's", () => cellIds(bob.page), (ids) => ids.length === 1);

  await editCell(ada.page, 0);
  await editCell(bob.page, 0);
  // Both type at once, interleaved, in the same cell.
  const adaText = "ada types here. ";
  const bobText = "BOB TYPES THERE! ";
  await Promise.all([ada.page.keyboard.type(adaText, { delay: 5 }), bob.page.keyboard.type(bobText, { delay: 7 })]);
  const both = await waitFor(
    "both texts at both pages",
    async () => [await source(ada.page, id), await source(bob.page, id)],
    ([a, b]) => a === b && a.length === adaText.length + bobText.length,
  );
  // Each person's characters arrive in their own order (nothing lost or doubled).
  const merged = both[0];
  const only = (text: string, set: string) => [...text].filter((c) => set.includes(c)).join("");
  assert.equal(only(merged, "adtypesh."), only(adaText, "adtypesh."));
  assert.equal(only(merged, "BOTYPESHR!"), only(bobText, "BOTYPESHR!"));
  // The editors show what the documents hold.
  assert.equal(await ada.page.evaluate((cell) => (window as any).cathode.editorText(cell), id), merged);
  assert.equal(await bob.page.evaluate((cell) => (window as any).cathode.editorText(cell), id), merged);

  // Bob sees Ada's cursor in this cell (presence carries Automerge cursors).
  await bob.page.locator(".cell .cm-remote-caret").first().waitFor({ timeout: 10_000 });
  assert.equal(await bob.page.locator(".presence .peer").count() >= 2, true);
  await screenshot(bob.page, "collaboration-two-people");

  // Ada's undo removes only her typing.
  await ada.page.locator(".cell .cm-content").first().click();
  for (let i = 0; i < 40; i++) await ada.page.keyboard.press("Control+z");
  const afterUndo = await waitFor(
    "Ada's undo at Bob's page",
    () => source(bob.page, id),
    (s) => s.trim() === bobText.trim(),
  );
  assert.equal(afterUndo.trim(), bobText.trim());
  assert.deepEqual(await forbidden(ada.page), []);
  assert.deepEqual(await forbidden(bob.page), []);
  // When Bob's tab goes, so does his presence at Ada's: chip, tag and cursor.
  await ada.page.locator('.presence .peer[data-user="bob"]').waitFor();
  await bob.page.locator(".cell .cm-content").first().click();
  await ada.page.locator(".cell .cm-remote-caret").first().waitFor();
  await bob.context.close();
  await ada.page.locator('.presence .peer[data-user="bob"]').waitFor({ state: "detached", timeout: 15_000 });
  await ada.page.locator(".cell .cm-remote-caret").waitFor({ state: "detached" });
  assert.equal(await ada.page.locator(".cell .person").count(), 0);
  await ada.context.close();
});

test("a server restart is invisible apart from the indicator", async () => {
  const notebook = await server.createNotebook("Restart");
  const bobToken = await server.person("dora", notebook, "editor");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${notebook}`);
  await ada.page.getByText("An empty notebook").waitFor();
  await ada.page.keyboard.press("b");
  const [id] = await waitFor("the cell at Dora's", () => cellIds(bob.page), (v) => v.length === 1);
  // Dora's page names Ada on the cell she is on.
  await bob.page.locator(`[data-cell-id="${id}"] .person`, { hasText: "owner" }).waitFor();
  await editCell(ada.page, 0);
  await ada.page.keyboard.type("before = 1\n");
  await waitFor("typed before", () => source(bob.page, id), (s) => s === "before = 1\n");
  const { dataDir, port } = server;
  await server.stop();
  await ada.page.locator(".sync", { hasText: "offline" }).waitFor();
  // Typing goes on while the server is down.
  await ada.page.keyboard.type("during = 2\n");
  await screenshot(ada.page, "server-down");
  server = await TestServer.start({ dataDir, port });
  shared.replaced(server);
  await ada.page.locator(".sync", { hasText: "synced" }).waitFor({ timeout: 30_000 });
  await ada.page.keyboard.type("after = 3");
  const final = await waitFor(
    "everything at Dora's",
    () => source(bob.page, id),
    (s) => s === "before = 1\nduring = 2\nafter = 3",
  );
  assert.equal(final, await source(ada.page, id));
  assert.deepEqual(await cellIds(ada.page), [id]);
  assert.deepEqual(await forbidden(ada.page), []);
  await ada.context.close();
  await bob.context.close();
});

test("a reload while the server is down opens the local copy; edits made then reach the server", async () => {
  const notebook = await server.createNotebook("Reload offline");
  const erinToken = await server.person("erin", notebook, "editor");
  const veraToken = await server.person("vera", notebook, "viewer");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  await ada.page.getByText("An empty notebook").waitFor();
  await ada.page.keyboard.press("b");
  await editCell(ada.page, 0);
  await ada.page.keyboard.type("kept = 1\n");
  await ada.page.locator(".sync", { hasText: "synced" }).waitFor();
  await ada.page.evaluate(() => (window as any).cathode.session.saveNow());
  const [id] = await cellIds(ada.page);
  const vera = await openAs(browser, server, veraToken, `/notebooks/${notebook}`);
  await waitFor("the cell at Vera's", () => source(vera.page, id), (s) => s === "kept = 1\n");
  await vera.page.evaluate(() => (window as any).cathode.session.saveNow());
  // The service worker has kept the app once it is active.
  for (const page of [ada.page, vera.page]) {
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
    });
  }
  const { dataDir, port } = server;
  await server.stop();
  // Without the kept app this reload fails with "connection refused".
  await ada.page.reload();
  await ada.page.locator(`[data-cell-id="${id}"] .cm-content`).waitFor();
  assert.equal(await source(ada.page, id), "kept = 1\n");
  await ada.page.locator(".sync", { hasText: "offline" }).waitFor();
  // A viewer's page stays read-only though no server has said so since.
  await vera.page.reload();
  await vera.page.locator(`[data-cell-id="${id}"] .cm-content`).waitFor();
  await vera.page.locator("body.read-only").waitFor();
  assert.equal(await vera.page.locator(".cm-content[contenteditable=true]").count(), 0);
  await editCell(ada.page, 0);
  await ada.page.keyboard.type("offline = 2");
  await ada.page.evaluate(() => (window as any).cathode.session.saveNow());
  await screenshot(ada.page, "reloaded-while-server-down");
  server = await TestServer.start({ dataDir, port });
  shared.replaced(server);
  await ada.page.locator(".sync", { hasText: "synced" }).waitFor({ timeout: 30_000 });
  const erin = await openAs(browser, server, erinToken, `/notebooks/${notebook}`);
  await waitFor("Ada's offline typing at Erin's", () => source(erin.page, id), (s) => s === "kept = 1\noffline = 2");
  assert.deepEqual(await cellIds(erin.page), [id]);
  assert.deepEqual(await cellIds(ada.page), [id]);
  await ada.context.close();
  await erin.context.close();
  await vera.context.close();
});

test("a viewer reads the notebook and cannot change anything", async () => {
  const notebook = await server.createNotebook("Read only");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  await ada.page.getByText("An empty notebook").waitFor();
  await ada.page.keyboard.press("b");
  await editCell(ada.page, 0);
  await ada.page.keyboard.type("print('visible')");
  await ada.page.keyboard.press("Escape");
  const viewerToken = await server.person("victor", notebook, "viewer");
  const viewer = await openAs(browser, server, viewerToken, `/notebooks/${notebook}`);
  await viewer.page.locator(".cell").first().waitFor();
  const [id] = await cellIds(viewer.page);
  await waitFor("the text at the viewer's", () => source(viewer.page, id), (s) => s === "print('visible')");
  // Typing, cell keys and the toolbar change nothing.
  await viewer.page.locator(".cell .cm-content").first().click({ force: true });
  await viewer.page.keyboard.type("HACK");
  await viewer.page.keyboard.press("Escape");
  for (const key of ["b", "a", "d", "d", "m", "x"]) await viewer.page.keyboard.press(key);
  await viewer.page.waitForTimeout(500);
  assert.equal(await source(ada.page, id), "print('visible')");
  assert.deepEqual(await cellIds(ada.page), [id]);
  assert.equal(await viewer.page.locator(".cm-content[contenteditable=true]").count(), 0);
  await screenshot(viewer.page, "viewer-read-only");
  await ada.context.close();
  await viewer.context.close();
});

test("offline edits persist locally and converge without duplicates", async () => {
  const notebook = await server.createNotebook("Offline");
  const bobToken = await server.person("carol", notebook, "editor");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${notebook}`);
  await ada.page.getByText("An empty notebook").waitFor();
  await ada.page.keyboard.press("b");
  await waitFor("the cell at Carol's", () => cellIds(bob.page), (ids) => ids.length === 1);
  // Ada goes offline and keeps working: a new cell and typing.
  await ada.page.evaluate(() => (window as any).cathode.session.setOnline(false));
  await ada.page.locator(".sync", { hasText: "offline" }).waitFor();
  await editCell(ada.page, 0);
  await ada.page.keyboard.type("offline = 1");
  await ada.page.keyboard.press("Escape");
  await ada.page.keyboard.press("b");
  await editCell(ada.page, 1);
  await ada.page.keyboard.type("second = 2");
  await ada.page.keyboard.press("Escape");
  // Meanwhile Carol edits the same first cell.
  await editCell(bob.page, 0);
  await bob.page.keyboard.type("# carol\n");
  await screenshot(ada.page, "offline-indicator");
  // A reload keeps the unsent edits: they are in the local copy (IndexedDB)
  // and go out when the reloaded page connects.
  await ada.page.evaluate(() => (window as any).cathode.session.saveNow());
  await ada.page.reload();
  const ids = await waitFor("both cells at Carol's", () => cellIds(bob.page), (v) => v.length === 2);
  await waitFor("the same cells at Ada's", () => cellIds(ada.page), (v) => v.length === 2 && v.join() === ids.join());
  const first = await waitFor(
    "merged first cell",
    async () => [await source(ada.page, ids[0]), await source(bob.page, ids[0])],
    ([a, b]) => a === b && a.includes("offline = 1") && a.includes("# carol"),
  );
  assert.equal(first[0].split("offline = 1").length, 2, "typed once, not twice");
  assert.equal(await source(bob.page, ids[1]), "second = 2");
  await ada.context.close();
  await bob.context.close();
});

test("an owner manages secrets by name; values are never shown", async () => {
  const notebook = await server.createNotebook("Secrets");
  const viewerToken = await server.person("vera", notebook, "viewer");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  await ada.page.getByText("An empty notebook").waitFor();
  await ada.page.locator("details.secrets summary").click();
  await ada.page.getByLabel("Secret name").fill("API_KEY");
  await ada.page.getByLabel("Secret value").fill("sk-very-secret-value-123");
  await ada.page.getByRole("button", { name: "Set" }).click();
  await ada.page.locator(".secret-names code", { hasText: "API_KEY" }).waitFor();
  assert.equal(await ada.page.getByLabel("Secret value").inputValue(), "");
  const html = await ada.page.content();
  assert.ok(!html.includes("sk-very-secret-value-123"), "the value is not in the page");
  const listed = await server.api<{ secrets: unknown[] }>("GET", `/api/notebooks/${notebook}/secrets`);
  assert.ok(!JSON.stringify(listed).includes("sk-very-secret"), "the server never sends a value back");
  await screenshot(ada.page, "secrets-panel");
  const viewer = await openAs(browser, server, viewerToken, `/notebooks/${notebook}`);
  await viewer.page.locator(".sync", { hasText: "synced" }).waitFor();
  assert.equal(await viewer.page.locator("details.secrets").count(), 0);
  await ada.context.close();
  await viewer.context.close();
});

/** Whether cell `id` is inside the page's viewport. */
async function inView(page: Page, id: string): Promise<boolean> {
  return page.evaluate((cell) => {
    const el = document.querySelector(`[data-cell-id="${cell}"]`);
    if (!el) return false;
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight;
  }, id);
}

test("following a collaborator keeps their cell in view until unfollowed", async () => {
  const cells = Array.from({ length: 60 }, (_, i) => ({
    cell_type: "code",
    id: `c-${i}`,
    metadata: {},
    source: `# cell ${i}\n` + "x = 1\n".repeat(6),
    outputs: [],
    execution_count: null,
  }));
  const response = await fetch(`${server.url}/api/notebooks/import?name=Follow`, {
    method: "POST",
    headers: { Authorization: `Bearer ${server.token}` },
    body: JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }),
  });
  assert.equal(response.status, 201);
  const { id: notebook } = (await response.json()) as { id: string };
  const bobToken = await server.person("bob", notebook, "editor");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${notebook}`);
  await waitFor("60 cells at Ada's", () => cellIds(ada.page), (ids) => ids.length === 60);
  await waitFor("60 cells at Bob's", () => cellIds(bob.page), (ids) => ids.length === 60);
  assert.equal(await inView(ada.page, "c-55"), false, "the page starts at the top");

  // Ada follows Bob; Bob goes to a cell far down: Ada's page brings it into view.
  await ada.page.locator('.presence .peer[data-user="bob"]').click();
  await ada.page.locator('.presence .peer.following[data-user="bob"]').waitFor();
  await bob.page.locator(`[data-cell-id="c-55"] .prompt`).click();
  await waitFor("Bob's cell in Ada's view", () => inView(ada.page, "c-55"), (v) => v, 15_000);
  await screenshot(ada.page, "following-bob");
  // Bob moves up with the keyboard in command mode: Ada's view follows.
  await bob.page.keyboard.press("Escape");
  for (let i = 0; i < 50; i++) await bob.page.keyboard.press("k");
  await waitFor("Bob's new cell in Ada's view", () => inView(ada.page, "c-5"), (v) => v, 15_000);
  assert.equal(await inView(ada.page, "c-55"), false);

  // Unfollowed: Bob's moves no longer move Ada's page.
  await ada.page.locator('.presence .peer[data-user="bob"]').click();
  await ada.page.locator('.presence .peer.following').waitFor({ state: "detached" });
  await bob.page.locator(`[data-cell-id="c-58"] .prompt`).click();
  // Bob's presence reaches Ada (his tag shows on that cell) but her view stays.
  await ada.page.locator('[data-cell-id="c-58"] .person').waitFor({ state: "attached", timeout: 15_000 });
  assert.equal(await inView(ada.page, "c-58"), false, "an unfollowed person moved Ada's page");
  assert.equal(await inView(ada.page, "c-5"), true);
  await ada.context.close();
  await bob.context.close();
});
