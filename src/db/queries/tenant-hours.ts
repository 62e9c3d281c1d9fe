/**
 * @module Each tenant's hourly delivery figures in D1 (`tenant_hours`), written by its
 * TenantLog's outbox and read by the operator console's cross-tenant views, which never
 * open every tenant's object per page view (DESIGN.md "Operator console").
 */
import type { Db } from "../client";

/** One tenant-hour's totals: the sum of the tenant's endpoint rollups for that hour. */
export interface TenantHour {
  tenantSeq: number;
  /** floor(created_at / 3 600 000) of the deliveries counted. */
  hour: number;
  created: number;
  delivered: number;
  failed: number;
  /** Attempt durations: counts per bucket of domain/latency-histogram. */
  latency: number[];
}

/**
 * Stores one outbox flush of a tenant's hour totals in ONE statement (the rows travel as one
 * JSON parameter). Each row holds the hour's whole totals as of `writtenAt`, never a delta,
 * so a flush repeated after a crash changes nothing, and an older flush never overwrites a
 * newer one. A deleted tenant's rows are not stored.
 */
export async function writeTenantHours(db: Db, tenantSeq: number, rows: Omit<TenantHour, "tenantSeq">[], writtenAt: number): Promise<void> {
  if (rows.length === 0) return;
  await db.$client
    .prepare(
      `INSERT INTO tenant_hours (tenant_seq, hour, created, delivered, failed, latency, updated_at)
       SELECT t.seq, json_extract(j.value, '$.hour'), json_extract(j.value, '$.created'), json_extract(j.value, '$.delivered'),
              json_extract(j.value, '$.failed'), json_extract(j.value, '$.latency'), ?3
       FROM json_each(?1) j JOIN tenants t ON t.seq = ?2 AND t.deleted_at IS NULL
       WHERE true
       ON CONFLICT (tenant_seq, hour) DO UPDATE SET created = excluded.created, delivered = excluded.delivered, failed = excluded.failed,
         latency = excluded.latency, updated_at = excluded.updated_at
       WHERE excluded.updated_at >= tenant_hours.updated_at`,
    )
    .bind(JSON.stringify(rows), tenantSeq, writtenAt)
    .run();
}

/** Hour rows from `sinceHour` on, of one tenant or of all, oldest first. */
export async function readTenantHours(db: Db, q: { sinceHour: number; tenantSeq?: number }): Promise<TenantHour[]> {
  const where = q.tenantSeq === undefined ? `hour >= ?1` : `hour >= ?1 AND tenant_seq = ?2`;
  const stmt = db.$client.prepare(
    `SELECT tenant_seq AS tenantSeq, hour, created, delivered, failed, latency FROM tenant_hours WHERE ${where} ORDER BY hour, tenant_seq`,
  );
  const bound = q.tenantSeq === undefined ? stmt.bind(q.sinceHour) : stmt.bind(q.sinceHour, q.tenantSeq);
  const { results } = await bound.all<Omit<TenantHour, "latency"> & { latency: string }>();
  return results.map((r) => ({ ...r, latency: JSON.parse(r.latency) as number[] }));
}

/** Each tenant's totals from `sinceHour` on, by tenant seq (tenants with no row are absent). */
export async function tenantTotals(db: Db, sinceHour: number): Promise<Map<number, { created: number; delivered: number; failed: number }>> {
  const { results } = await db.$client
    .prepare(
      `SELECT tenant_seq AS tenantSeq, SUM(created) AS created, SUM(delivered) AS delivered, SUM(failed) AS failed
       FROM tenant_hours WHERE hour >= ? GROUP BY tenant_seq`,
    )
    .bind(sinceHour)
    .all<{ tenantSeq: number; created: number; delivered: number; failed: number }>();
  return new Map(results.map((r) => [r.tenantSeq, { created: r.created, delivered: r.delivered, failed: r.failed }]));
}

/** Deletes up to `limit` hour rows older than `beforeHour`; returns how many. */
export async function purgeOldTenantHours(db: Db, beforeHour: number, limit: number): Promise<number> {
  const r = await db.$client
    .prepare(`DELETE FROM tenant_hours WHERE (tenant_seq, hour) IN (SELECT tenant_seq, hour FROM tenant_hours WHERE hour < ? LIMIT ?)`)
    .bind(beforeHour, limit)
    .run();
  return r.meta.changes;
}
