/**
 * Reading the runtime document (schema/src/runtime.rs, output.rs,
 * control.rs). Only the runtime agent writes it; the browser reads the
 * lease, sessions and executions, and shows each cell by the one rule every
 * reader shares: `shownExecutions`.
 */

import type * as A from "@automerge/automerge";
import { str, type Scalar } from "./notebook-types";

export type SessionStatus = "starting" | "idle" | "busy" | "restarting" | "dead";
export type ExecutionState = "queued" | "running" | "done" | "error" | "cancelled" | "lost";

interface RawExecution {
  cell_id?: Scalar;
  request_id?: Scalar;
  requested_by?: Scalar;
  source_heads?: Scalar;
  state?: Scalar;
  execution_count?: number;
  queue_seq?: number;
  queued_at?: number;
  started_at?: number;
  ended_at?: number;
  batch?: Scalar;
  stdin?: Scalar;
  input_request?: Scalar;
  approval_request?: Scalar;
  outputs?: Scalar[];
}

interface RawSession {
  agent?: Scalar;
  kernel?: Scalar;
  status?: Scalar;
  started_at?: number;
}

export interface RawRuntime {
  schema_version?: number;
  kind?: Scalar;
  lease?: Scalar;
  sessions?: Record<string, RawSession>;
  executions?: Record<string, RawExecution>;
  handled_controls?: Record<string, number>;
}

export type RuntimeDoc = A.Doc<RawRuntime>;

export type MimePayload =
  | { storage: "inline"; value: unknown }
  | { storage: "blob"; sha256: string; size_bytes: number };

export type MimeBundle = Record<string, MimePayload>;

export interface Truncation {
  omitted_bytes: number;
  full_text_sha256?: string;
}

export type OutputManifest =
  | { output_type: "stream"; name: "stdout" | "stderr"; text: string; truncated?: Truncation }
  | { output_type: "display_data"; data: MimeBundle; metadata?: unknown; display_id?: string }
  | { output_type: "execute_result"; execution_count: number; data: MimeBundle; metadata?: unknown }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

export interface InputRequest {
  seq: number;
  prompt: string;
  password: boolean;
  asked_at_ms: number;
  /** A password prompt's one-time key to seal the answer to (`model/seal.ts`). */
  sealing_key?: string;
}

/** A tool call an AI run waits to have approved (schema/src/approval.rs). */
export interface ApprovalRequest {
  seq: number;
  call_id: string;
  tool: string;
  arguments: unknown;
  cell_id?: string;
  asked_at_ms: number;
}

export interface Lease {
  session_id: string;
  agent: string;
  kernel: string;
  claimed_at_ms: number;
  renewed_at_ms: number;
  expires_at_ms: number;
}

export interface SessionRecord {
  sessionId: string;
  agent: string;
  kernel: string;
  status: SessionStatus;
  startedAtMs: number;
}

/** An execution without its outputs: cheap to read for every cell. */
export interface ExecutionSummary {
  executionId: string;
  cellId: string;
  requestId: string;
  requestedBy: string;
  state: ExecutionState;
  executionCount?: number;
  queueSeq: number;
  queuedAtMs: number;
  startedAtMs?: number;
  endedAtMs?: number;
  batch?: string;
  inputRequest?: InputRequest;
  approvalRequest?: ApprovalRequest;
}

export function runtimeReady(doc: RuntimeDoc): boolean {
  return typeof doc.schema_version === "number" && str(doc.kind) === "runtime" && !!doc.executions;
}

export function lease(doc: RuntimeDoc): Lease | undefined {
  const raw = str(doc.lease);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as Lease;
  } catch {
    return undefined;
  }
}

export function session(doc: RuntimeDoc, id: string): SessionRecord | undefined {
  const s = doc.sessions?.[id];
  if (!s) return undefined;
  return {
    sessionId: id,
    agent: str(s.agent) ?? "",
    kernel: str(s.kernel) ?? "",
    status: (str(s.status) ?? "dead") as SessionStatus,
    startedAtMs: Number(s.started_at ?? 0),
  };
}

/** The lease holder's session: the runtime the notebook has now. */
export function currentSession(doc: RuntimeDoc): SessionRecord | undefined {
  const l = lease(doc);
  return l ? session(doc, l.session_id) : undefined;
}

function summary(id: string, x: RawExecution): ExecutionSummary | undefined {
  const state = str(x.state) as ExecutionState | undefined;
  if (!state) return undefined;
  let inputRequest: InputRequest | undefined;
  const rawInput = str(x.input_request);
  if (rawInput) {
    try {
      inputRequest = JSON.parse(rawInput);
    } catch {
      inputRequest = undefined;
    }
  }
  let approvalRequest: ApprovalRequest | undefined;
  const rawApproval = str(x.approval_request);
  if (rawApproval) {
    try {
      approvalRequest = JSON.parse(rawApproval);
    } catch {
      approvalRequest = undefined;
    }
  }
  const num = (v: unknown) => (v === undefined || v === null ? undefined : Number(v));
  return {
    executionId: id,
    cellId: str(x.cell_id) ?? "",
    requestId: str(x.request_id) ?? "",
    requestedBy: str(x.requested_by) ?? "",
    state,
    executionCount: num(x.execution_count),
    queueSeq: Number(x.queue_seq ?? 0),
    queuedAtMs: Number(x.queued_at ?? 0),
    startedAtMs: num(x.started_at),
    endedAtMs: num(x.ended_at),
    batch: str(x.batch),
    inputRequest,
    approvalRequest,
  };
}

export function execution(doc: RuntimeDoc, id: string): ExecutionSummary | undefined {
  const x = doc.executions?.[id];
  return x ? summary(id, x) : undefined;
}

/** Every execution in queue order (as `RuntimeDoc::executions`). */
export function executionsInOrder(doc: RuntimeDoc): ExecutionSummary[] {
  const out: ExecutionSummary[] = [];
  for (const [id, x] of Object.entries(doc.executions ?? {})) {
    const s = summary(id, x);
    if (s) out.push(s);
  }
  out.sort(
    (a, b) =>
      a.queueSeq - b.queueSeq ||
      a.queuedAtMs - b.queuedAtMs ||
      (a.executionId < b.executionId ? -1 : a.executionId > b.executionId ? 1 : 0),
  );
  return out;
}

/** Per cell: what it shows, and its newest execution (which may be queued). */
export interface CellExecutions {
  shown?: ExecutionSummary;
  latest?: ExecutionSummary;
}

/**
 * The execution each cell shows: its latest to have started, in queue order
 * (`RuntimeDoc::shown_executions`): a run cancelled before it started
 * leaves the cell showing the run before. `latest` is the newest of any
 * state, for the queued mark.
 */
export function cellExecutions(doc: RuntimeDoc): Map<string, CellExecutions> {
  const out = new Map<string, CellExecutions>();
  for (const x of executionsInOrder(doc)) {
    const entry = out.get(x.cellId) ?? {};
    entry.latest = x;
    if (x.startedAtMs !== undefined) entry.shown = x;
    out.set(x.cellId, entry);
  }
  return out;
}

export function outputs(doc: RuntimeDoc, executionId: string): OutputManifest[] {
  const list = doc.executions?.[executionId]?.outputs;
  if (!list) return [];
  const out: OutputManifest[] = [];
  for (const raw of list) {
    try {
      out.push(JSON.parse(str(raw) ?? ""));
    } catch {
      // skipped, as the Rust reader skips it
    }
  }
  return out;
}

/** The raw output strings, for cheap change detection. */
export function outputStrings(doc: RuntimeDoc, executionId: string): readonly string[] {
  const list = doc.executions?.[executionId]?.outputs;
  return list ? list.map((r) => str(r) ?? "") : [];
}

export function controlHandled(doc: RuntimeDoc, controlId: string): boolean {
  return doc.handled_controls?.[controlId] !== undefined;
}
