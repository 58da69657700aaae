/**
 * Automerge's WebAssembly, fetched once from the URL the page names (the
 * bundle resolves `@automerge/automerge` to its slim entry: build.mjs).
 */

import { initializeWasm, isWasmInitialized } from "@automerge/automerge";

export async function loadAutomerge(): Promise<void> {
  if (isWasmInitialized()) return;
  const meta = document.querySelector<HTMLMetaElement>('meta[name="cathode-wasm"]');
  const url = meta?.content ?? "/assets/automerge.wasm";
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: ${response.status}`);
  await initializeWasm(new Uint8Array(await response.arrayBuffer()));
}
