/**
 * @module Resume: when an endpoint becomes active again, its parked deliveries go out.
 */
import type { Deps } from "../api/context";
import type { EndpointRow } from "../db/queries/endpoints";
import { wakeParked } from "../db/queries/deliveries";
import { hasLine } from "../db/queries/fifo";
import { needsEndpointDO, wakeEndpointDOs } from "./endpoint-gate";
import { enqueueDeliveries } from "./messages";

const WAKE_BATCH = 1000;

/** Wakes parked deliveries after a pause ends (FIFO lines are woken by their DO, in order). */
export async function resumeEndpointIfNeeded(deps: Deps, before: EndpointRow, after: EndpointRow): Promise<void> {
  if (after.status !== "active" || before.status === "active") return;
  for (;;) {
    const woken = await wakeParked(deps.db, after.id, deps.now, WAKE_BATCH);
    await enqueueDeliveries(deps.env.DELIVERY_QUEUE, woken);
    if (woken.length < WAKE_BATCH) break;
  }
  // A FIFO line (also one left from before a switch to `none`) restarts at its head.
  if (needsEndpointDO(after, { lineSeq: null }) || (await hasLine(deps.db, after.id))) await wakeEndpointDOs(deps, [after.id]);
}
