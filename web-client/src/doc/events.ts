/**
 * The semantic event each change carries as its message
 * (schema/src/event.rs, serde `tag = "event"`): one change, one event. The
 * server stores the event's name beside the change; every reader of the
 * history gets typed events back.
 */

import type { CellType } from "./notebook-types";

export type DocumentEvent =
  | { event: "CellCreated"; cell_id: string; cell_type: CellType }
  | { event: "CellMoved"; cell_id: string }
  | { event: "CellDeleted"; cell_id: string }
  | { event: "SourceEdited"; cell_id: string }
  | { event: "CellTypeChanged"; cell_id: string; cell_type: CellType }
  | { event: "MetadataChanged"; cell_id: string; key: string }
  | { event: "NotebookMetadataChanged"; key: string }
  | { event: "AttachmentsChanged"; cell_id: string }
  | { event: "CellOutputsCleared"; cells: string[] }
  | { event: "ExecutionRequested"; cell_id: string; request_id: string }
  | { event: "RunAllRequested"; batch: string; cells: number }
  | { event: "ControlRequested"; control_id: string }
  | { event: "InputAnswered"; execution_id: string }
  | { event: "ApprovalAnswered"; execution_id: string; seq: number };

/** The change options for one event: its JSON message and the time in seconds. */
export function changeOptions(event: DocumentEvent): { message: string; time: number } {
  return { message: JSON.stringify(event), time: Math.floor(Date.now() / 1000) };
}
