/**
 * @module Dead-letter queue consumers: a message lands here after the consumer failed
 * `max_retries` times for our own trouble (src/domain/trouble.ts). Its work is still
 * pending in D1, so it is re-driven; only a delivery in trouble for `CONSUMER_GIVE_UP_H`
 * fails, with `consumer_error` and an operational event.
 */
import type { Deps } from "../api/context";
import { deadLetterForDelivery, runBatch } from "../db/queries/deliveries";
import { pipelineDeps } from "./deps";
import { wakeEndpointDOs } from "./endpoint-gate";
import { enqueueFanouts, type DeliverMessage, type FanoutQueueMessage } from "./messages";
import { queueDelaySeconds } from "../domain/retry-schedule";
import { consumerRetryDelaySeconds, nextRedrive, troubleGivesUp } from "../domain/trouble";
import { deliveryFailedStatement, insertedEventSeqs } from "./operational";
import { OPERATOR_TENANT } from "../core/tenants";

export async function handleFanoutDeadLetters(batch: MessageBatch<FanoutQueueMessage>, env: Env): Promise<void> {
  // A fan-out is never given up: its event waits in D1 until it fans out (the Sweeper
  // re-sends it too), so every message here goes back to the fan-out queue.
  await redrive(batch.messages, env.FANOUT_QUEUE);
}

export async function handleDeliveryDeadLetters(batch: MessageBatch<DeliverMessage>, env: Env): Promise<void> {
  const deps = pipelineDeps(env);
  const givingUp = batch.messages.filter((m) => troubleGivesUp(m.body.trouble, deps.now, deps.config.consumerGiveUpH));
  for (const msg of givingUp) {
    try {
      await recordDeliveryDeadLetter(deps, msg.body);
      msg.ack();
    } catch (err) {
      console.error("recording a consumer_error failure failed; retrying later", err);
      msg.retry({ delaySeconds: consumerRetryDelaySeconds(msg.attempts, Math.random()) });
    }
  }
  // Still pending in D1: whatever stopped it was ours, so it is tried again later.
  await redrive(batch.messages.filter((m) => !givingUp.includes(m)), env.DELIVERY_QUEUE);
}

/**
 * Sends each message back to its queue with the next re-drive delay and its trouble
 * record, then acks it; a send that fails is retried by this DLQ consumer later.
 */
async function redrive<B extends DeliverMessage | FanoutQueueMessage>(list: readonly Message<B>[], queue: Queue): Promise<void> {
  const now = Date.now();
  for (let i = 0; i < list.length; i += 100) {
    const chunk = list.slice(i, i + 100);
    try {
      await queue.sendBatch(
        chunk.map((m) => {
          const { trouble, delaySeconds } = nextRedrive(m.body.trouble, now, Math.random());
          return { body: { ...m.body, trouble }, delaySeconds: queueDelaySeconds(delaySeconds) };
        }),
      );
      for (const m of chunk) m.ack();
    } catch (err) {
      console.error("re-driving dead-lettered messages failed; retrying later", err);
      for (const m of chunk) m.retry({ delaySeconds: consumerRetryDelaySeconds(m.attempts, Math.random()) });
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
