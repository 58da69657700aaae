/**
 * Signing in: the URL the server prints carries `?token=`; the page moves it
 * into local storage and out of the address bar (and so out of history and
 * of any link copied from it).
 */

const KEY = "cathode.token";

/** Take a token from the address bar, if any, into storage. */
export function adoptTokenFromUrl(): void {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token === null) return;
  url.searchParams.delete("token");
  if (token.trim()) localStorage.setItem(KEY, token.trim());
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}

export function storedToken(): string | undefined {
  return localStorage.getItem(KEY) ?? undefined;
}

export function storeToken(token: string): void {
  localStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  localStorage.removeItem(KEY);
}
