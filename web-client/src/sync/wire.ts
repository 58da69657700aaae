/**
 * The WebSocket framing every cathode peer speaks (schema/src/wire.rs): one
 * binary message is one frame, a type byte then a body. Control frames carry
 * JSON; a sync frame carries a document byte and an Automerge sync message,
 * untouched.
 */

export const PROTOCOL_VERSION = 1;

export const FRAME = {
  hello: 0x01,
  welcome: 0x02,
  sync: 0x10,
  presence: 0x20,
  peers: 0x21,
  kernelRequest: 0x30,
  kernelReply: 0x31,
  error: 0x7f,
} as const;

export type DocKind = "notebook" | "runtime";
export const DOC_KINDS: readonly DocKind[] = ["notebook", "runtime"];

export type Role = "owner" | "editor" | "viewer" | "runtime";

export interface Hello {
  protocol: number;
  notebook_id: string;
  token: string;
}

export interface Welcome {
  protocol: number;
  peer_id: string;
  user: string;
  role: Role;
}

export interface PeerPresence {
  peer_id: string;
  user: string;
  role: Role;
  /** `null` when the peer left. */
  state: unknown;
}

export type ErrorCode =
  | "bad_frame"
  | "too_large"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "unsupported_protocol"
  | "bad_sync"
  | "storage"
  | "shutting_down"
  | "too_slow";

export interface ErrorFrame {
  code: ErrorCode;
  message: string;
  fatal: boolean;
}

/** A question for the kernel (schema/src/kernel_query.rs); positions in Unicode code points. */
export type KernelQuery =
  | { kind: "complete"; code: string; cursor_pos: number }
  | { kind: "inspect"; code: string; cursor_pos: number; detail_level: number };

export type KernelAnswer =
  | { status: "complete"; matches: string[]; cursor_start: number; cursor_end: number; kinds?: string[] }
  | { status: "inspect"; found: boolean; data: Record<string, unknown> }
  | { status: "busy" }
  | { status: "unavailable"; reason: string };

export type Frame =
  | { type: "hello"; hello: Hello }
  | { type: "welcome"; welcome: Welcome }
  | { type: "sync"; doc: DocKind; message: Uint8Array }
  | { type: "presence"; state: unknown }
  | { type: "peers"; peers: PeerPresence[] }
  | { type: "kernel_request"; id: number; query: KernelQuery }
  | { type: "kernel_reply"; id: number; answer: KernelAnswer }
  | { type: "error"; error: ErrorFrame };

export class FrameError extends Error {}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

function jsonFrame(kind: number, body: unknown): Uint8Array {
  const bytes = utf8.encode(JSON.stringify(body));
  const out = new Uint8Array(bytes.length + 1);
  out[0] = kind;
  out.set(bytes, 1);
  return out;
}

export function docByte(doc: DocKind): number {
  return doc === "notebook" ? 0 : 1;
}

export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case "hello":
      return jsonFrame(FRAME.hello, frame.hello);
    case "welcome":
      return jsonFrame(FRAME.welcome, frame.welcome);
    case "presence":
      return jsonFrame(FRAME.presence, { state: frame.state });
    case "peers":
      return jsonFrame(FRAME.peers, { peers: frame.peers });
    case "error":
      return jsonFrame(FRAME.error, frame.error);
    case "kernel_request":
      return jsonFrame(FRAME.kernelRequest, { id: frame.id, query: frame.query });
    case "kernel_reply":
      return jsonFrame(FRAME.kernelReply, { id: frame.id, answer: frame.answer });
    case "sync": {
      const out = new Uint8Array(frame.message.length + 2);
      out[0] = FRAME.sync;
      out[1] = docByte(frame.doc);
      out.set(frame.message, 2);
      return out;
    }
  }
}

function parseJson<T>(what: string, body: Uint8Array): T {
  try {
    return JSON.parse(fromUtf8.decode(body)) as T;
  } catch (e) {
    throw new FrameError(`malformed ${what} frame: ${(e as Error).message}`);
  }
}

export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length === 0) throw new FrameError("empty frame");
  const body = bytes.subarray(1);
  switch (bytes[0]) {
    case FRAME.hello:
      return { type: "hello", hello: parseJson<Hello>("hello", body) };
    case FRAME.welcome:
      return { type: "welcome", welcome: parseJson<Welcome>("welcome", body) };
    case FRAME.presence:
      return { type: "presence", state: parseJson<{ state: unknown }>("presence", body).state };
    case FRAME.peers:
      return { type: "peers", peers: parseJson<{ peers: PeerPresence[] }>("peers", body).peers ?? [] };
    case FRAME.error:
      return { type: "error", error: parseJson<ErrorFrame>("error", body) };
    case FRAME.kernelRequest: {
      const r = parseJson<{ id: number; query: KernelQuery }>("kernel request", body);
      return { type: "kernel_request", id: r.id, query: r.query };
    }
    case FRAME.kernelReply: {
      const r = parseJson<{ id: number; answer: KernelAnswer }>("kernel reply", body);
      return { type: "kernel_reply", id: r.id, answer: r.answer };
    }
    case FRAME.sync: {
      if (body.length === 0) throw new FrameError("sync frame without document byte");
      const docNum = body[0];
      if (docNum !== 0 && docNum !== 1) throw new FrameError(`unknown document ${docNum}`);
      const message = body.subarray(1);
      if (message.length === 0) throw new FrameError("sync frame without message");
      return { type: "sync", doc: docNum === 0 ? "notebook" : "runtime", message: message.slice() };
    }
    default:
      throw new FrameError(`unknown frame type 0x${bytes[0].toString(16).padStart(2, "0")}`);
  }
}
