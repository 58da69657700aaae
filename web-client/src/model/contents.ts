/**
 * The notebook's table of contents and collapsible sections, without a
 * DOM: markdown headings (`#` to `######`, outside fenced code), and which
 * cells a collapsed heading hides (JupyterLab's rule: the cells below it up
 * to the next heading of the same or a higher level). Collapse state is
 * one viewer's own: it is never written to the document.
 */

export interface Heading {
  level: number;
  text: string;
}

/** The ATX headings of a markdown source, in order (none inside fences). */
export function headingsOf(source: string): Heading[] {
  const out: Heading[] = [];
  let fence: string | undefined;
  for (const line of source.split("\n")) {
    const f = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (f) {
      const marker = f[1];
      if (fence === undefined) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const m = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$/.exec(line);
    if (!m) continue;
    // A closing sequence of #s is not part of the text.
    const text = (m[2] ?? "").replace(/(^|[ \t]+)#+$/, "").trim();
    out.push({ level: m[1].length, text: stripInline(text) });
  }
  return out;
}

/** Inline markup a reader of the contents does not need: emphasis, code ticks, links. */
function stripInline(text: string): string {
  return text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/(\*\*|__)(.+?)\1/g, "$2")
    .replace(/(\*|_)(.+?)\1/g, "$2")
    .replace(/`([^`]*)`/g, "$1");
}

/** A cell as the contents see it: its id and, for markdown, its headings. */
export interface ContentsCell {
  id: string;
  headings: readonly Heading[];
}

/**
 * A cell's level as a section heading: the level of its first heading
 * (as JupyterLab's markdown cell reports it), or undefined.
 */
export function sectionLevel(cell: ContentsCell): number | undefined {
  return cell.headings[0]?.level;
}

export interface Sections {
  /** Cells hidden by a collapsed heading above them. */
  hidden: Set<string>;
  /** For each collapsed heading: how many cells its section holds. */
  counts: Map<string, number>;
  /** For each cell inside a section: its heading cells, innermost last. */
  parents: Map<string, string[]>;
}

/** Which cells the `collapsed` headings hide, and how many each holds. */
export function computeSections(cells: readonly ContentsCell[], collapsed: ReadonlySet<string>): Sections {
  const hidden = new Set<string>();
  const counts = new Map<string, number>();
  const parents = new Map<string, string[]>();
  // Open sections, outermost first: [heading cell, level].
  const stack: [string, number][] = [];
  for (const cell of cells) {
    const level = sectionLevel(cell);
    if (level !== undefined) while (stack.length && stack[stack.length - 1][1] >= level) stack.pop();
    if (stack.length) {
      parents.set(cell.id, stack.map(([id]) => id));
      if (stack.some(([id]) => collapsed.has(id))) hidden.add(cell.id);
      for (const [id] of stack) if (collapsed.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    if (level !== undefined) stack.push([cell.id, level]);
  }
  for (const id of collapsed) if (!counts.has(id) && cells.some((c) => c.id === id && sectionLevel(c) !== undefined)) counts.set(id, 0);
  return { hidden, counts, parents };
}
