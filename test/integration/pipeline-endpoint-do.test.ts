/**
 * EndpointDO: FIFO lines, rate-limit spacing, pause and resume, auto-disable, and FIFO
 * order under production-like concurrency. The DO is real and reads its line from D1;
 * it sends to the real delivery queue, so lines are drained either by the local consumer
 * or by `driveLine` (which plays the queue for the started head; the DO's lease makes
 * the two copies of a message safe).
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { loadDeliveryContexts } from "../../src/db/queries/deliveries";
import { startHead } from "../../src/db/queries/fifo";
import type { AdmitInput } from "../../src/endpoint-do/endpoint-do";
import { handleDeliveryBatch, processDelivery } from "../../src/pipeline/deliver";
import type { DeliverMessage } from "../../src/pipeline/messages";
import { fanOutEvent } from "../../src/pipeline/fanout";
import {
  attemptsOf,
  deadLettersOf,
  deliver,
  deliverMessages,
  deliveriesOfEndpoint,
  deliveryRow,
  endpointRow,
  ensureType,
  fanoutMessages,
  inertEndpointDOs,
  ingest,
  ingestAndFanOut,
  newEndpoint,
  newTenant,
  operatorEvents,
  patchEndpoint,
  qmsg,
  receiver,
  receiverLog,
  runQueue,
  sleep,
  testDeps,
  uniq,
  waitFor,
  type DeliveryDbRow,
  fakeBatch,
  fakeQueue,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 30_000 });

const TYPE = "line.item.added";

const stub = (endpointId: string) => env.ENDPOINT_DO.getByName(endpointId);

function admitInput(row: DeliveryDbRow, rateLimit: number | null = null): AdmitInput {
  return {
    endpointId: row.endpoint_id,
    seq: row.seq,
    attemptsBefore: row.attempts,
    inLine: row.line_seq !== null,
    eventSeq: row.event_seq,
    tenantId: row.tenant_id,
    rateLimit,
    leaseMs: 45_000,
  };
}

/** A tenant, the type, and an endpoint on the receiver; `n` events fanned out with the DOs inert (the line is parked in D1). */
async function parkedLine(n: number, path: (key: string) => string, endpoint: Record<string, unknown> = {}) {
  const tid = await newTenant("line");
  await ensureType(TYPE);
  const key = uniq("line");
  const ep = await newEndpoint(tid, { url: `${receiver()}${path(key)}`, ordering: "fifo", ...endpoint });
  const inert = inertEndpointDOs();
  const t = testDeps({ endpointDOs: inert.namespace });
  const events: { seq: number; id: string }[] = [];
  for (let i = 0; i < n; i++) events.push(await ingestAndFanOut(t, tid, TYPE, { i }));
  const rows = await deliveriesOfEndpoint(ep.id);
  expect(rows).toHaveLength(n);
  for (const [i, r] of rows.entries()) expect(r).toMatchObject({ status: "pending", next_attempt_at: null, line_seq: events[i]!.seq });
  // A FIFO delivery is never enqueued by the fan-out; the DO starts the head.
  expect(deliverMessages(t.delivery)).toEqual([]);
  expect(inert.woken).toContain(ep.id);
  return { tid, key, ep, events, rows };
}

/**
 * Plays the delivery queue for a FIFO endpoint: whenever the DO has started a head
 * (pending, due), runs its message through the queue handler, until `done`.
 */
async function driveLine(endpointId: string, done: (rows: DeliveryDbRow[]) => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Each state of a head (seq, generation, attempts) is driven once, and every round
  // yields: re-driving a head the real consumer is already sending, without a pause,
  // starved that consumer's response read (1 235 copies in 15 s with max_batch_timeout 0).
  const driven = new Set<string>();
  for (;;) {
    const rows = await deliveriesOfEndpoint(endpointId);
    if (done(rows)) return;
    if (Date.now() > deadline) throw new Error(`line of ${endpointId} did not drain: ${JSON.stringify(rows.map((r) => [r.seq, r.status, r.next_attempt_at]))}`);
    const head = rows.find((r) => r.status === "pending" && r.next_attempt_at !== null && r.next_attempt_at <= Date.now());
    const state = head && `${head.seq}:${head.generation}:${head.attempts}`;
    if (head && state && !driven.has(state)) {
      driven.add(state);
      await runQueue("switchyard-deliveries", [qmsg({ kind: "deliver", d: head.seq, g: head.generation })]);
    }
    await sleep(25);
  }
}

const allDelivered = (rows: DeliveryDbRow[]) => rows.every((r) => r.status === "delivered");

async function webhookIds(path: string): Promise<string[]> {
  return (await receiverLog(path)).map((r) => r.headers["webhook-id"]!);
}

describe("FIFO line", () => {
  it("parks deliveries that arrive out of order and sends the line in seq order", async () => {
    const { key, ep, events, rows } = await parkedLine(3, (k) => `/ok/${k}`);
    const [d1, d2, d3] = rows as [DeliveryDbRow, DeliveryDbRow, DeliveryDbRow];

    // The DO decides from D1 alone: only the head may start.
    expect(await stub(ep.id).admit(admitInput(d3))).toEqual({ kind: "park" });
    expect(await stub(ep.id).admit(admitInput(d2))).toEqual({ kind: "park" });

    // Messages for all three reach the consumer, last first.
    const now = Date.now();
    await env.DB.prepare(`UPDATE deliveries SET next_attempt_at = ? WHERE endpoint_id = ?`).bind(now, ep.id).run();
    const t = testDeps();
    await deliver(t.deps, { d: d3.seq, g: d3.generation });
    await deliver(t.deps, { d: d2.seq, g: d2.generation });
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);
    // Parked again, not failed and no attempt counted.
    for (const d of [d2, d3]) expect(await deliveryRow(d.seq)).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });
    await deliver(t.deps, { d: d1.seq, g: d1.generation });
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[0]!.id]);

    // The DO starts each next head when the previous one is recorded.
    await driveLine(ep.id, allDelivered);
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
    for (const r of await deliveriesOfEndpoint(ep.id)) expect(r.attempts).toBe(1);
  });

  it("a head waiting for its retry holds the line; the next event starts only after it succeeded", async () => {
    const { key, ep, events, rows } = await parkedLine(2, (k) => `/fail/1/${k}`, { retry_schedule: [1] });
    const [d1, d2] = rows as [DeliveryDbRow, DeliveryDbRow];
    await stub(ep.id).wake(ep.id); // the real consumer takes it from here
    await waitFor("the head's first attempt", async () => (await deliveryRow(d1.seq)).attempts === 1);
    expect(await deliveryRow(d1.seq)).toMatchObject({ status: "pending", response_status: 500 });
    expect((await deliveryRow(d1.seq)).next_attempt_at).not.toBeNull();
    // The next one stays parked while the head waits, and the DO will not admit it.
    expect(await deliveryRow(d2.seq)).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });
    expect(await stub(ep.id).admit(admitInput(await deliveryRow(d2.seq)))).toEqual({ kind: "park" });
    await stub(ep.id).wake(ep.id);
    expect((await deliveryRow(d2.seq)).next_attempt_at).toBeNull();

    await waitFor("the line to drain", async () => allDelivered(await deliveriesOfEndpoint(ep.id)), 15_000);
    const log = await receiverLog(`/fail/1/${key}`);
    expect(log.map((r) => [r.headers["webhook-id"], r.headers["webhook-attempt"]])).toEqual([
      [events[0]!.id, "1"],
      [events[0]!.id, "2"],
      [events[1]!.id, "1"],
    ]);
    expect(log[2]!.at).toBeGreaterThanOrEqual(log[1]!.at);
  });

  it("a head that fails for good releases the line", async () => {
    const { key, ep, events, rows } = await parkedLine(2, (k) => `/status/410/${k}`);
    await stub(ep.id).wake(ep.id);
    await driveLine(ep.id, (rs) => rs.every((r) => r.status === "failed"));
    for (const r of await deliveriesOfEndpoint(ep.id)) expect(r).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1 });
    expect(await webhookIds(`/status/410/${key}`)).toEqual(events.map((e) => e.id));
    expect(rows).toHaveLength(2);
  });

  it("a head refused by the URL policy at send time releases the line", async () => {
    const { key, ep, events, rows } = await parkedLine(2, (k) => `/ok/${k}`);
    const [d1, d2] = rows as [DeliveryDbRow, DeliveryDbRow];
    const g = await startHead(testDeps().deps.db, d1.seq, Date.now());
    // This consumer runs with private URLs forbidden: the head fails without an attempt.
    const strict = testDeps({ config: { allowPrivateUrls: false } });
    await deliver(strict.deps, { d: d1.seq, g: g! });
    expect(await deliveryRow(d1.seq)).toMatchObject({ status: "failed", reason: "url_not_allowed", attempts: 0 });
    // The DO must learn the head left the line, or the next one stays parked for ever.
    await waitFor("the next head to start", async () => (await deliveryRow(d2.seq)).next_attempt_at !== null, 3000);
    await driveLine(ep.id, (rs) => rs[1]!.status === "delivered");
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[1]!.id]);
  });

  it("a head failed by the deliveries DLQ (consumer_error) releases the line", async () => {
    const { key, ep, events, rows } = await parkedLine(2, (k) => `/ok/${k}`);
    const [d1, d2] = rows as [DeliveryDbRow, DeliveryDbRow];
    const g = await startHead(testDeps().deps.db, d1.seq, Date.now());
    // Re-driven for our own trouble for CONSUMER_GIVE_UP_H (72 h), so the DLQ gives it up.
    const trouble = { since: Date.now() - 72 * 3_600_000 - 1, redrives: 80 };
    const res = await runQueue("switchyard-deliveries-dlq", [qmsg({ kind: "deliver", d: d1.seq, g: g!, trouble }, uniq("dlq"), 6)]);
    expect(res.explicitAcks).toHaveLength(1);
    expect(await deliveryRow(d1.seq)).toMatchObject({ status: "failed", reason: "consumer_error" });
    await waitFor("the next head to start", async () => (await deliveryRow(d2.seq)).next_attempt_at !== null, 3000);
    await driveLine(ep.id, (rs) => rs[1]!.status === "delivered");
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[1]!.id]);
  });

  it("a head whose `finished` call fails after its outcome committed: the redelivered message wakes the line, every event is delivered in order with no new traffic", async () => {
    const { key, ep, events, rows } = await parkedLine(3, (k) => `/ok/${k}`);
    const [d1] = rows as [DeliveryDbRow];
    const g = await startHead(testDeps().deps.db, d1.seq, Date.now());
    // The endpoint's object resets right after the outcome is recorded (`finished` throws once).
    const resetting = {
      getByName: (name: string) => {
        const real = env.ENDPOINT_DO.getByName(name);
        return {
          admit: (input: AdmitInput) => real.admit(input),
          wake: (id: string) => real.wake(id),
          finished: async () => {
            throw new Error("Durable Object reset because its code was updated.");
          },
        };
      },
    } as unknown as Env["ENDPOINT_DO"];
    const body: DeliverMessage = { kind: "deliver", d: d1.seq, g: g! };
    const first = fakeBatch("switchyard-deliveries", [{ body }]);
    await handleDeliveryBatch(first.batch, Object.create(env, { ENDPOINT_DO: { value: resetting, enumerable: true } }) as Env);
    expect(first.retried.size).toBe(1);
    expect(await deliveryRow(d1.seq)).toMatchObject({ status: "delivered", attempts: 1 });
    // The queue redelivers it (attempts 2): stale now, it wakes the line instead of stranding it.
    const res = await runQueue("switchyard-deliveries", [qmsg(body, uniq("redelivered"), 2)]);
    expect(res.explicitAcks).toHaveLength(1);
    // No further event, resume or hand-driven message: the real queue and consumer drain the line.
    await waitFor("the line to drain on its own", async () => (await deliveriesOfEndpoint(ep.id)).every((r) => r.status === "delivered"), 20_000);
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
  });

  it("a wake whose queue send fails parks the head again, so the retried wake starts it (no head running without a message)", async () => {
    const { ep, rows } = await parkedLine(2, (k) => `/ok/${k}`);
    const [d1] = rows as [DeliveryDbRow];
    await runInDurableObject(stub(ep.id), async (instance) => {
      const holder = instance as unknown as { env: Env };
      const real = holder.env;
      holder.env = Object.create(real, { DELIVERY_QUEUE: { value: fakeQueue(true).queue, enumerable: true } }) as Env;
      try {
        await expect(instance.wake(ep.id)).rejects.toThrow(/refused/);
      } finally {
        holder.env = real;
      }
    });
    expect(await deliveryRow(d1.seq)).toMatchObject({ status: "pending", next_attempt_at: null });
    await stub(ep.id).wake(ep.id);
    expect((await deliveryRow(d1.seq)).next_attempt_at).not.toBeNull();
  });

  it("copies of the head's message in two consumers at once start it once", async () => {
    const { key, rows } = await parkedLine(1, (k) => `/slow/150/${k}`);
    const [d1] = rows as [DeliveryDbRow];
    const g = await startHead(testDeps().deps.db, d1.seq, Date.now());
    const t = testDeps();
    const now = Date.now();
    const [a, b] = [await loadDeliveryContexts(t.deps.db, [d1.seq], now), await loadDeliveryContexts(t.deps.db, [d1.seq], now)];
    const msg = { kind: "deliver" as const, d: d1.seq, g: g! };
    await Promise.all([processDelivery({ ...t.deps, now }, msg, a.get(d1.seq)), processDelivery({ ...t.deps, now }, msg, b.get(d1.seq))]);
    expect(await receiverLog(`/slow/150/${key}`)).toHaveLength(1);
    expect(await deliveryRow(d1.seq)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a copy of the head's message that reaches the DO after that attempt was recorded sends nothing", async () => {
    const { key, rows } = await parkedLine(1, (k) => `/status/500/${k}`, { retry_schedule: [60] });
    const [d1] = rows as [DeliveryDbRow];
    const g = await startHead(testDeps().deps.db, d1.seq, Date.now());
    const t = testDeps();
    // Two consumers loaded the same message; the second reaches the DO after the first finished.
    const now = Date.now();
    const first = await loadDeliveryContexts(t.deps.db, [d1.seq], now);
    const second = await loadDeliveryContexts(t.deps.db, [d1.seq], now);
    const msg = { kind: "deliver" as const, d: d1.seq, g: g! };
    await processDelivery({ ...t.deps, now }, msg, first.get(d1.seq));
    const waiting = await deliveryRow(d1.seq);
    expect(waiting).toMatchObject({ status: "pending", attempts: 1 });
    await processDelivery({ ...t.deps, now: Date.now() }, msg, second.get(d1.seq));
    expect(await receiverLog(`/status/500/${key}`)).toHaveLength(1);
    // Still waiting for its retry, exactly as the first copy left it.
    expect(await deliveryRow(d1.seq)).toEqual(waiting);
  });

  it("a late fan-out of an earlier event is not overtaken, and a refused fan-out does not hold the line", async () => {
    const tid = await newTenant("late");
    await ensureType(TYPE);
    const key = uniq("late");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}`, ordering: "fifo" });
    const t = testDeps(); // real DO, fake queues for ingest and fan-out
    const e1 = await ingest(t.deps, tid, TYPE, { n: 1 });
    const e2 = await ingest(t.deps, tid, TYPE, { n: 2 });

    // Event 2's fan-out runs first: its delivery heads the line but must wait for event 1.
    await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: e2.seq }, 1);
    const [d2] = await deliveriesOfEndpoint(ep.id);
    expect(d2).toMatchObject({ event_seq: e2.seq, next_attempt_at: null });
    expect(await stub(ep.id).admit(admitInput(d2!))).toEqual({ kind: "park" });
    // The DO re-checks on its alarm; event 1 is still un-fanned, so nothing starts.
    expect(await runDurableObjectAlarm(stub(ep.id))).toBe(true);
    expect((await deliveryRow(d2!.seq)).next_attempt_at).toBeNull();
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);

    // Event 1 fans out late and goes first.
    await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: e1.seq }, 1);
    await driveLine(ep.id, (rs) => rs.length === 2 && allDelivered(rs));
    expect(await webhookIds(`/ok/${key}`)).toEqual([e1.id, e2.id]);

    // Event 3's fan-out is refused (fanned_out = 2, as src/pipeline/fanout.ts marks one wider
    // than MAX_FANOUT): event 4 does not wait for it. (A fan-out in trouble is retried and
    // holds the line until it runs: that is what keeps the order.)
    const e3 = await ingest(t.deps, tid, TYPE, { n: 3 });
    const e4 = await ingest(t.deps, tid, TYPE, { n: 4 });
    await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: e4.seq }, 1);
    const d4 = (await deliveriesOfEndpoint(ep.id)).find((r) => r.event_seq === e4.seq)!;
    expect(d4.next_attempt_at).toBeNull();
    await env.DB.prepare(`UPDATE events SET fanned_out = 2 WHERE seq = ?`).bind(e3.seq).run();
    // The DO's re-check alarm now finds nothing earlier un-fanned.
    await runDurableObjectAlarm(stub(ep.id));
    await driveLine(ep.id, (rs) => rs.find((r) => r.seq === d4.seq)?.status === "delivered");
    expect(await webhookIds(`/ok/${key}`)).toEqual([e1.id, e2.id, e4.id]);
  });

  it("the DO rebuilds from D1: after eviction and with its storage wiped it still admits only the head", async () => {
    const { key, ep, events, rows } = await parkedLine(2, (k) => `/ok/${k}`);
    const [d1, d2] = rows as [DeliveryDbRow, DeliveryDbRow];
    // A DO that never saw this endpoint reads the line from D1.
    expect(await stub(ep.id).admit(admitInput(d2))).toEqual({ kind: "park" });
    expect(await stub(ep.id).admit(admitInput(d1))).toMatchObject({ kind: "go" });
    expect(await stub(ep.id).inFlight()).toBe(1);

    // Evicted: the lease survives in its storage, so a duplicate is still held back.
    await evictDurableObject(stub(ep.id));
    expect(await stub(ep.id).admit(admitInput(d1))).toMatchObject({ kind: "later" });

    // Storage lost entirely: the line still comes from D1.
    await runInDurableObject(stub(ep.id), (_instance, state) => state.storage.deleteAll());
    expect(await stub(ep.id).inFlight()).toBe(0);
    expect(await stub(ep.id).admit(admitInput(d2))).toEqual({ kind: "park" });
    await runInDurableObject(stub(ep.id), (_instance, state) => state.storage.deleteAll());
    await stub(ep.id).wake(ep.id);
    await driveLine(ep.id, allDelivered);
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
  });
});

describe("switching ordering", () => {
  it("an endpoint switched from fifo to none still drains its FIFO-era line through the DO; later events go out directly", async () => {
    const { tid, key, ep, events, rows } = await parkedLine(2, (k) => `/ok/${k}`);
    const [d1, d2] = rows as [DeliveryDbRow, DeliveryDbRow];
    await patchEndpoint(tid, ep.id, { ordering: "none" });
    // A message for the second one reaching the consumer is still held back by the line.
    await env.DB.prepare(`UPDATE deliveries SET next_attempt_at = ? WHERE seq = ?`).bind(Date.now(), d2.seq).run();
    const t = testDeps();
    await deliver(t.deps, { d: d2.seq, g: d2.generation });
    expect(await deliveryRow(d2.seq)).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);

    // A new event is not in the line: it gets a message at once, no DO needed.
    const e3 = await ingestAndFanOut(t, tid, TYPE, { n: 3 });
    const d3 = (await deliveriesOfEndpoint(ep.id)).find((r) => r.event_seq === e3.seq)!;
    expect(d3.line_seq).toBeNull();
    expect(deliverMessages(t.delivery).map((m) => m.d)).toEqual([d3.seq]);
    // It is not held behind the old line.
    await deliver(t.deps, deliverMessages(t.delivery)[0]!);
    expect(await deliveryRow(d3.seq)).toMatchObject({ status: "delivered", attempts: 1 });

    await stub(ep.id).wake(ep.id);
    await driveLine(ep.id, allDelivered);
    expect(await webhookIds(`/ok/${key}`)).toEqual([e3.id, events[0]!.id, events[1]!.id]);
    expect(d1.line_seq).toBe(events[0]!.seq);
  });
});

describe("rate limit", () => {
  it("spaces starts at least 1/r s apart; a wait of a second or more re-enqueues with delaySeconds ≥ 1 and counts no attempt", async () => {
    const tid = await newTenant("rate");
    await ensureType(TYPE);
    const key = uniq("rate");
    const rate = 4;
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}`, rate_limit: rate });
    const t = testDeps();
    for (let i = 0; i < 8; i++) await ingestAndFanOut(t, tid, TYPE, { i });
    let pending = deliverMessages(t.delivery);
    expect(pending).toHaveLength(8);

    // A burst of eight in one consumer: the first r starts fit in the first second and are
    // served in the consumer; the rest would wait ≥ 1 s and go back to the queue.
    t.delivery.sent.length = 0;
    await Promise.all(pending.map((m) => deliver(t.deps, m)));
    const afterBurst = await deliveriesOfEndpoint(ep.id);
    const waiting = afterBurst.filter((r) => r.attempts === 0);
    expect(afterBurst.filter((r) => r.attempts === 1).length).toBeGreaterThanOrEqual(rate);
    expect(waiting.length).toBeGreaterThanOrEqual(8 - rate - 1);
    for (const w of waiting) {
      expect(w).toMatchObject({ status: "pending", reason: null });
      expect(await attemptsOf(w.seq)).toEqual([]);
    }
    pending = deliverMessages(t.delivery);
    expect(pending.map((m) => m.d).sort()).toEqual(waiting.map((w) => w.seq).sort());
    for (const m of pending) {
      expect(m.delaySeconds).toBeGreaterThanOrEqual(1);
      expect(m.g).toBe(waiting.find((w) => w.seq === m.d)!.generation);
    }

    // The re-enqueued ones go when they come back (each wait again counts no attempt).
    for (let round = 0; pending.length > 0 && round < 20; round++) {
      t.delivery.sent.length = 0;
      await sleep(200);
      await Promise.all(pending.map((m) => deliver(t.deps, m)));
      pending = deliverMessages(t.delivery);
    }
    const all = await deliveriesOfEndpoint(ep.id);
    expect(all.map((r) => [r.status, r.attempts])).toEqual(all.map(() => ["delivered", 1]));
    const starts = (await Promise.all(all.map(async (r) => (await attemptsOf(r.seq))[0]!.started_at))).sort((x, y) => x - y);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!, `gap before start ${i}`).toBeGreaterThanOrEqual(1000 / rate);
    for (let i = 0; i + rate < starts.length; i++) expect(starts[i + rate]! - starts[i]!, `r + 1 starts from ${i}`).toBeGreaterThanOrEqual(1000);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(8);
  });

  it("through the queue handler a rate-limit wait acks the message and sends a new one, never msg.retry()", async () => {
    const tid = await newTenant("rate-q");
    await ensureType(TYPE);
    const key = uniq("rateq");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}`, rate_limit: 1 });
    const t = testDeps();
    for (let i = 0; i < 2; i++) await ingestAndFanOut(t, tid, TYPE, { i });
    const msgs = deliverMessages(t.delivery);
    // The first starts at once; the second must wait a second or more, so it goes back to the queue.
    const res = await runQueue("switchyard-deliveries", msgs.map((m, i) => qmsg({ kind: "deliver", d: m.d, g: m.g }, `r${i}`)));
    expect(res.retryMessages).toEqual([]);
    expect([...res.explicitAcks].sort()).toEqual(["r0", "r1"]);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    const waiting = (await deliveriesOfEndpoint(ep.id)).filter((r) => r.attempts === 0);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ status: "pending", reason: null });
    expect(await attemptsOf(waiting[0]!.seq)).toEqual([]);
    // It comes back through the real queue and goes out, with one attempt.
    await waitFor("the second delivery", async () => allDelivered(await deliveriesOfEndpoint(ep.id)), 10_000);
    const log = await receiverLog(`/ok/${key}`);
    expect(log).toHaveLength(2);
    expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(1000);
    for (const r of await deliveriesOfEndpoint(ep.id)) expect(r.attempts).toBe(1);
  });
});

describe("pause and resume", () => {
  it("a paused endpoint parks its deliveries and sends nothing; events while paused create none; resume sends the backlog", async () => {
    const tid = await newTenant("pause");
    await ensureType(TYPE);
    const key = uniq("pause");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const t = testDeps();
    const e1 = await ingestAndFanOut(t, tid, TYPE, { n: 1 });
    const e2 = await ingestAndFanOut(t, tid, TYPE, { n: 2 });
    const msgs = deliverMessages(t.delivery);
    await patchEndpoint(tid, ep.id, { status: "paused" });
    await ingestAndFanOut(t, tid, TYPE, { n: 3 }); // fires while paused: no delivery

    for (const m of msgs) await deliver(t.deps, m);
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);
    const parked = await deliveriesOfEndpoint(ep.id);
    expect(parked).toHaveLength(2);
    for (const r of parked) expect(r).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null, reason: null });

    await patchEndpoint(tid, ep.id, { status: "active" });
    await waitFor("the backlog", async () => allDelivered(await deliveriesOfEndpoint(ep.id)), 10_000);
    expect((await webhookIds(`/ok/${key}`)).sort()).toEqual([e1.id, e2.id].sort());
    expect(await deliveriesOfEndpoint(ep.id)).toHaveLength(2);
  });

  it("a paused FIFO endpoint starts nothing, parks a head already in flight, and sends its line in order on resume", async () => {
    const { tid, key, ep, events, rows } = await parkedLine(3, (k) => `/ok/${k}`);
    const [d1] = rows as [DeliveryDbRow];
    const g = await startHead(testDeps().deps.db, d1.seq, Date.now()); // its message is in flight
    await patchEndpoint(tid, ep.id, { status: "paused" });
    const t = testDeps();
    await deliver(t.deps, { d: d1.seq, g: g! });
    expect(await deliveryRow(d1.seq)).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });
    await stub(ep.id).wake(ep.id);
    for (const r of await deliveriesOfEndpoint(ep.id)) expect(r.next_attempt_at).toBeNull();
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);

    await patchEndpoint(tid, ep.id, { status: "active" });
    await driveLine(ep.id, allDelivered);
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
  });
});

describe("auto-disable", () => {
  it("a failed attempt past AUTO_DISABLE_AFTER_S disables the endpoint, fails its pending deliveries with dead letters and emits one switchyard.endpoint.disabled", async () => {
    const tid = await newTenant("autodis");
    await ensureType(TYPE);
    const key = uniq("autodis");
    const ep = await newEndpoint(tid, { url: `${receiver()}/status/500/${key}`, retry_schedule: [60] });
    const t = testDeps({ config: { autoDisableAfterS: 0 } });
    const events = [];
    for (let i = 0; i < 3; i++) events.push(await ingestAndFanOut(t, tid, TYPE, { i }));
    const [m1, m2] = deliverMessages(t.delivery);

    // The first failure of an endpoint that never succeeded is already past 0 s.
    await deliver(t.deps, m1!);
    const endpoint = await endpointRow(ep.id);
    expect(endpoint.status).toBe("disabled");
    expect(endpoint.disabled_reason).toBeTruthy();
    expect(endpoint.failing_since).not.toBeNull();
    const rows = await deliveriesOfEndpoint(ep.id);
    expect(rows.map((r) => [r.status, r.reason, r.attempts])).toEqual([
      ["failed", "endpoint_disabled", 1],
      ["failed", "endpoint_disabled", 0],
      ["failed", "endpoint_disabled", 0],
    ]);
    for (const r of rows) {
      expect(r.next_attempt_at).toBeNull();
      expect(await deadLettersOf({ deliverySeq: r.seq })).toEqual([expect.objectContaining({ reason: "endpoint_disabled", attempts: r.attempts, endpoint_id: ep.id })]);
    }
    const disabledEvents = await operatorEvents("switchyard.endpoint.disabled", "endpoint_id", ep.id);
    expect(disabledEvents).toHaveLength(1);
    expect(JSON.parse(disabledEvents[0]!.data)).toEqual({
      tenant_id: tid,
      endpoint_id: ep.id,
      url: ep.url,
      disabled_reason: endpoint.disabled_reason,
      failing_since: new Date(endpoint.failing_since!).toISOString(),
    });
    expect(fanoutMessages(t.fanout)).toContainEqual({ kind: "fanout", e: disabledEvents[0]!.seq });
    // endpoint_disabled failures emit no switchyard.delivery.failed.
    expect(await operatorEvents("switchyard.delivery.failed", "endpoint_id", ep.id)).toEqual([]);

    // Messages still in the queue send nothing; the retry of the first one neither.
    await deliver(t.deps, m2!);
    for (const m of deliverMessages(t.delivery).slice(3)) await deliver(t.deps, m, Date.now() + 120_000);
    expect(await receiverLog(`/status/500/${key}`)).toHaveLength(1);
    expect(await operatorEvents("switchyard.endpoint.disabled", "endpoint_id", ep.id)).toHaveLength(1);

    // Later matching events are recorded as endpoint_disabled failures, with dead letters.
    const late = await ingestAndFanOut(t, tid, TYPE, { late: true });
    const lateRow = (await deliveriesOfEndpoint(ep.id)).find((r) => r.event_seq === late.seq)!;
    expect(lateRow).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 0 });
    expect(await deadLettersOf({ deliverySeq: lateRow.seq })).toHaveLength(1);

    // Re-enabling clears the reason and the failure clock.
    await patchEndpoint(tid, ep.id, { status: "active" });
    expect(await endpointRow(ep.id)).toEqual({ status: "active", disabled_reason: null, failing_since: null });
  });

  it("failing_since is set by a failed attempt and cleared by a success, without disabling before AUTO_DISABLE_AFTER_S", async () => {
    const tid = await newTenant("failing");
    await ensureType(TYPE);
    const key = uniq("failing");
    const ep = await newEndpoint(tid, { url: `${receiver()}/fail/1/${key}`, retry_schedule: [1] });
    const t = testDeps();
    await ingestAndFanOut(t, tid, TYPE, {});
    const [m] = deliverMessages(t.delivery);
    await deliver(t.deps, m!);
    const failing = await endpointRow(ep.id);
    expect(failing.status).toBe("active");
    expect(failing.failing_since).not.toBeNull();
    await deliver(t.deps, m!, (await deliveryRow(m!.d)).next_attempt_at!);
    expect(await deliveryRow(m!.d)).toMatchObject({ status: "delivered", attempts: 2 });
    expect(await endpointRow(ep.id)).toMatchObject({ status: "active", failing_since: null });
  });
});

describe("production-like concurrency", () => {
  it("fan-out messages for 20 events processed shuffled and in parallel batches still reach a FIFO endpoint in seq order", async () => {
    const tid = await newTenant("conc");
    await ensureType(TYPE);
    const key = uniq("conc");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}`, ordering: "fifo" });
    const t = testDeps();
    const events: { seq: number; id: string }[] = [];
    for (let i = 0; i < 20; i++) events.push(await ingest(t.deps, tid, TYPE, { i }));
    expect(fanoutMessages(t.fanout).map((m) => m.e)).toEqual(events.map((e) => e.seq));

    // Shuffle (Fisher–Yates) and run four batches at once through the real fan-out consumer.
    const shuffled = fanoutMessages(t.fanout).slice();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const batches = [0, 1, 2, 3].map((b) => shuffled.filter((_, i) => i % 4 === b));
    const results = await Promise.all(batches.map((batch) => runQueue("switchyard-fanout", batch.map((m) => qmsg(m)))));
    for (const r of results) expect(r.retryMessages).toEqual([]);

    await driveLine(ep.id, (rs) => rs.length === 20 && allDelivered(rs), 25_000);
    const log = await receiverLog(`/ok/${key}`);
    expect(log.map((r) => r.headers["webhook-id"])).toEqual(events.map((e) => e.id));
    expect(log.every((r) => r.headers["webhook-attempt"] === "1")).toBe(true);
  });
});
