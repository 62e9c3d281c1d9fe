/**
 * @module What the v2 delivery consumers share about messages: grouping a batch by tenant,
 * merging copies of a job, and handing a message back for our own trouble (sending jobs:
 * core/jobs).
 */
import { consumerRetryDelaySeconds } from "../domain/trouble";
import type { DeliveryJob, LogDeliverMessage } from "../tenant-log/types";

export function groupByTenant(messages: readonly Message<LogDeliverMessage>[]): Map<number, Message<LogDeliverMessage>[]> {
  const byTenant = new Map<number, Message<LogDeliverMessage>[]>();
  for (const msg of messages) {
    const group = byTenant.get(msg.body.t);
    if (group) group.push(msg);
    else byTenant.set(msg.body.t, [msg]);
  }
  return byTenant;
}

/**
 * The tenant's jobs with copies merged: a redelivered or re-sent message in the same batch
 * names the same (event, endpoint, generation), and claiming it twice would send twice.
 */
export function distinctJobs(messages: readonly Message<LogDeliverMessage>[]): DeliveryJob[] {
  const ordinals = new Map<string, { e: number; g: number; p: Set<number> }>();
  for (const { body } of messages) {
    const key = `${body.e}:${body.g}`;
    const job = ordinals.get(key) ?? { e: body.e, g: body.g, p: new Set<number>() };
    for (const ordinal of body.p) job.p.add(ordinal);
    ordinals.set(key, job);
  }
  return [...ordinals.values()].map(({ e, g, p }) => ({ e, p: [...p], g }));
}

/**
 * Our own trouble: the message comes back with backoff, its body unchanged (a DLQ trouble
 * record included); never an attempt, never a failure (src/domain/trouble.ts).
 */
export function retryLater(messages: readonly Message<unknown>[]): void {
  for (const msg of messages) msg.retry({ delaySeconds: consumerRetryDelaySeconds(msg.attempts, Math.random()) });
}
