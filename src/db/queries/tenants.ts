/**
 * @module Tenant rows.
 */
import { and, desc, eq, isNull, lt } from "drizzle-orm";
import type { Db } from "../client";
import { tenants } from "../schema";

export type TenantRow = typeof tenants.$inferSelect;

/** A live (not deleted) tenant. */
export async function findTenant(db: Db, tenantId: string): Promise<TenantRow | undefined> {
  return db.select().from(tenants).where(and(eq(tenants.id, tenantId), isNull(tenants.deletedAt))).get();
}

/** Any tenant row, deleted ones included (their ids are not reusable until purged). */
export async function findTenantAnyState(db: Db, tenantId: string): Promise<TenantRow | undefined> {
  return db.select().from(tenants).where(eq(tenants.id, tenantId)).get();
}

export async function insertTenant(db: Db, row: typeof tenants.$inferInsert): Promise<TenantRow | undefined> {
  return db.insert(tenants).values(row).onConflictDoNothing().returning().get();
}

export async function listTenants(db: Db, limit: number, beforeSeq?: number): Promise<TenantRow[]> {
  return db
    .select()
    .from(tenants)
    .where(and(isNull(tenants.deletedAt), beforeSeq === undefined ? undefined : lt(tenants.seq, beforeSeq)))
    .orderBy(desc(tenants.seq))
    .limit(limit + 1)
    .all();
}

export async function updateTenant(
  db: Db,
  tenantId: string,
  patch: Partial<Pick<TenantRow, "name" | "metadata" | "updatedAt" | "deletedAt">>,
): Promise<TenantRow | undefined> {
  return db.update(tenants).set(patch).where(and(eq(tenants.id, tenantId), isNull(tenants.deletedAt))).returning().get();
}

/** A deleted tenant's endpoints stop at once (its log is emptied by the caller). */
export async function retireTenantEndpoints(db: Db, tenantId: string, now: number): Promise<void> {
  await db.$client.prepare(`UPDATE endpoints SET deleted_at = ?2 WHERE tenant_id = ?1 AND deleted_at IS NULL`).bind(tenantId, now).run();
}

/**
 * A tenant's id by its never-reused seq, with `_operator`'s seq beside it (one statement:
 * a TenantLog's outbox flush needs both). Undefined once the tenant is gone.
 */
export async function tenantIdentity(db: Db, seq: number): Promise<{ tenantId: string; operatorSeq: number } | undefined> {
  const row = await db.$client
    .prepare(`SELECT id, (SELECT seq FROM tenants WHERE id = '_operator') AS operator_seq FROM tenants WHERE seq = ? AND deleted_at IS NULL`)
    .bind(seq)
    .first<{ id: string; operator_seq: number }>();
  return row ? { tenantId: row.id, operatorSeq: row.operator_seq } : undefined;
}
