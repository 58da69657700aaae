/**
 * Other people's cursors and selections in a cell's editor, with their name
 * and colour. Positions come from Automerge cursors in presence (never
 * integer offsets: JS counts UTF-16 units, Rust code points), resolved to
 * editor offsets by the binding; the decorations map through local edits
 * until the next presence update.
 */

import { RangeSetBuilder, StateEffect, StateField, type Extension } from "@codemirror/state";
import { Decoration, EditorView, WidgetType, type DecorationSet } from "@codemirror/view";

export interface RemoteCursor {
  peerId: string;
  name: string;
  color: string;
  anchor: number;
  head: number;
}

export const setRemoteCursors = StateEffect.define<RemoteCursor[]>();

class CaretWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly color: string,
  ) {
    super();
  }
  override eq(other: CaretWidget): boolean {
    return other.name === this.name && other.color === this.color;
  }
  toDOM(): HTMLElement {
    const caret = document.createElement("span");
    caret.className = "cm-remote-caret";
    caret.style.borderColor = this.color;
    const label = document.createElement("span");
    label.className = "cm-remote-label";
    label.style.background = this.color;
    label.textContent = this.name;
    caret.append(label);
    return caret;
  }
  override ignoreEvent(): boolean {
    return true;
  }
}

function build(cursors: RemoteCursor[], length: number): DecorationSet {
  const ranges: { from: number; to: number; deco: Decoration }[] = [];
  for (const c of cursors) {
    const anchor = Math.max(0, Math.min(c.anchor, length));
    const head = Math.max(0, Math.min(c.head, length));
    const from = Math.min(anchor, head);
    const to = Math.max(anchor, head);
    if (to > from) {
      ranges.push({
        from,
        to,
        deco: Decoration.mark({ class: "cm-remote-selection", attributes: { style: `background:${c.color}33` } }),
      });
    }
    ranges.push({ from: head, to: head, deco: Decoration.widget({ widget: new CaretWidget(c.name, c.color), side: 1 }) });
  }
  ranges.sort((a, b) => a.from - b.from || a.to - b.to);
  const builder = new RangeSetBuilder<Decoration>();
  for (const r of ranges) builder.add(r.from, r.to, r.deco);
  return builder.finish();
}

const field = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(value, tr) {
    let next = value.map(tr.changes);
    for (const e of tr.effects) if (e.is(setRemoteCursors)) next = build(e.value, tr.state.doc.length);
    return next;
  },
  provide: (f) => EditorView.decorations.from(f),
});

export function remoteCursors(): Extension {
  return field;
}
