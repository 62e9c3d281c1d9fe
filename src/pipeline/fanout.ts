/**
 * @module The fan-out consumer: one event → one delivery per matching endpoint.
 *
 * Matching, pause and disable are evaluated here, when the fan-out runs. Deliveries
 * and `fanned_out = 1` are written in one transaction, conditional on the event being
 * still un-fanned, so a redelivered message adds nothing. Delivery keys are derived:
 * `event seq * 65536 + i`, i the endpoint's place among the matched endpoints by id.
 */
import type { Deps } from "../api/context";
import { getEventType } from "../core/event-types";
import { matchesFilter } from "../domain/filter";
import { allLiveEndpoints } from "../db/queries/endpoints";
import { deliverySeqOf, insertDeliveriesAndMarkFannedOut, MAX_FANOUT, untriedDeliveriesOfEvent, type NewDelivery } from "../db/queries/deliveries";
import { findEventBySeq } from "../db/queries/events";
import { lineEndpointsOfEvent } from "../db/queries/fifo";
import { pipelineDeps } from "./deps";
import { wakeEndpointDOs } from "./endpoint-gate";
import { continueReplay } from "../core/deliveries";
import { continueDeadLetterReplay } from "../core/dead-letters";
import { enqueueDeliveries, type FanoutMessage, type FanoutQueueMessage } from "./messages";
import { armSweeper } from "./sweeper-client";
import { recordFanoutDeadLetter } from "./dead-letter";

export async function handleFanoutBatch(batch: MessageBatch<FanoutQueueMessage>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    try {
      const deps = pipelineDeps(env);
      const body = msg.body;
      if (body.kind === "fanout") await fanOutEvent(deps, body, msg.attempts);
      else if (body.kind === "replay") await continueReplay(deps, body);
      else await continueDeadLetterReplay(deps, body);
      msg.ack();
    } catch (err) {
      console.error("fan-out consumer failed", msg.body, err);
      msg.retry();
    }
  }
  await armSweeper(env, Date.now());
}

export async function fanOutEvent(deps: Deps, msg: FanoutMessage, messageAttempts: number): Promise<void> {
  const event = await findEventBySeq(deps.db, msg.e);
  if (!event) return;
  if (event.fannedOut !== 0) {
    // A retried message after a crash between the D1 write and the send: send again
    // what may never have been sent (a plain duplicate, attempts = 1, sends nothing).
    if (event.fannedOut === 1 && messageAttempts > 1) {
      await enqueueDeliveries(deps.env.DELIVERY_QUEUE, await untriedDeliveriesOfEvent(deps.db, event.seq));
      await wakeEndpointDOs(deps, await lineEndpointsOfEvent(deps.db, event.seq));
    }
    return;
  }
  const group = (await getEventType(deps, event.type).catch(() => undefined))?.group ?? null;
  const endpoints = await allLiveEndpoints(deps.db, event.tenantId);
  // Sorted by id: a delivery's key is the event's seq * 65536 + its endpoint's place here.
  const matched = endpoints
    .filter((endpoint) => endpoint.status !== "paused" && matchesFilter(endpoint.filter, event.type, group)) // paused: nothing is created
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (matched.length > MAX_FANOUT) {
    // Refused (docs/decisions.md): the keys of one event hold at most 65 535 deliveries.
    console.error("fan-out refused: too many matching endpoints", { event: event.seq, matched: matched.length });
    await recordFanoutDeadLetter(deps, event.seq);
    return;
  }
  const rows: NewDelivery[] = [];
  for (const [i, endpoint] of matched.entries()) {
    const disabled = endpoint.status === "disabled";
    const fifo = endpoint.ordering === "fifo";
    rows.push({
      seq: deliverySeqOf(event.seq, i),
      tenantId: event.tenantId,
      endpointId: endpoint.id,
      eventSeq: event.seq,
      eventType: event.type,
      status: disabled ? "failed" : "pending",
      reason: disabled ? "endpoint_disabled" : null,
      // A FIFO delivery waits parked in its line until the endpoint's DO starts it.
      nextAttemptAt: disabled || fifo ? null : deps.now,
      lineSeq: fifo ? event.seq : null,
      test: false,
      createdAt: deps.now,
    });
  }
  const inserted = await insertDeliveriesAndMarkFannedOut(deps.db, event.seq, rows, deps.now);
  const fifoEndpoints = new Set(rows.filter((r) => r.lineSeq !== null).map((r) => r.endpointId));
  await enqueueDeliveries(
    deps.env.DELIVERY_QUEUE,
    inserted.filter((r) => r.status === "pending" && !fifoEndpoints.has(r.endpointId)).map((r) => ({ d: r.seq, g: r.generation })),
  );
  if (fifoEndpoints.size) await wakeEndpointDOs(deps, [...fifoEndpoints]);
}
