/**
 * Tab to the completion popup painted, on a real agent and kernel: the
 * page's question travels to the server, the agent and the kernel and
 * back. Printed, never asserted.
 */

import type { Browser, Page } from "playwright-core";
import type { TestServer } from "../test/e2e/harness";
import { openAs } from "../test/e2e/harness";

/**
 * From before the key press to the frame after `selector` shows `text`.
 * JupyterLab keeps its completer in the page and hides it, so "shown"
 * means displayed, not merely present.
 */
export async function tabToPopup(page: Page, selector: string, text: string, samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples + 3; i++) {
    const shown = page.evaluate(
      ([sel, want]) =>
        new Promise<number>((resolve) => {
          const check = () => {
            const el = document.querySelector(sel) as HTMLElement | null;
            if (el && el.checkVisibility() && el.innerText.includes(want)) requestAnimationFrame(() => resolve(performance.now()));
            else requestAnimationFrame(check);
          };
          check();
        }),
      [selector, text] as const,
    );
    const t0: number = await page.evaluate(() => performance.now());
    await page.keyboard.press("Tab");
    const t1 = await shown;
    if (i >= 3) out.push(t1 - t0); // the first ones warm the kernel's completer
    await page.keyboard.press("Escape");
    await page.waitForFunction((sel) => {
      const el = document.querySelector(sel) as HTMLElement | null;
      return !el || !el.checkVisibility();
    }, selector);
  }
  return out;
}

export async function ourCompletion(browser: Browser, server: TestServer, kernel: string, samples: number): Promise<number[]> {
  const notebook = await server.createNotebook(`bench completion ${kernel}`);
  await server.api("POST", `/api/notebooks/${notebook}/runtime`, { kernel });
  const { page, context } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  await page.locator(".runtime-bar .runtime-state", { hasText: "idle" }).waitFor({ timeout: 120_000 });
  await page.getByText("An empty notebook").waitFor();
  await page.keyboard.press("b");
  await page.keyboard.press("Enter");
  await page.keyboard.insertText("import o");
  const out = await tabToPopup(page, ".cm-tooltip-autocomplete", "os", samples);
  await context.close();
  return out;
}
