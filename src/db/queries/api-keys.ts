/**
 * @module API key rows (hashes only).
 */
import { and, desc, eq, lt } from "drizzle-orm";
import type { Db } from "../client";
import { apiKeys, tenants } from "../schema";

export type ApiKeyRow = typeof apiKeys.$inferSelect;

export async function insertApiKey(db: Db, row: ApiKeyRow): Promise<void> {
  await db.insert(apiKeys).values(row).run();
}

/** The key row with its tenant's deleted flag, for authentication. */
export async function findApiKeyForAuth(db: Db, keyId: string) {
  return db
    .select({ id: apiKeys.id, tenantId: apiKeys.tenantId, keyHash: apiKeys.keyHash, tenantDeletedAt: tenants.deletedAt })
    .from(apiKeys)
    .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
    .where(eq(apiKeys.id, keyId))
    .get();
}

export async function listApiKeys(db: Db, tenantId: string, limit: number, beforeId?: string): Promise<ApiKeyRow[]> {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), beforeId === undefined ? undefined : lt(apiKeys.id, beforeId)))
    .orderBy(desc(apiKeys.id))
    .limit(limit + 1)
    .all();
}

export async function deleteApiKey(db: Db, tenantId: string, keyId: string): Promise<boolean> {
  const gone = await db.delete(apiKeys).where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, keyId))).returning({ id: apiKeys.id }).get();
  return gone !== undefined;
}
