/**
 * @module Retention and purge statements, each bounded by `limit`.
 */
import type { Db } from "../client";

export async function purgeOldDeadLetters(db: Db, cutoff: number, limit: number): Promise<number> {
  const r = await db.$client
    .prepare(`DELETE FROM dead_letters WHERE seq IN (SELECT seq FROM dead_letters WHERE created_at < ? LIMIT ?)`)
    .bind(cutoff, limit)
    .run();
  return r.meta.changes;
}

/** Purges a batch of one deleted endpoint's dead letters; removes the endpoint row once none is left (its log rows expire with their days). */
export async function purgeDeletedEndpoints(db: Db, limit: number): Promise<number> {
  const d1 = db.$client;
  const endpoint = await d1.prepare(`SELECT id FROM endpoints WHERE deleted_at IS NOT NULL LIMIT 1`).first<{ id: string }>();
  if (!endpoint) return 0;
  const deadLetters = await d1.prepare(`DELETE FROM dead_letters WHERE seq IN (SELECT seq FROM dead_letters WHERE endpoint_id = ? LIMIT ?)`).bind(endpoint.id, limit).run();
  const removed = deadLetters.meta.changes;
  if (removed === 0) {
    await d1.batch([
      d1.prepare(`DELETE FROM endpoint_secrets WHERE endpoint_id = ?`).bind(endpoint.id),
      d1.prepare(`DELETE FROM endpoints WHERE id = ?`).bind(endpoint.id),
    ]);
  }
  return removed;
}

/** Deletes a batch of one deleted tenant's rows; removes the tenant once nothing is left. */
export async function purgeDeletedTenants(db: Db, limit: number): Promise<number> {
  const d1 = db.$client;
  const tenant = await d1.prepare(`SELECT id FROM tenants WHERE deleted_at IS NOT NULL LIMIT 1`).first<{ id: string }>();
  if (!tenant) return 0;
  const results = await d1.batch([
    d1.prepare(`UPDATE endpoints SET deleted_at = COALESCE(deleted_at, ?2) WHERE tenant_id = ?1 AND deleted_at IS NULL`).bind(tenant.id, Date.now()),
    d1.prepare(`DELETE FROM dead_letters WHERE seq IN (SELECT seq FROM dead_letters WHERE tenant_id = ? LIMIT ?)`).bind(tenant.id, limit),
    d1.prepare(`DELETE FROM api_keys WHERE tenant_id = ?`).bind(tenant.id),
    d1.prepare(`DELETE FROM tenant_hours WHERE tenant_seq = (SELECT seq FROM tenants WHERE id = ?)`).bind(tenant.id),
  ]);
  const endpointsLeft = await d1.prepare(`SELECT 1 AS x FROM endpoints WHERE tenant_id = ? LIMIT 1`).bind(tenant.id).first();
  if (endpointsLeft) await purgeDeletedEndpoints(db, limit);
  const removed = results.reduce((n, r) => n + r.meta.changes, 0);
  if (!endpointsLeft && removed === 0) await d1.prepare(`DELETE FROM tenants WHERE id = ?`).bind(tenant.id).run();
  return removed;
}
