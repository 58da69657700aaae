/**
 * Who is here: the list of peers (people, the runtime agent, the AI), which
 * cell each is on, their cursors in the cell's editor (Automerge cursors,
 * resolved by the cell's binding), and following one of them. Presence
 * clears when a peer leaves (the server relays `state: null`) or its tab
 * dies (its connection closes).
 */

import type { PeerPresence } from "../sync/wire";
import { h, clear } from "./dom";
import { AI_COLOR, AI_PEER_PREFIX } from "./ai/presence";

export interface PresenceState {
  name: string;
  color: string;
  cell: string | null;
  mode: "command" | "edit";
  cursor?: { anchor: string; head: string };
  /** An AI run (view/ai/presence.ts), acting for `for`. */
  ai?: boolean;
  for?: string;
}

const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#9a6324", "#800000", "#808000", "#000075"];

export function colorFor(peerId: string): string {
  if (peerId.startsWith(AI_PEER_PREFIX)) return AI_COLOR;
  let hash = 0;
  for (let i = 0; i < peerId.length; i++) hash = (hash * 31 + peerId.charCodeAt(i)) >>> 0;
  return COLORS[hash % COLORS.length];
}

export function asPresence(state: unknown): PresenceState | undefined {
  if (!state || typeof state !== "object") return undefined;
  const s = state as Partial<PresenceState>;
  return {
    name: typeof s.name === "string" ? s.name : "",
    color: typeof s.color === "string" && /^#[0-9a-fA-F]{3,8}$/.test(s.color) ? s.color : "#888",
    cell: typeof s.cell === "string" ? s.cell : null,
    mode: s.mode === "edit" ? "edit" : "command",
    cursor:
      s.cursor && typeof s.cursor.anchor === "string" && typeof s.cursor.head === "string" ? s.cursor : undefined,
    ai: s.ai === true,
    for: typeof s.for === "string" ? s.for : undefined,
  };
}

export class PresenceList {
  readonly el = h("div.presence", { "aria-label": "Who is here" });
  following: string | undefined;

  constructor(private readonly onFollow: (peerId: string | undefined) => void) {}

  render(peers: Map<string, PeerPresence>, selfPeerId: string | undefined, selfName: string): void {
    clear(this.el);
    this.el.append(h("span.peer.self", { title: `${selfName} (you)`, style: `--peer:${selfPeerId ? colorFor(selfPeerId) : "#888"}` }, initials(selfName)));
    for (const [peerId, p] of peers) {
      if (peerId === selfPeerId) continue;
      const state = asPresence(p.state);
      const name = p.user || state?.name || "someone";
      const role = state?.ai ? `AI${state.for ? `, for ${state.for}` : ""}` : p.role === "runtime" ? "runtime agent" : p.role;
      const where = state?.cell ? ` · on a cell (${state.mode} mode)` : "";
      const chip = h(
        "button.peer",
        {
          title: `${name} (${role})${where}${this.following === peerId ? " · following" : " · click to follow"}`,
          style: `--peer:${colorFor(peerId)}`,
          "data-peer": peerId,
          "data-user": name,
          "data-ai": state?.ai ? "true" : undefined,
          onclick: () => {
            this.following = this.following === peerId ? undefined : peerId;
            this.onFollow(this.following);
          },
        },
        state?.ai ? "AI" : p.role === "runtime" ? "⚙" : initials(name),
      );
      if (this.following === peerId) chip.classList.add("following");
      this.el.append(chip);
    }
  }
}

function initials(name: string): string {
  const parts = name.trim().split(/[\s._-]+/).filter(Boolean);
  return (parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] ?? "?").slice(0, 2)).toUpperCase();
}
