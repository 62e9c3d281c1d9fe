/**
 * @module The deliveries DLQ of data plane v2 (DESIGN.md "Our own failures are weather, not
 * outcomes"; docs/production.md "Consumer settings"). A delivery message lands here after
 * the delivery consumer failed `max_retries` times for our own trouble; its delivery is
 * still pending in its TenantLog, so the message is re-driven to the delivery queue with a
 * trouble record and the delay `nextRedrive` gives (src/domain/trouble.ts). Only once a
 * message has been in our own trouble for `CONSUMER_GIVE_UP_H` is its delivery given up:
 * ONE `giveUp` call per tenant per batch fails each named current delivery with reason
 * `consumer_error` (a dead letter, queue `deliveries`, and `switchyard.delivery.failed` via
 * the log's outbox), and the FIFO heads that releases are enqueued before the ack.
 *
 * Our own failures here (D1, the TenantLog, a queue send) retry the message with backoff:
 * it is never lost and never acked unhandled. Messages naming a deleted tenant are dropped
 * without calling its object. Other messages of the deliveries queue (a bulk dead-letter
 * replay's continuation) are re-driven the same way and never given up.
 */
import { pipelineDeps } from "../core/deps";
import { queueDelaySeconds } from "../domain/retry-schedule";
import { nextRedrive, troubleGivesUp, type Trouble } from "../domain/trouble";
import { tenantLogOf } from "../core/tenant-logs";
import type { LogDeliverMessage } from "../tenant-log/types";
import { enqueueJobs, SEND_BATCH_MAX } from "../core/jobs";
import { distinctJobs, groupByTenant, retryLater } from "./messages";
import { tenantsBySeq } from "./tenants";

/** Any message the deliveries queue carries; only `deliver` ones name a delivery. */
type DeadLettered = Message<LogDeliverMessage> | Message<{ kind: string; trouble?: Trouble }>;

const isDeliver = (m: DeadLettered): m is Message<LogDeliverMessage> => m.body.kind === "deliver";

export async function handleLogDeliveryDeadLetters(batch: MessageBatch<LogDeliverMessage>, env: Env): Promise<void> {
  const deps = pipelineDeps(env);
  const now = deps.now;
  const all = batch.messages as readonly DeadLettered[];
  const groups = groupByTenant(all.filter(isDeliver));
  const others = all.filter((m) => !isDeliver(m));
  let identities: Awaited<ReturnType<typeof tenantsBySeq>>;
  try {
    identities = await tenantsBySeq(deps.db, groups.keys(), now);
  } catch (err) {
    console.error("reading which tenants are live failed; the dead-lettered batch comes back later", err);
    return retryLater(batch.messages);
  }
  const redrives: DeadLettered[] = [...others];
  const giveUps: [number, Message<LogDeliverMessage>[]][] = [];
  for (const [t, messages] of groups) {
    if (!identities.get(t)) {
      // The tenant is deleted, and its log with it: nothing is pending, and a call would re-create it.
      for (const msg of messages) msg.ack();
      continue;
    }
    const givingUp = messages.filter((m) => troubleGivesUp(m.body.trouble, now, deps.config.consumerGiveUpH));
    if (givingUp.length > 0) giveUps.push([t, givingUp]);
    redrives.push(...messages.filter((m) => !givingUp.includes(m)));
  }
  await Promise.all([redrive(env.DELIVERY_QUEUE, redrives, now), ...giveUps.map(([t, messages]) => giveUp(env, t, messages, now))]);
}

/**
 * Sends each message back to the delivery queue with its next trouble record and re-drive
 * delay, then acks it; a chunk whose send fails is retried by this consumer later.
 */
async function redrive(queue: Queue, messages: readonly DeadLettered[], now: number): Promise<void> {
  for (let i = 0; i < messages.length; i += SEND_BATCH_MAX) {
    const chunk = messages.slice(i, i + SEND_BATCH_MAX);
    try {
      await queue.sendBatch(
        chunk.map((m): MessageSendRequest => {
          const { trouble, delaySeconds } = nextRedrive(m.body.trouble, now, Math.random());
          return { body: { ...m.body, trouble }, delaySeconds: queueDelaySeconds(delaySeconds) };
        }),
      );
      for (const m of chunk) m.ack();
    } catch (err) {
      console.error("re-driving dead-lettered delivery messages failed; retrying them later", err);
      retryLater(chunk);
    }
  }
}

/**
 * Gives up the tenant's deliveries these messages name (one call), enqueues the FIFO heads
 * that frees, then acks. Stale messages (a newer generation, or an outcome already recorded)
 * fail nothing. On our own trouble every message comes back: giving up is idempotent (if
 * only the send of the released heads failed, the repeat releases nothing, and the log's
 * alarm re-drives those heads once overdue).
 */
async function giveUp(env: Env, t: number, messages: readonly Message<LogDeliverMessage>[], now: number): Promise<void> {
  try {
    const { released } = await tenantLogOf(env, t).giveUp(distinctJobs(messages), now);
    await enqueueJobs(env.DELIVERY_QUEUE, t, [], released);
  } catch (err) {
    console.error(`giving up dead-lettered deliveries of tenant ${t} failed; retrying them later`, err);
    return retryLater(messages);
  }
  for (const m of messages) m.ack();
}
