/**
 * @module Constant-time comparison of tokens, and SHA-256 in hex (API keys are
 * stored as hashes).
 */

import { bytesToHex, utf8 } from "./encoding";

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text)));
}

/**
 * Whether `a` and `b` are equal, in time that does not depend on where they
 * differ. Both are hashed first, so unequal lengths leak nothing either.
 *
 * @example await constantTimeEqual(presentedToken, config.adminToken)
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([sha256(a), sha256(b)]);
  let difference = 0;
  for (let i = 0; i < x.length; i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`. */
export async function sha256Hex(text: string): Promise<string> {
  return bytesToHex(await sha256(text));
}
