/**
 * @module Delivery verbs: the log, one delivery, manual retry and replay, all read from and
 * written to the tenant's TenantLog (data plane v2, docs/data-plane-v2.md).
 */
import type { Deps } from "./deps";
import type { AttemptRecord, DeliveryEvent } from "../domain/attempt";
import { deleteLogDeadLetters } from "../db/queries/dead-letters";
import type { EndpointRow } from "../db/queries/endpoints";
import { findEndpointById } from "../db/queries/endpoints";
import { logDeliveryId, parseLogDeliveryId } from "../domain/ids";
import { AppError, conflict, notFound } from "../errors";
import type { DeliveryJob, DeliveryQuery, LoggedDelivery } from "../tenant-log/types";
import { getEndpoint } from "./endpoints";
import { sendJobs } from "./jobs";
import { syncEndpoint } from "./tenant-logs";
import { getTenant } from "./tenants";

/** A delivery as the API and the portal show it. */
export interface DeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  endpointId: string;
  status: LoggedDelivery["status"];
  reason: LoggedDelivery["reason"];
  attempts: number;
  test: boolean;
  createdAt: number;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  responseStatus: number | null;
}

export function deliveryView(tenantSeq: number, d: LoggedDelivery): DeliveryView {
  return {
    id: logDeliveryId({ createdAt: d.createdAt, tenantSeq, eventSeq: d.e, ordinal: d.ordinal }),
    eventId: d.eventId,
    eventType: d.eventType,
    endpointId: d.endpointId,
    status: d.status,
    reason: d.reason,
    attempts: d.attempts,
    test: d.test,
    createdAt: d.createdAt,
    lastAttemptAt: d.lastAttemptAt,
    // An untried delivery is due from its creation; the log says so only for written rows.
    nextAttemptAt: d.status === "pending" ? d.nextAttemptAt : null,
    responseStatus: d.responseStatus,
  };
}

/** The endpoint's deliveries, newest event first; `next` continues the list (a page may be short). */
export async function listDeliveries(deps: Deps, tenantId: string, endpointId: string, q: Omit<DeliveryQuery, "before"> & { before?: number }) {
  const tenant = await getTenant(deps, tenantId);
  const endpoint = await getEndpoint(deps, tenantId, endpointId);
  const { log, ordinal } = await syncEndpoint(deps, tenant.seq, endpoint);
  const page = await log.listDeliveries(ordinal, q);
  return { items: page.items.map((d) => deliveryView(tenant.seq, d)), next: page.next };
}

export interface DeliveryDetail {
  delivery: DeliveryView;
  event: DeliveryEvent;
  endpoint: EndpointRow;
  attempts: AttemptRecord[];
}

/** One delivery of the tenant by its id (which names the tenant's log, the event and the endpoint), or a 404. */
export async function getDelivery(deps: Deps, tenantId: string, deliveryId: string): Promise<DeliveryDetail> {
  const tenant = await getTenant(deps, tenantId);
  const key = parseLogDeliveryId(deliveryId);
  if (!key || key.tenantSeq !== tenant.seq) throw notFound(`Delivery ${deliveryId}`);
  const found = await locate(deps, tenant.seq, key.ordinal, key.eventSeq);
  if (!found) throw notFound(`Delivery ${deliveryId}`);
  const { endpoint, d } = found;
  if (deliveryView(tenant.seq, d).id !== deliveryId) throw notFound(`Delivery ${deliveryId}`);
  return {
    delivery: deliveryView(tenant.seq, d),
    event: { seq: d.e, id: d.eventId, type: d.eventType, data: d.dataJson, occurredAt: d.occurredAt, createdAt: d.createdAt },
    endpoint,
    attempts: d.attemptList,
  };
}

async function locate(deps: Deps, tenantSeq: number, ordinal: number, e: number) {
  const log = deps.env.TENANT_LOG.getByName(String(tenantSeq));
  const d = await log.getDelivery(ordinal, e);
  if (!d) return undefined;
  const endpoint = await findEndpointById(deps.db, d.endpointId);
  if (!endpoint || endpoint.deletedAt !== null) return undefined;
  return { endpoint, d };
}

/**
 * Retry now with a fresh schedule (the attempt count continues): a failed delivery becomes
 * pending, a pending one has its wait cut short, a delivered one is sent once more. Its
 * dead letter, if any, is removed. An expired delivery kept for its dead letter is revived;
 * one that is gone answers 410.
 */
export async function retryDelivery(deps: Deps, tenantId: string, deliveryId: string): Promise<void> {
  const tenant = await getTenant(deps, tenantId);
  const key = parseLogDeliveryId(deliveryId);
  const found = key && key.tenantSeq === tenant.seq ? await locate(deps, tenant.seq, key.ordinal, key.eventSeq) : undefined;
  if (!key || !found) throw notFound(`Delivery ${deliveryId}`);
  if (found.d.test) throw conflict("Test sends are never retried; send a new test instead.");
  await retryByKey(deps, tenant.seq, found.endpoint, key.ordinal, key.eventSeq, deliveryId);
}

/** Retries one delivery of an endpoint by its key in the log; shared by the API and dead-letter replay. */
export async function retryByKey(deps: Deps, tenantSeq: number, endpoint: EndpointRow, ordinal: number, e: number, label: string): Promise<void> {
  if (endpoint.status === "disabled") throw conflict("The endpoint is disabled; re-enable it (PATCH status active) first.");
  const { log } = await syncEndpoint(deps, tenantSeq, endpoint);
  const result = await log.retry(ordinal, e, deps.now);
  if (result.kind === "not_found") throw notFound(`Delivery ${label}`);
  if (result.kind === "disabled") throw conflict("The endpoint is disabled; re-enable it (PATCH status active) first.");
  if (result.kind === "gone") throw new AppError(410, "This delivery expired with its day of the log; it can no longer be replayed.");
  if (result.kind === "queued") await sendJobs(deps.env, tenantSeq, [result.job]);
  await deleteLogDeadLetters(deps.db, tenantSeq, ordinal, { first: e, last: e });
}

/** Counts what matches and starts a replay, in event order; the TenantLog's alarm continues it in bounded chunks. */
export async function replayEndpoint(
  deps: Deps,
  tenantId: string,
  endpointId: string,
  input: { since: number; until?: number; status: "failed" | "delivered" },
): Promise<number> {
  const tenant = await getTenant(deps, tenantId);
  const endpoint = await getEndpoint(deps, tenantId, endpointId);
  if (endpoint.status === "disabled") throw conflict("The endpoint is disabled; re-enable it (PATCH status active) first.");
  const { log, ordinal } = await syncEndpoint(deps, tenant.seq, endpoint);
  const { count, jobs, seqs } = await log.replay(ordinal, { since: input.since, until: input.until ?? deps.now + 1, status: input.status }, deps.now);
  await sendJobs(deps.env, tenant.seq, jobs);
  // Every failed delivery in the window is being retried: their dead letters go.
  if (input.status === "failed" && seqs) await deleteLogDeadLetters(deps.db, tenant.seq, ordinal, seqs);
  return count;
}

export type { DeliveryJob };
