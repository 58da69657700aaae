/**
 * Running on a real ipykernel from the page: run all with `[*]` and the
 * queued mark, elapsed time while running, a queued run cancelled, an
 * interrupt (I I), a restart (0 0) that resets the count, the runtime's
 * state and kernel name; and a file imported from the list, run, and
 * exported valid with its outputs.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";
import { cellIds, forbidden, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

async function addCells(page: Page, sources: string[]): Promise<string[]> {
  await page.getByText("An empty notebook").waitFor();
  for (const s of sources) {
    await page.keyboard.press("b");
    await page.keyboard.press("Enter");
    await page.keyboard.insertText(s);
    await page.keyboard.press("Escape");
  }
  return waitFor("cells", () => cellIds(page), (v) => v.length === sources.length);
}

function cellOf(page: Page, id: string) {
  return page.locator(`[data-cell-id="${id}"]`);
}

test("run all, queued marks, elapsed time, cancel, interrupt and restart", async () => {
  const notebook = await server.createNotebook("Running");
  await server.api("POST", `/api/notebooks/${notebook}/runtime`, { kernel: "python3" });
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const ids = await addCells(page, ["import time\ntime.sleep(1.5)\n'slept'", "x = 41", "x + 1"]);
  await page.locator(".runtime-bar .kernel-name", { hasText: "python3" }).waitFor({ timeout: 60_000 });
  await page.getByRole("button", { name: "Run all cells", exact: true }).click();
  // While the first sleeps: it shows [*] and a running clock, the others are queued.
  await cellOf(page, ids[0]).locator(".prompt", { hasText: "[*]:" }).waitFor({ timeout: 60_000 });
  await cellOf(page, ids[2]).and(page.locator("[data-state=queued]")).waitFor();
  assert.equal(await cellOf(page, ids[2]).locator(".prompt").innerText(), "[*]:");
  await cellOf(page, ids[0]).locator(".timing", { hasText: /\d+ ms|\d\.\d s/ }).waitFor();
  await screenshot(page, "run-all-queued");
  await cellOf(page, ids[2]).locator(".output.result", { hasText: "42" }).waitFor({ timeout: 60_000 });
  // The result arrives before the execution is marked done: wait for the count, then read them all.
  await cellOf(page, ids[2]).locator(".prompt", { hasText: "[3]:" }).waitFor();
  const prompts = await Promise.all(ids.map((id) => cellOf(page, id).locator(".prompt").innerText()));
  assert.deepEqual(prompts, ["[1]:", "[2]:", "[3]:"]);
  assert.match(await cellOf(page, ids[0]).locator(".timing").innerText(), /\d\.\d s/);
  await page.locator(".runtime-bar .runtime-state", { hasText: "idle" }).waitFor();

  // A long run, a second one queued behind it and cancelled, then I I.
  await cellOf(page, ids[0]).locator(".gutter").click();
  await page.keyboard.press("Enter");
  await page.keyboard.press("Control+a");
  await page.keyboard.insertText("import time\ntime.sleep(60)");
  await page.keyboard.press("Control+Enter");
  await page.keyboard.press("Escape");
  await cellOf(page, ids[0]).and(page.locator("[data-state=running]")).waitFor({ timeout: 30_000 });
  await page.locator(".runtime-bar .runtime-state", { hasText: "busy" }).waitFor();
  await cellOf(page, ids[1]).locator(".gutter").click();
  await page.keyboard.press("Control+Enter");
  await cellOf(page, ids[1]).and(page.locator("[data-state=queued]")).waitFor();
  await cellOf(page, ids[1]).locator("button.cancel").click();
  await cellOf(page, ids[1]).and(page.locator("[data-state=cancelled]")).waitFor({ timeout: 30_000 });
  assert.equal(await cellOf(page, ids[1]).locator(".prompt").innerText(), "[2]:", "a cancelled run keeps the previous outputs and count");
  await page.keyboard.press("i");
  await page.keyboard.press("i");
  await cellOf(page, ids[0]).locator(".output.error", { hasText: "KeyboardInterrupt" }).waitFor({ timeout: 30_000 });

  // 0 0 restarts: the count starts again.
  const handled = () => page.evaluate(() => (window as any).cathode.handledControls() as number);
  const before = await handled();
  await page.keyboard.press("0");
  await page.keyboard.press("0");
  await waitFor("the restart handled", handled, (n) => n > before, 60_000);
  await page.locator(".runtime-bar .runtime-state", { hasText: "idle" }).waitFor({ timeout: 60_000 });
  await cellOf(page, ids[2]).locator(".gutter").click();
  await page.keyboard.press("Control+Enter");
  await cellOf(page, ids[2]).locator(".output.error", { hasText: "NameError" }).waitFor({ timeout: 60_000 });
  // The error is written before the execution ends; the count shows once it has.
  await cellOf(page, ids[2]).locator(".prompt", { hasText: "[1]:" }).waitFor({ timeout: 30_000 });
  await screenshot(page, "after-restart");
  assert.deepEqual(await forbidden(page), []);
  await context.close();
});

test("import from the list, run, export: a valid notebook with its outputs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cathode-import-"));
  const file = join(dir, "sample.ipynb");
  writeFileSync(
    file,
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
      cells: [
        { id: "intro", cell_type: "markdown", metadata: {}, source: ["# Imported\n", "Some $x^2$ math."] },
        { id: "calc", cell_type: "code", metadata: {}, execution_count: null, outputs: [], source: ["print(6 * 7)"] },
      ],
    }),
  );
  const { context, page } = await openAs(browser, server, server.token, "/");
  await page.getByRole("heading", { name: "Notebooks" }).waitFor();
  await page.locator(".dropzone input[type=file]").setInputFiles(file);
  await page.getByText("Imported sample.ipynb").waitFor();
  const row = page.locator("tr", { hasText: "sample" }).first();
  await row.getByRole("link", { name: "Open" }).click();
  await page.locator(".markdown.rendered h1", { hasText: "Imported" }).waitFor();
  const calc = page.locator('[data-cell-id="calc"]');
  await calc.locator(".gutter").click();
  await page.keyboard.press("Shift+Enter");
  await calc.locator(".output.stream", { hasText: "42" }).waitFor({ timeout: 120_000 });
  await screenshot(page, "imported-and-run");
  await page.goto(`${server.url}/`);
  const download = page.waitForEvent("download");
  await page.locator("tr", { hasText: "sample" }).first().getByRole("button", { name: "Export" }).click();
  const saved = await download;
  assert.match(saved.suggestedFilename(), /sample.*\.ipynb$/);
  const path = await saved.path();
  const exported = JSON.parse(await import("node:fs").then((fs) => fs.readFileSync(path!, "utf8")));
  assert.equal(exported.nbformat, 4);
  const code = exported.cells.find((c: { id: string }) => c.id === "calc");
  assert.equal(code.execution_count, 1);
  assert.equal(code.outputs[0].text.join(""), "42\n");
  await context.close();
});
