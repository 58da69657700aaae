/**
 * Terminal text as Jupyter shows it: ANSI colours (SGR: the 8/16 colours,
 * 256-colour and true colour, bold, italic, underline, inverse) and
 * carriage returns (a `\r` returns to the line start; later characters
 * overwrite), rendered into spans without ever interpreting the text as HTML.
 */

const BASIC = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

function color256(n: number): string {
  if (n < 8) return `var(--ansi-${BASIC[n]})`;
  if (n < 16) return `var(--ansi-bright-${BASIC[n - 8]})`;
  if (n < 232) {
    const i = n - 16;
    const c = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return `rgb(${c(Math.floor(i / 36))},${c(Math.floor(i / 6) % 6)},${c(i % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

function applySgr(style: Style, params: number[]): Style {
  const s = { ...style };
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) {
      for (const k of Object.keys(s)) delete (s as Record<string, unknown>)[k];
    } else if (p === 1) s.bold = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 22) s.bold = false;
    else if (p === 23) s.italic = false;
    else if (p === 24) s.underline = false;
    else if (p === 27) s.inverse = false;
    else if (p >= 30 && p <= 37) s.fg = `var(--ansi-${BASIC[p - 30]})`;
    else if (p === 39) delete s.fg;
    else if (p >= 40 && p <= 47) s.bg = `var(--ansi-${BASIC[p - 40]})`;
    else if (p === 49) delete s.bg;
    else if (p >= 90 && p <= 97) s.fg = `var(--ansi-bright-${BASIC[p - 90]})`;
    else if (p >= 100 && p <= 107) s.bg = `var(--ansi-bright-${BASIC[p - 100]})`;
    else if ((p === 38 || p === 48) && params[i + 1] === 5 && params[i + 2] !== undefined) {
      s[p === 38 ? "fg" : "bg"] = color256(params[i + 2]);
      i += 2;
    } else if ((p === 38 || p === 48) && params[i + 1] === 2 && params[i + 4] !== undefined) {
      s[p === 38 ? "fg" : "bg"] = `rgb(${params[i + 2]},${params[i + 3]},${params[i + 4]})`;
      i += 4;
    }
  }
  return s;
}

/** Apply carriage returns line by line: what a terminal would show. */
export function resolveCarriageReturns(text: string): string {
  if (!text.includes("\r")) return text;
  return text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => {
      if (!line.includes("\r")) return line;
      let out = "";
      for (const segment of line.split("\r")) out = segment + out.slice(segment.length);
      return out;
    })
    .join("\n");
}

export interface AnsiSpan {
  text: string;
  style: Style;
}

const ESC = /\u001b\[([0-9;]*)([A-Za-z])/g;

/** Split text into styled spans; escape sequences other than SGR are dropped. */
export function parseAnsi(input: string): AnsiSpan[] {
  const text = resolveCarriageReturns(input);
  const spans: AnsiSpan[] = [];
  let style: Style = {};
  let last = 0;
  ESC.lastIndex = 0;
  for (let m = ESC.exec(text); m; m = ESC.exec(text)) {
    if (m.index > last) spans.push({ text: text.slice(last, m.index), style });
    if (m[2] === "m") {
      const params = m[1] === "" ? [] : m[1].split(";").map((x) => Number(x) || 0);
      style = applySgr(style, params);
    }
    last = ESC.lastIndex;
  }
  if (last < text.length) spans.push({ text: text.slice(last), style });
  // Other escapes (ESC without '[') are removed.
  return spans.map((s) => ({ ...s, text: s.text.replace(/\u001b[^[]/g, "") }));
}

/** Render ANSI text into `parent` as text nodes and styled spans. */
export function renderAnsi(parent: HTMLElement, input: string): void {
  for (const span of parseAnsi(input)) {
    const st = span.style;
    if (!st.fg && !st.bg && !st.bold && !st.italic && !st.underline && !st.inverse) {
      parent.append(document.createTextNode(span.text));
      continue;
    }
    const el = document.createElement("span");
    el.textContent = span.text;
    const fg = st.inverse ? (st.bg ?? "var(--bg)") : st.fg;
    const bg = st.inverse ? (st.fg ?? "var(--fg)") : st.bg;
    if (fg) el.style.color = fg;
    if (bg) el.style.background = bg;
    if (st.bold) el.style.fontWeight = "bold";
    if (st.italic) el.style.fontStyle = "italic";
    if (st.underline) el.style.textDecoration = "underline";
    parent.append(el);
  }
}
