/**
 * Automerge's WebAssembly, fetched once from the URL the page names (the
 * bundle resolves `@automerge/automerge` to its slim entry: build.mjs).
 * The page preloads that URL, so the download has begun before this script
 * runs, and the module compiles while it streams in (the server says
 * `application/wasm`).
 */

import { initializeWasm, isWasmInitialized } from "@automerge/automerge";

export async function loadAutomerge(): Promise<void> {
  if (isWasmInitialized()) return;
  const meta = document.querySelector<HTMLMetaElement>('meta[name="cathode-wasm"]');
  const url = meta?.content ?? "/assets/automerge.wasm";
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: ${response.status}`);
  // wasm-bindgen's loader streams a Response; automerge's types only name
  // the other forms it forwards to it.
  await initializeWasm(response as unknown as Request);
  performance.mark("cathode:wasm-ready");
}
