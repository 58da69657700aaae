/**
 * What the browser tests share: a real `sync-server` process (the
 * workspace's debug build, with its runtime-agent beside it) on a free
 * loopback port with its own data directory, and Debian's Chromium driven
 * by playwright-core, headless, with the flags that keep it off this closed
 * network. Screenshots go to test-output/.
 */

import { before, after } from "node:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const webClientDir = join(here, "../..");
export const outputDir = join(webClientDir, "test-output");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function targetDir(): string {
  const cache = process.env.CATHODE_CACHE ?? join(process.env.HOME ?? "/root", ".cache/cathode");
  return process.env.CARGO_TARGET_DIR ?? join(cache, "target");
}

export function binary(name: string): string {
  // The benchmark may point at a release build's directory.
  const dir = process.env.CARGO_TARGET_DIR_BENCH ?? join(targetDir(), "debug");
  return join(dir, name);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export interface ServerOptions {
  extraArgs?: string[];
  /** Extra environment for the server (and so its agents). */
  env?: Record<string, string>;
  dataDir?: string;
  port?: number;
}

export class TestServer {
  private constructor(
    readonly process: ChildProcess,
    readonly url: string,
    readonly token: string,
    readonly dataDir: string,
    readonly port: number,
    readonly log: string[],
  ) {}

  static async start(options: ServerOptions = {}): Promise<TestServer> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "cathode-web-"));
    const port = options.port ?? (await freePort());
    const tokenFile = join(dataDir, "owner-token");
    const log: string[] = [];
    const child = spawn(
      binary("sync-server"),
      [
        "--bind",
        `127.0.0.1:${port}`,
        "--data-dir",
        dataDir,
        "--owner-token-file",
        tokenFile,
        "--web-dir",
        process.env.CATHODE_WEB_DIR ?? join(webClientDir, "dist"),
        ...(options.extraArgs ?? []),
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, CATHODE_LOG: process.env.CATHODE_LOG ?? "warn", ...(options.env ?? {}) },
      },
    );
    child.stdout!.on("data", (d) => log.push(String(d)));
    child.stderr!.on("data", (d) => log.push(String(d)));
    const deadline = Date.now() + 30_000;
    while (!log.join("").includes("listening on")) {
      if (child.exitCode !== null) throw new Error(`sync-server exited: ${log.join("")}`);
      if (Date.now() > deadline) throw new Error(`sync-server did not start: ${log.join("")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const token = readFileSync(tokenFile, "utf8").trim();
    return new TestServer(child, `http://127.0.0.1:${port}`, token, dataDir, port, log);
  }

  async api<T = unknown>(method: string, path: string, body?: unknown, token = this.token): Promise<T> {
    const response = await fetch(this.url + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async createNotebook(name: string): Promise<string> {
    const r = await this.api<{ id: string }>("POST", "/api/notebooks", { name });
    return r.id;
  }

  /** A new user with `role` in `notebook`; their token. */
  async person(name: string, notebook: string, role: "owner" | "editor" | "viewer"): Promise<string> {
    const user = await this.api<{ user_id: string; token: string }>("POST", "/api/users", { name });
    await this.api("POST", `/api/notebooks/${notebook}/grants`, { user_id: user.user_id, role });
    return user.token;
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.process.exitCode !== null) return;
    const exited = new Promise((r) => this.process.once("exit", r));
    this.process.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (this.process.exitCode === null) this.process.kill("SIGKILL");
  }

  cleanup(): void {
    try {
      rmSync(this.dataDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CATHODE_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath} (scripts/setup-web.sh installs it)`);
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** A person's page, signed in with `token` through the URL, at `path`. */
export async function openAs(browser: Browser, server: TestServer, token: string, path: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  const sep = path.includes("?") ? "&" : "?";
  await page.goto(`${server.url}${path}${sep}token=${encodeURIComponent(token)}`);
  return { context, page };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: join(outputDir, `${name}.png`), fullPage: false });
}

/**
 * One server and one browser for a test file: started before its tests,
 * stopped (and the server's files removed) after. `ready` hands them over;
 * a test that restarts the server hands the new one back with `replaced`,
 * so that the one stopped at the end is the one still running.
 */
export function useServerAndBrowser(ready: (server: TestServer, browser: Browser) => void): {
  replaced(next: TestServer): void;
} {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  before(async () => {
    server = await TestServer.start();
    browser = await launchBrowser();
    ready(server, browser);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    server?.cleanup();
  });
  return {
    replaced(next: TestServer) {
      server = next;
    },
  };
}
