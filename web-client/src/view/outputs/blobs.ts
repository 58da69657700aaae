/**
 * Large output payloads from `GET /blobs/{sha256}`, fetched with the token
 * in a header (never in a URL the DOM holds) and shown through `blob:` URLs.
 * Content-addressed, so each is fetched once per page.
 */

import type { Api } from "../../api/rest";

export class BlobCache {
  private bytes = new Map<string, Promise<Blob>>();
  private urls = new Map<string, string>();

  constructor(private readonly api: Api) {}

  blob(sha256: string): Promise<Blob> {
    let p = this.bytes.get(sha256);
    if (!p) {
      p = this.api.blob(sha256);
      p.catch(() => this.bytes.delete(sha256));
      this.bytes.set(sha256, p);
    }
    return p;
  }

  async text(sha256: string): Promise<string> {
    return (await this.blob(sha256)).text();
  }

  /** A blob: URL of the payload, typed as `mime`. */
  async objectUrl(sha256: string, mime: string): Promise<string> {
    const key = `${sha256} ${mime}`;
    const known = this.urls.get(key);
    if (known) return known;
    const raw = await this.blob(sha256);
    const url = URL.createObjectURL(new Blob([raw], { type: mime }));
    this.urls.set(key, url);
    return url;
  }
}
