/**
 * Sealing a password answer to the runtime's one-time key, so it never
 * sits readable in the notebook document, its history or a viewer's copy
 * (runtime-agent/src/sealed_input.rs opens it): ECDH P-256 with a key of
 * our own, HKDF-SHA256 (empty salt, the prompt's info string) to an
 * AES-256-GCM key, a random 12-byte nonce. WebCrypto only exists in a
 * secure context (HTTPS, or localhost): elsewhere sealing refuses, and the
 * page says so rather than writing the password in clear.
 */

export interface SealedAnswer {
  ephemeral_key: string;
  nonce: string;
  ciphertext: string;
}

function b64(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (const b of u8) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The HKDF info binding an answer to its prompt (schema's `sealed_answer_info`). */
export function sealedAnswerInfo(execution: string, seq: number): string {
  return `cathode input answer ${execution}#${seq}`;
}

export async function sealAnswer(publicKey: string, execution: string, seq: number, plain: string): Promise<SealedAnswer> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error("this page is not a secure context (HTTPS or localhost), so a password cannot be sealed");
  const theirs = await subtle.importKey("raw", unb64(publicKey), { name: "ECDH", namedCurve: "P-256" }, false, []);
  const mine = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  const shared = await subtle.deriveBits({ name: "ECDH", public: theirs }, mine.privateKey, 256);
  const base = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const key = await subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode(sealedAnswerInfo(execution, seq)) },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  );
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, new TextEncoder().encode(plain));
  const ours = await subtle.exportKey("raw", mine.publicKey);
  return { ephemeral_key: b64(ours), nonce: b64(nonce), ciphertext: b64(ciphertext) };
}
