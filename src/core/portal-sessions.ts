/**
 * @module Portal sessions: a one-time magic link that starts a cookie session for one
 * tenant. Only SHA-256 hashes of the link and session tokens are stored, so a dump of D1
 * cannot be replayed as a login. The verbs the API, the service binding, the console and the
 * portal share.
 */
import { AppError } from "../errors";
import type { Deps } from "./deps";
import { getTenant } from "./tenants";
import { sha256Hex } from "../domain/constant-time";
import { bytesToBase64Url } from "../domain/encoding";
import { newId } from "../domain/ids";
import * as q from "../db/queries/portal-sessions";

/** Where the portal is mounted (its adapter's routes, and the magic links made here). */
export const PORTAL_BASE = "/portal";

/** `expires_in` bounds of `POST /v1/tenants/{tid}/portal-sessions`, in seconds. */
export const PORTAL_LINK_MIN_S = 60;
export const PORTAL_LINK_MAX_S = 86_400;
export const PORTAL_LINK_DEFAULT_S = 3600;

/** What a page request knows about the signed-in viewer. */
export interface PortalSession {
  id: string;
  tenantId: string;
  readOnly: boolean;
  csrfToken: string;
  expiresAt: number;
}

/** The outcome of opening a magic link. */
export type LinkRedemption =
  | { kind: "started"; sessionToken: string; maxAgeSeconds: number }
  | { kind: "unknown" }
  | { kind: "used" }
  | { kind: "expired" };

/** 256 random bits, base64url: the link, session and CSRF tokens. */
function randomToken(): string {
  return bytesToBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * Stores a new one-time link for a live tenant.
 *
 * @returns the link token (shown once, in the link's URL) and when the link expires
 * @example await createPortalLink(deps, "acme", { expiresIn: 3600, readOnly: false })
 */
export async function createPortalLink(deps: Deps, tenantId: string, input: { expiresIn: number; readOnly: boolean }) {
  await getTenant(deps, tenantId);
  const token = randomToken();
  const expiresAt = deps.now + input.expiresIn * 1000;
  await q.insertPortalSession(deps.db, {
    // A portal session is an access credential like an API key; its id never leaves D1.
    id: newId("key", deps.now),
    tenantId,
    readOnly: input.readOnly,
    linkHash: await sha256Hex(token),
    linkExpiresAt: expiresAt,
    usedAt: null,
    sessionHash: null,
    sessionExpiresAt: null,
    csrfToken: null,
    createdAt: deps.now,
  });
  return { token, expiresAt };
}

/** A link token as the absolute magic link on the Worker's own origin (that of `requestUrl`). */
export function portalLoginUrl(requestUrl: string, token: string): string {
  return new URL(`${PORTAL_BASE}/login?token=${token}`, requestUrl).href;
}

/**
 * Opens a magic link: the first open of a live link starts a session that lasts as long
 * as the link's own lifetime (`expires_in`); every later open is refused.
 */
export async function redeemPortalLink(deps: Deps, token: string): Promise<LinkRedemption> {
  const row = await q.findByLinkHash(deps.db, await sha256Hex(token));
  if (!row) return { kind: "unknown" };
  if (row.usedAt !== null) return { kind: "used" };
  if (row.linkExpiresAt <= deps.now) return { kind: "expired" };
  // Only "no such tenant" makes the link unknown; a failed read is our trouble and throws.
  const tenant = await getTenant(deps, row.tenantId).catch((err: unknown) => {
    if (err instanceof AppError && err.status === 404) return null;
    throw err;
  });
  if (!tenant) return { kind: "unknown" };
  const sessionToken = randomToken();
  const lifetimeMs = row.linkExpiresAt - row.createdAt;
  // Conditional on used_at IS NULL: two opens at the same instant start one session.
  const started = await q.startSession(deps.db, row.id, {
    usedAt: deps.now,
    sessionHash: await sha256Hex(sessionToken),
    sessionExpiresAt: deps.now + lifetimeMs,
    csrfToken: randomToken(),
  });
  if (!started) return { kind: "used" };
  return { kind: "started", sessionToken, maxAgeSeconds: Math.floor(lifetimeMs / 1000) };
}

/** The live session a cookie token belongs to, or null (unknown, ended or expired). */
export async function findPortalSession(deps: Deps, sessionToken: string): Promise<PortalSession | null> {
  const row = await q.findBySessionHash(deps.db, await sha256Hex(sessionToken));
  if (!row || row.sessionExpiresAt === null || row.sessionExpiresAt <= deps.now || row.csrfToken === null) return null;
  return { id: row.id, tenantId: row.tenantId, readOnly: row.readOnly, csrfToken: row.csrfToken, expiresAt: row.sessionExpiresAt };
}

/** Ends a session now (sign out). */
export async function endPortalSession(deps: Deps, sessionId: string): Promise<void> {
  await q.endSession(deps.db, sessionId, deps.now);
}
