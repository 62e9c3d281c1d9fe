/**
 * @module D1 housekeeping, run by the Cron Trigger in bounded batches (D1 limits a
 * statement to 30 s, so each pass deletes at most PURGE_BATCH rows per table and the next
 * run continues). The log's own retention runs in each TenantLog's alarm (day buckets
 * dropped whole, docs/data-plane-v2.md); here only:
 *
 * - dead letters older than DEAD_LETTER_DAYS are deleted;
 * - deleted endpoints and tenants have their rows purged;
 * - ended portal sessions and links that expired unused are deleted;
 * - tenants' hourly figures older than TENANT_HOURS_DAYS are deleted (the console charts 7 days).
 */
import type { Config } from "../config";
import { openDb } from "../db/client";
import { purgeExpiredPortalSessions } from "../db/queries/portal-sessions";
import * as q from "../db/queries/retention";
import { purgeOldTenantHours } from "../db/queries/tenant-hours";

export const PURGE_BATCH = 500;
const DAY_MS = 86_400_000;
/** The console's longest chart is 7 days; one more keeps its first bucket whole. */
export const TENANT_HOURS_DAYS = 8;

export interface RetentionReport {
  deadLetters: number;
  endpoints: number;
  tenants: number;
  portalSessions: number;
  tenantHours: number;
}

export async function runRetention(env: Env, config: Config, now: number): Promise<RetentionReport> {
  const db = openDb(env.DB);
  return {
    deadLetters: await q.purgeOldDeadLetters(db, now - config.deadLetterDays * DAY_MS, PURGE_BATCH),
    endpoints: await q.purgeDeletedEndpoints(db, PURGE_BATCH),
    tenants: await q.purgeDeletedTenants(db, PURGE_BATCH),
    portalSessions: await purgeExpiredPortalSessions(db, now, PURGE_BATCH),
    tenantHours: await purgeOldTenantHours(db, Math.floor((now - TENANT_HOURS_DAYS * DAY_MS) / 3_600_000), PURGE_BATCH),
  };
}
