/**
 * @module The delivery consumer's side of EndpointDO. Endpoints with neither FIFO
 * ordering nor a rate limit never reach this (no DO request for them).
 */
import type { Deps } from "../api/context";
import type { DeliveryContext, DeliveryRow } from "../db/queries/deliveries";
import { parkDelivery } from "../db/queries/deliveries";
import type { EndpointRow } from "../db/queries/endpoints";
import { enqueueDeliveries } from "./messages";

/** Lease margin beyond the request timeout for signing and recording an attempt. */
const LEASE_MARGIN_MS = 30_000;

/** FIFO endpoints, rate-limited ones, and deliveries still in a FIFO line (an endpoint switched to `none` drains them). */
export function needsEndpointDO(endpoint: Pick<EndpointRow, "ordering" | "rateLimit">, delivery: Pick<DeliveryRow, "lineSeq">): boolean {
  return endpoint.ordering === "fifo" || endpoint.rateLimit !== null || delivery.lineSeq !== null;
}

const stub = (deps: Deps, endpointId: string) => deps.env.ENDPOINT_DO.getByName(endpointId);

/** Asks the endpoint's DO whether this delivery may start now; false when it must not. */
export async function gateThroughEndpointDO(deps: Deps, ctx: DeliveryContext): Promise<boolean> {
  const { delivery, endpoint } = ctx;
  const verdict = await stub(deps, endpoint.id).admit({
    endpointId: endpoint.id,
    seq: delivery.seq,
    attemptsBefore: delivery.attempts,
    inLine: delivery.lineSeq !== null,
    eventSeq: delivery.eventSeq,
    tenantId: delivery.tenantId,
    rateLimit: endpoint.rateLimit,
    leaseMs: endpoint.timeoutMs + LEASE_MARGIN_MS,
  });
  switch (verdict.kind) {
    case "go": {
      // Wait for the absolute start the DO reserved, not a relative delay: the time the
      // answer took to come back must not push this start closer to the next one.
      const wait = verdict.startAt - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      return true;
    }
    case "later":
      // Waiting is never an attempt and never a queue retry: a new message, then ack.
      await enqueueDeliveries(deps.env.DELIVERY_QUEUE, [{ d: delivery.seq, g: delivery.generation, delaySeconds: Math.max(1, Math.ceil(verdict.delayMs / 1000)) }]);
      return false;
    case "park":
      await parkDelivery(deps.db, delivery.seq, delivery.generation);
      return false;
    case "stale":
      // Not parked: the delivery may be waiting for its retry, whose message still owns it.
      return false;
  }
}

/** Tells the DO the admitted attempt is recorded (frees its lease, starts the next in line). */
export async function reportToEndpointDO(deps: Deps, ctx: DeliveryContext): Promise<void> {
  await stub(deps, ctx.endpoint.id).finished(ctx.endpoint.id, ctx.delivery.seq);
}

/** Lets each endpoint's DO start its line head (after a fan-out, resume, retry or replay). */
export async function wakeEndpointDOs(deps: Deps, endpointIds: string[]): Promise<void> {
  await Promise.all(endpointIds.map((id) => stub(deps, id).wake(id)));
}
