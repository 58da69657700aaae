/**
 * Opening a long notebook: which cells the page holds in its first frame.
 *
 * Why: the first frame finds the cells on screen by reading the layout, and
 * a layout of every cell is paid before anything shows. For 200 cells of
 * 2 KB that was about 85 ms of a first frame of about 200 ms (marks added
 * by hand to one benchmark run). The first frame needs only the cells that
 * fill the screen; the rest join the page `TAIL_CELLS_PER_FRAME` at a time,
 * each frame laying out only what it added.
 */

/** Cells added per frame after the first, until the page holds them all. */
export const TAIL_CELLS_PER_FRAME = 40;

/**
 * Height guesses, kept on the low side: a guess too low adds a cell or two
 * to the first frame, one too high leaves the screen's foot empty for a
 * frame. A code line is 13 px type at 1.4; a cell's prompt, borders and
 * padding are a little over 30 px.
 */
const LINE_PX = 18;
const CELL_PX = 30;

/**
 * How many leading cells, of sources with `lineCounts` lines, fill a
 * screen `screenPx` tall and half as much again (the margin within which
 * the page mounts editors). At least one. The counts are read only as far
 * as needed: a caller can count each cell's lines as it is asked for.
 */
export function cellsFillingScreen(lineCounts: Iterable<number>, screenPx: number): number {
  const want = screenPx * 1.5;
  let height = 0;
  let cells = 0;
  for (const lines of lineCounts) {
    cells++;
    height += CELL_PX + LINE_PX * Math.max(1, lines);
    if (height >= want) return cells;
  }
  return Math.max(1, cells);
}

/** Lines in a cell's source, as its editor shows them. */
export function lineCount(source: string): number {
  let n = 1;
  for (let i = source.indexOf("\n"); i !== -1; i = source.indexOf("\n", i + 1)) n++;
  return n;
}
