/**
 * Fractional-index positions for cells: an exact port of
 * schema/src/position.rs. Cells live in a map keyed by id and are ordered
 * by a `position` string over an ASCII-ordered base-62 alphabet, compared
 * bytewise (a plain `<` on these ASCII strings), never ending in the lowest
 * digit so that a key always exists between any two. The unit tests compare
 * these keys with the Rust ones (test/unit/position.test.ts).
 */

const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE = 62;

function digitValue(c: string): number | undefined {
  const i = DIGITS.indexOf(c);
  return i < 0 ? undefined : i;
}

/** Whether `key` is a well-formed position. */
export function isValidPosition(key: string): boolean {
  if (key.length === 0 || key.endsWith("0")) return false;
  for (const c of key) if (digitValue(c) === undefined) return false;
  return true;
}

function toDigits(key: string): number[] {
  const digits: number[] = [];
  for (const c of key) {
    const v = digitValue(c);
    if (v !== undefined) digits.push(v);
  }
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  return digits;
}

function fromDigits(digits: number[]): string {
  return digits.map((d) => DIGITS[d]).join("");
}

/** Lexicographic comparison of digit arrays, as Rust compares `Vec<u8>`. */
function compareDigits(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** The midpoint of two digit strings read as base-62 fractions. */
function midpoint(lo: number[], hi: number[] | undefined): number[] {
  if (hi !== undefined) {
    let common = 0;
    while (common < hi.length && (lo[common] ?? 0) === hi[common]) common++;
    if (common > 0) {
      const out = hi.slice(0, common);
      const loRest = lo.length > common ? lo.slice(common) : [];
      return out.concat(midpoint(loRest, hi.slice(common)));
    }
  }
  const loFirst = lo[0] ?? 0;
  const hiFirst = hi !== undefined && hi.length > 0 ? hi[0] : BASE;
  if (hiFirst - loFirst > 1) return [Math.floor((loFirst + hiFirst) / 2)];
  if (hi !== undefined && hi.length > 1) return [hi[0]];
  const rest = lo.length > 1 ? lo.slice(1) : [];
  return [loFirst].concat(midpoint(rest, undefined));
}

/** Three random digits in 1..62, as the Rust side appends. */
export function randomJitter(): number[] {
  const out: number[] = [];
  const bytes = new Uint8Array(3);
  crypto.getRandomValues(bytes);
  for (const b of bytes) out.push(1 + (b % (BASE - 1)));
  return out;
}

/**
 * A key strictly between `before` and `after` (either may be absent: the
 * start or end of the notebook), with a few random digits appended when they
 * fit so that two people inserting at one spot almost never tie.
 */
export function keyBetween(
  before: string | undefined,
  after: string | undefined,
  jitter: number[] = randomJitter(),
): string {
  const lo = before !== undefined ? toDigits(before) : [];
  let hi = after !== undefined ? toDigits(after) : undefined;
  if (hi !== undefined && (hi.length === 0 || compareDigits(hi, lo) <= 0)) hi = undefined;
  const mid = midpoint(lo, hi);
  const jittered = mid.concat(jitter);
  const chosen = hi !== undefined && compareDigits(jittered, hi) >= 0 ? mid : jittered;
  return fromDigits(chosen);
}

/** `n` increasing keys of one length (an imported notebook's cells). */
export function evenlySpaced(n: number): string[] {
  let width = 1;
  while (BASE ** width <= n) width++;
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = new Array<string>(width).fill(DIGITS[0]);
    let rest = i;
    for (let slot = width - 1; slot >= 0; slot--) {
      body[slot] = DIGITS[rest % BASE];
      rest = Math.floor(rest / BASE);
    }
    keys.push("V" + body.join("") + "V");
  }
  return keys;
}
