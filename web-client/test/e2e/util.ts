/** Small helpers the browser tests share: reading the page's documents and waiting. */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";

export async function cellIds(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).cathode?.order() ?? []);
}

export async function source(page: Page, id: string): Promise<string> {
  return page.evaluate((cell) => (window as any).cathode?.source(cell) ?? "", id);
}

export async function forbidden(page: Page): Promise<unknown[]> {
  const errors = await page.evaluate(() => (window as any).cathode.errors());
  return errors.filter((e: { code: string }) => e.code === "forbidden");
}

export async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
    last = await probe();
  }
  return last;
}
