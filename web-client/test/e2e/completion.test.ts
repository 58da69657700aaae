/**
 * Completion (Tab) and inspection (Shift-Tab) from the kernel on both
 * kernels, through the server to the runtime agent and back: `import o`
 * offers `os`, `print(` shows its signature; a viewer's page asks nothing
 * and the server refuses a viewer anyway; while a 10-second cell runs a
 * completion says the kernel is busy while that cell still runs.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

async function notebookOn(kernel: string): Promise<string> {
  const id = await server.createNotebook(`Completion on ${kernel}`);
  await server.api("POST", `/api/notebooks/${id}/runtime`, { kernel });
  return id;
}

/** A new cell at the end in edit mode with `text` typed in. */
async function typeInNewCell(page: Page, text: string): Promise<void> {
  await page.keyboard.press("Escape");
  const cells = page.locator(".cell");
  const before = await cells.count();
  if (before === 0) await page.getByText("An empty notebook").waitFor();
  else await cells.nth(before - 1).locator(".gutter").click();
  await page.keyboard.press("b");
  await cells.nth(before).waitFor();
  await page.keyboard.press("Enter");
  await page.keyboard.insertText(text);
}

async function completesAndInspects(kernel: string): Promise<void> {
  const id = await notebookOn(kernel);
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${id}`);
  await page.locator(".runtime-bar .runtime-state", { hasText: "idle" }).waitFor({ timeout: 120_000 });

  await typeInNewCell(page, "import o");
  await page.keyboard.press("Tab");
  const popup = page.locator(".cm-tooltip-autocomplete");
  await popup.getByText("os", { exact: true }).waitFor({ timeout: 30_000 });
  await screenshot(page, `completion-${kernel}`);
  await popup.getByText("os", { exact: true }).click();
  const order: string[] = await page.evaluate(() => (window as any).cathode.order());
  await page.waitForFunction(
    (cell) => (window as any).cathode.source(cell) === "import os",
    order[order.length - 1],
  );

  await typeInNewCell(page, "print(");
  await page.keyboard.press("Shift+Tab");
  const tip = page.locator(".kernel-inspect");
  await tip.waitFor({ timeout: 30_000 });
  assert.match(await tip.innerText(), /print\(/, `${kernel}: the signature`);
  await screenshot(page, `inspection-${kernel}`);
  await page.keyboard.press("Escape");
  await tip.waitFor({ state: "detached" });

  // While a 10-second cell runs: the answer says busy, and the cell is
  // still running when it does (it was not queued behind the cell).
  await typeInNewCell(page, "import time\ntime.sleep(10)");
  await page.keyboard.press("Control+Enter");
  const slowId = await page.locator(".cell").last().getAttribute("data-cell-id");
  const slow = page.locator(`[data-cell-id="${slowId}"]`);
  await slow.and(page.locator("[data-state=running]")).waitFor({ timeout: 30_000 });
  await typeInNewCell(page, "import o");
  await page.keyboard.press("Tab");
  await page.locator(".kernel-note", { hasText: "busy" }).waitFor({ timeout: 5_000 });
  assert.equal(await slow.getAttribute("data-state"), "running", `${kernel}: the answer waited for the cell`);
  await context.close();
}

test("Tab completes and Shift-Tab inspects on ipykernel, and busy while a cell runs", async () => {
  await completesAndInspects("python3");
});

test("Tab completes and Shift-Tab inspects on wasm-python, and busy while a cell runs", async () => {
  await completesAndInspects("wasm-python");
});

test("a viewer's page asks nothing, and the server refuses a viewer's question", async () => {
  const id = await notebookOn("python3");
  const owner = await openAs(browser, server, server.token, `/notebooks/${id}`);
  await owner.page.locator(".runtime-bar .runtime-state", { hasText: "idle" }).waitFor({ timeout: 120_000 });
  await typeInNewCell(owner.page, "import o");
  await owner.page.keyboard.press("Escape");
  const viewerToken = await server.person("vera", id, "viewer");
  const viewer = await openAs(browser, server, viewerToken, `/notebooks/${id}`);
  const editor = viewer.page.locator(".cell .cm-content").first();
  await viewer.page.waitForFunction(() => (window as any).cathode?.order().length === 1);
  // Count the kernel questions the viewer's page sends.
  await viewer.page.evaluate(() => {
    const w = window as any;
    const connection = w.cathode.session.connection;
    const send = connection.send.bind(connection);
    w.kernelRequests = 0;
    connection.send = (frame: { type: string }) => {
      if (frame.type === "kernel_request") w.kernelRequests++;
      return send(frame);
    };
  });
  await editor.click();
  await viewer.page.keyboard.press("End");
  await viewer.page.keyboard.press("Tab");
  await viewer.page.keyboard.press("Shift+Tab");
  // Well past CodeMirror's 50 ms before it would ask.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await viewer.page.evaluate(() => (window as any).kernelRequests), 0, "a viewer's page asked the kernel");
  // What the page would have shown had it asked: the same question from
  // the viewer's session, answered by the server.
  const answer = await viewer.page.evaluate(() =>
    (window as any).cathode.session.kernel.ask({ kind: "complete", code: "import o", cursor_pos: 8 }),
  );
  assert.equal(answer.status, "unavailable");
  assert.match(answer.reason, /viewer/);
  assert.equal(await viewer.page.locator(".cm-tooltip-autocomplete").count(), 0, "a viewer's page showed completions");
  assert.equal(await viewer.page.locator(".kernel-note, .kernel-inspect").count(), 0);
  await owner.context.close();
  await viewer.context.close();
});
