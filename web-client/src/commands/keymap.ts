/**
 * Jupyter's keyboard, as JupyterLab binds it. Command mode (no editor
 * focused): single keys act on cells, `D D`, `I I` and `0 0` are pressed
 * twice. Edit mode: CodeMirror's keys, plus the run keys, Escape, and
 * Ctrl-Shift-Minus to split. The help overlay (H) lists `COMMAND_KEYS`.
 */

export interface NotebookCommands {
  enterEdit(): void;
  runCell(advance: "stay" | "next" | "insert"): void;
  insert(where: "above" | "below"): void;
  deleteSelected(): void;
  setType(type: "code" | "markdown" | "raw"): void;
  heading(level: number): void;
  copy(): void;
  cut(): void;
  paste(where: "above" | "below"): void;
  undoCells(): void;
  redoCells(): void;
  select(delta: -1 | 1, extend: boolean): void;
  selectAll(): void;
  move(delta: -1 | 1): void;
  merge(): void;
  toggleInput(): void;
  toggleOutput(): void;
  interrupt(): void;
  restart(): void;
  help(): void;
  save(): void;
}

export const COMMAND_KEYS: [string, string][] = [
  ["Enter", "edit the selected cell"],
  ["Shift-Enter", "run the cell, select the next"],
  ["Ctrl-Enter", "run the cell"],
  ["Alt-Enter", "run the cell, insert one below"],
  ["Up / K, Down / J", "select the cell above / below"],
  ["Shift-Up / Shift-K, Shift-Down / Shift-J", "extend the selection"],
  ["Ctrl-A", "select all cells"],
  ["A / B", "insert a cell above / below"],
  ["D D", "delete the selected cells"],
  ["X / C / V / Shift-V", "cut / copy / paste below / paste above"],
  ["Z / Shift-Z", "undo / redo your last cell operation"],
  ["Y / M / R", "code / markdown / raw cell"],
  ["1 … 6", "markdown heading level"],
  ["Shift-M", "merge the selected cells (or with the one below)"],
  ["Ctrl-Shift-Up / Ctrl-Shift-Down", "move the selected cells"],
  ["O / Shift-O", "collapse output / input"],
  ["I I", "interrupt the kernel"],
  ["0 0", "restart the kernel"],
  ["Ctrl-F", "find and replace across the notebook's cells"],
  ["Left / Right (on a heading)", "collapse / expand its section"],
  ["H", "this help"],
  ["Esc", "leave edit mode (in a cell)"],
  ["Ctrl-Shift-Minus", "split the cell at the cursor (edit mode)"],
  ["Ctrl-F (edit mode)", "search within the cell"],
  ["Ctrl-Z / Ctrl-Shift-Z (edit mode)", "undo / redo your own typing"],
];

/** A key pressed twice within this many milliseconds counts as a pair. */
const PAIR_MS = 800;

export class CommandModeKeys {
  private lastKey = "";
  private lastAt = 0;

  constructor(private readonly commands: NotebookCommands) {}

  private pair(key: string): boolean {
    const now = performance.now();
    const paired = this.lastKey === key && now - this.lastAt < PAIR_MS;
    this.lastKey = paired ? "" : key;
    this.lastAt = now;
    return paired;
  }

  /** Handle a keydown in command mode; whether it was ours. */
  handle(e: KeyboardEvent): boolean {
    const c = this.commands;
    const key = e.key;
    const ctrl = e.ctrlKey || e.metaKey;
    if (e.altKey && key === "Enter") return c.runCell("insert"), true;
    if (ctrl && e.shiftKey && (key === "ArrowUp" || key === "ArrowDown")) return c.move(key === "ArrowUp" ? -1 : 1), true;
    if (ctrl && key === "Enter") return c.runCell("stay"), true;
    if (ctrl && (key === "a" || key === "A")) return c.selectAll(), true;
    if (ctrl && (key === "s" || key === "S")) return c.save(), true;
    if (ctrl || e.altKey) return false;
    switch (key) {
      case "Enter":
        if (e.shiftKey) c.runCell("next");
        else c.enterEdit();
        return true;
      case "ArrowUp":
      case "k":
      case "K":
        c.select(-1, e.shiftKey);
        return true;
      case "ArrowDown":
      case "j":
      case "J":
        c.select(1, e.shiftKey);
        return true;
      case "a":
        c.insert("above");
        return true;
      case "b":
        c.insert("below");
        return true;
      case "d":
        if (this.pair("d")) c.deleteSelected();
        return true;
      case "i":
        if (this.pair("i")) c.interrupt();
        return true;
      case "0":
        if (this.pair("0")) c.restart();
        return true;
      case "x":
        c.cut();
        return true;
      case "c":
        c.copy();
        return true;
      case "v":
        c.paste("below");
        return true;
      case "V":
        c.paste("above");
        return true;
      case "z":
        c.undoCells();
        return true;
      case "Z":
        c.redoCells();
        return true;
      case "y":
        c.setType("code");
        return true;
      case "m":
        c.setType("markdown");
        return true;
      case "r":
        c.setType("raw");
        return true;
      case "M":
        c.merge();
        return true;
      case "o":
        c.toggleOutput();
        return true;
      case "O":
        c.toggleInput();
        return true;
      case "h":
      case "H":
        c.help();
        return true;
      case "1":
      case "2":
      case "3":
      case "4":
      case "5":
      case "6":
        c.heading(Number(key));
        return true;
      default:
        return false;
    }
  }
}
