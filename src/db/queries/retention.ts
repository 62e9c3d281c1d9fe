/**
 * @module Retention and purge statements, each bounded by `limit`.
 */
import { deadLetterForDelivery } from "./deliveries";
import type { Db } from "../client";
import { EVENT_RANGE } from "./deliveries";

export interface ExpiredDelivery {
  seq: number;
  tenant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  attempts: number;
  response_status: number | null;
  generation: number;
  test: number;
}

/** Pending deliveries whose event is older than the cutoff fail with `expired` and get a dead letter. */
export async function expireOldPending(db: Db, cutoff: number, now: number, limit: number): Promise<ExpiredDelivery[]> {
  const d1 = db.$client;
  const expired = await d1
    .prepare(
      `UPDATE deliveries SET status = 'failed', reason = 'expired', next_attempt_at = NULL
       WHERE seq IN (SELECT seq FROM deliveries WHERE status = 'pending' AND created_at < ? LIMIT ?)
       RETURNING seq, tenant_id, endpoint_id, event_type, attempts, response_status, generation, test,
         (SELECT id FROM events WHERE seq = deliveries.event_seq) AS event_id`,
    )
    .bind(cutoff, limit)
    .all<ExpiredDelivery>();
  if (expired.results.length) {
    await d1.batch(expired.results.map((r) => deadLetterForDelivery(db, r.seq, null, now)));
  }
  return expired.results;
}

/** Old events no pending delivery or dead letter refers to, with their deliveries and attempts. */
export async function purgeOldEvents(db: Db, cutoff: number, limit: number): Promise<number> {
  const d1 = db.$client;
  // Events are in seq order, which is acceptance order: the oldest are at the start.
  const { results } = await d1
    .prepare(
      `SELECT seq FROM events e WHERE created_at < ?
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE ${EVENT_RANGE("d.seq", "e.seq")} AND +d.status = 'pending')
         AND NOT EXISTS (SELECT 1 FROM dead_letters x WHERE x.event_seq = e.seq)
       ORDER BY seq LIMIT ?`,
    )
    .bind(cutoff, limit)
    .all<{ seq: number }>();
  if (!results.length) return 0;
  const seqs = JSON.stringify(results.map((r) => r.seq));
  await d1.batch([
    // An event's deliveries are a key range (seq = event seq * 65536 + i).
    d1.prepare(`DELETE FROM attempts WHERE delivery_seq IN (SELECT d.seq FROM json_each(?) j JOIN deliveries d ON ${EVENT_RANGE("d.seq", "j.value")})`).bind(seqs),
    d1.prepare(`DELETE FROM deliveries WHERE seq IN (SELECT d.seq FROM json_each(?) j JOIN deliveries d ON ${EVENT_RANGE("d.seq", "j.value")})`).bind(seqs),
    d1.prepare(`DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))`).bind(seqs),
  ]);
  return results.length;
}

export async function purgeOldDeadLetters(db: Db, cutoff: number, limit: number): Promise<number> {
  const r = await db.$client
    .prepare(`DELETE FROM dead_letters WHERE seq IN (SELECT seq FROM dead_letters WHERE created_at < ? LIMIT ?)`)
    .bind(cutoff, limit)
    .run();
  return r.meta.changes;
}

/** Purges a batch of one deleted endpoint's log; removes the endpoint row once nothing is left. */
export async function purgeDeletedEndpoints(db: Db, limit: number): Promise<number> {
  const d1 = db.$client;
  const endpoint = await d1.prepare(`SELECT id FROM endpoints WHERE deleted_at IS NOT NULL LIMIT 1`).first<{ id: string }>();
  if (!endpoint) return 0;
  const [attempts, deliveries, deadLetters] = await d1.batch([
    d1.prepare(`DELETE FROM attempts WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE endpoint_id = ? LIMIT ?)`).bind(endpoint.id, limit),
    d1.prepare(`DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_id = ? LIMIT ?)`).bind(endpoint.id, limit),
    d1.prepare(`DELETE FROM dead_letters WHERE seq IN (SELECT seq FROM dead_letters WHERE endpoint_id = ? LIMIT ?)`).bind(endpoint.id, limit),
  ]);
  const removed = (attempts?.meta.changes ?? 0) + (deliveries?.meta.changes ?? 0) + (deadLetters?.meta.changes ?? 0);
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
  ]);
  const endpointsLeft = await d1.prepare(`SELECT 1 AS x FROM endpoints WHERE tenant_id = ? LIMIT 1`).bind(tenant.id).first();
  if (endpointsLeft) await purgeDeletedEndpoints(db, limit);
  const events = await d1.prepare(`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE tenant_id = ? LIMIT ?)`).bind(tenant.id, limit).run();
  const removed = results.reduce((n, r) => n + r.meta.changes, 0) + events.meta.changes;
  if (!endpointsLeft && events.meta.changes === 0) await d1.prepare(`DELETE FROM tenants WHERE id = ?`).bind(tenant.id).run();
  return removed;
}
