/**
 * @module `failing_since` and auto-disable for the v2 delivery consumer (DESIGN.md "Delivery
 * rules", auto-disable). After a tenant's `record`, per endpoint: a failed attempt (any
 * non-2xx, timeout, connection error, redirect — an outcome without an attempt, such as
 * `url_not_allowed`, is none) sets D1's `endpoints.failing_since` when it is null; a
 * successful attempt clears it. At a failed attempt where now − failing_since ≥
 * `AUTO_DISABLE_AFTER_S` the endpoint is disabled in D1 (conditional on it still being
 * active and still failing since then), `switchyard.endpoint.disabled` is emitted to
 * `_operator`, and the change is synced into the TenantLog, which fails the endpoint's
 * pending deliveries `endpoint_disabled`.
 *
 * D1 is not written on every batch: an in-isolate memo holds what was last read or written
 * for each endpoint, keyed by the endpoint's version (an API change — re-enabling clears
 * `failing_since` — bumps it; `failing_since` writes do not, so the send-settings cache is
 * not invalidated by them) and trusted for MEMO_TTL_MS, since other isolates write too: a
 * steady endpoint costs one D1 round trip per isolate per MEMO_TTL_MS at most. The memo
 * only ever spares a write; a disable is always decided on a fresh D1 read. It also keeps
 * the last success this isolate saw, so a `failing_since` that another isolate set before
 * that success (and nobody cleared yet) is replaced at the next failure, never taken as the
 * start of an outage.
 *
 * Every write here is conditional and idempotent. A failure is logged and leaves the memo
 * unknown, so the endpoint's next attempt does the write again; a disable whose emission or
 * sync was lost is completed by the next failed attempt (the row still reads disabled "for"
 * the same failing_since, and both steps are idempotent).
 */
import type { Deps } from "../core/deps";
import { OPERATOR_TENANT } from "../core/tenants";
import { ENDPOINT_DISABLED_TYPE } from "../core/event-types";
import { emitOperational } from "../core/operational";
import { syncEndpoint } from "../core/tenant-logs";
import { findEndpointById, type EndpointRow } from "../db/queries/endpoints";
import { writeWithRetries } from "../core/deps";

/** How long what this isolate last saw of an endpoint's `failing_since` spares it a D1 write. */
const MEMO_TTL_MS = 300_000;
/** Endpoints remembered per isolate; the oldest goes first. */
const MEMO_CAPACITY = 10_000;

/** One attempt the consumer made and the log recorded (or had recorded: a copy's attempt counts too). */
export interface AttemptSeen {
  endpointId: string;
  /** The endpoint version the claim reported. */
  version: number;
  /** A 2xx. */
  ok: boolean;
  /** When the attempt ended (epoch ms). */
  at: number;
}

interface Health {
  failingSince: number | null;
  version: number;
  checkedAt: number;
  /** The failing_since this isolate completed a disable for (emitted and synced). */
  disabledFor?: number;
}

const memo = new Map<string, Health>();
/** The end of the latest successful attempt this isolate saw per endpoint (whatever its version). */
const lastOks = new Map<string, number>();

function note(endpointId: string, health: Health): void {
  memo.delete(endpointId);
  memo.set(endpointId, health);
  if (memo.size > MEMO_CAPACITY) memo.delete(memo.keys().next().value!);
}

function noteOk(endpointId: string, at: number): void {
  const before = lastOks.get(endpointId);
  if (before !== undefined && before >= at) return;
  lastOks.delete(endpointId);
  lastOks.set(endpointId, at);
  if (lastOks.size > MEMO_CAPACITY) lastOks.delete(lastOks.keys().next().value!);
}

/** Seeds the memo from a send-settings load (a D1 read the consumer made anyway). */
export function noteEndpointLoaded(endpoint: Pick<EndpointRow, "id" | "failingSince" | "version">, at: number): void {
  const known = memo.get(endpoint.id);
  if (known && known.checkedAt >= at && known.version >= endpoint.version) return;
  note(endpoint.id, { failingSince: endpoint.failingSince, version: endpoint.version, checkedAt: at });
}

/** What this isolate remembers of the endpoint, when it may still stand for D1. */
function remembered(endpointId: string, version: number, now: number): Health | undefined {
  const known = memo.get(endpointId);
  return known && known.version === version && now - known.checkedAt < MEMO_TTL_MS ? known : undefined;
}

/**
 * Applies one tenant's recorded attempts to its endpoints' `failing_since`, disabling those
 * failing for too long. Never throws: see the module comment for why a lost write heals.
 */
export async function trackEndpointHealth(deps: Deps, tenant: { t: number; tenantId: string }, attempts: readonly AttemptSeen[]): Promise<void> {
  const byEndpoint = new Map<string, AttemptSeen[]>();
  for (const a of attempts) {
    const list = byEndpoint.get(a.endpointId);
    if (list) list.push(a);
    else byEndpoint.set(a.endpointId, [a]);
  }
  await Promise.all(
    [...byEndpoint].map(([endpointId, seen]) =>
      trackOne(deps, tenant, endpointId, seen).catch((err: unknown) => {
        memo.delete(endpointId);
        console.error(`failing_since / auto-disable for endpoint ${endpointId} failed; its next attempt tries again`, err);
      }),
    ),
  );
}

async function trackOne(deps: Deps, tenant: { t: number; tenantId: string }, endpointId: string, seen: AttemptSeen[]): Promise<void> {
  const now = Date.now();
  const version = Math.max(...seen.map((a) => a.version));
  let batchOk: number | null = null;
  for (const a of seen) if (a.ok && (batchOk === null || a.at > batchOk)) batchOk = a.at;
  // The last success this isolate knows of (this batch's or an earlier one's, from a
  // concurrent invocation too): only failures after it count.
  const earlierOk = lastOks.get(endpointId) ?? null;
  const lastOk = batchOk === null ? earlierOk : Math.max(batchOk, earlierOk ?? batchOk);
  if (batchOk !== null) noteOk(endpointId, batchOk);
  const failures = seen.filter((a) => !a.ok && (lastOk === null || a.at > lastOk)).sort((x, y) => x.at - y.at);
  const known = remembered(endpointId, version, now);

  if (failures.length === 0) {
    if (batchOk === null || known?.failingSince === null) return;
    // Cleared only if it began before this success: a later failure seen elsewhere stands.
    await writeAndRead(deps, endpointId, `UPDATE endpoints SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL AND failing_since <= ?2`, [endpointId, batchOk], now);
    return;
  }

  const firstFailure = failures[0]!.at;
  const lastFailure = failures.at(-1)!.at;
  const due = (since: number | null) => since !== null && lastFailure - since >= deps.config.autoDisableAfterS * 1000;
  // The memo spares the write only when it already says failing since after any success seen.
  let failingSince = known && known.failingSince !== null && (lastOk === null || known.failingSince > lastOk) ? known.failingSince : undefined;
  if (failingSince === undefined || due(failingSince)) {
    // Set when null, or when it predates a success seen since (the endpoint recovered, then
    // failed again). Also the fresh read a disable is decided on.
    const row = await writeAndRead(
      deps,
      endpointId,
      `UPDATE endpoints SET failing_since = ?2 WHERE id = ?1 AND (failing_since IS NULL OR failing_since < ?3)`,
      [endpointId, firstFailure, lastOk ?? -1],
      now,
    );
    if (row === null) return;
    if (row.status !== "active") {
      // Disabled for this same outage already (perhaps by this isolate, its emission or sync lost): complete it.
      if (row.status === "disabled" && row.failingSince !== null && due(row.failingSince)) await disable(deps, tenant, endpointId, row.failingSince);
      return;
    }
    failingSince = row.failingSince ?? undefined;
  }
  if (failingSince !== undefined && due(failingSince)) await disable(deps, tenant, endpointId, failingSince);
}

interface HealthRow {
  failingSince: number | null;
  version: number;
  status: EndpointRow["status"];
}

/** One conditional write and a read of the result, in one D1 batch; the memo keeps the read. Null when the endpoint is gone. */
async function writeAndRead(deps: Deps, endpointId: string, write: string, params: unknown[], now: number): Promise<HealthRow | null> {
  const d1 = deps.db.$client;
  const [, read] = await d1.batch([
    d1.prepare(write).bind(...params),
    d1.prepare(`SELECT failing_since, version, status FROM endpoints WHERE id = ? AND deleted_at IS NULL`).bind(endpointId),
  ]);
  const raw = (read?.results as { failing_since: number | null; version: number; status: EndpointRow["status"] }[] | undefined)?.[0];
  if (!raw) {
    memo.delete(endpointId);
    return null;
  }
  const row = { failingSince: raw.failing_since, version: raw.version, status: raw.status };
  const before = memo.get(endpointId);
  note(endpointId, { failingSince: row.failingSince, version: row.version, checkedAt: now, ...(before?.version === row.version && before.disabledFor !== undefined ? { disabledFor: before.disabledFor } : {}) });
  return row;
}

const reasonFor = (failingSince: number) => `failing since ${new Date(failingSince).toISOString()}`;

/**
 * Disables the endpoint for having failed since `failingSince`: D1 first (conditional, so
 * another isolate, a pause or a recovery wins), then the operational event, then the sync
 * into the TenantLog. Run again for the same failing_since, it redoes only the idempotent
 * steps, so an emission or sync lost last time is completed.
 */
async function disable(deps: Deps, tenant: { t: number; tenantId: string }, endpointId: string, failingSince: number): Promise<void> {
  if (memo.get(endpointId)?.disabledFor === failingSince) return;
  const reason = reasonFor(failingSince);
  const now = Date.now();
  await deps.db.$client
    .prepare(
      `UPDATE endpoints SET status = 'disabled', disabled_reason = ?2, updated_at = ?3, version = version + 1
       WHERE id = ?1 AND status = 'active' AND deleted_at IS NULL AND failing_since = ?4`,
    )
    .bind(endpointId, reason, now, failingSince)
    .run();
  const row = await findEndpointById(deps.db, endpointId);
  if (!row || row.deletedAt !== null || row.status !== "disabled" || row.disabledReason !== reason || row.failingSince !== failingSince) {
    // Someone else changed it first (paused, re-enabled, deleted, or disabled for another reason).
    if (row && row.deletedAt === null) note(endpointId, { failingSince: row.failingSince, version: row.version, checkedAt: now });
    else memo.delete(endpointId);
    return;
  }
  await writeWithRetries(async () => {
    // `_operator`'s own endpoints are disabled like any other but report nothing: their
    // report would go to `_operator`'s endpoints (DESIGN.md "Operational events": no loops).
    if (tenant.tenantId !== OPERATOR_TENANT) {
      const data = { tenant_id: tenant.tenantId, endpoint_id: row.id, url: row.url, disabled_reason: reason, failing_since: new Date(failingSince).toISOString() };
      await emitOperational({ ...deps, now: Date.now() }, [{ type: ENDPOINT_DISABLED_TYPE, id: `evt_disabled_${row.id}_${failingSince}`, dataJson: JSON.stringify(data), occurredAt: now }]);
    }
    // Fails the endpoint's pending deliveries `endpoint_disabled` (the TenantLog's alarm continues a long backlog).
    await syncEndpoint(deps, tenant.t, row);
  });
  note(endpointId, { failingSince, version: row.version, checkedAt: Date.now(), disabledFor: failingSince });
}
