/**
 * The commands that change the notebook or run it. Until the page reads its
 * own replica (while the server's preview shows, or before Automerge has
 * loaded) each is refused with the "loading" nudge, and nothing is queued:
 * what they do builds on one another (insert, then change the new cell's
 * type, then edit it). The gate is put on the controller's commands here,
 * once, so it holds whichever way they are reached: keys, the toolbar, a
 * cell's own controls, drag and drop.
 */

import type { NotebookController } from "./controller";

const NEEDS_NOTEBOOK = [
  "runCell",
  "runAll",
  "runAbove",
  "runBelow",
  "interrupt",
  "restart",
  "restartAndRunAll",
  "insert",
  "deleteSelected",
  "setType",
  "heading",
  "cut",
  "paste",
  "undoCells",
  "redoCells",
  "move",
  "moveTo",
  "merge",
  "split",
  "clearOutputs",
  "toggleInput",
  "toggleOutput",
  "toggleCollapsed",
] as const satisfies readonly (keyof NotebookController)[];

type GatedCommands = Record<(typeof NEEDS_NOTEBOOK)[number], (...args: unknown[]) => void>;

/** Replace each gated command of `controller` with one that first asks `loading` (which tells the person). */
export function gateUntilReadable(controller: NotebookController, loading: () => boolean): void {
  const commands = controller as unknown as GatedCommands;
  for (const name of NEEDS_NOTEBOOK) {
    const command = commands[name];
    commands[name] = (...args) => {
      if (!loading()) command.apply(controller, args);
    };
  }
}
