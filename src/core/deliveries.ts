/**
 * @module Delivery verbs: the log, manual retry and replay.
 */
import type { Deps } from "../api/context";
import { parseSeqId } from "../domain/ids";
import { conflict, notFound } from "../errors";
import * as log from "../db/queries/log";
import type { EndpointRow } from "../db/queries/endpoints";
import { findEndpointById } from "../db/queries/endpoints";
import { wakeEndpointDOs } from "../pipeline/endpoint-gate";
import { enqueueDeliveries, enqueueReplay, type ReplayMessage } from "../pipeline/messages";
import { getEndpoint } from "./endpoints";
import { getTenant } from "./tenants";

/** Deliveries restarted per chunk of a replay; the rest continue through the queue. */
export const REPLAY_CHUNK = 200;

export async function listDeliveries(deps: Deps, tenantId: string, endpointId: string, filter: log.DeliveryFilter) {
  await getEndpoint(deps, tenantId, endpointId);
  return log.listDeliveries(deps.db, tenantId, endpointId, filter);
}

export async function getDelivery(deps: Deps, tenantId: string, deliveryId: string) {
  await getTenant(deps, tenantId);
  const seq = parseSeqId("dlv", deliveryId);
  const found = seq === null ? undefined : await log.findDelivery(deps.db, tenantId, seq);
  if (!found) throw notFound(`Delivery ${deliveryId}`);
  const endpoint = await findEndpointById(deps.db, found.delivery.endpointId);
  if (!endpoint || endpoint.deletedAt !== null) throw notFound(`Delivery ${deliveryId}`);
  return { ...found, endpoint, attempts: await log.attemptsOf(deps.db, found.delivery.seq) };
}

/** Restarts deliveries of one endpoint and sends or wakes what can go now. */
export async function restart(deps: Deps, endpoint: EndpointRow, items: { seq: number; generation: number }[]): Promise<void> {
  const fifo = endpoint.ordering === "fifo";
  const ready = await log.restartDeliveries(deps.db, endpoint.tenantId, items, { fifo, paused: endpoint.status === "paused", now: deps.now });
  await enqueueDeliveries(deps.env.DELIVERY_QUEUE, ready);
  if (fifo && endpoint.status === "active") await wakeEndpointDOs(deps, [endpoint.id]);
}

/**
 * Retry now with a fresh schedule (the attempt count continues): a failed delivery becomes
 * pending, a pending one has its wait cut short, a delivered one is sent once more.
 */
export async function retryDelivery(deps: Deps, tenantId: string, deliveryId: string): Promise<void> {
  const { delivery, endpoint } = await getDelivery(deps, tenantId, deliveryId);
  if (endpoint.status === "disabled") throw conflict("The endpoint is disabled; re-enable it (PATCH status active) first.");
  if (delivery.test) throw conflict("Test sends are never retried; send a new test instead.");
  await restart(deps, endpoint, [{ seq: delivery.seq, generation: delivery.generation }]);
}

/** Counts what matches and starts a replay that continues in bounded chunks through the queue. */
export async function replayEndpoint(
  deps: Deps,
  tenantId: string,
  endpointId: string,
  input: { since: number; until?: number; status: "failed" | "delivered" },
): Promise<number> {
  const endpoint = await getEndpoint(deps, tenantId, endpointId);
  if (endpoint.status === "disabled") throw conflict("The endpoint is disabled; re-enable it (PATCH status active) first.");
  const until = input.until ?? deps.now + 1;
  const count = await log.countReplayCandidates(deps.db, tenantId, endpointId, { status: input.status, since: input.since, until });
  if (count > 0) {
    await enqueueReplay(deps.env.FANOUT_QUEUE, { kind: "replay", tenantId, endpointId, since: input.since, until, status: input.status, after: 0 });
  }
  return count;
}

/** One chunk of a replay, in event order; sends the next chunk's message when more remain. */
export async function continueReplay(deps: Deps, msg: ReplayMessage): Promise<void> {
  const endpoint = await findEndpointById(deps.db, msg.endpointId);
  if (!endpoint || endpoint.deletedAt !== null || endpoint.tenantId !== msg.tenantId) return;
  const chunk = await log.replayCandidates(deps.db, msg.tenantId, msg.endpointId, {
    status: msg.status,
    since: msg.since,
    until: msg.until,
    afterEventSeq: msg.after,
    limit: REPLAY_CHUNK,
  });
  await restart(deps, endpoint, chunk);
  if (chunk.length === REPLAY_CHUNK) await enqueueReplay(deps.env.FANOUT_QUEUE, { ...msg, after: chunk[chunk.length - 1]!.eventSeq });
}
