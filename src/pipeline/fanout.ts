/**
 * @module The fan-out consumer: one event → one delivery per matching endpoint.
 *
 * Matching, pause and disable are evaluated here, when the fan-out runs. Deliveries
 * and `fanned_out = 1` are written in one transaction, conditional on the event being
 * still un-fanned, so a redelivered message adds nothing. Delivery keys are derived:
 * `event seq * 65536 + i`, i the endpoint's place among the matched endpoints by id.
 */
import type { Deps } from "../api/context";
import { groupOfEventType } from "../core/event-types";
import { consumerRetryDelaySeconds } from "../domain/trouble";
import { matchesFilter } from "../domain/filter";
import { allLiveEndpoints } from "../db/queries/endpoints";
import { deliverySeqOf, insertDeliveriesAndMarkFannedOut, MAX_FANOUT, runBatch, untriedDeliveriesOfEvent, type NewDelivery } from "../db/queries/deliveries";
import { findEventBySeq } from "../db/queries/events";
import { lineEndpointsOfEvent } from "../db/queries/fifo";
import { pipelineDeps } from "./deps";
import { wakeEndpointDOs } from "./endpoint-gate";
import { continueReplay } from "../core/deliveries";
import { continueDeadLetterReplay } from "../core/dead-letters";
import { enqueueDeliveries, type FanoutMessage, type FanoutQueueMessage } from "./messages";
import { armSweeper } from "./sweeper-client";

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
      // Our own trouble (D1, a Durable Object, a queue send): later, never narrower.
      console.error("fan-out consumer failed; retrying later", msg.body, err);
      msg.retry({ delaySeconds: consumerRetryDelaySeconds(msg.attempts, Math.random()) });
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
  // A failed read throws (the message is retried): matching without the group would
  // silently drop every group-filtered endpoint.
  const group = await groupOfEventType(deps, event.type);
  const endpoints = await allLiveEndpoints(deps.db, event.tenantId);
  // Sorted by id: a delivery's key is the event's seq * 65536 + its endpoint's place here.
  const matched = endpoints
    .filter((endpoint) => endpoint.status !== "paused" && matchesFilter(endpoint.filter, event.type, group)) // paused: nothing is created
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (matched.length > MAX_FANOUT) {
    // Refused (docs/decisions.md): the keys of one event hold at most 65 535 deliveries.
    console.error("fan-out refused: too many matching endpoints", { event: event.seq, matched: matched.length });
    await refuseFanout(deps, event.seq);
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

/** A fan-out refused for its width: the event is marked `fanned_out = 2` and keeps a dead letter the operator sees. */
async function refuseFanout(deps: Deps, eventSeq: number): Promise<void> {
  const d1 = deps.db.$client;
  await runBatch(deps.db, [
    d1
      .prepare(
        `INSERT INTO dead_letters (tenant_id, endpoint_id, delivery_seq, event_seq, event_id, event_type, reason, attempts, last_response_status, queue, created_at)
         SELECT tenant_id, NULL, NULL, seq, id, type, 'consumer_error', 0, NULL, 'fanout', ?2 FROM events WHERE seq = ?1 AND fanned_out = 0`,
      )
      .bind(eventSeq, deps.now),
    d1.prepare(`UPDATE events SET fanned_out = 2 WHERE seq = ? AND fanned_out = 0`).bind(eventSeq),
  ]);
}
