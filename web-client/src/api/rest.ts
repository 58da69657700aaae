/**
 * Every REST call the UI makes, in one place (ARCHITECTURE.md, sync-server
 * REST). The token always travels in `Authorization: Bearer`, never in a
 * URL the page shows or stores.
 */

import type { RawNotebook } from "../doc/notebook-types";
import type { RawRuntime } from "../doc/runtime";
import type { Role } from "../sync/wire";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface NotebookSummary {
  id: string;
  name: string;
  role: "owner" | "editor" | "viewer" | "runtime";
  created_at_ms?: number;
}

export interface Me {
  user_id: string;
  name: string;
  is_admin: boolean;
  token_expires_at_ms: number | null;
}

export type RuntimeState = "none" | "starting" | "idle" | "busy" | "restarting" | "stopping" | "dead";

export interface RuntimeStatus {
  state: RuntimeState;
  kernel?: string | null;
  reason?: string | null;
  exit_status?: number | null;
  log_tail?: string[] | null;
  pid?: number | null;
  uptime_seconds?: number | null;
  restarts?: number;
  restart_limit?: number;
}

export interface KernelSpec {
  name: string;
  display_name: string;
  language: string;
}

export interface ImportResult {
  id: string;
  name: string;
  repaired?: unknown[];
}

export interface CreatedUser {
  user_id: string;
  name: string;
  token: string;
}

/** A model an AI cell may choose (`GET /api/ai/models`; never a key). */
export interface AiModel {
  /** `provider/model`: what a cell stores and the agent resolves. */
  id: string;
  model: string;
  tools: boolean;
  images: boolean;
  context_tokens: number;
}

export interface AiModels {
  configured: boolean;
  default: string | null;
  models: AiModel[];
  how_to_configure?: string | null;
}

/** One burst of work in a notebook's history (sync-server `history/bursts.rs`). */
export interface HistoryBurst {
  kind: string;
  /** The user's name. */
  author: string;
  by?: string;
  on_behalf_of?: string;
  ai_run?: string;
  restore_to?: number;
  first_seq: number;
  last_seq: number;
  first_ms: number;
  last_ms: number;
  changes: number;
  cells: string[];
  more_cells: number;
}

export interface HistoryPage {
  bursts: HistoryBurst[];
  /** The cursor of the next, older page; null at the notebook's start. */
  next_before: number | null;
  rows_read: number;
  decoded: number;
}

/** A cell as it was at a point of history, with the outputs it showed then. */
export interface CellAt {
  id: string;
  cell_type: string;
  position: string;
  source: string;
  /** Metadata values by key, parsed. */
  metadata: Record<string, unknown>;
  attachments: unknown;
  execution_count: number | null;
  outputs: unknown[];
}

export interface NotebookAt {
  seq: number;
  at_ms: number;
  runtime_seq: number;
  cells: CellAt[];
}

/** One document as JSON, in the shape Automerge materialises it, and its version. */
export interface DocumentPreview<T> {
  heads: string[];
  doc: T;
}

export interface NotebookPreview {
  id: string;
  name: string;
  role: Role;
  notebook: DocumentPreview<RawNotebook>;
  runtime: DocumentPreview<RawRuntime>;
}

/**
 * The request behind `Api.previewNotebook`, which the page's first script
 * (boot/early-preview.ts) sends before the app's bundle has loaded.
 */
export function requestPreview(base: string, token: string, id: string): Promise<Response> {
  return fetch(new URL(`/api/notebooks/${encodeURIComponent(id)}/preview`, base), {
    headers: { Authorization: `Bearer ${token}` },
  });
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: string, path: string, body?: BodyInit | object, raw = false): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    let payload: BodyInit | undefined;
    if (body instanceof FormData || body instanceof Blob || typeof body === "string") {
      payload = body as BodyInit;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    return this.read<T>(fetch(new URL(path, this.base), { method, headers, body: payload }), raw);
  }

  /** A response's body as `T`, or its error as an `ApiError`. */
  private async read<T>(sent: Promise<Response>, raw = false): Promise<T> {
    const response = await sent;
    if (!response.ok) {
      let code = "http_error";
      let message = `${response.status} ${response.statusText}`;
      try {
        const err = await response.json();
        code = err.error ?? code;
        message = err.message ?? message;
      } catch {
        // not JSON
      }
      throw new ApiError(response.status, code, message);
    }
    if (raw) return response as unknown as T;
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  me(): Promise<Me> {
    return this.call("GET", "/api/me");
  }

  async listNotebooks(): Promise<NotebookSummary[]> {
    const r = await this.call<{ notebooks: NotebookSummary[] }>("GET", "/api/notebooks");
    return r.notebooks;
  }

  getNotebook(id: string): Promise<NotebookSummary> {
    return this.call("GET", `/api/notebooks/${encodeURIComponent(id)}`);
  }

  /**
   * The notebook's name, our role, and both documents as JSON with their
   * heads (`schema/src/preview.rs`): what the page shows while its own
   * replica loads.
   */
  previewNotebook(id: string, started?: Promise<Response>): Promise<NotebookPreview> {
    return this.read(started ?? requestPreview(this.base, this.token, id));
  }

  createNotebook(name: string): Promise<NotebookSummary> {
    return this.call("POST", "/api/notebooks", { name });
  }

  renameNotebook(id: string, name: string): Promise<NotebookSummary> {
    return this.call("PATCH", `/api/notebooks/${encodeURIComponent(id)}`, { name });
  }

  /** Import a `.ipynb` file as a new notebook (multipart, named by the file). */
  importNotebook(file: File): Promise<ImportResult> {
    const form = new FormData();
    form.append("file", file, file.name);
    return this.call("POST", "/api/notebooks/import", form);
  }

  /** The notebook as nbformat 4.5, with the file name the server gives it. */
  async exportNotebook(id: string): Promise<{ blob: Blob; filename: string }> {
    const response = await this.call<Response>("GET", `/api/notebooks/${encodeURIComponent(id)}/ipynb`, undefined, true);
    const disposition = response.headers.get("Content-Disposition") ?? "";
    return { blob: await response.blob(), filename: filenameFrom(disposition) ?? `${id}.ipynb` };
  }

  runtimeStatus(id: string): Promise<RuntimeStatus> {
    return this.call("GET", `/api/notebooks/${encodeURIComponent(id)}/runtime`);
  }

  startRuntime(id: string, kernel?: string): Promise<RuntimeStatus> {
    return this.call("POST", `/api/notebooks/${encodeURIComponent(id)}/runtime`, kernel ? { kernel } : {});
  }

  stopRuntime(id: string): Promise<RuntimeStatus> {
    return this.call("DELETE", `/api/notebooks/${encodeURIComponent(id)}/runtime`);
  }

  aiModels(): Promise<AiModels> {
    return this.call("GET", "/api/ai/models");
  }

  async kernelspecs(): Promise<{ default: string; kernelspecs: KernelSpec[] }> {
    return this.call("GET", "/api/kernelspecs");
  }

  createUser(name: string): Promise<CreatedUser> {
    return this.call("POST", "/api/users", { name });
  }

  grant(notebookId: string, userId: string, role: "owner" | "editor" | "viewer"): Promise<void> {
    return this.call("POST", `/api/notebooks/${encodeURIComponent(notebookId)}/grants`, { user_id: userId, role });
  }

  async listSecrets(notebookId: string): Promise<string[]> {
    const r = await this.call<{ secrets?: (string | { name: string })[] }>(
      "GET",
      `/api/notebooks/${encodeURIComponent(notebookId)}/secrets`,
    );
    return (r.secrets ?? []).map((s) => (typeof s === "string" ? s : s.name));
  }

  setSecret(notebookId: string, name: string, value: string): Promise<void> {
    return this.call("PUT", `/api/notebooks/${encodeURIComponent(notebookId)}/secrets/${encodeURIComponent(name)}`, {
      value,
    });
  }

  deleteSecret(notebookId: string, name: string): Promise<void> {
    return this.call("DELETE", `/api/notebooks/${encodeURIComponent(notebookId)}/secrets/${encodeURIComponent(name)}`);
  }

  /** The notebook's changes as bursts of work, newest first, `before` the previous page's cursor. */
  history(id: string, before?: number | null, limit = 50): Promise<HistoryPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set("before", String(before));
    return this.call("GET", `/api/notebooks/${encodeURIComponent(id)}/history?${q}`);
  }

  /** The notebook right after its change `seq` (read-only). */
  notebookAt(id: string, seq: number): Promise<NotebookAt> {
    return this.call("GET", `/api/notebooks/${encodeURIComponent(id)}/history/${seq}`);
  }

  /** A blob's bytes (large outputs), fetched with the token in a header. */
  async blob(sha256: string): Promise<Blob> {
    const response = await this.call<Response>("GET", `/blobs/${encodeURIComponent(sha256)}`, undefined, true);
    return response.blob();
  }
}

/** The file name in a Content-Disposition header (RFC 6266, UTF-8 form first). */
export function filenameFrom(disposition: string): string | undefined {
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      // fall through
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(disposition);
  return plain ? plain[1].trim() : undefined;
}
