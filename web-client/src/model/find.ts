/**
 * Notebook-wide find and replace without a DOM: compiling the query (plain
 * text or a regular expression, either case), finding every match in the
 * cells' sources and, optionally, their outputs' text, and turning matches
 * into replacements.
 *
 * Offsets are JavaScript string indexes (UTF-16 code units). That is also
 * what CodeMirror counts and what Automerge's JS API counts in a Text
 * (`A.splice`, patches), which is why `editor/binding.ts` passes
 * CodeMirror offsets straight to `spliceSource`: no conversion is needed
 * anywhere between a match here, the cell's editor and the document.
 */

import type { OutputManifest } from "../doc/runtime";

export interface FindOptions {
  caseSensitive: boolean;
  regex: boolean;
}

export type CompiledQuery = { ok: true; re: RegExp; regex: boolean } | { ok: false; error: string };

/** Where in a cell a match is: its source, or its n-th output. */
export type MatchPart = "source" | number;

export interface Match {
  cell: string;
  part: MatchPart;
  /** UTF-16 offsets into the part's text. */
  from: number;
  to: number;
  /** The matched text and, for a regular expression, its groups. */
  text: string;
  groups?: (string | undefined)[];
  named?: Record<string, string | undefined>;
}

export interface SearchableCell {
  id: string;
  source: string;
  /** The outputs' searchable text, one string per output (absent: not searched). */
  outputs?: readonly string[];
}

const MAX_MATCHES = 10_000;

/** Compile a query; a bad regular expression is a message, never an exception. */
export function compileQuery(query: string, options: FindOptions): CompiledQuery | undefined {
  if (query === "") return undefined;
  const flags = "gm" + (options.caseSensitive ? "" : "i");
  if (!options.regex) {
    return { ok: true, re: new RegExp(query.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"), flags), regex: false };
  }
  try {
    return { ok: true, re: new RegExp(query, flags), regex: true };
  } catch (e) {
    const message = (e as Error).message.replace(/^Invalid regular expression: /, "");
    return { ok: false, error: `Not a valid regular expression: ${message}` };
  }
}

/** Every non-empty match of `query` in `text`, in order. */
export function findInText(text: string, query: CompiledQuery & { ok: true }, limit = MAX_MATCHES): Omit<Match, "cell" | "part">[] {
  const re = new RegExp(query.re.source, query.re.flags);
  const out: Omit<Match, "cell" | "part">[] = [];
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (out.length < limit && (m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      // An empty match finds nothing to show or replace: step past it
      // (a whole code point, so a surrogate pair is never split).
      const code = text.codePointAt(m.index) ?? 0;
      re.lastIndex = m.index + (code > 0xffff ? 2 : 1);
      if (re.lastIndex > text.length) break;
      continue;
    }
    const match: Omit<Match, "cell" | "part"> = { from: m.index, to: m.index + m[0].length, text: m[0] };
    if (query.regex) {
      match.groups = m.slice(1);
      if (m.groups) match.named = { ...m.groups };
    }
    out.push(match);
  }
  return out;
}

/** Every match in the cells, in notebook order: a cell's source, then its outputs. */
export function searchCells(cells: readonly SearchableCell[], query: CompiledQuery & { ok: true }): Match[] {
  const out: Match[] = [];
  for (const cell of cells) {
    for (const m of findInText(cell.source, query, MAX_MATCHES - out.length)) out.push({ cell: cell.id, part: "source", ...m });
    cell.outputs?.forEach((text, i) => {
      for (const m of findInText(text, query, MAX_MATCHES - out.length)) out.push({ cell: cell.id, part: i, ...m });
    });
    if (out.length >= MAX_MATCHES) break;
  }
  return out;
}

/**
 * The text a match is replaced with: the replacement as typed for plain
 * text; for a regular expression, with `$&`, `$1`…`$99`, `$<name>` and
 * `$$` expanded as `String.prototype.replace` expands them.
 */
export function replacementFor(match: Match, replacement: string): string {
  if (!match.groups) return replacement;
  const groups = match.groups;
  return replacement.replace(/\$(\$|&|<([^>]*)>|(\d{1,2}))/g, (whole, what: string, name?: string, digits?: string) => {
    if (what === "$") return "$";
    if (what === "&") return match.text;
    if (name !== undefined) return match.named ? (match.named[name] ?? "") : whole;
    if (digits !== undefined) {
      let n = Number(digits);
      // "$12" with one group means group 1 then "2", as in JS.
      if (n > groups.length && digits.length === 2) {
        n = Number(digits[0]);
        if (n >= 1 && n <= groups.length) return (groups[n - 1] ?? "") + digits[1];
        return whole;
      }
      if (n >= 1 && n <= groups.length) return groups[n - 1] ?? "";
    }
    return whole;
  });
}

/** One edit of a source, in the offsets of the source before any edit. */
export interface Replacement {
  from: number;
  to: number;
  insert: string;
}

/** The edits replacing each of `matches` (all in one cell's source). */
export function replacementsIn(matches: readonly Match[], replacement: string): Replacement[] {
  return matches
    .filter((m) => m.part === "source")
    .slice()
    .sort((a, b) => a.from - b.from)
    .map((m) => ({ from: m.from, to: m.to, insert: replacementFor(m, replacement) }));
}

/** Apply edits given in original offsets (for tests and checks). */
export function applyReplacements(text: string, edits: readonly Replacement[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.insert + out.slice(e.to);
  return out;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

function inlineText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join("");
  return undefined;
}

/**
 * An output's searchable text: a stream's text, or the `text/plain` of a
 * result or display (inline only: a payload in the blob store is not
 * fetched for a search), without ANSI escapes. Anything else: "".
 */
export function outputText(output: OutputManifest): string {
  if (output.output_type === "stream") return output.text.replace(ANSI, "");
  if (output.output_type === "execute_result" || output.output_type === "display_data") {
    const plain = output.data?.["text/plain"];
    if (plain && plain.storage === "inline") return (inlineText(plain.value) ?? "").replace(ANSI, "");
  }
  return "";
}

/**
 * The index of the match to show after the matches changed: the first at
 * or after `previous` (same cell and part, at or after its offset, else
 * the next cell in `order`), wrapping to the first.
 */
export function indexNear(matches: readonly Match[], order: readonly string[], previous: Pick<Match, "cell" | "part" | "from"> | undefined): number {
  if (matches.length === 0) return -1;
  if (!previous) return 0;
  const rank = new Map(order.map((id, i) => [id, i]));
  const key = (m: Pick<Match, "cell" | "part" | "from">) => [rank.get(m.cell) ?? -1, m.part === "source" ? -1 : m.part, m.from];
  const target = key(previous);
  for (let i = 0; i < matches.length; i++) {
    const k = key(matches[i]);
    if (k[0] > target[0] || (k[0] === target[0] && (k[1] > target[1] || (k[1] === target[1] && k[2] >= target[2])))) return i;
  }
  return 0;
}

/** The first match in or after cell `cell` (by notebook order), wrapping. */
export function indexFromCell(matches: readonly Match[], order: readonly string[], cell: string | undefined): number {
  if (matches.length === 0) return -1;
  if (!cell) return 0;
  return indexNear(matches, order, { cell, part: "source", from: 0 });
}

/** "3 of 17", "No results", or the query's error. */
export function describe(query: CompiledQuery | undefined, count: number, index: number): string {
  if (!query) return "";
  if (!query.ok) return query.error;
  if (count === 0) return "No results";
  const more = count >= MAX_MATCHES ? "+" : "";
  return `${index + 1} of ${count}${more}`;
}
