/**
 * Identifiers as the Rust side makes them (schema/src/ids.rs): a prefix and
 * a v4 UUID in simple form, valid nbformat cell ids.
 */

function uuidSimple(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

export const newCellId = (): string => `c-${uuidSimple()}`;
export const newRequestId = (): string => `r-${uuidSimple()}`;
export const newControlId = (): string => `k-${uuidSimple()}`;

/** What nbformat allows for cell ids, and the layout for map entries. */
export function isValidId(s: string): boolean {
  return s.length >= 1 && s.length <= 64 && /^[A-Za-z0-9_-]+$/.test(s);
}
