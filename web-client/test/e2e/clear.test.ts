/**
 * Clearing outputs, as JupyterLab's "Clear Outputs" and "Clear All
 * Outputs": no runtime needed (the notebook here never had one), another
 * person's page loses the outputs too, the count goes, and the export
 * carries none.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

function printed(id: string, n: number) {
  return {
    id,
    cell_type: "code",
    metadata: {},
    source: [`print(${JSON.stringify(id)})`],
    execution_count: n,
    outputs: [{ output_type: "stream", name: "stdout", text: [`${id} printed\n`] }],
  };
}

interface Exported {
  cells: { id: string; execution_count: number | null; outputs: unknown[] }[];
}

test("clear one cell's outputs, then all, seen by the other person and in the export, with no runtime", async () => {
  const file = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [printed("first", 1), printed("second", 2), printed("third", 3)] };
  const { id } = await server.api<{ id: string }>("POST", "/api/notebooks/import?name=clearing", JSON.stringify(file));
  const bob = await server.person("bob", id, "editor");
  const a = await openAs(browser, server, server.token, `/notebooks/${id}`);
  const b = await openAs(browser, server, bob, `/notebooks/${id}`);
  const cellIn = (page: typeof a.page, cell: string) => page.locator(`[data-cell-id="${cell}"]`);
  for (const page of [a.page, b.page]) {
    await cellIn(page, "third").locator(".output.stream", { hasText: "third printed" }).waitFor({ timeout: 30_000 });
  }

  await cellIn(a.page, "second").locator(".gutter").click();
  await a.page.getByRole("button", { name: "Clear the selected cells' outputs" }).click();
  await cellIn(b.page, "second").locator(".output").waitFor({ state: "detached", timeout: 30_000 });
  await cellIn(b.page, "second").locator(".prompt", { hasText: "[ ]:" }).waitFor();
  assert.equal(await cellIn(b.page, "first").locator(".prompt").innerText(), "[1]:");
  assert.equal((await cellIn(b.page, "first").locator(".output.stream").innerText()).trim(), "first printed");
  await screenshot(b.page, "cleared-one");

  let exported = await server.api<Exported>("GET", `/api/notebooks/${id}/ipynb`);
  const byId = (e: Exported, cell: string) => e.cells.find((c) => c.id === cell)!;
  assert.deepEqual(byId(exported, "second").outputs, []);
  assert.equal(byId(exported, "second").execution_count, null);
  assert.equal(byId(exported, "third").outputs.length, 1);

  await b.page.getByRole("button", { name: "Clear all outputs" }).click();
  await a.page.locator(".cell .output").first().waitFor({ state: "detached", timeout: 30_000 });
  assert.equal(await a.page.locator(".cell .output").count(), 0);
  exported = await server.api<Exported>("GET", `/api/notebooks/${id}/ipynb`);
  assert.deepEqual(
    exported.cells.map((c) => [c.id, c.outputs.length, c.execution_count]),
    [["first", 0, null], ["second", 0, null], ["third", 0, null]],
  );
  const runtime = await server.api<{ state: string }>("GET", `/api/notebooks/${id}/runtime`);
  assert.equal(runtime.state, "none", "clearing needs no runtime");
  await a.context.close();
  await b.context.close();
});
