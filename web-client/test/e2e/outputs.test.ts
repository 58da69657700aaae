/**
 * Outputs as Jupyter renders them, on a real ipykernel: an HTML output's
 * script runs in its sandboxed frame and cannot read the page, its storage
 * or the token; markdown renders math and never runs a script; streams keep
 * ANSI colours and tracebacks are coloured; `input()` shows a box in every
 * editor's page and is answered once, from the other page.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { TestServer, openAs, screenshot, useServerAndBrowser } from "./harness";

let server: TestServer;
let browser: Browser;
useServerAndBrowser((s, b) => {
  server = s;
  browser = b;
});

/** A notebook on the python3 kernel with its agent up. */
async function pythonNotebook(name: string): Promise<string> {
  const id = await server.createNotebook(name);
  await server.api("POST", `/api/notebooks/${id}/runtime`, { kernel: "python3" });
  return id;
}

/** Put `code` in the last cell (a new one if the last is not empty) and run it (Shift-Enter); its index. */
async function runCode(page: Page, code: string): Promise<number> {
  const cells = page.locator(".cell");
  if ((await cells.count()) === 0) {
    await page.getByText("An empty notebook").waitFor();
    await page.keyboard.press("b");
    await cells.first().waitFor();
  }
  const order: string[] = await page.evaluate(() => (window as any).cathode.order());
  const lastSource: string = await page.evaluate((id) => (window as any).cathode.source(id), order[order.length - 1]);
  let index = order.length - 1;
  await page.keyboard.press("Escape");
  await cells.nth(index).locator(".gutter").click();
  if (lastSource !== "") {
    await page.keyboard.press("b");
    index += 1;
    await cells.nth(index).waitFor();
  }
  await page.keyboard.press("Enter");
  await page.keyboard.insertText(code);
  await page.keyboard.press("Shift+Enter");
  return index;
}

function cell(page: Page, index: number) {
  return page.locator(".cell").nth(index);
}

test("HTML output runs sandboxed: no access to the page, its storage or the token", async () => {
  const notebook = await pythonNotebook("HTML");
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const probe = `from IPython.display import HTML, display
display(HTML('''<div id="probe">waiting</div><script>
var out = [];
try { out.push(window.parent.document.title ? "read-parent" : "no-parent"); } catch (e) { out.push("parent-blocked"); }
try { out.push(localStorage.getItem("cathode.token") ? "read-token" : "no-token"); } catch (e) { out.push("storage-blocked"); }
try { window.parent.pwned = 1; out.push("wrote-parent"); } catch (e) { out.push("write-blocked"); }
try { out.push(document.cookie === "" ? "no-cookie" : "cookie"); } catch (e) { out.push("cookie-blocked"); }
document.getElementById("probe").textContent = out.join(",");
</script>'''))`;
  await runCode(page, probe);
  await cell(page, 0).locator(".prompt", { hasText: "[1]:" }).waitFor({ timeout: 120_000 });
  const frameEl = cell(page, 0).locator("iframe.output-frame");
  await frameEl.waitFor();
  assert.equal(await frameEl.getAttribute("sandbox"), "allow-scripts");
  const frame = await (await frameEl.elementHandle())!.contentFrame();
  assert.ok(frame);
  await frame.locator("#probe").filter({ hasNotText: "waiting" }).waitFor({ timeout: 10_000 });
  const result = (await frame.locator("#probe").innerText()).split(",");
  assert.deepEqual(result, ["parent-blocked", "storage-blocked", "write-blocked", "cookie-blocked"]);
  assert.equal(await page.evaluate(() => (window as any).pwned), undefined);
  // Sized to its content.
  const height = await frameEl.evaluate((f) => (f as HTMLIFrameElement).getBoundingClientRect().height);
  assert.ok(height > 10 && height < 400, `frame height ${height}`);
  await screenshot(page, "html-output-sandboxed");
  await context.close();
});

test("markdown renders math and code, and its script never runs", async () => {
  const notebook = await server.createNotebook("Markdown");
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  await page.getByText("An empty notebook").waitFor();
  await page.keyboard.press("b");
  await page.keyboard.press("m");
  await page.keyboard.press("Enter");
  await page.keyboard.insertText(
    "# Title\n\nEuler: $e^{i\\pi} + 1 = 0$\n\n$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n\n```python\nprint('hi')\n```\n\n<script>window.mdRan = 1</script><img src=\"x\" onerror=\"window.mdRan = 2\"><b>bold</b>",
  );
  await page.keyboard.press("Shift+Enter");
  const rendered = cell(page, 0).locator(".markdown.rendered");
  await rendered.locator("h1", { hasText: "Title" }).waitFor();
  assert.ok((await rendered.locator(".katex").count()) >= 2, "inline and display math rendered");
  assert.equal(await rendered.locator(".katex-display").count(), 1);
  assert.equal(await rendered.locator("pre code.hljs").count(), 1);
  assert.equal(await rendered.locator("b", { hasText: "bold" }).count(), 1);
  assert.equal(await rendered.locator("script").count(), 0);
  assert.equal(await rendered.locator("img[onerror]").count(), 0);
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => (window as any).mdRan), undefined);
  // Double-click edits again; Escape leaves and renders.
  await rendered.dblclick();
  await cell(page, 0).locator(".cm-content").waitFor();
  assert.equal(await rendered.isHidden(), true);
  await page.keyboard.press("Escape");
  await rendered.waitFor();
  await screenshot(page, "markdown-rendered");
  await context.close();
});

test("streams keep ANSI colours and carriage returns; tracebacks are coloured", async () => {
  const notebook = await pythonNotebook("Streams");
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  await runCode(page, 'print("\\x1b[31mred\\x1b[0m plain")\nprint("10%\\r50%\\r100%")');
  await cell(page, 0).locator(".prompt", { hasText: "[1]:" }).waitFor({ timeout: 120_000 });
  const stream = cell(page, 0).locator(".output.stream");
  await stream.waitFor();
  assert.equal((await stream.innerText()).trim(), "red plain\n100%");
  const red = stream.locator("span", { hasText: "red" });
  assert.equal(await red.evaluate((s) => (s as HTMLElement).style.color), "var(--ansi-red)");
  const at = await runCode(page, "1/0");
  const error = cell(page, at).locator(".output.error");
  await error.waitFor({ timeout: 60_000 });
  assert.match(await error.innerText(), /ZeroDivisionError/);
  assert.ok((await error.locator("span[style*='color']").count()) > 0, "traceback coloured");
  assert.equal(await error.locator("text=\u001b").count(), 0);
  await screenshot(page, "streams-and-traceback");
  await context.close();
});

test("input() shows a box on every editor's page and is answered once", async () => {
  const notebook = await pythonNotebook("Input");
  const bobToken = await server.person("bob", notebook, "editor");
  const ada = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${notebook}`);
  await runCode(ada.page, 'name = input("Your name? ")\nprint("Hello", name)');
  const adaBox = cell(ada.page, 0).locator(".stdin input");
  const bobBox = cell(bob.page, 0).locator(".stdin input");
  await adaBox.waitFor({ timeout: 120_000 });
  await bobBox.waitFor({ timeout: 30_000 });
  assert.equal((await cell(bob.page, 0).locator(".stdin .prompt-text").innerText()).trim(), "Your name?");
  await screenshot(bob.page, "input-box");
  await bobBox.fill("Bob");
  await bobBox.press("Enter");
  await cell(ada.page, 0).locator(".output.stream", { hasText: "Hello Bob" }).waitFor({ timeout: 30_000 });
  await adaBox.waitFor({ state: "detached" });
  await bobBox.waitFor({ state: "detached" });
  // getpass() asks with a masked box.
  const at = await runCode(ada.page, 'import getpass\nsecret = getpass.getpass("Password: ")\nprint(len(secret))');
  const masked = cell(ada.page, at).locator(".stdin input");
  await masked.waitFor({ timeout: 60_000 });
  assert.equal(await masked.getAttribute("type"), "password");
  await masked.fill("hunter22");
  await masked.press("Enter");
  await cell(ada.page, at).locator(".output.stream", { hasText: "8" }).waitFor({ timeout: 30_000 });
  assert.ok(!(await cell(bob.page, at).innerText()).includes("hunter22"));
  // The answer was sealed to the agent's one-time key: the password is in
  // no change of the notebook's history, in either page's copy, nor in
  // the server's database files.
  for (const page of [ada.page, bob.page]) {
    const history: string = await page.evaluate(() => (window as any).cathode.notebookHistory());
    assert.match(history, /ciphertext/, "a sealed answer was written");
    assert.ok(!history.includes("hunter22"), "the password is in the notebook's history");
  }
  for (const name of readdirSync(server.dataDir)) {
    const path = join(server.dataDir, name);
    if (statSync(path).isFile()) assert.ok(!readFileSync(path).includes("hunter22"), `the password is in ${name}`);
  }
  await ada.context.close();
  await bob.context.close();
});

test("display updates, a truncated stream's full text, and an image from the blob store", async () => {
  const notebook = await pythonNotebook("Rich");
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const first = await runCode(page, "h = display('before', display_id=True)");
  await cell(page, first).locator(".output", { hasText: "before" }).waitFor({ timeout: 120_000 });
  const second = await runCode(page, "h.update('after')\n'done'");
  await cell(page, second).locator(".output.result", { hasText: "done" }).waitFor({ timeout: 60_000 });
  await cell(page, first).locator(".output", { hasText: "after" }).waitFor();
  assert.equal(await cell(page, first).locator(".output", { hasText: "before" }).count(), 0);

  const third = await runCode(page, "for i in range(3000):\n    print(f'line {i:05d} ' + 'x' * 20)");
  const note = cell(page, third).locator(".truncated");
  await note.waitFor({ timeout: 60_000 });
  const shown = await cell(page, third).locator(".output.stream pre").innerText();
  assert.ok(!shown.includes("line 01500"), "the middle is cut");
  await note.getByRole("button", { name: "Show the full output" }).click();
  await cell(page, third).locator(".output.stream pre", { hasText: "line 01500" }).waitFor();
  const full = await cell(page, third).locator(".output.stream pre").innerText();
  assert.equal(full.trim().split("\n").length, 3000);

  const fourth = await runCode(
    page,
    "import matplotlib.pyplot as plt\nimport numpy as np\nx = np.linspace(0, 10, 500)\nplt.figure(figsize=(8, 5), dpi=120)\nplt.plot(x, np.sin(x) * np.exp(-x / 5))\nplt.title('damped')\nplt.show()",
  );
  const img = cell(page, fourth).locator(".output img");
  await img.waitFor({ timeout: 120_000 });
  await page.waitForFunction(
    (el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0,
    await img.elementHandle(),
  );
  const src = (await img.getAttribute("src")) ?? "";
  assert.ok(src.startsWith("blob:") || src.startsWith("data:image/png"), src.slice(0, 30));
  assert.ok(!src.includes("token"), "no token in a DOM URL");
  await screenshot(page, "rich-outputs");
  await context.close();
});
