/** `application/json` outputs as a collapsible tree (as JupyterLab shows them). */

import { h } from "../dom";

export function jsonTree(value: unknown, depth = 0): HTMLElement {
  if (value === null || typeof value !== "object") {
    const cls = value === null ? "null" : typeof value;
    return h(`span.json-${cls}`, {}, JSON.stringify(value));
  }
  const isArray = Array.isArray(value);
  const entries = isArray ? (value as unknown[]).map((v, i) => [String(i), v] as const) : Object.entries(value as object);
  const details = h("details.json-node", depth < 2 ? { open: true } : {});
  details.append(h("summary", {}, isArray ? `Array(${entries.length})` : `Object{${entries.length}}`));
  const list = h("ul.json-children");
  for (const [k, v] of entries) list.append(h("li", {}, h("span.json-key", {}, `${k}: `), jsonTree(v, depth + 1)));
  details.append(list);
  return details;
}
