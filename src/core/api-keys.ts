/**
 * @module Tenant API keys: shown once, stored as a SHA-256 hash, compared in constant time.
 *
 * A key reads `sy_<key id suffix>_<43 base64url chars>`: the id part finds the row
 * without an index on the hash, then the hashes are compared in constant time.
 */
import type { Deps } from "./deps";
import { constantTimeEqual, sha256Hex } from "../domain/constant-time";
import { bytesToBase64Url } from "../domain/encoding";
import { newId } from "../domain/ids";
import { notFound } from "../errors";
import type { Db } from "../db/client";
import * as q from "../db/queries/api-keys";
import { getTenant } from "./tenants";

function randomToken(): string {
  return bytesToBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function createApiKey(deps: Deps, tenantId: string, name: string) {
  await getTenant(deps, tenantId);
  const id = newId("key", deps.now);
  const key = `sy_${id.slice("key_".length)}_${randomToken()}`;
  const row = { id, tenantId, name, keyHash: await sha256Hex(key), createdAt: deps.now };
  await q.insertApiKey(deps.db, row);
  return { row, key };
}

export async function listApiKeys(deps: Deps, tenantId: string, limit: number, cursor?: string) {
  await getTenant(deps, tenantId);
  return q.listApiKeys(deps.db, tenantId, limit, cursor);
}

export async function deleteApiKey(deps: Deps, tenantId: string, keyId: string) {
  if (!(await q.deleteApiKey(deps.db, tenantId, keyId))) throw notFound(`API key ${keyId}`);
}

/** The key's id and tenant when `token` is a live key of a live tenant, else null. */
export async function authenticateApiKey(db: Db, token: string): Promise<{ id: string; tenantId: string } | null> {
  const match = /^sy_([0-9a-z]{26})_[A-Za-z0-9_-]{43}$/.exec(token);
  if (!match) return null;
  const row = await q.findApiKeyForAuth(db, `key_${match[1]}`);
  if (!row || row.tenantDeletedAt !== null) return null;
  return (await constantTimeEqual(await sha256Hex(token), row.keyHash)) ? { id: row.id, tenantId: row.tenantId } : null;
}
