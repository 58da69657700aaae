/**
 * An AI cell run from the page against a scripted OpenAI-compatible
 * provider (a few lines of Node here): the prompt goes out, the model's
 * tool call creates a cell that every page sees, the streamed markdown
 * reply, the tool call and the run's status render in the AI cell, and
 * "Undo this AI run's changes" takes the created cell away again.
 */

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { TestServer, launchBrowser, openAs, screenshot } from "./harness";
import { cellIds, forbidden, source, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
let provider: Server;
const prompts: string[] = [];

function chunk(delta: unknown, finish: string | null = null): string {
  return `data: ${JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 0,
    model: "fake-model",
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;
}

/** Turn 1 calls create_cell; turn 2 answers in markdown. */
function startProvider(): Promise<string> {
  let turn = 0;
  provider = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      prompts.push(body);
      turn += 1;
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      if (turn % 2 === 1) {
        res.write(chunk({ role: "assistant", content: "" }));
        res.write(
          chunk({
            tool_calls: [
              { index: 0, id: "call_1", type: "function", function: { name: "create_cell", arguments: '{"source": "answer = 6 * 7", ' } },
            ],
          }),
        );
        res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '"cell_type": "code"}' } }] }));
        res.write(chunk({}, "tool_calls"));
      } else {
        res.write(chunk({ role: "assistant", content: "The cell " }));
        res.write(chunk({ content: "**is** made." }));
        res.write(chunk({}, "stop"));
      }
      res.write("data: [DONE]\n\n");
      res.end();
    });
  });
  return new Promise((resolve) =>
    provider.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`)),
  );
}

before(async () => {
  const base = await startProvider();
  server = await TestServer.start({
    env: { CATHODE_AI_BASE_URL: base, CATHODE_AI_API_KEY: "fake-provider-key-1234", CATHODE_AI_MODELS: "fake-model" },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  server?.cleanup();
  provider?.close();
});

test("an AI cell asks the model, its tool call creates a cell, and the run can be undone", async () => {
  const notebook = await server.createNotebook("AI");
  const bobToken = await server.person("bob", notebook, "editor");
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${notebook}`);
  await page.getByText("An empty notebook").waitFor();
  await page.keyboard.press("b");
  await page.getByLabel("Cell type").selectOption("ai");
  const [aiCell] = await waitFor("the AI cell", () => cellIds(page), (v) => v.length === 1);
  await page.locator(`[data-cell-id="${aiCell}"][data-type="ai"]`).waitFor();
  await page.locator(`[data-cell-id="${aiCell}"] .gutter`).click();
  await page.keyboard.press("Enter");
  await page.keyboard.insertText("Make a cell computing the answer.");
  await page.keyboard.press("Shift+Enter");

  const cell = page.locator(`[data-cell-id="${aiCell}"]`);
  await cell.locator(".markdown strong", { hasText: "is" }).waitFor({ timeout: 120_000 });
  await cell.locator(".ai-tool-call code", { hasText: "create_cell" }).waitFor();
  await cell.locator(".ai-status").waitFor({ timeout: 30_000 });
  assert.ok(prompts[0].includes("Make a cell computing the answer."), "the prompt reached the model");
  // (Shift-Enter in the last cell also added an empty cell below, as in Jupyter.)
  const sources = async () => Promise.all((await cellIds(bob.page)).map((id) => source(bob.page, id)));
  await waitFor("the created cell at Bob's", sources, (v) => v.includes("answer = 6 * 7"));
  assert.equal(await page.locator(".approval:visible").count(), 0, "no approval box when none is asked");
  await screenshot(page, "ai-cell");

  await cell.getByRole("button", { name: "Undo this AI run's changes" }).click();
  await waitFor("the AI's cell gone at Bob's", sources, (v) => !v.includes("answer = 6 * 7"));
  assert.ok((await cellIds(bob.page)).includes(aiCell), "the AI cell itself stays");
  assert.deepEqual(await forbidden(page), []);
  await bob.context.close();
  await context.close();
});
