/**
 * @module Queue message bodies: ids only, never payloads (the queue is a trigger, D1 the store).
 */
import { queueDelaySeconds } from "../domain/retry-schedule";
import type { Trouble } from "../domain/trouble";

/** Set on a message that a DLQ re-drove (src/domain/trouble.ts); absent otherwise. */
interface Redriven {
  trouble?: Trouble;
}

/** Fan out one event: `e` is the event's seq. */
export interface FanoutMessage extends Redriven {
  kind: "fanout";
  e: number;
}

/** Attempt one delivery: `d` its seq, `g` the generation the sender saw (older ones are stale). */
export interface DeliverMessage extends Redriven {
  kind: "deliver";
  d: number;
  g: number;
}

/** Continue a replay after event seq `after` (bounded chunks, see core/deliveries). */
export interface ReplayMessage extends Redriven {
  kind: "replay";
  tenantId: string;
  endpointId: string;
  since: number;
  until: number;
  status: "failed" | "delivered";
  after: number;
}

/** Continue a dead-letter replay after dead letter seq `after`. */
export interface DeadLetterReplayMessage extends Redriven {
  kind: "replay-dead-letters";
  tenantId: string | null;
  endpointId: string | null;
  since: number | null;
  until: number | null;
  after: number;
}

/** The fan-out queue also carries replay continuations: both are control work, not sends. */
export type FanoutQueueMessage = FanoutMessage | ReplayMessage | DeadLetterReplayMessage;

/** Sends delivery messages, at most 100 per sendBatch call. */
export async function enqueueDeliveries(queue: Queue, items: { d: number; g: number; delaySeconds?: number }[]): Promise<void> {
  for (let i = 0; i < items.length; i += 100) {
    await queue.sendBatch(
      items.slice(i, i + 100).map(({ d, g, delaySeconds }) => ({
        body: { kind: "deliver", d, g } satisfies DeliverMessage,
        ...(delaySeconds ? { delaySeconds: queueDelaySeconds(delaySeconds) } : {}),
      })),
    );
  }
}

export async function enqueueFanouts(queue: Queue, eventSeqs: number[]): Promise<void> {
  for (let i = 0; i < eventSeqs.length; i += 100) {
    await queue.sendBatch(eventSeqs.slice(i, i + 100).map((e) => ({ body: { kind: "fanout", e } satisfies FanoutMessage })));
  }
}

export async function enqueueReplay(queue: Queue, msg: ReplayMessage | DeadLetterReplayMessage): Promise<void> {
  await queue.send(msg);
}
