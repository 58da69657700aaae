/**
 * Untrusted output HTML and JavaScript, each in its own
 * `<iframe sandbox="allow-scripts">` without `allow-same-origin`, loaded
 * from the server's frame page (src/sandbox/output-frame.html): the script
 * of one person's output never runs in anyone's notebook page
 * (jupyterlab #9785) and cannot read its storage or token. The frame is
 * sized to its content from the height it reports; nothing else it sends is
 * listened to.
 */

const FRAME_URL = "/sandbox/output-frame.html";
const MAX_HEIGHT = 4000;

interface Pending {
  frame: HTMLIFrameElement;
  payload: { cathodeFrame: "render"; kind: "html" | "javascript"; html?: string; source?: string };
  ready: boolean;
}

const frames = new Set<Pending>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  window.addEventListener("message", (event) => {
    const source = event.source as Window | null;
    if (!source) return;
    let entry: Pending | undefined;
    for (const candidate of frames) {
      if (candidate.frame.contentWindow === source) entry = candidate;
      else if (!candidate.frame.isConnected && candidate.ready) frames.delete(candidate);
    }
    if (!entry) return;
    const data = event.data as { cathodeFrame?: string; height?: unknown };
    if (data?.cathodeFrame === "ready") {
      // Each load of the frame (a moved cell reloads it) is a fresh
      // document: render into it again.
      entry.ready = true;
      entry.frame.contentWindow?.postMessage(entry.payload, "*");
    } else if (data?.cathodeFrame === "size" && typeof data.height === "number" && Number.isFinite(data.height)) {
      const height = Math.max(1, Math.min(MAX_HEIGHT, Math.round(data.height)));
      entry.frame.style.height = `${height}px`;
    }
  });
}

/** An iframe showing `html` (or running `javascript`) in the sandbox. */
export function sandboxedFrame(kind: "html" | "javascript", content: string): HTMLIFrameElement {
  listen();
  const frame = document.createElement("iframe");
  frame.className = "output-frame";
  frame.setAttribute("sandbox", "allow-scripts");
  frame.setAttribute("referrerpolicy", "no-referrer");
  frame.setAttribute("loading", "lazy");
  frame.setAttribute("title", kind === "html" ? "HTML output" : "JavaScript output");
  frame.style.height = "24px";
  const payload =
    kind === "html"
      ? { cathodeFrame: "render" as const, kind, html: content }
      : { cathodeFrame: "render" as const, kind, source: content };
  frames.add({ frame, payload, ready: false });
  frame.src = FRAME_URL;
  return frame;
}

/** Forget frames removed from the page. */
export function forgetFrame(frame: HTMLIFrameElement): void {
  for (const entry of frames) if (entry.frame === frame) frames.delete(entry);
}
