/** What the server writes when it creates a notebook (Rust `NotebookDoc::create`), for the unit tests to start from. */

import * as A from "@automerge/automerge";
import type { NotebookDoc } from "../../src/doc/notebook";
import type { RawNotebook } from "../../src/doc/notebook-types";

export function serverCreated(): NotebookDoc {
  return A.change(A.init<RawNotebook>(), { message: JSON.stringify({ event: "NotebookCreated", notebook_id: "nb-1" }) }, (d) => {
    d.schema_version = 1;
    d.kind = new A.ImmutableString("notebook");
    d.notebook_id = new A.ImmutableString("nb-1");
    d.cells = {};
    d.metadata = {};
    d.controls = {};
    d.input_answers = {};
  });
}
