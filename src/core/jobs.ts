/**
 * @module Sending delivery jobs to the `deliveries` queue: a message names a tenant's log,
 * an event and up to six of its endpoints (DESIGN.md "Architecture — data plane v2").
 * Messages carry ids, never payloads. Every sender goes through here.
 */
import { queueDelaySeconds } from "../domain/retry-schedule";
import type { DeliveryJob, LogDeliverMessage } from "../tenant-log/types";

/** `sendBatch` takes at most 100 messages. */
export const SEND_BATCH_MAX = 100;

export const messageOf = (t: number, job: DeliveryJob): LogDeliverMessage => ({ kind: "deliver", t, e: job.e, p: job.p, g: job.g });

/** Sends messages in `sendBatch`-sized chunks; a refused send throws (the caller decides what stays owed). */
export async function sendMessages<B>(queue: Queue, messages: MessageSendRequest<B>[]): Promise<void> {
  for (let i = 0; i < messages.length; i += SEND_BATCH_MAX) await queue.sendBatch(messages.slice(i, i + SEND_BATCH_MAX));
}

/** Sends the tenant's jobs, due now. */
export async function sendJobs(env: Pick<Env, "DELIVERY_QUEUE">, tenantSeq: number, jobs: readonly DeliveryJob[]): Promise<void> {
  await sendMessages(env.DELIVERY_QUEUE, jobs.map((job) => ({ body: messageOf(tenantSeq, job) })));
}

/** Delayed jobs (retries, `later`), then jobs due at once (released FIFO heads). */
export async function enqueueJobs(queue: Queue, t: number, delayed: readonly (DeliveryJob & { delayMs: number })[], now: readonly DeliveryJob[]): Promise<void> {
  await sendMessages(queue, [
    ...delayed.map(({ delayMs, ...job }) => ({ body: messageOf(t, job), delaySeconds: queueDelaySeconds(delayMs / 1000) })),
    ...now.map((job) => ({ body: messageOf(t, job) })),
  ]);
}
