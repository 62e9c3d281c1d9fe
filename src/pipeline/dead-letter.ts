/**
 * @module Dead-letter queue consumers: whatever reaches a DLQ (the consumer failed
 * `max_retries` times) is recorded, so nothing that lands there is lost.
 */
import type { Deps } from "../api/context";
import { deadLetterForDelivery, runBatch } from "../db/queries/deliveries";
import { pipelineDeps } from "./deps";
import { wakeEndpointDOs } from "./endpoint-gate";
import { enqueueFanouts, type DeliverMessage, type FanoutQueueMessage } from "./messages";
import { deliveryFailedStatement, insertedEventSeqs } from "./operational";
import { OPERATOR_TENANT } from "../core/tenants";

export async function handleFanoutDeadLetters(batch: MessageBatch<FanoutQueueMessage>, env: Env): Promise<void> {
  const deps = pipelineDeps(env);
  for (const msg of batch.messages) {
    const body = msg.body;
    if (body.kind !== "fanout") {
      // A replay continuation that kept failing: its deliveries and dead letters are
      // untouched (still failed, still replayable), so the operator re-issues the replay.
      console.error("a replay continuation failed for good; re-issue the replay", body);
      msg.ack();
      continue;
    }
    try {
      await recordFanoutDeadLetter(deps, body.e);
      msg.ack();
    } catch (err) {
      console.error("recording a fan-out dead letter failed", err);
      msg.retry();
    }
  }
}

/** Marks the event's fan-out failed (`fanned_out = 2`) and keeps a replayable dead letter. */
export async function recordFanoutDeadLetter(deps: Deps, eventSeq: number): Promise<void> {
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

export async function handleDeliveryDeadLetters(batch: MessageBatch<DeliverMessage>, env: Env): Promise<void> {
  const deps = pipelineDeps(env);
  for (const msg of batch.messages) {
    try {
      await recordDeliveryDeadLetter(deps, msg.body);
      msg.ack();
    } catch (err) {
      console.error("recording a delivery dead letter failed", err);
      msg.retry();
    }
  }
}

/** Fails the delivery with `consumer_error` if that message still owned it. */
export async function recordDeliveryDeadLetter(deps: Deps, msg: DeliverMessage): Promise<void> {
  const d1 = deps.db.$client;
  const failed = await d1
    .prepare(
      `UPDATE deliveries SET status = 'failed', reason = 'consumer_error', next_attempt_at = NULL
       WHERE seq = ? AND generation = ? AND status = 'pending'
       RETURNING tenant_id, endpoint_id, event_seq, event_type, attempts, response_status, test, line_seq,
         (SELECT id FROM events WHERE seq = deliveries.event_seq) AS event_id`,
    )
    .bind(msg.d, msg.g)
    .first<{ tenant_id: string; endpoint_id: string; event_type: string; attempts: number; response_status: number | null; test: number; line_seq: number | null; event_id: string }>();
  if (!failed) return; // stale: a newer generation or an outcome already owns it
  const stmts = [deadLetterForDelivery(deps.db, msg.d, "deliveries", deps.now)];
  if (failed.tenant_id !== OPERATOR_TENANT && failed.test === 0) {
    stmts.push(
      deliveryFailedStatement(
        deps.db,
        {
          tenant_id: failed.tenant_id,
          endpoint_id: failed.endpoint_id,
          deliverySeq: msg.d,
          event_id: failed.event_id,
          event_type: failed.event_type,
          reason: "consumer_error",
          attempts: failed.attempts,
          last_response_status: failed.response_status,
        },
        msg.g,
        deps.now,
      ),
    );
  }
  const seqs = insertedEventSeqs(await runBatch(deps.db, stmts));
  if (seqs.length) await enqueueFanouts(deps.env.FANOUT_QUEUE, seqs);
  // A delivery that failed for good releases its FIFO line.
  if (failed.line_seq !== null) await wakeEndpointDOs(deps, [failed.endpoint_id]);
}
