/**
 * @module The Sweeper: a Durable Object alarm that re-drives work a lost message would
 * strand. Cron does not fire under `wrangler dev`; alarms do, so this is what runs on time.
 *
 * - events still `fanned_out = 0` a minute after they were accepted get their fan-out re-sent;
 * - pending deliveries due more than 15 minutes ago get a new generation and a new message;
 * - parked deliveries (`next_attempt_at` null) are never touched.
 */
import { DurableObject } from "cloudflare:workers";
import { hasScheduledDeliveries, rearmOverdue } from "../db/queries/deliveries";
import { hasUnfannedEvents, unfannedEventsBefore } from "../db/queries/sweeps";
import { pipelineDeps } from "./deps";
import { enqueueDeliveries, enqueueFanouts } from "./messages";

export const SWEEP_INTERVAL_MS = 30_000;
export const FANOUT_GRACE_MS = 60_000;
export const OVERDUE_GRACE_MS = 15 * 60_000;
const SWEEP_BATCH = 500;

export class Sweeper extends DurableObject<Env> {
  /** Sets the alarm unless one is set. */
  async arm(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + SWEEP_INTERVAL_MS);
  }

  /** One sweep; returns what it re-sent (tests call it through the alarm). */
  async sweep(): Promise<{ fanouts: number; deliveries: number }> {
    const deps = pipelineDeps(this.env);
    const events = await unfannedEventsBefore(deps.db, deps.now - FANOUT_GRACE_MS, SWEEP_BATCH);
    await enqueueFanouts(this.env.FANOUT_QUEUE, events);
    const overdue = await rearmOverdue(deps.db, deps.now, OVERDUE_GRACE_MS, SWEEP_BATCH);
    await enqueueDeliveries(this.env.DELIVERY_QUEUE, overdue);
    return { fanouts: events.length, deliveries: overdue.length };
  }

  override async alarm(): Promise<void> {
    await this.sweep();
    const deps = pipelineDeps(this.env);
    // Re-arm while anything could still need rescuing; otherwise the next ingest,
    // consumer batch or Cron run arms it again.
    if ((await hasUnfannedEvents(deps.db)) || (await hasScheduledDeliveries(deps.db))) {
      await this.ctx.storage.setAlarm(Date.now() + SWEEP_INTERVAL_MS);
    }
  }
}
