/**
 * An AI cell on the page as a visible collaborator, against a scripted
 * OpenAI-compatible provider (a few lines of Node here) that records what
 * it receives and holds its answer until the test lets it go, so what the
 * pages show in between is asserted without timing guesses:
 * - the model picker lists the server's models and the provider receives
 *   the one chosen;
 * - the model's create_cell makes a cell Bob sees, with the AI in Bob's
 *   list of who is here, its name on that cell and its cursor in it;
 * - its execute_cell waits for approval, which Bob gives;
 * - the reply streams (a partial reply shows before the run ends),
 *   reasoning stays collapsed, tool cards expand to their arguments and
 *   results and link to the cell; a code block inserts as a cell below
 *   (undone with Z), a viewer gets no insert button and no picker;
 * - undoing the run removes its cell; a provider error is said plainly.
 */

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { TestServer, launchBrowser, openAs, screenshot } from "./harness";
import { cellIds, forbidden, source, waitFor } from "./util";

let server: TestServer;
let browser: Browser;
let provider: Server;
const received: { model: string; messages: { role: string; content: unknown }[] }[] = [];

/** A point the provider waits at until the test opens it. */
class Gate {
  open!: () => void;
  readonly opened = new Promise<void>((r) => (this.open = r));
  reached = false;
}
const gates = { afterCreate: new Gate(), midReply: new Gate() };

function chunk(delta: unknown, finish: string | null = null): string {
  return `data: ${JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 0,
    model: "fake",
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;
}

function toolCall(res: ServerResponse, id: string, name: string, args: string): void {
  res.write(chunk({ role: "assistant", content: "" }));
  res.write(chunk({ tool_calls: [{ index: 0, id, type: "function", function: { name, arguments: "" } }] }));
  // The arguments in many fragments, as OpenAI streams them.
  for (let i = 0; i < args.length; i += 7) res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(i, i + 7) } }] }));
  res.write(chunk({}, "tool_calls"));
}

/** The turns of the main prompt, told apart by the tool results since the prompt. */
async function answer(body: (typeof received)[number], res: ServerResponse): Promise<void> {
  const lastUser = body.messages.map((m) => m.role).lastIndexOf("user");
  const prompt = JSON.stringify(body.messages[lastUser]?.content ?? "");
  const results = body.messages.slice(lastUser + 1).filter((m) => m.role === "tool");
  if (prompt.includes("Make a note")) {
    // Only asks to create a cell; with every tool asking, it is denied.
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    if (results.length === 0) toolCall(res, "call_note", "create_cell", JSON.stringify({ source: "A note.", cell_type: "markdown" }));
    else {
      res.write(chunk({ role: "assistant", content: `Told: ${String(results[0].content).slice(0, 200)}` }));
      res.write(chunk({}, "stop"));
    }
    res.write("data: [DONE]\n\n");
    res.end();
    return;
  }
  if (prompt.includes("Please fail")) {
    res.writeHead(500, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ error: { message: "the scripted model is overloaded" } }));
    return;
  }
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  if (results.length === 0) {
    toolCall(res, "call_create", "create_cell", JSON.stringify({ source: "answer = 6 * 7\nprint(answer)", cell_type: "code" }));
  } else if (results.length === 1) {
    gates.afterCreate.reached = true;
    await gates.afterCreate.opened;
    const created = JSON.parse(String(results[0].content)).cell_id as string;
    toolCall(res, "call_exec", "execute_cell", JSON.stringify({ cell_id: created }));
  } else {
    res.write(chunk({ role: "assistant", reasoning_content: "The cell printed 42, so " }));
    res.write(chunk({ reasoning_content: "the answer is known." }));
    res.write(chunk({ content: "The answer is **forty" }));
    res.write(chunk({ content: "-two**. " }));
    gates.midReply.reached = true;
    await gates.midReply.opened;
    res.write(chunk({ content: "To print it again:\n\n```python\nprint(answer)\n```\n" }));
    res.write(chunk({}, "stop"));
  }
  res.write("data: [DONE]\n\n");
  res.end();
}

function startProvider(): Promise<string> {
  provider = createServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      const body = JSON.parse(text);
      received.push(body);
      void answer(body, res);
    });
  });
  return new Promise((resolve) =>
    provider.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`)),
  );
}

before(async () => {
  const base = await startProvider();
  server = await TestServer.start({
    env: { CATHODE_AI_BASE_URL: base, CATHODE_AI_API_KEY: "fake-provider-key-5678", CATHODE_AI_MODELS: "fake-small,fake-large" },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  server?.cleanup();
  provider?.close();
});

async function waitGate(gate: Gate): Promise<void> {
  await waitFor("the provider to reach its pause", async () => gate.reached, (v) => v, 120_000);
}

async function newAiCell(page: Page): Promise<string> {
  const before = await cellIds(page);
  await page.keyboard.press("Escape");
  await page.keyboard.press("b");
  // A new id, not a longer list: a removal still arriving from another
  // peer may shorten the list while the new cell lengthens it.
  const ids = await waitFor("a new cell", () => cellIds(page), (v) => v.some((x) => !before.includes(x)));
  const id = ids.find((x) => !before.includes(x))!;
  await page.getByLabel("Cell type").selectOption("ai");
  await page.locator(`[data-cell-id="${id}"][data-type="ai"]`).waitFor();
  return id;
}

test("an AI cell works on the page as a collaborator others see", async () => {
  const notebook = await server.createNotebook("AI page");
  const bobToken = await server.person("bob", notebook, "editor");
  const { context, page } = await openAs(browser, server, server.token, `/notebooks/${notebook}`);
  const bob = await openAs(browser, server, bobToken, `/notebooks/${notebook}`);
  await page.getByText("An empty notebook").waitFor();
  await bob.page.getByText("An empty notebook").waitFor();

  // The picker lists the server's models; the choice is stored in the cell.
  const aiCell = await newAiCell(page);
  const cell = page.locator(`[data-cell-id="${aiCell}"]`);
  const picker = cell.getByLabel("Model");
  await waitFor("the models", () => picker.locator("option").allTextContents(), (v) => v.length === 3);
  assert.deepEqual(
    await picker.locator("option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)),
    ["", "default/fake-small", "default/fake-large"],
  );
  await picker.selectOption("default/fake-large");
  const bobPicker = bob.page.locator(`[data-cell-id="${aiCell}"]`).getByLabel("Model");
  await waitFor("Bob's picker to follow", () => bobPicker.inputValue(), (v) => v === "default/fake-large");

  await cell.locator(".gutter").click();
  await page.keyboard.press("Enter");
  await page.keyboard.insertText("Compute the answer in a cell and run it.");
  await page.keyboard.press("Control+Enter");

  // Held after create_cell: the cell is at Bob's, and the AI is here, on it, with its cursor.
  await waitGate(gates.afterCreate);
  const bobSources = async () => Promise.all((await cellIds(bob.page)).map((id) => source(bob.page, id)));
  await waitFor("the created cell at Bob's", bobSources, (v) => v.includes("answer = 6 * 7\nprint(answer)"));
  const created = (await cellIds(bob.page)).find((id) => id !== aiCell)!;
  const aiChip = bob.page.locator(".presence [data-ai]");
  await aiChip.waitFor();
  assert.equal(await aiChip.getAttribute("data-user"), "AI (default/fake-large)");
  assert.match((await aiChip.getAttribute("title")) ?? "", /\(AI, for \S+\)/);
  const createdAtBob = bob.page.locator(`[data-cell-id="${created}"]`);
  await createdAtBob.locator(".people .person", { hasText: "AI (default/fake-large)" }).waitFor();
  const caret = createdAtBob.locator(".cm-remote-label", { hasText: "AI (default/fake-large)" });
  await caret.waitFor();
  // Its cursor is where it stopped writing: the end of the source.
  const caretAt = await createdAtBob.evaluate((el) => {
    const caret = el.querySelector(".cm-remote-caret")!;
    const line = caret.closest(".cm-line")!;
    const lines = el.querySelectorAll(".cm-line");
    const range = document.createRange();
    range.setStart(line, 0);
    range.setEndBefore(caret);
    return { before: range.toString(), lastLine: line === lines[lines.length - 1], lineText: line.textContent!.replace(caret.textContent!, "") };
  });
  const caretAtEnd = caretAt.lastLine && caretAt.before === "print(answer)" && caretAt.lineText === "print(answer)";
  assert.ok(caretAtEnd, `the AI's caret is at the end of what it wrote: ${JSON.stringify(caretAt)}`);
  await screenshot(bob.page, "ai-page-presence");
  gates.afterCreate.open();

  // execute_cell asks first; Bob approves from his page.
  const approval = bob.page.locator(`[data-cell-id="${aiCell}"] .approval`);
  await approval.getByRole("button", { name: "Approve", exact: true }).click({ timeout: 120_000 });

  // The reply streams: part of it shows while the provider holds the rest.
  await waitGate(gates.midReply);
  const bobCell = bob.page.locator(`[data-cell-id="${aiCell}"]`);
  await bobCell.locator(".ai-reply strong", { hasText: "forty-two" }).waitFor({ timeout: 60_000 });
  assert.equal(await bobCell.locator(".ai-reply pre code").count(), 0, "the rest of the reply has not come yet");
  assert.equal(await bobCell.locator(".ai-status").count(), 0, "the run is still going");
  gates.midReply.open();
  await cell.locator(".ai-reply pre code", { hasText: "print(answer)" }).waitFor({ timeout: 60_000 });
  await cell.locator(".ai-status.state-done").waitFor({ timeout: 60_000 });
  await waitFor("the AI to leave presence", () => aiChip.count(), (n) => n === 0);

  // Every request asked for the chosen model.
  assert.ok(received.length >= 3);
  assert.deepEqual([...new Set(received.map((r) => r.model))], ["fake-large"]);

  // Reasoning is collapsed; tool cards expand to arguments and results and link to the cell.
  const reasoning = cell.locator("details.ai-reasoning");
  assert.equal(await reasoning.evaluate((d) => (d as HTMLDetailsElement).open), false);
  const createCard = cell.locator(".ai-tool-call", { has: page.locator("code", { hasText: "create_cell" }) });
  const args = createCard.locator(".ai-args");
  assert.equal(await args.isVisible(), false, "a card starts closed");
  await createCard.locator("summary").click();
  await args.locator("pre code", { hasText: "answer = 6 * 7" }).waitFor();
  const execResult = cell.locator(".ai-tool-result", { has: page.locator("code", { hasText: "execute_cell" }) });
  await execResult.locator("summary").click();
  await execResult.locator(".ai-output-text", { hasText: "42" }).waitFor();
  await execResult.locator(".ai-cell-link").click();
  await page.locator(`[data-cell-id="${created}"].active`).waitFor();
  await screenshot(page, "ai-page-cards");

  // A viewer sees the reply but can neither insert its code nor choose a model.
  const carolToken = await server.person("carol", notebook, "viewer");
  const carol = await openAs(browser, server, carolToken, `/notebooks/${notebook}`);
  const carolCell = carol.page.locator(`[data-cell-id="${aiCell}"]`);
  await carolCell.locator(".ai-reply pre code", { hasText: "print(answer)" }).waitFor();
  await waitFor("the viewer's models", () => carolCell.getByLabel("Model").inputValue(), (v) => v === "default/fake-large");
  assert.equal(await carolCell.getByLabel("Model").isDisabled(), true);
  assert.equal(await carolCell.getByRole("button", { name: "Insert as cell below" }).count(), 0);
  assert.equal(await carol.page.getByLabel("AI approvals").isDisabled(), true);
  await carol.context.close();

  // A code block of the reply becomes a cell below the AI cell; Z undoes it.
  const before = await cellIds(page);
  await cell.getByRole("button", { name: "Insert as cell below" }).click();
  const withInserted = await waitFor("the inserted cell", () => cellIds(page), (v) => v.length === before.length + 1);
  const inserted = withInserted[withInserted.indexOf(aiCell) + 1];
  assert.ok(!before.includes(inserted));
  assert.equal(await source(page, inserted), "print(answer)");
  await page.keyboard.press("z");
  await waitFor("the insert undone", () => cellIds(page), (v) => !v.includes(inserted));

  // Undo the whole run: the AI's cell leaves Bob's page.
  await cell.getByRole("button", { name: "Undo this AI run's changes" }).click();
  await waitFor("the AI's cell gone at Bob's", () => cellIds(bob.page), (v) => !v.includes(created));
  assert.ok((await cellIds(bob.page)).includes(aiCell));
  await waitFor("the AI's cell gone here", () => cellIds(page), (v) => !v.includes(created));

  // A provider error is said plainly.
  const failing = await newAiCell(page);
  await page.locator(`[data-cell-id="${failing}"] .gutter`).click();
  await page.keyboard.press("Enter");
  await page.keyboard.insertText("Please fail.");
  await page.keyboard.press("Control+Enter");
  const status = page.locator(`[data-cell-id="${failing}"] .ai-status.state-error[role="alert"]`);
  await status.waitFor({ timeout: 120_000 });
  assert.match(await status.innerText(), /The AI run failed/);
  assert.match(await status.innerText(), /overloaded/);

  // The approval mode is the notebook's: Ada changes it, Bob's page
  // follows, and the document holds it where the agent reads it.
  const mode = page.getByLabel("AI approvals");
  assert.equal(await mode.inputValue(), "ask_execute");
  await mode.selectOption("ask_all");
  await waitFor("Bob's approval mode", () => bob.page.getByLabel("AI approvals").inputValue(), (v) => v === "ask_all");
  const settings = await bob.page.evaluate(() => (window as any).cathode.notebookMetadata().cathode);
  assert.equal(settings?.ai_approval, "ask_all");

  // A later run honours it: even create_cell asks now, in Bob's page too,
  // and his denial leaves the notebook as it was.
  const asking = await newAiCell(page);
  await page.locator(`[data-cell-id="${asking}"] .gutter`).click();
  await page.keyboard.press("Enter");
  await page.keyboard.insertText("Make a note.");
  const cellsBefore = await waitFor("the AI cell at Bob's", () => cellIds(bob.page), (v) => v.includes(asking));
  await page.keyboard.press("Control+Enter");
  const ask = bob.page.locator(`[data-cell-id="${asking}"] .approval`);
  await ask.locator(".approval-what code", { hasText: "create_cell" }).waitFor({ timeout: 120_000 });
  await ask.getByRole("button", { name: "Deny", exact: true }).click();
  await page.locator(`[data-cell-id="${asking}"] .ai-status.state-done`).waitFor({ timeout: 120_000 });
  await page.locator(`[data-cell-id="${asking}"] .ai-reply`, { hasText: "Told:" }).waitFor();
  assert.deepEqual(await cellIds(page), cellsBefore, "no cell was created");
  assert.deepEqual(await cellIds(bob.page), cellsBefore);
  const noteTurn = received.filter((r) => JSON.stringify(r.messages).includes("Make a note")).pop()!;
  const denied = noteTurn.messages[noteTurn.messages.length - 1];
  assert.equal(denied.role, "tool");
  assert.match(String(denied.content), /bob denied this call/, "the model is told who denied the call");

  assert.deepEqual(await forbidden(page), []);
  assert.deepEqual(await forbidden(bob.page), []);
  await bob.context.close();
  await context.close();
});
