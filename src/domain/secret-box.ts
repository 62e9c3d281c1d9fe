/**
 * @module Secrets at rest: endpoint secrets and auth values sealed with
 * AES-GCM under `SECRETS_KEY`, readable with the previous key during a
 * key rotation.
 *
 * A box is `v1.<key fingerprint>.<iv>.<ciphertext>`: the first 8 hex characters
 * of SHA-256 of the key name the key without revealing it, so a box finds its
 * key directly and the re-encrypt job can tell which rows are still on the old one.
 */

import { AsyncLruCache } from "./async-cache";
import { base64ToBytes, base64UrlToBytes, bytesToBase64Url, bytesToHex, utf8 } from "./encoding";

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;

interface SecretsKey {
  fingerprint: string;
  key: CryptoKey;
}

// Current and previous key, and a few more across config reloads in tests.
const keys = new AsyncLruCache<SecretsKey>(16);

function keyBytes(keyB64: string): Uint8Array | null {
  // `wrangler secret put` from a pipe keeps the trailing newline of `openssl rand`.
  const bytes = base64ToBytes(keyB64.trim());
  return bytes && bytes.length === KEY_BYTES ? bytes : null;
}

/** Whether `keyB64` is usable as `SECRETS_KEY`: base64 of exactly 32 bytes. */
export function isValidSecretsKey(keyB64: string): boolean {
  return keyBytes(keyB64) !== null;
}

/** The prefix every box sealed under `keyB64` starts with (`v1.<fingerprint>.`), for finding rows to re-encrypt. */
export async function boxPrefix(keyB64: string): Promise<string> {
  return `${VERSION}.${(await importSecretsKey(keyB64)).fingerprint}.`;
}

function importSecretsKey(keyB64: string): Promise<SecretsKey> {
  return keys.get(keyB64, async () => {
    const bytes = keyBytes(keyB64);
    // Never echo the key: this message may reach logs.
    if (!bytes) throw new Error(`SECRETS_KEY must be base64 of exactly ${KEY_BYTES} bytes`);
    const fingerprint = bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))).slice(0, 8);
    const key = await crypto.subtle.importKey("raw", bytes, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
    return { fingerprint, key };
  });
}

interface Box {
  fingerprint: string;
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

function openBox(box: string): Box {
  const [version, fingerprint, iv, ciphertext, ...rest] = box.split(".");
  const ivBytes = iv === undefined ? null : base64UrlToBytes(iv);
  const cipherBytes = ciphertext === undefined ? null : base64UrlToBytes(ciphertext);
  if (version !== VERSION || rest.length > 0 || !fingerprint || !/^[0-9a-f]{8}$/.test(fingerprint) || !ivBytes || !cipherBytes) {
    throw new Error("not a v1 secret box");
  }
  return { fingerprint, iv: ivBytes, ciphertext: cipherBytes };
}

/**
 * Seals `plain` under the current key with a fresh random IV.
 *
 * @param keyB64 the current `SECRETS_KEY`
 * @returns `v1.<fingerprint>.<iv b64url>.<ciphertext b64url>`
 */
export async function encryptSecret(plain: string, keyB64: string): Promise<string> {
  const { fingerprint, key } = await importSecretsKey(keyB64);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, utf8(plain)));
  return [VERSION, fingerprint, bytesToBase64Url(iv), bytesToBase64Url(ciphertext)].join(".");
}

/**
 * Opens a box with whichever configured key sealed it.
 *
 * @param keysB64 `SECRETS_KEY` first, then `SECRETS_KEY_PREVIOUS` when set
 * @throws Error when the box is malformed, no key matches its fingerprint, or it was tampered with
 */
export async function decryptSecret(box: string, keysB64: string[]): Promise<string> {
  const { fingerprint, iv, ciphertext } = openBox(box);
  const candidates = await Promise.all(keysB64.map(importSecretsKey));
  const match = candidates.find((candidate) => candidate.fingerprint === fingerprint);
  if (!match) {
    throw new Error(
      `secret was sealed with key ${fingerprint}, which is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS`,
    );
  }
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv }, match.key, ciphertext);
  } catch {
    throw new Error(`secret sealed with key ${fingerprint} failed authentication (corrupted or altered)`);
  }
  return new TextDecoder().decode(plain);
}

/**
 * Whether a box was sealed with another key than the current one, so the
 * re-encrypt job should open and seal it again.
 *
 * @throws Error when the box is malformed or the key is invalid
 */
export async function needsReencrypt(box: string, currentKeyB64: string): Promise<boolean> {
  const { fingerprint } = openBox(box);
  return fingerprint !== (await importSecretsKey(currentKeyB64)).fingerprint;
}
