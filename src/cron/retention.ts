/**
 * @module Retention, run by the Cron Trigger in bounded batches (D1 limits a statement
 * to 30 s, so each pass deletes at most PURGE_BATCH rows per table and the next run
 * continues).
 *
 * - pending deliveries older than RETENTION_DAYS fail with `expired` and keep a dead letter;
 * - events older than RETENTION_DAYS that no pending delivery or dead letter refers to
 *   are deleted with their deliveries and attempts;
 * - dead letters older than DEAD_LETTER_DAYS are deleted;
 * - deleted endpoints and tenants have their rows purged.
 */
import type { Config } from "../config";
import { openDb } from "../db/client";
import * as q from "../db/queries/retention";

export const PURGE_BATCH = 500;
const DAY_MS = 86_400_000;

export interface RetentionReport {
  expired: number;
  events: number;
  deadLetters: number;
  endpoints: number;
  tenants: number;
}

export async function runRetention(env: Env, config: Config, now: number): Promise<RetentionReport> {
  const db = openDb(env.DB);
  const cutoff = now - config.retentionDays * DAY_MS;
  return {
    expired: await q.expireOldPending(db, cutoff, now, PURGE_BATCH),
    events: await q.purgeOldEvents(db, cutoff, PURGE_BATCH),
    deadLetters: await q.purgeOldDeadLetters(db, now - config.deadLetterDays * DAY_MS, PURGE_BATCH),
    endpoints: await q.purgeDeletedEndpoints(db, PURGE_BATCH),
    tenants: await q.purgeDeletedTenants(db, PURGE_BATCH),
  };
}
