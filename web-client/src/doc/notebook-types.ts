/**
 * The notebook document's layout as Automerge materialises it
 * (schema/src/notebook.rs). Private to `doc/`: every other module reads and
 * writes through the typed functions of `notebook.ts`, `controls.ts` and
 * `runtime.ts`, never through these paths.
 */

import type { ImmutableString } from "@automerge/automerge";

export type CellType = "code" | "markdown" | "ai" | "sql" | "raw";
export const CELL_TYPES: readonly CellType[] = ["code", "markdown", "raw", "ai", "sql"];

/** A scalar string as the Rust side writes it (or, rarely, a text). */
export type Scalar = ImmutableString | string;

export interface RawCell {
  cell_type: Scalar;
  position: Scalar;
  /** Automerge Text: materialised as a JS string. */
  source: string;
  metadata?: Record<string, Scalar>;
  attachments?: Scalar;
  run_request?: Scalar;
  /** `doc/cleared.ts`. */
  outputs_cleared?: Scalar;
}

export interface RawNotebook {
  schema_version?: number;
  kind?: Scalar;
  notebook_id?: Scalar;
  cells?: Record<string, RawCell>;
  metadata?: Record<string, Scalar>;
  controls?: Record<string, Scalar>;
  input_answers?: Record<string, Scalar>;
}

/** The string in a scalar, whichever way it was stored. */
export function str(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "object" && "val" in (v as object)) return String((v as { val: unknown }).val);
  return undefined;
}
