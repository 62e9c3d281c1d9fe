/**
 * @module EndpointDO: one per endpoint with FIFO ordering or a rate limit. It decides
 * which delivery may start next and keeps the rate-limit state and in-flight leases.
 *
 * D1 stays the record: the line is read from D1 each time, and the only state kept here
 * (last start time, leases) is an optimisation that is safe to lose — after eviction the
 * worst case is one start sooner than the spacing asks. The outbound request never runs
 * in here, and no lock is held across it: `admit` and `finished` bracket it.
 */
import { DurableObject } from "cloudflare:workers";
import { openDb } from "../db/client";
import { earlierEventUnfanned, lineHead, startHead } from "../db/queries/fifo";
import { parkDelivery } from "../db/queries/deliveries";
import { rateSpacingMs } from "../domain/rate-limit";
import { enqueueDeliveries } from "../pipeline/messages";

export interface AdmitInput {
  endpointId: string;
  seq: number;
  attemptsBefore: number;
  inLine: boolean;
  eventSeq: number;
  tenantId: string;
  rateLimit: number | null;
  /** How long an admitted attempt may take before its lease lapses (timeout plus margin). */
  leaseMs: number;
}

/**
 * `go`: start after `waitMs` (under 1 s, served in the consumer). `later`: send the message
 * again after `delayMs` without an attempt. `park`: not this delivery's turn; it waits
 * parked in D1 and this object wakes it. `stale`: the message's view is out of date (its
 * attempt was already made by another copy); drop it and change nothing.
 */
export type AdmitVerdict = { kind: "go"; startAt: number } | { kind: "later"; delayMs: number } | { kind: "park" } | { kind: "stale" };

interface Lease {
  attemptsBefore: number;
  until: number;
}

/** Re-check a line held back by an earlier un-fanned event this often. */
const UNFANNED_RECHECK_MS = 1000;

export class EndpointDO extends DurableObject<Env> {
  #db = openDb(this.env.DB);

  async admit(input: AdmitInput): Promise<AdmitVerdict> {
    this.#remember(input.endpointId);
    if (input.inLine) {
      // Un-fanned events first, then the head: an earlier event's fan-out commits its
      // deliveries and `fanned_out = 1` together, so once it reads as fanned out its
      // delivery is visible to the head query (the other order could miss both).
      if (await earlierEventUnfanned(this.#db, input.tenantId, input.eventSeq)) {
        // A fan-out that ran late must not be overtaken.
        await this.#armRecheck(Date.now());
        return { kind: "park" };
      }
      const head = await lineHead(this.#db, input.endpointId);
      if (!head || head.seq !== input.seq) return { kind: "park" };
      // Another copy of this message already ran the attempt the consumer is about to
      // make (its lease is gone once it finished): sending again would double-send.
      if (head.attempts !== input.attemptsBefore) return { kind: "stale" };
    }
    // Nothing below awaits until the lease is written. The object takes other requests
    // while it awaits D1 above, so the lease must be checked here, after those awaits, or
    // two copies of one message could both be admitted.
    const now = Date.now();
    const lease = this.ctx.storage.kv.get<Lease>(`lease:${input.seq}`);
    if (lease && lease.attemptsBefore === input.attemptsBefore && lease.until > now) {
      // A duplicate of an attempt already running: look again once its lease has lapsed.
      return { kind: "later", delayMs: lease.until - now };
    }
    let waitMs = 0;
    if (input.rateLimit) {
      // Spacing, not a token bucket: successive starts at least 1/r s apart means no
      // one-second window can hold more than r starts (a bucket lets 2r through).
      // The margin absorbs the jitter between this decision and the request reaching the
      // receiver (signing, connection setup), which can bring two starts closer than 1/r.
      const interval = rateSpacingMs(input.rateLimit);
      const last = this.ctx.storage.kv.get<number>("lastStart") ?? 0;
      const start = Math.max(now, last + interval);
      waitMs = start - now;
      // Longer waits go back to the queue so a consumer lane is not held for them.
      if (waitMs >= 1000) return { kind: "later", delayMs: waitMs };
      this.ctx.storage.kv.put("lastStart", start);
    }
    this.ctx.storage.kv.put(`lease:${input.seq}`, { attemptsBefore: input.attemptsBefore, until: now + waitMs + input.leaseMs } satisfies Lease);
    return { kind: "go", startAt: now + waitMs };
  }

  /** The attempt admitted for `seq` is recorded; if it left the line, start the next. */
  async finished(endpointId: string, seq: number): Promise<void> {
    this.ctx.storage.kv.delete(`lease:${seq}`);
    await this.wake(endpointId);
  }

  /** Starts the head of the line if it is parked and may go. */
  async wake(endpointId: string): Promise<void> {
    this.#remember(endpointId);
    const now = Date.now();
    const head = await lineHead(this.#db, endpointId);
    if (!head || head.nextAttemptAt !== null) return; // empty, or the head is running / waiting for its retry
    if (await earlierEventUnfanned(this.#db, head.tenantId, head.eventSeq)) {
      await this.#armRecheck(now);
      return;
    }
    const endpoint = await this.#db.$client.prepare(`SELECT status, deleted_at FROM endpoints WHERE id = ?`).bind(endpointId).first<{ status: string; deleted_at: number | null }>();
    if (!endpoint || endpoint.status !== "active" || endpoint.deleted_at !== null) return; // resume wakes it
    const generation = await startHead(this.#db, head.seq, now);
    if (generation === null) return;
    try {
      await enqueueDeliveries(this.env.DELIVERY_QUEUE, [{ d: head.seq, g: generation }]);
    } catch (err) {
      // A started head without a message would hold the line until the Sweeper's 15-minute
      // rescue: park it again, so whoever retries this wake starts it afresh.
      await parkDelivery(this.#db, head.seq, generation);
      throw err;
    }
  }

  /** How many admitted attempts hold an unexpired lease. */
  async inFlight(): Promise<number> {
    const now = Date.now();
    let n = 0;
    for (const [, lease] of this.ctx.storage.kv.list<Lease>({ prefix: "lease:" })) if (lease.until > now) n++;
    return n;
  }

  override async alarm(): Promise<void> {
    const endpointId = this.ctx.storage.kv.get<string>("endpointId");
    if (endpointId) await this.wake(endpointId);
  }

  #remember(endpointId: string): void {
    if (this.ctx.storage.kv.get<string>("endpointId") !== endpointId) this.ctx.storage.kv.put("endpointId", endpointId);
  }

  async #armRecheck(now: number): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + UNFANNED_RECHECK_MS);
  }
}
