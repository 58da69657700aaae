/**
 * One WebSocket to the server for one notebook: hello, welcome, frames in
 * and out, and reconnecting with backoff. It knows nothing of documents:
 * the replica (model/replica.ts) answers its sync frames.
 */

import {
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  type DocKind,
  type ErrorFrame,
  type Frame,
  type KernelAnswer,
  type PeerPresence,
  type Welcome,
} from "./wire";

export type ConnectionStatus =
  | { state: "connecting" }
  | { state: "connected"; welcome: Welcome }
  | { state: "disconnected"; retryInMs: number }
  | { state: "offline" }
  | { state: "failed"; reason: string };

export interface ConnectionHandlers {
  /** A new session: the server remembers nothing of an earlier one. */
  welcome(welcome: Welcome): void;
  sync(doc: DocKind, message: Uint8Array): void;
  peers(peers: PeerPresence[]): void;
  /** The answer to one of our kernel questions (`model/kernel-questions.ts`). */
  kernelReply?(id: number, answer: KernelAnswer): void;
  error(error: ErrorFrame): void;
  status(status: ConnectionStatus): void;
}

export interface ConnectionOptions {
  url: string;
  notebookId: string;
  token: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** For Node tests; the browser's by default. */
  WebSocketImpl?: typeof WebSocket;
}

/** Errors after which retrying cannot help. */
const FATAL_FOR_GOOD = new Set(["unauthorized", "not_found", "unsupported_protocol"]);

export class Connection {
  private socket: WebSocket | undefined;
  private backoff: number;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private online = true;
  private stopped = false;
  private welcomed = false;
  private presenceTimer: ReturnType<typeof setTimeout> | undefined;
  private pendingPresence: { state: unknown } | undefined;
  private lastPresenceAt = 0;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.backoff = options.minBackoffMs ?? 100;
  }

  start(): void {
    this.open();
  }

  /** Whether a session is open and welcomed. */
  get isOpen(): boolean {
    return this.welcomed && this.socket?.readyState === 1;
  }

  send(frame: Frame): boolean {
    if (!this.isOpen) return false;
    this.socket!.send(encodeFrame(frame));
    return true;
  }

  sendSync(doc: DocKind, message: Uint8Array): boolean {
    return this.send({ type: "sync", doc, message });
  }

  /** Presence, at most every 50 ms (the server relays 20 a second). */
  setPresence(state: unknown): void {
    this.pendingPresence = { state };
    if (this.presenceTimer) return;
    const wait = Math.max(0, this.lastPresenceAt + 50 - Date.now());
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = undefined;
      const p = this.pendingPresence;
      this.pendingPresence = undefined;
      if (p && this.send({ type: "presence", state: p.state })) this.lastPresenceAt = Date.now();
      else if (p) this.pendingPresence = p; // sent again after the next welcome
    }, wait);
  }

  /** Go offline deliberately (keep editing locally) or back online. */
  setOnline(online: boolean): void {
    if (online === this.online) return;
    this.online = online;
    if (!online) {
      clearTimeout(this.retryTimer);
      this.closeSocket();
      this.handlers.status({ state: "offline" });
    } else {
      this.backoff = this.options.minBackoffMs ?? 100;
      this.open();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.presenceTimer);
    this.closeSocket();
  }

  private closeSocket(): void {
    const s = this.socket;
    this.socket = undefined;
    this.welcomed = false;
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }

  private open(): void {
    if (this.stopped || !this.online) return;
    this.closeSocket();
    this.handlers.status({ state: "connecting" });
    const Impl = this.options.WebSocketImpl ?? WebSocket;
    const socket = new Impl(this.options.url);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      socket.send(
        encodeFrame({
          type: "hello",
          hello: { protocol: PROTOCOL_VERSION, notebook_id: this.options.notebookId, token: this.options.token },
        }),
      );
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      if (!(event.data instanceof ArrayBuffer)) return; // text frames are not ours
      let frame: Frame;
      try {
        frame = decodeFrame(new Uint8Array(event.data));
      } catch {
        return; // a frame this client does not know: skipped
      }
      this.dispatch(frame);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.lost();
    };
    socket.onerror = () => {
      // onclose follows and decides.
    };
  }

  private dispatch(frame: Frame): void {
    switch (frame.type) {
      case "welcome":
        this.welcomed = true;
        this.backoff = this.options.minBackoffMs ?? 100;
        this.handlers.status({ state: "connected", welcome: frame.welcome });
        this.handlers.welcome(frame.welcome);
        if (this.pendingPresence) this.setPresence(this.pendingPresence.state);
        break;
      case "sync":
        if (this.welcomed) this.handlers.sync(frame.doc, frame.message);
        break;
      case "peers":
        this.handlers.peers(frame.peers);
        break;
      case "kernel_reply":
        this.handlers.kernelReply?.(frame.id, frame.answer);
        break;
      case "error":
        this.handlers.error(frame.error);
        if (frame.error.fatal && FATAL_FOR_GOOD.has(frame.error.code)) {
          this.stopped = true;
          this.closeSocket();
          this.handlers.status({ state: "failed", reason: frame.error.message });
        }
        break;
      default:
        break;
    }
  }

  private lost(): void {
    this.closeSocket();
    if (this.stopped || !this.online) return;
    const jitter = Math.random() * (this.backoff / 2);
    const wait = Math.round(this.backoff + jitter);
    this.backoff = Math.min(this.backoff * 2, this.options.maxBackoffMs ?? 5000);
    this.handlers.status({ state: "disconnected", retryInMs: wait });
    this.retryTimer = setTimeout(() => this.open(), wait);
  }
}

/** The WebSocket URL of a server at `base` (an http(s) URL). */
export function websocketUrl(base: string): string {
  const u = new URL("/ws", base);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}
