/**
 * The page's entry: sign in (token from the URL into storage), load
 * Automerge's WebAssembly, and show the notebook list (`/`, once the
 * WebAssembly is in) or a notebook (`/notebooks/{id}`, whose preview shows
 * while it loads). A missing, wrong or expired token shows the sign-in
 * page, never a blank screen.
 */

import "../styles/app.css";
import { Api, ApiError, type Me } from "../api/rest";
import { adoptTokenFromUrl, forgetToken, storedToken, storeToken } from "./token";
import { loadAutomerge } from "./wasm";
import { notebookIdFromPath, takeEarlyPreview } from "./route";
import { LocalCopy } from "../model/local-copy";
import { h, clear } from "../view/dom";
import { showNotebookList } from "../view/list-page";
import { showNotebook } from "../view/notebook-page";

function signInPage(root: HTMLElement, message?: string): void {
  clear(root);
  const input = h("input", { type: "password", placeholder: "cth_…", autocomplete: "off", "aria-label": "Token" });
  const form = h(
    "form.signin",
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        storeToken(token);
        void start();
      },
    },
    h("h1", {}, "cathode"),
    h("p", {}, "Sign in with the link the server printed when it started (", h("code", {}, "http://…/?token=…"), "), or paste a token:"),
    message ? h("p.error", { role: "alert" }, message) : null,
    input,
    h("button.primary", { type: "submit" }, "Sign in"),
  );
  root.append(form);
  input.focus();
}

async function start(): Promise<void> {
  const root = document.getElementById("app")!;
  adoptTokenFromUrl();
  const token = storedToken();
  if (!token) return signInPage(root);
  const api = new Api(window.location.origin, token);
  const notebookId = notebookIdFromPath(window.location.pathname);
  // Read while the WebAssembly loads: reading needs none.
  const localCopy = notebookId ? new LocalCopy(notebookId) : undefined;
  // The notebook as JSON, shown while the replica loads (model/session.ts).
  const preview = notebookId ? api.previewNotebook(notebookId, takeEarlyPreview(notebookId, token)).catch(() => undefined) : undefined;
  const wasm = loadAutomerge();
  const failed = (e: unknown) => {
    clear(root);
    root.append(h("p.error", { role: "alert" }, `Could not reach the server: ${(e as Error).message}`));
  };
  // Who we are; unknown while the server is unreachable, when a notebook
  // still opens from its local copy (the service worker kept the app) and
  // learns it from the server's welcome once it answers.
  let me: Me = { user_id: "", name: "", is_admin: false, token_expires_at_ms: null };
  try {
    me = await api.me();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      forgetToken();
      return signInPage(root, "That token is not valid (wrong, revoked or expired). Ask for a new link.");
    }
    if (e instanceof ApiError || !localCopy) return failed(e);
  }
  if (notebookId && localCopy && preview) {
    // The page shows the preview while the WebAssembly compiles.
    try {
      const session = await showNotebook(root, { api, token, me, notebookId, localCopy, preview, automerge: wasm });
      void session.loaded().then(keepAppForOffline);
    } catch (e) {
      return failed(e);
    }
  } else {
    try {
      await wasm;
    } catch (e) {
      return failed(e);
    }
    await showNotebookList(root, { api, me });
  }
}

/**
 * Register the service worker (web-client/worker/), which keeps the app
 * for a reload while the server is unreachable: only from a notebook's
 * page, once the notebook has finished opening, and then when the page is
 * idle. Its first install downloads the whole app again and has Chrome
 * compile the script for its cache, and a notebook opened while that is
 * under way loads worst of all: the page is controlled by a worker whose
 * cache has no compiled code yet, so the script is compiled from scratch
 * rather than taken from the copy the list page just ran. In a probe taken
 * by hand (a fresh browser context each open: the list page, then the
 * 200-cell notebook at once), the opens that the installing worker took
 * over reached their first editable cell in 325-443 ms, the others in
 * 247-301 ms.
 */
function keepAppForOffline(): void {
  if (!("serviceWorker" in navigator)) return;
  requestIdleCallback(
    () => {
      navigator.serviceWorker.register("/sw.js").catch((e) => console.warn("no offline copy of the app:", e));
    },
    { timeout: 5000 },
  );
}

void start();
