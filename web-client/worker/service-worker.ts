/**
 * The page's service worker: it keeps the app (page, script, styles,
 * Automerge's wasm, fonts) so that a reload with the server unreachable
 * still opens the notebook from its local copy in IndexedDB, and syncs
 * once the server is back.
 *
 * Only the app is kept, never data: the API, blobs, the WebSocket and the
 * output sandbox go straight to the network. The page is fetched from the
 * network first (a new build is picked up at once) and from the cache only
 * when that fails; the assets' names carry their content's hash, so a kept
 * copy is never stale. The build writes the asset list (`__ASSETS__`);
 * each build (its page and assets) is a new worker with a cache of its
 * own, and the old caches go when it takes over.
 */

declare const self: ServiceWorkerGlobalScope;
declare const __ASSETS__: string[];
declare const __BUILD__: string;

const CACHE = `cathode-app-${__BUILD__}`;
const PAGE = "/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll([PAGE, ...__ASSETS__]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("cathode-app-") && name !== CACHE) await caches.delete(name);
      }
      // The page's request starts while the worker itself starts up.
      await self.registration.navigationPreload?.enable();
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const page = request.mode === "navigate" && (url.pathname === "/" || url.pathname.startsWith("/notebooks/"));
  if (page) {
    event.respondWith(
      (async () => {
        try {
          // The page is part of the build, kept at install: nothing to store here.
          return ((await event.preloadResponse) as Response | undefined) ?? (await fetch(request));
        } catch (e) {
          // Every page is the same document: the one kept at install.
          const kept = await caches.match(PAGE, { cacheName: CACHE });
          if (kept) return kept;
          throw e;
        }
      })(),
    );
  } else if (url.pathname.startsWith("/assets/")) {
    event.respondWith(
      (async () => (await caches.match(request, { cacheName: CACHE })) ?? fetch(request))(),
    );
  }
});
export {};
