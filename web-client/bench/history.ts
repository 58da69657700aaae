/**
 * History panel open time on a notebook with 100,000 changes
 * (`CATHODE_BENCH_HISTORY` to change): the history filled by the
 * `history-fill` binary (one person: a new cell, then 49 one-character
 * edits of it, again and again), then the time from the History button's
 * click to the first page of bursts painted, cold (the first read decodes
 * the page's change messages once) and warm (a fresh page: the server has
 * them). Printed, never asserted.
 */

import { spawn } from "node:child_process";
import { TestServer, binary, launchBrowser, openAs } from "../test/e2e/harness";

function fill(server: TestServer, notebook: string, changes: number): Promise<void> {
  const ws = server.url.replace(/^http/, "ws") + "/ws";
  return new Promise((resolve, reject) => {
    const child = spawn(binary("history-fill"), [ws, server.token, notebook, String(changes)], { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`history-fill exited ${code}`))));
  });
}

export async function historyPanelOpen(server: TestServer): Promise<void> {
  const changes = Number(process.env.CATHODE_BENCH_HISTORY ?? 100_000);
  const notebook = await server.createNotebook("history");
  const filling = Date.now();
  await fill(server, notebook, changes);
  console.log(`history: ${changes} changes written in ${((Date.now() - filling) / 1000).toFixed(0)} s`);
  const browser = await launchBrowser();
  try {
    for (const label of ["cold", "warm"]) {
      const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
      // The replica loaded (not only the server's preview shown): the panel's time, not the open's.
      await page.waitForFunction(() => (window as any).cathode?.session.ready && !(window as any).cathode.previewing(), undefined, { timeout: 300_000 });
      const took = await page.evaluate(async () => {
        const button = [...document.querySelectorAll("button")].find((b) => b.textContent === "History")!;
        const start = performance.now();
        button.click();
        while (!document.querySelector("li.history-burst")) await new Promise((r) => setTimeout(r, 1));
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        return { ms: performance.now() - start, bursts: document.querySelectorAll("li.history-burst").length };
      });
      console.log(`history panel open, ${changes} changes, ${label}: ${took.ms.toFixed(0)} ms to the first page painted (${took.bursts} bursts)`);
      await context.close();
    }
  } finally {
    await browser.close();
  }
}
