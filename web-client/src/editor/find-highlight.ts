/**
 * The notebook find bar's marks in one cell's editor: every match, and the
 * current one stronger. Set by the find bar (`setFindMarks`), mapped
 * through edits until it sets them again.
 */

import { StateEffect, StateField, type Extension, type Range } from "@codemirror/state";
import { Decoration, EditorView, type DecorationSet } from "@codemirror/view";

export interface FindMarks {
  ranges: readonly { from: number; to: number }[];
  /** Index into `ranges` of the current match, or -1. */
  current: number;
}

export const setFindMarks = StateEffect.define<FindMarks>();

const match = Decoration.mark({ class: "cm-find-match" });
const current = Decoration.mark({ class: "cm-find-current" });

const field = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    marks = marks.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setFindMarks)) continue;
      const length = tr.state.doc.length;
      const ranges: Range<Decoration>[] = [];
      e.value.ranges.forEach((r, i) => {
        if (r.from < r.to && r.to <= length) ranges.push((i === e.value.current ? current : match).range(r.from, r.to));
      });
      marks = Decoration.set(ranges, true);
    }
    return marks;
  },
  provide: (f) => EditorView.decorations.from(f),
});

export function findHighlight(): Extension {
  return field;
}
