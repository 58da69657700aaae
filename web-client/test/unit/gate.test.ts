/** The gate on the controller's commands until the notebook can be read (src/commands/gate.ts). */

import { test } from "node:test";
import assert from "node:assert/strict";
import { gateUntilReadable } from "../../src/commands/gate";
import type { NotebookController } from "../../src/commands/controller";

test("a gated command runs only once the notebook can be read, with its arguments and receiver", () => {
  const calls: unknown[][] = [];
  const controller = {
    insert(this: unknown, where: string) {
      calls.push([this, where]);
    },
    copy() {
      calls.push(["copy"]);
    },
  };
  let loading = true;
  let asked = 0;
  gateUntilReadable(controller as unknown as NotebookController, () => {
    asked++;
    return loading;
  });
  controller.insert("below");
  assert.deepEqual(calls, [], "refused while loading");
  assert.equal(asked, 1);
  loading = false;
  controller.insert("above");
  assert.deepEqual(calls, [[controller, "above"]]);
  controller.copy();
  assert.equal(asked, 2, "copy is not gated");
  assert.deepEqual(calls.at(-1), ["copy"]);
});
