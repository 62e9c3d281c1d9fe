/**
 * @module Endpoint and endpoint secret rows.
 */
import { and, desc, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../client";
import { ENDPOINT_ATTENTION, endpoints, endpointSecrets } from "../schema";

export type EndpointRow = typeof endpoints.$inferSelect;
export type EndpointSecretRow = typeof endpointSecrets.$inferSelect;

/** A live endpoint of the tenant. */
export async function findEndpoint(db: Db, tenantId: string, endpointId: string): Promise<EndpointRow | undefined> {
  return db
    .select()
    .from(endpoints)
    .where(and(eq(endpoints.tenantId, tenantId), eq(endpoints.id, endpointId), isNull(endpoints.deletedAt)))
    .get();
}

/** The endpoint row whatever its tenant or state (consumers start from a delivery that names it). */
export async function findEndpointById(db: Db, endpointId: string): Promise<EndpointRow | undefined> {
  return db.select().from(endpoints).where(eq(endpoints.id, endpointId)).get();
}

export async function listEndpoints(
  db: Db,
  tenantId: string,
  options: { status?: EndpointRow["status"]; beforeId?: string; limit: number },
): Promise<EndpointRow[]> {
  return db
    .select()
    .from(endpoints)
    .where(
      and(
        eq(endpoints.tenantId, tenantId),
        isNull(endpoints.deletedAt),
        options.status === undefined ? undefined : eq(endpoints.status, options.status),
        options.beforeId === undefined ? undefined : lt(endpoints.id, options.beforeId),
      ),
    )
    .orderBy(desc(endpoints.id))
    .limit(options.limit + 1)
    .all();
}

/** Every live endpoint of the tenant, for fan-out. */
export async function allLiveEndpoints(db: Db, tenantId: string): Promise<EndpointRow[]> {
  return db.select().from(endpoints).where(and(eq(endpoints.tenantId, tenantId), isNull(endpoints.deletedAt))).all();
}

export async function insertEndpointWithSecret(db: Db, row: EndpointRow, secretBox: string): Promise<void> {
  await db.batch([
    db.insert(endpoints).values(row),
    db.insert(endpointSecrets).values({ endpointId: row.id, secretBox, createdAt: row.createdAt, expiresAt: null }),
  ]);
}

export async function updateEndpoint(db: Db, tenantId: string, endpointId: string, patch: Partial<EndpointRow>): Promise<EndpointRow | undefined> {
  return db
    .update(endpoints)
    .set({ ...patch, version: sql`${endpoints.version} + 1` })
    .where(and(eq(endpoints.tenantId, tenantId), eq(endpoints.id, endpointId), isNull(endpoints.deletedAt)))
    .returning()
    .get();
}

/** The current secret first, then those still in their grace period, newest first. */
export async function validSecrets(db: Db, endpointId: string, now: number): Promise<EndpointSecretRow[]> {
  return db
    .select()
    .from(endpointSecrets)
    .where(and(eq(endpointSecrets.endpointId, endpointId), or(isNull(endpointSecrets.expiresAt), gt(endpointSecrets.expiresAt, now))))
    .orderBy(desc(endpointSecrets.seq))
    .all();
}

/** Ends the current secret's life at `expiresAt` and makes `secretBox` current, in one transaction. */
export async function rotateSecret(db: Db, endpointId: string, secretBox: string, now: number, expiresAt: number): Promise<void> {
  await db.batch([
    db
      .update(endpointSecrets)
      .set({ expiresAt })
      .where(and(eq(endpointSecrets.endpointId, endpointId), or(isNull(endpointSecrets.expiresAt), gt(endpointSecrets.expiresAt, expiresAt)))),
    db.insert(endpointSecrets).values({ endpointId, secretBox, createdAt: now, expiresAt: null }),
    // How it signs changed: cached send settings of the old version are not used again.
    db.update(endpoints).set({ version: sql`${endpoints.version} + 1` }).where(eq(endpoints.id, endpointId)),
  ]);
}

/** Cancels the pending deliveries of a deleted endpoint: parked, never sent, no dead letter. */
export async function cancelPendingDeliveries(db: Db, endpointId: string): Promise<void> {
  await db.$client.prepare(`UPDATE deliveries SET next_attempt_at = NULL WHERE endpoint_id = ? AND status = 'pending'`).bind(endpointId).run();
}

/** What makes an endpoint need an operator's attention (the operator console). */
export type AttentionState = "failing" | "circuit" | "disabled";

const ATTENTION: Record<AttentionState, ReturnType<typeof sql>> = {
  failing: sql`(${endpoints.failingSince} IS NOT NULL AND ${endpoints.status} <> 'disabled')`,
  circuit: sql`(${endpoints.circuitState} = 'open' AND ${endpoints.status} <> 'disabled')`,
  disabled: sql`${endpoints.status} = 'disabled'`,
};

/** The partial index's own condition, repeated verbatim so SQLite reads only its rows. */
const IN_ATTENTION_INDEX = sql.raw(`deleted_at IS NULL AND ${ENDPOINT_ATTENTION}`);

/**
 * Live endpoints of every tenant that are failing, behind an open circuit, or disabled,
 * newest first (`id` descending; `beforeId` continues). Reads the partial index
 * `endpoints_attention` (only those endpoints), never every endpoint row.
 */
export async function listEndpointsNeedingAttention(
  db: Db,
  f: { state?: AttentionState; tenantId?: string; beforeId?: string; limit: number },
): Promise<EndpointRow[]> {
  return attentionQueries(db, f).list.all();
}

/** The two statements of the console's attention views, unrun (a test reads their query plans). */
export function attentionQueries(db: Db, f: { state?: AttentionState; tenantId?: string; beforeId?: string; limit: number }) {
  return {
    list: db
      .select()
      .from(endpoints)
      .where(
        and(
          IN_ATTENTION_INDEX,
          f.state ? ATTENTION[f.state] : undefined,
          f.tenantId === undefined ? undefined : eq(endpoints.tenantId, f.tenantId),
          f.beforeId === undefined ? undefined : lt(endpoints.id, f.beforeId),
        ),
      )
      .orderBy(desc(endpoints.id))
      .limit(f.limit + 1),
    counts: db
      .select({
        failing: sql<number>`COALESCE(SUM(${ATTENTION.failing}), 0)`,
        circuit: sql<number>`COALESCE(SUM(${ATTENTION.circuit}), 0)`,
        disabled: sql<number>`COALESCE(SUM(${ATTENTION.disabled}), 0)`,
      })
      .from(endpoints)
      .where(IN_ATTENTION_INDEX),
  };
}

/** How many live endpoints are in each attention state (one endpoint may count in two). */
export async function countEndpointsNeedingAttention(db: Db): Promise<Record<AttentionState, number>> {
  const row = await attentionQueries(db, { limit: 0 }).counts.get();
  return { failing: Number(row?.failing ?? 0), circuit: Number(row?.circuit ?? 0), disabled: Number(row?.disabled ?? 0) };
}
