/**
 * What an AI cell's view asks of the page: the models the server offers,
 * inserting a cell below (an undoable cell operation), and finding a cell
 * a tool touched.
 */

import type { AiModels } from "../../api/rest";
import type { CellType } from "../../doc/notebook";

export interface AiCellHost {
  /** The models the server offers (asked once per page). */
  models(): Promise<AiModels>;
  /** Whether this person may add cells (not a viewer). */
  canEdit(): boolean;
  /** Insert `source` as a new cell of `type` right below `after`, as an undoable cell operation. */
  insertBelow(after: string, type: CellType, source: string): void;
  /** Select a cell and scroll to it; false when it no longer exists. */
  reveal(cellId: string): boolean;
  /** A cell's name for people ("cell 3"), or undefined when it is gone. */
  label(cellId: string): string | undefined;
}

/** The same, seen from one AI cell's outputs. */
export interface AiOutputHooks {
  canEdit(): boolean;
  insertCode(code: string, language: string): void;
  reveal(cellId: string): boolean;
  label(cellId: string): string | undefined;
}

export function outputHooks(host: AiCellHost, cellId: string): AiOutputHooks {
  return {
    canEdit: () => host.canEdit(),
    insertCode: (code, language) => host.insertBelow(cellId, language === "markdown" || language === "md" ? "markdown" : "code", code),
    reveal: (id) => host.reveal(id),
    label: (id) => host.label(id),
  };
}
