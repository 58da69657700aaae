/**
 * The AI as a collaborator in presence. The runtime agent has one
 * connection, so its presence state lists the AI runs going on under `ai`
 * (runtime-agent/src/ai/presence.rs); each becomes a peer of its own here,
 * with its name, the AI's colour, the cell it is on and, after an edit, its
 * cursor there, so the list of who is here, the name tags on cells and the
 * cursors in editors show it like a person.
 */

import type { PeerPresence } from "../../sync/wire";

/** Peer ids of the AI runs start with this (see `colorFor`). */
export const AI_PEER_PREFIX = "ai:";
export const AI_COLOR = "#7c3aed";

/** `peers` with each AI run the agents announce as a peer of its own. */
export function withAiPeers(peers: Map<string, PeerPresence>): Map<string, PeerPresence> {
  let out: Map<string, PeerPresence> | undefined;
  for (const [peerId, p] of peers) {
    const runs = p.role === "runtime" ? (p.state as { ai?: unknown } | null)?.ai : undefined;
    if (!Array.isArray(runs)) continue;
    out ??= new Map(peers);
    for (const run of runs) {
      if (!run || typeof run !== "object") continue;
      const r = run as Record<string, unknown>;
      if (typeof r.run !== "string") continue;
      const name = typeof r.name === "string" ? r.name : "AI";
      const id = `${AI_PEER_PREFIX}${peerId}:${r.run}`;
      out.set(id, {
        peer_id: id,
        user: name,
        role: "runtime",
        state: { name, color: AI_COLOR, cell: r.cell ?? null, mode: r.mode, cursor: r.cursor, ai: true, for: r.for },
      });
    }
  }
  return out ?? peers;
}
