/**
 * @module Console sessions, stateless: the cookie carries its expiry and a random nonce,
 * signed with HMAC-SHA-256 keyed by ADMIN_TOKEN, and the CSRF token is derived from the
 * nonce the same way. Nothing is stored, so rotating ADMIN_TOKEN ends every session at once
 * (docs/console.md "Sign-in and sessions" says why this beats a D1 row here).
 */
import { constantTimeEqual } from "../domain/constant-time";
import { base64UrlToBytes, bytesToBase64Url, utf8 } from "../domain/encoding";

/** How long a console session lasts after sign-in. */
export const CONSOLE_SESSION_MS = 12 * 3_600_000;

/** What a page request knows about the signed-in operator. */
export interface ConsoleSession {
  expiresAt: number;
  csrfToken: string;
}

// Domain separation: the same key signs cookies and CSRF tokens, and must never make one
// that passes for the other (or for anything else ADMIN_TOKEN may ever sign).
const SESSION_LABEL = "switchyard console session v1\n";
const CSRF_LABEL = "switchyard console csrf v1\n";
const NONCE = /^[A-Za-z0-9_-]{22}$/;
const EXPIRY = /^[1-9]\d{0,15}$/;

async function hmacKey(adminToken: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", utf8(adminToken), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

async function sign(key: CryptoKey, text: string): Promise<string> {
  return bytesToBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(text))));
}

/** Whether `presented` is the admin token (constant time); never true without one configured. */
export async function isAdminToken(presented: string, adminToken: string | null): Promise<boolean> {
  return adminToken !== null && presented.length > 0 && (await constantTimeEqual(presented, adminToken));
}

/**
 * A new session after a correct admin token.
 *
 * @param nonce 16 random bytes (an argument so tests can pin it)
 * @returns the cookie value and the session it stands for
 * @example const { cookie } = await startConsoleSession(config.adminToken, Date.now())
 */
export async function startConsoleSession(
  adminToken: string,
  now: number,
  nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(16)),
): Promise<{ cookie: string; session: ConsoleSession }> {
  const key = await hmacKey(adminToken);
  const payload = `${now + CONSOLE_SESSION_MS}.${bytesToBase64Url(nonce)}`;
  const cookie = `${payload}.${await sign(key, SESSION_LABEL + payload)}`;
  return { cookie, session: { expiresAt: now + CONSOLE_SESSION_MS, csrfToken: await sign(key, CSRF_LABEL + bytesToBase64Url(nonce)) } };
}

/** The session a cookie value stands for, or null: malformed, forged, signed by an older ADMIN_TOKEN, or expired. */
export async function readConsoleSession(adminToken: string | null, cookie: string, now: number): Promise<ConsoleSession | null> {
  if (adminToken === null) return null;
  const [expiry, nonce, mac, ...rest] = cookie.split(".");
  if (rest.length || !expiry || !nonce || !mac || !EXPIRY.test(expiry) || !NONCE.test(nonce)) return null;
  const expiresAt = Number(expiry);
  // A signed expiry further away than a fresh session's cannot come from this code.
  if (expiresAt <= now || expiresAt > now + CONSOLE_SESSION_MS) return null;
  const macBytes = base64UrlToBytes(mac);
  if (!macBytes) return null;
  const key = await hmacKey(adminToken);
  // crypto.subtle.verify compares in constant time.
  if (!(await crypto.subtle.verify("HMAC", key, macBytes, utf8(`${SESSION_LABEL}${expiry}.${nonce}`)))) return null;
  return { expiresAt, csrfToken: await sign(key, CSRF_LABEL + nonce) };
}
