/**
 * Signing in, the notebook list, and a first run: the token leaves the
 * address bar, a wrong token gets the sign-in page, a notebook made from
 * the list opens, a typed cell runs on a real agent with `[*]` then its
 * output and `[1]`.
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
  // Rename by clicking the title; the list shows the new name.
  await page.locator("h1.title").click();
  await page.getByLabel("Notebook name").fill("Renamed here");
  await page.getByLabel("Notebook name").press("Enter");
  await page.locator("h1.title", { hasText: "Renamed here" }).waitFor();
  await page.goto(`${server.url}/`);
  await page.getByRole("link", { name: "Renamed here" }).waitFor();
  await context.close();
});

test("rename from the list", async () => {
  const id = await server.createNotebook("Listed");
  const { context, page } = await openAs(browser, server, server.token, "/");
  const row = page.locator(`tr[data-notebook-id="${id}"]`);
  await row.getByRole("button", { name: "Rename" }).click();
  await row.getByLabel("Notebook name").fill("Listed, renamed");
  await row.getByLabel("Notebook name").press("Enter");
  await page.locator(`tr[data-notebook-id="${id}"] a.name`, { hasText: "Listed, renamed" }).waitFor();
  const got = await server.api<{ name: string }>("GET", `/api/notebooks/${id}`);
  assert.equal(got.name, "Listed, renamed");
  await screenshot(page, "list-with-notebooks");
  await context.close();
});

test("share: the owner makes a person's access and their link signs them in", async () => {
  const id = await server.createNotebook("Shared");
  const { context, page } = await openAs(browser, server, server.token, "/");
  const row = page.locator(`tr[data-notebook-id="${id}"]`);
  await row.getByRole("button", { name: "Share" }).click();
  await page.getByLabel("Person's name").fill("grace");
  await page.getByLabel("Role").selectOption("viewer");
  await page.getByRole("button", { name: "Create access" }).click();
  const link = await page.getByLabel("Link to send").inputValue();
  assert.match(link, new RegExp(`/notebooks/${id}\\?token=cth_`));
  await screenshot(page, "share-dialog");
  await context.close();
  const guest = await browser.newContext();
  const guestPage = await guest.newPage();
  await guestPage.goto(link);
  await guestPage.locator(".sync", { hasText: "synced" }).waitFor();
  assert.ok(!guestPage.url().includes("token="));
  assert.equal(await guestPage.evaluate(() => (window as any).cathode.session.role), "viewer");
  assert.equal(await guestPage.evaluate(() => (window as any).cathode.session.user), "grace");
  await guest.close();
});
