// Builds the browser bundle into dist/ (or, with --tests, the test files
// into dist-test/ for Node's test runner). esbuild cannot bundle automerge's
// default browser entry (it imports a .wasm file), so every import of
// `@automerge/automerge` resolves to its `slim` entry (one shared instance)
// and the page fetches automerge.wasm itself (src/boot/wasm.ts).
import * as esbuild from "esbuild";
import { copyFile, mkdir, readFile, rm, writeFile, readdir } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.CATHODE_WEB_DIST || join(here, "dist");
const tests = process.argv.includes("--tests");
const watch = process.argv.includes("--watch");

/** Resolve `@automerge/automerge` to the slim entry (browser only). */
const automergeSlim = {
  name: "automerge-slim",
  setup(build) {
    build.onResolve({ filter: /^@automerge\/automerge$/ }, async (args) => {
      const resolved = await build.resolve("@automerge/automerge/slim", {
        kind: args.kind,
        resolveDir: args.resolveDir,
      });
      return { path: resolved.path };
    });
  },
};

async function buildBrowser() {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const options = {
    entryPoints: { app: join(here, "src/boot/main.ts") },
    bundle: true,
    // A classic (deferred) script, not a module: Chrome compiles a classic
    // script into the service worker's cache when the worker installs, and
    // a page the worker serves then takes the compiled code from there
    // (off the main thread). A module script got nothing from that cache
    // and was compiled from scratch on every open the worker served,
    // which, with the compile hint below, held the page about 120 ms
    // (traces taken by hand). In probes by hand, eight opens each of the
    // 200-cell notebook in a fresh context whose worker had installed:
    // first editable cell p50 218 ms classic, 311 ms module.
    format: "iife",
    splitting: false,
    target: "es2022",
    outdir: out,
    minify: !watch,
    sourcemap: true,
    metafile: true,
    loader: { ".woff2": "file", ".woff": "file", ".ttf": "file" },
    assetNames: "assets/[name]-[hash]",
    entryNames: "[name]-[hash]",
    plugins: [automergeSlim],
    logLevel: "warning",
    // V8's compile hint: compile every function when the bundle loads (off
    // the main thread) rather than on its first call. The first render of
    // a notebook calls into CodeMirror, marked and KaTeX for the first
    // time; in nine cold opens of the benchmark's notebook each way
    // (`CATHODE_BENCH_OPENS=9 CATHODE_BENCH_ONLY=open`, this line removed
    // by hand for the runs without) the first editable cell came at p50
    // 283 ms with it, 411 ms without (warm: 196 against 181 ms).
    banner: { js: "//# allFunctionsCalledOnLoad" },
  };
  const result = await esbuild.build(options);
  // The page's first script (src/boot/early-preview.ts): a classic async
  // script of its own, so it runs as soon as it arrives, before the app.
  const early = await esbuild.build({
    entryPoints: { early: join(here, "src/boot/early-preview.ts") },
    bundle: true,
    format: "iife",
    target: "es2022",
    outdir: out,
    minify: !watch,
    metafile: true,
    entryNames: "[name]-[hash]",
    logLevel: "warning",
  });
  const earlyJs = Object.keys(early.metafile.outputs)
    .map((p) => p.split("/").pop())
    .find((f) => f.startsWith("early-") && f.endsWith(".js"));
  const outputs = Object.keys(result.metafile.outputs).map((p) => p.split("/").pop());
  const js = outputs.find((f) => f.startsWith("app-") && f.endsWith(".js"));
  const css = outputs.find((f) => f.startsWith("app-") && f.endsWith(".css"));
  // The wasm, named by its hash so it can be cached forever.
  const wasm = await readFile(join(here, "node_modules/@automerge/automerge/dist/automerge.wasm"));
  const wasmName = `automerge-${createHash("sha256").update(wasm).digest("hex").slice(0, 16)}.wasm`;
  await writeFile(join(out, wasmName), wasm);
  const template = await readFile(join(here, "src/index.html"), "utf8");
  const html = template
    .replace("%APP_JS%", `/assets/${js}`)
    .replace("%EARLY_JS%", `/assets/${earlyJs}`)
    .replace("%APP_CSS%", css ? `<link rel="stylesheet" href="/assets/${css}">` : "")
    .replaceAll("%WASM%", `/assets/${wasmName}`);
  await writeFile(join(out, "index.html"), html);
  // The service worker (worker/service-worker.ts): the app it keeps for
  // offline reloads, named by a hash of the page and the assets' names
  // (which carry their contents' hashes), so each build gets a cache of
  // its own. Fonts: the stylesheet names them relative to itself (`assets/…`), and
  // every browser this runs in takes woff2.
  const fonts = (await readdir(join(out, "assets"))).filter((f) => f.endsWith(".woff2"));
  const assets = [`/assets/${wasmName}`, `/assets/${earlyJs}`, `/assets/${js}`, ...(css ? [`/assets/${css}`] : []), ...fonts.map((f) => `/assets/assets/${f}`)];
  const build = createHash("sha256").update(html).update(assets.join("\n")).digest("hex").slice(0, 16);
  await esbuild.build({
    entryPoints: [join(here, "worker/service-worker.ts")],
    bundle: true,
    format: "iife",
    target: "es2022",
    outfile: join(out, "sw.js"),
    minify: !watch,
    define: { __ASSETS__: JSON.stringify(assets), __BUILD__: JSON.stringify(build) },
    logLevel: "warning",
  });
  // The page output HTML runs in (served with its own sandboxing policy).
  await mkdir(join(out, "sandbox"), { recursive: true });
  await copyFile(join(here, "src/sandbox/output-frame.html"), join(out, "sandbox/output-frame.html"));
  const files = await readdir(out, { recursive: true });
  console.log(`[web-client] built ${files.length} files into ${out}`);
}

/** The benchmark (bench/bench.ts) into dist-test/bench/. */
async function buildBench() {
  await esbuild.build({
    entryPoints: [join(here, "bench", "bench.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: join(here, "dist-test", "bench"),
    outExtension: { ".js": ".mjs" },
    packages: "external",
    logLevel: "warning",
  });
}

async function buildTests() {
  const dir = join(here, "dist-test");
  await rm(dir, { recursive: true, force: true });
  const entries = [];
  for (const kind of ["unit", "e2e"]) {
    for (const f of await readdir(join(here, "test", kind))) {
      if (f.endsWith(".test.ts")) entries.push(join(here, "test", kind, f));
    }
  }

  await esbuild.build({
    entryPoints: entries,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outbase: join(here, "test"),
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    packages: "external",
    sourcemap: "inline",
    logLevel: "warning",
  });
}

if (tests) {
  await buildTests();
  await buildBench();
} else {
  await buildBrowser();
}
