/**
 * Timing taken inside the page, the same way for cathode and JupyterLab.
 *
 * Why not poll from the harness: a `setTimeout(check, 0)` loop is clamped
 * to 4 ms after a few rounds and a `requestAnimationFrame` loop sees a
 * change one frame late, so either can push a sample past a frame
 * boundary and add a whole frame to it; and a start time read by one
 * remote-protocol call before the key is pressed by another counts the
 * protocol's round trips as the page's. Here a change is seen by a
 * MutationObserver as it happens, "painted" is the frame that paints it
 * (the next one, or the current one for a change made in a frame
 * callback), and a key press starts when its event reached the page.
 */

import type { BrowserContext, Page } from "playwright-core";

/**
 * Installs, in `page`: `__paintedWhen(test)`, resolving with the time
 * (ms since the epoch, comparable across pages) of the first frame after
 * the DOM satisfies `test`; `__shownWhen(test)`, resolving with both the
 * moment the DOM satisfied it and that frame; and `__lastKeydown()`, the
 * time of the last keydown's event in the same clock.
 */
export async function installPaintProbe(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as any;
    if (w.__paintedWhen) return;
    let lastKeydown = 0;
    window.addEventListener(
      "keydown",
      (e) => {
        lastKeydown = performance.timeOrigin + e.timeStamp;
      },
      { capture: true },
    );
    w.__lastKeydown = () => lastKeydown;
    // A change made inside an animation-frame callback (where a page that
    // coalesces its renders per frame makes them) is painted in that same
    // frame, so waiting for the next frame would add a whole one to it.
    // The page's callbacks are wrapped to say when a frame's callbacks are
    // under way; a message posted from the first one runs only after the
    // frame is painted.
    const raf = window.requestAnimationFrame.bind(window);
    let inFrame = false;
    const afterFrame = new MessageChannel();
    afterFrame.port1.onmessage = () => {
      inFrame = false;
    };
    window.requestAnimationFrame = (callback: FrameRequestCallback) =>
      raf((ts) => {
        if (!inFrame) {
          inFrame = true;
          afterFrame.port2.postMessage(null);
        }
        callback(ts);
      });
    w.__shownWhen = (test: () => boolean) =>
      new Promise<[number, number]>((resolve) => {
        const now = () => performance.timeOrigin + performance.now();
        const painted = () => {
          const seen = now();
          if (inFrame) resolve([seen, seen]);
          else raf(() => resolve([seen, now()]));
        };
        if (test()) return painted();
        const observer = new MutationObserver(() => {
          if (!test()) return;
          observer.disconnect();
          painted();
        });
        observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      });
    w.__paintedWhen = (test: () => boolean) => w.__shownWhen(test).then((t: [number, number]) => t[1]);
  });
}

/** Where a notebook page shows its first cell's prompt and result. */
export interface RunSelectors {
  prompt: string;
  result: string;
}

/**
 * `runs` presses of Ctrl-Enter on a first cell holding `1+1` that has run:
 * from each keydown to the frame that paints `2` under the next execution
 * count.
 */
export async function runKeyToPainted(page: Page, at: RunSelectors, runs: number): Promise<number[]> {
  await installPaintProbe(page);
  const ran = await page.evaluate(
    (prompt) => Number(/\[(\d+)\]/.exec(document.querySelector(prompt)?.textContent ?? "")?.[1] ?? 0),
    at.prompt,
  );
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const painted = page.evaluate(
      ({ at, n }) =>
        (window as any).__paintedWhen(() => {
          const prompt = document.querySelector(at.prompt)?.textContent ?? "";
          const out = document.querySelector(at.result)?.textContent ?? "";
          return prompt.includes(`[${n}]`) && out.trim() === "2";
        }) as Promise<number>,
      { at, n: ran + 1 + i },
    );
    await page.keyboard.press("Control+Enter");
    const end = await painted;
    samples.push(end - (await page.evaluate(() => (window as any).__lastKeydown() as number)));
  }
  return samples;
}

/**
 * Opens of the 200-cell notebook per kind, ours and JupyterLab's alike: one
 * is noise. `CATHODE_BENCH_OPENS` asks for more, to compare two builds.
 */
export const OPENS = Number(process.env.CATHODE_BENCH_OPENS ?? 5) || 5;

/** A moment of a page's load: the DOM first holds `count` matches of `selector`, at least one of them visible (so painted by the next frame). */
export interface LoadMark {
  name: string;
  selector: string;
  count?: number;
}

/**
 * Watches every page `context` opens, from the document's start, for
 * `marks`; read each with `loadMark`. Times are ms since navigation, taken
 * in the page, so neither the harness's polling nor its round trips count.
 */
export async function watchLoad(context: BrowserContext, marks: LoadMark[]): Promise<void> {
  await context.addInitScript((marks: LoadMark[]) => {
    const at: Record<string, Promise<number>> = {};
    for (const mark of marks) {
      at[mark.name] = new Promise<number>((resolve) => {
        // Counting on each mutation is cheap; visibility needs layout, so
        // it is asked at most once a frame (in the frame's own layout), and
        // the mark is when the DOM first held what that frame shows.
        const enough = () => document.querySelectorAll(mark.selector).length >= (mark.count ?? 1);
        const visible = () => [...document.querySelectorAll(mark.selector)].some((el) => el.checkVisibility());
        let since: number | undefined;
        const observer = new MutationObserver(() => check());
        const check = () => {
          if (since !== undefined || !enough()) return;
          since = performance.now();
          requestAnimationFrame(() => {
            const at = since as number;
            since = undefined;
            if (!visible()) return;
            observer.disconnect();
            resolve(at);
          });
        };
        observer.observe(document, { subtree: true, childList: true, attributes: true });
        check();
      });
    }
    (window as any).__loadMarks = at;
  }, marks);
}

/** The time of `name` in the page's current document, once it is reached. */
export async function loadMark(page: Page, name: string): Promise<number> {
  return page.evaluate((n) => (window as any).__loadMarks[n] as Promise<number>, name);
}

/** Keystrokes typed in one page, as the other page showed them: to its DOM, and to the frame that painted it. */
export interface KeystrokeTimes {
  dom: number[];
  painted: number[];
}

/**
 * 500 characters typed into page `a`'s focused editor, one at a time, each
 * timed until `b` shows that many (its `__shown(n)`, installed by the
 * caller on top of `__shownWhen`). The issue's figures for JupyterLab
 * were taken to the DOM; to the painted frame adds the wait for it.
 */
export async function keystrokesAcross(a: Page, b: Page): Promise<KeystrokeTimes> {
  const times: KeystrokeTimes = { dom: [], painted: [] };
  for (let i = 1; i <= 500; i++) {
    const shown = b.evaluate((n) => (window as any).__shown(n) as Promise<[number, number]>, i);
    const sent: number = await a.evaluate(() => {
      const t = performance.timeOrigin + performance.now();
      document.execCommand("insertText", false, "x");
      return t;
    });
    const [dom, painted] = await shown;
    times.dom.push(dom - sent);
    times.painted.push(painted - sent);
  }
  return times;
}
