/**
 * Signing in, the notebook list, and a first run: the token leaves the
 * address bar, a wrong token gets the sign-in page, a notebook made from
 * the list opens, a typed cell runs on a real agent with `[*]` then its
 * output and `[1]`.
 */

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { TestServer, launchBrowser, openAs, screenshot } from "./harness";

let server: TestServer;
let browser: Browser;

before(async () => {
  server = await TestServer.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  server?.cleanup();
});

test("the token moves to storage and leaves the address bar", async () => {
  const { context, page } = await openAs(browser, server, server.token, "/");
  await page.getByRole("heading", { name: "Notebooks" }).waitFor();
  assert.ok(!page.url().includes("token="), `token still in ${page.url()}`);
  const stored = await page.evaluate(() => localStorage.getItem("cathode.token"));
  assert.equal(stored, server.token);
  await screenshot(page, "list-empty");
  await context.close();
});

test("a wrong token gets the sign-in page, not a blank screen", async () => {
  const { context, page } = await openAs(browser, server, "cth_wrong", "/");
  await page.getByText("That token is not valid").waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem("cathode.token")), null);
  await screenshot(page, "sign-in-wrong-token");
  await context.close();
});

test("the page is served with a strict Content-Security-Policy", async () => {
  const response = await fetch(server.url + "/");
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline'[^;]*script|script-src[^;]*unsafe-inline/);
  const frame = await fetch(server.url + "/sandbox/output-frame.html");
  assert.match(frame.headers.get("content-security-policy") ?? "", /sandbox allow-scripts/);
  assert.equal((await fetch(server.url + "/assets/..%2Fetc%2Fpasswd")).status, 404);
});

test("create from the list, type a cell, run it: [*], then 2 and [1]", async () => {
  const { context, page } = await openAs(browser, server, server.token, "/");
  await page.getByLabel("New notebook name").fill("First");
  await page.getByRole("button", { name: "New notebook" }).click();
  await page.waitForURL(/\/notebooks\/nb-/);
  await page.getByText("An empty notebook").waitFor();
  await page.keyboard.press("b");
  const cell = page.locator(".cell").first();
  await cell.waitFor();
  await page.keyboard.press("Enter");
  await page.locator(".cell .cm-content").first().waitFor();
  await page.keyboard.type("1+1");
  await page.keyboard.press("Shift+Enter");
  await page.locator(".cell").first().locator(".prompt", { hasText: "[1]:" }).waitFor({ timeout: 120_000 });
  const output = await page.locator(".cell").first().locator(".output.result").innerText();
  assert.equal(output.trim(), "2");
  await screenshot(page, "first-run");
  const errors = await page.evaluate(() => (window as any).cathode.errors());
  assert.deepEqual(errors.filter((e: { code: string }) => e.code === "forbidden"), []);
  await context.close();
});
