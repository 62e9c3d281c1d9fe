/**
 * @module Retention, run by the Cron Trigger in bounded batches (D1 limits a statement
 * to 30 s, so each pass deletes at most PURGE_BATCH rows per table and the next run
 * continues).
 *
 * - pending deliveries older than RETENTION_DAYS fail with `expired` and keep a dead letter;
 * - events older than RETENTION_DAYS that no pending delivery or dead letter refers to
 *   are deleted with their deliveries and attempts;
 * - dead letters older than DEAD_LETTER_DAYS are deleted;
 * - deleted endpoints and tenants have their rows purged;
 * - ended portal sessions and links that expired unused are deleted.
 */
import type { Config } from "../config";
import { openDb } from "../db/client";
import type { Db } from "../db/client";
import { purgeExpiredPortalSessions } from "../db/queries/portal-sessions";
import * as q from "../db/queries/retention";
import { enqueueFanouts } from "../pipeline/messages";
import { deliveryFailedStatement, emitsDeliveryFailed, insertedEventSeqs } from "../pipeline/operational";

export const PURGE_BATCH = 500;
const DAY_MS = 86_400_000;

export interface RetentionReport {
  expired: number;
  events: number;
  deadLetters: number;
  endpoints: number;
  tenants: number;
  portalSessions: number;
}

export async function runRetention(env: Env, config: Config, now: number): Promise<RetentionReport> {
  const db = openDb(env.DB);
  const cutoff = now - config.retentionDays * DAY_MS;
  const expired = await q.expireOldPending(db, cutoff, now, PURGE_BATCH);
  await reportExpired(env, db, expired, now);
  return {
    expired: expired.length,
    events: await q.purgeOldEvents(db, cutoff, PURGE_BATCH),
    deadLetters: await q.purgeOldDeadLetters(db, now - config.deadLetterDays * DAY_MS, PURGE_BATCH),
    endpoints: await q.purgeDeletedEndpoints(db, PURGE_BATCH),
    tenants: await q.purgeDeletedTenants(db, PURGE_BATCH),
    portalSessions: await purgeExpiredPortalSessions(db, now, PURGE_BATCH),
  };
}

/** An expired delivery failed like any other: `switchyard.delivery.failed` goes to `_operator`. */
async function reportExpired(env: Env, db: Db, expired: q.ExpiredDelivery[], now: number): Promise<void> {
  const stmts = expired
    .filter((d) => emitsDeliveryFailed({ tenantId: d.tenant_id, test: d.test === 1, reason: "expired" }))
    .map((d) =>
      deliveryFailedStatement(
        db,
        {
          tenant_id: d.tenant_id,
          endpoint_id: d.endpoint_id,
          deliverySeq: d.seq,
          event_id: d.event_id,
          event_type: d.event_type,
          reason: "expired",
          attempts: d.attempts,
          last_response_status: d.response_status,
        },
        d.generation,
        now,
      ),
    );
  if (!stmts.length) return;
  const seqs = insertedEventSeqs(await db.$client.batch(stmts));
  if (seqs.length) await enqueueFanouts(env.FANOUT_QUEUE, seqs);
}
