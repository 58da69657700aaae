/**
 * The same measurements against JupyterLab with jupyter-collaboration, in
 * the same Chromium, for the ratios the benchmark prints: keystroke in page
 * A to page B's DOM and to painted there, `1+1` from the run key to the
 * painted result, a 200-cell notebook to its first editable cell, and Tab
 * to the completer popup. Each part runs on its own: one that fails is
 * said and left out. Needs a virtual environment with jupyterlab,
 * jupyter-collaboration and ipykernel (`CATHODE_JLAB_VENV`;
 * scripts/bench-web.sh makes one when asked).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { tabToPopup } from "./completion";
import { benchNotebook } from "./notebooks";
import { OPENS, installPaintProbe, keystrokesAcross, loadMark, runKeyToPainted, watchLoad, type KeystrokeTimes } from "./paint-probe";

/** Each figure is left out when its part was not asked for or failed (said on the console). */
export interface Figures {
  keystroke?: KeystrokeTimes;
  onePlusOne?: number[];
  firstEditable200?: number[];
  /** Tab to the completer popup on `import o`, ipykernel. */
  completion?: number[];
}

export type LabPart = "keys" | "open" | "run" | "completion";

/** Run one part; a failure is printed and leaves its figure out. */
async function part<T>(name: string, measure: () => Promise<T>): Promise<T | undefined> {
  try {
    return await measure();
  } catch (e) {
    console.log(`JupyterLab ${name} failed: ${(e as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

function notebookFile(sources: string[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: sources.map((s, i) => ({ id: `cell-${i}`, cell_type: "code", metadata: {}, execution_count: null, outputs: [], source: s })),
  });
}

async function startLab(venv: string, root: string, port: number, token: string): Promise<ChildProcess> {
  const lab = spawn(
    join(venv, "bin", "jupyter"),
    [
      "lab",
      "--no-browser",
      `--port=${port}`,
      "--ip=127.0.0.1",
      `--ServerApp.root_dir=${root}`,
      `--IdentityProvider.token=${token}`,
      "--ServerApp.disable_check_xsrf=True",
      ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
    ],
    // In its own folder: jupyter-collaboration keeps its store in the cwd.
    { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PATH: `${join(venv, "bin")}:${process.env.PATH}` } },
  );
  let log = "";
  lab.stdout!.on("data", (d) => (log += d));
  lab.stderr!.on("data", (d) => (log += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/status?token=${token}`);
      if (r.ok) return lab;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || lab.exitCode !== null) throw new Error(`jupyter lab did not start: ${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function openNotebook(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(url);
  try {
    await page.locator(".jp-Notebook .jp-Cell .cm-content >> visible=true").first().waitFor({ timeout: 120_000 });
  } catch (e) {
    await page.screenshot({ path: join(process.cwd(), "test-output", "jupyterlab-failure.png") });
    throw e;
  }
  return page;
}

export async function measureJupyterLab(browser: Browser, venv: string, parts: Set<LabPart>): Promise<Figures> {
  if (!existsSync(join(venv, "bin", "jupyter"))) throw new Error(`no jupyter in ${venv}`);
  const root = mkdtempSync(join(tmpdir(), "cathode-jlab-"));
  writeFileSync(join(root, "keys.ipynb"), notebookFile([""]));
  writeFileSync(join(root, "run.ipynb"), notebookFile(["1+1"]));
  writeFileSync(join(root, "complete.ipynb"), notebookFile(["import o"]));
  writeFileSync(join(root, "big.ipynb"), benchNotebook(200));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const token = "bench";
  const lab = await startLab(venv, root, port, token);
  const base = `http://127.0.0.1:${port}/lab/tree`;
  const url = (file: string) => `${base}/${file}?reset&token=${token}`;
  try {
    const figures: Figures = {};
    if (parts.has("keys")) figures.keystroke = await part("keystrokes", () => keystrokes(browser, url("keys.ipynb")));
    if (parts.has("run")) figures.onePlusOne = await part("1+1", () => onePlusOne(browser, url("run.ipynb")));
    if (parts.has("open")) figures.firstEditable200 = await part("200 cells", () => opening(browser, url("keys.ipynb"), url("big.ipynb")));
    if (parts.has("completion")) figures.completion = await part("completion", () => completion(browser, url("complete.ipynb")));
    return figures;
  } finally {
    lab.kill("SIGTERM");
  }
}

/** Keystrokes in page A until in page B's DOM, and painted there. */
async function keystrokes(browser: Browser, url: string): Promise<KeystrokeTimes> {
  const a = await openNotebook(browser, url);
  const b = await openNotebook(browser, url);
  await a.locator(".jp-Cell .cm-content >> visible=true").first().click();
  await installPaintProbe(b);
  await b.evaluate(() => {
    const w = window as any;
    w.__shown = (n: number) =>
      w.__shownWhen(() => {
        const el = document.querySelector(".jp-Cell .cm-content");
        const text = el ? (el as HTMLElement).innerText.replace(/\n$/, "") : "";
        return text.length >= n;
      });
  });
  const times = await keystrokesAcross(a, b);
  await a.context().close();
  await b.context().close();
  return times;
}

/** `1+1`, the run key to the painted result. */
async function onePlusOne(browser: Browser, url: string): Promise<number[]> {
  const r = await openNotebook(browser, url);
  await r.locator(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus, .jp-Toolbar").first().waitFor();
  await r.locator(".jp-Cell >> visible=true").first().click();
  await r.keyboard.press("Escape");
  // A run key pressed before the kernel is connected can be dropped: press
  // again until the cell has run (the timing below reads the count it is at).
  for (let attempt = 1; ; attempt++) {
    await r.keyboard.press("Control+Enter");
    try {
      await r.locator(".jp-OutputArea-output >> visible=true", { hasText: "2" }).first().waitFor({ timeout: 15_000 });
      break;
    } catch (e) {
      if (attempt === 8) throw e;
    }
  }
  const samples = await runKeyToPainted(r, { prompt: ".jp-Cell .jp-InputPrompt", result: ".jp-Cell .jp-OutputArea-output" }, 40);
  await r.context().close();
  return samples;
}

/**
 * Opens of the 200-cell notebook, each in a new context after a small
 * notebook has loaded JupyterLab's code: the first editable cell in the page,
 * timed in the page from navigation.
 */
async function opening(browser: Browser, warmUrl: string, bigUrl: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < OPENS; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await watchLoad(context, [{ name: "editable", selector: ".jp-Cell .cm-content" }]);
    const page = await context.newPage();
    await page.goto(warmUrl);
    await page.locator(".jp-Cell .cm-content >> visible=true").first().waitFor({ timeout: 120_000 });
    await page.goto(bigUrl);
    await page.locator(".jp-Cell .cm-content >> visible=true").first().waitFor({ timeout: 120_000 });
    samples.push(await loadMark(page, "editable"));
    await context.close();
  }
  return samples;
}

/** Tab to the completer, once the kernel is up (a run proves it). */
async function completion(browser: Browser, url: string): Promise<number[]> {
  const c = await openNotebook(browser, url);
  // A run key pressed before the page has bound its commands is lost:
  // press again until the cell has run.
  const ran = c.locator(".jp-Cell .jp-InputPrompt", { hasText: /\[\d+\]/ }).first();
  for (let attempt = 0; ; attempt++) {
    await c.locator(".jp-Cell >> visible=true").first().click();
    await c.keyboard.press("Escape");
    await c.keyboard.press("Control+Enter");
    try {
      await ran.waitFor({ timeout: 10_000 });
      break;
    } catch (e) {
      if (attempt < 10) continue;
      await c.screenshot({ path: join(process.cwd(), "test-output", "jupyterlab-completion-failure.png") });
      throw e;
    }
  }
  await c.keyboard.press("Enter");
  await c.keyboard.press("Control+End");
  const samples = await tabToPopup(c, ".jp-Completer", "os", 30);
  await c.context().close();
  return samples;
}
