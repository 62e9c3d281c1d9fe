/**
 * @module Cross-tenant reads for the operator console (DESIGN.md "Operator console"): tenants
 * with their delivery figures, endpoints needing attention, charts, and finding anything by
 * its id. Every list reads D1 only (tenants, endpoints, `tenant_hours`); only finding one
 * delivery or event opens the one TenantLog its id names.
 */
import type { Deps } from "./deps";
import { AppError } from "../errors";
import { countDeadLetters, findDeadLetter, type DeadLetterRow } from "../db/queries/dead-letters";
import {
  countEndpointsNeedingAttention,
  findEndpointById,
  listEndpointsNeedingAttention,
  type AttentionState,
  type EndpointRow,
} from "../db/queries/endpoints";
import { readTenantHours, tenantTotals } from "../db/queries/tenant-hours";
import { findTenant, listTenants, tenantIdentity, type TenantRow } from "../db/queries/tenants";
import { hourlySeries, rangeHours, type ChartRange, type HourlySeries } from "../domain/hourly-series";
import { parseLogDeliveryId, parseLogEventId, parseSeqId } from "../domain/ids";
import { getDelivery, type DeliveryDetail } from "./deliveries";
import { getEvent } from "./events";

/** Deliveries created in a window and how they ended so far. */
export interface Totals {
  created: number;
  delivered: number;
  failed: number;
}

const NO_DELIVERIES: Totals = { created: 0, delivered: 0, failed: 0 };

/** Delivered out of those that ended (delivered or failed); null when none ended. */
export function successRateOf(t: Totals): number | null {
  const ended = t.delivered + t.failed;
  return ended === 0 ? null : t.delivered / ended;
}

/**
 * A page of live tenants, newest first, each with its last 24 hours (the chart's 24 h
 * window), and the sum over every tenant.
 */
export async function tenantsWithFigures(deps: Deps, page: { limit: number; beforeSeq?: number }) {
  const { fromHour } = rangeHours("24h", deps.now);
  const [rows, totals] = await Promise.all([listTenants(deps.db, page.limit, page.beforeSeq), tenantTotals(deps.db, fromHour)]);
  const shown = rows.slice(0, page.limit);
  const all = { ...NO_DELIVERIES };
  for (const t of totals.values()) (all.created += t.created), (all.delivered += t.delivered), (all.failed += t.failed);
  return {
    tenants: shown.map((tenant) => ({ tenant, last24h: totals.get(tenant.seq) ?? NO_DELIVERIES })),
    nextBeforeSeq: rows.length > page.limit ? shown[shown.length - 1]!.seq : null,
    all24h: all,
  };
}

/** One tenant's last 24 hours. */
export async function tenantFigures(deps: Deps, tenantSeq: number): Promise<Totals> {
  const { fromHour } = rangeHours("24h", deps.now);
  const rows = await readTenantHours(deps.db, { sinceHour: fromHour, tenantSeq });
  return rows.reduce((a, r) => ({ created: a.created + r.created, delivered: a.delivered + r.delivered, failed: a.failed + r.failed }), NO_DELIVERIES);
}

/** How many dead letters a tenant has (through the tenant index). */
export async function deadLetterCount(deps: Deps, tenantId: string): Promise<number> {
  return countDeadLetters(deps.db, { tenantId });
}

/** The chart series of a range, across tenants or of one. */
export async function chartSeries(deps: Deps, range: ChartRange, tenantSeq?: number): Promise<HourlySeries> {
  const { fromHour, toHour, bucketHours } = rangeHours(range, deps.now);
  const rows = await readTenantHours(deps.db, { sinceHour: fromHour, ...(tenantSeq === undefined ? {} : { tenantSeq }) });
  return hourlySeries(rows, fromHour, toHour, bucketHours);
}

/** A page of endpoints needing attention, newest first, and how many there are of each kind. */
export async function endpointsNeedingAttention(deps: Deps, f: { state?: AttentionState; tenantId?: string; beforeId?: string; limit: number }) {
  const [rows, counts] = await Promise.all([listEndpointsNeedingAttention(deps.db, f), countEndpointsNeedingAttention(deps.db)]);
  const shown = rows.slice(0, f.limit);
  return { endpoints: shown, nextBeforeId: rows.length > f.limit ? shown[shown.length - 1]!.id : null, counts };
}

/** How many endpoints are failing, behind an open circuit, or disabled. */
export async function attentionCounts(deps: Deps): Promise<Record<AttentionState, number>> {
  return countEndpointsNeedingAttention(deps.db);
}

/** What an id (or a tenant's own event id) names. */
export type Found =
  | { kind: "delivery"; tenantId: string; detail: DeliveryDetail }
  | ({ kind: "event"; tenantId: string } & Awaited<ReturnType<typeof getEvent>>)
  | { kind: "dead-letter"; deadLetter: DeadLetterRow }
  | { kind: "endpoint"; endpoint: EndpointRow }
  | { kind: "tenant"; tenant: TenantRow }
  | { kind: "none" };

/** A 404 becomes "nothing found"; anything else is real trouble. */
async function orNone<T>(find: () => Promise<T>): Promise<T | null> {
  try {
    return await find();
  } catch (err) {
    if (err instanceof AppError && err.status === 404) return null;
    throw err;
  }
}

/**
 * Finds what an id names: a `dlv_` delivery or generated `evt_` event (their ids name the
 * tenant, so one TenantLog is read), a `dl_` dead letter, an `ep_` endpoint, or a tenant.
 * A host-supplied event id names no tenant: `tenantId` says where to look for it.
 */
export async function findById(deps: Deps, text: string, tenantId?: string): Promise<Found> {
  const id = text.trim();
  if (!id) return { kind: "none" };
  const delivery = parseLogDeliveryId(id);
  const event = parseLogEventId(id);
  const key = delivery ?? event;
  if (key) {
    const owner = await tenantIdentity(deps.db, key.tenantSeq);
    if (!owner) return { kind: "none" };
    if (delivery) {
      const detail = await orNone(() => getDelivery(deps, owner.tenantId, id));
      return detail ? { kind: "delivery", tenantId: owner.tenantId, detail } : { kind: "none" };
    }
    const found = await orNone(() => getEvent(deps, owner.tenantId, id));
    return found ? { kind: "event", tenantId: owner.tenantId, ...found } : { kind: "none" };
  }
  const dlSeq = parseSeqId("dl", id);
  if (dlSeq !== null) {
    const deadLetter = await findDeadLetter(deps.db, dlSeq);
    return deadLetter ? { kind: "dead-letter", deadLetter } : { kind: "none" };
  }
  if (id.startsWith("ep_")) {
    const endpoint = await findEndpointById(deps.db, id);
    if (endpoint && endpoint.deletedAt === null) return { kind: "endpoint", endpoint };
  }
  const tenant = await findTenant(deps.db, id);
  if (tenant) return { kind: "tenant", tenant };
  if (tenantId) {
    const found = await orNone(() => getEvent(deps, tenantId, id));
    if (found) return { kind: "event", tenantId, ...found };
  }
  return { kind: "none" };
}
