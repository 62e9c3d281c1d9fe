/**
 * FIFO lines, rate limits, pause and resume, ordering switches and FIFO order under
 * production-like concurrency, through the tenant's real TenantLog (data plane v2):
 * `claim` admits only a line's head and the starts whose rate slot has come, and parks
 * the rest; `record` moves a line (its answer names the released head); the log's alarm
 * releases rate-limited waiters and re-drives overdue heads; PATCH status active resumes
 * through core/endpoints' `resume`. Most tests play the queue themselves with a fake
 * deliveries queue (every message the consumer sends is seen and run when the test says);
 * those that say so let the real queue and its local consumer run.
 *
 * (Auto-disable and `failing_since` live in the v2 consumer, src/consumers/endpoint-health.ts,
 * and are tested with it, not here.)
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import { updateEndpoint } from "../../src/core/endpoints";
import { parseLogDeliveryId } from "../../src/domain/ids";
import { dayOf, dayTables } from "../../src/tenant-log/day-tables";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import {
  call,
  consume,
  deadLettersOf,
  deliveriesOfEndpoint,
  deliveryDetail,
  ensureType,
  fakeBatch,
  fakeQueue,
  ingest,
  logOf,
  newEndpoint,
  newTenant,
  patchEndpoint,
  qmsg,
  receiver,
  receiverLog,
  runQueue,
  sleep,
  takeDeliverMessages,
  tenantSeqOf,
  testDeps,
  uniq,
  waitFor,
  type DeliveryItem,
  type FakeQueue,
  type TestDeps,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 60_000 });

const TYPE = "line.item.added";

/** Bounds of waits for the real queue and the log's alarm, sized for a loaded 2-core CI. */
const REAL_QUEUE_MS = 25_000;

type Sent = LogDeliverMessage & { delaySeconds?: number };

/** A message body as the queue carries it (without the fake's `delaySeconds`). */
const bodyOf = ({ delaySeconds: _d, ...m }: Sent): LogDeliverMessage => m;

const deliverOf = (t: number, e: number, ordinals: number[], g: number): LogDeliverMessage => ({ kind: "deliver", t, e, p: ordinals, g });

function ordinalOf(d: Pick<DeliveryItem, "id">): number {
  const key = parseLogDeliveryId(d.id);
  if (!key) throw new Error(`not a delivery id: ${d.id}`);
  return key.ordinal;
}

async function webhookIds(path: string): Promise<string[]> {
  return (await receiverLog(path)).map((r) => r.headers["webhook-id"]!);
}

const allDelivered = (rows: DeliveryItem[]) => rows.length > 0 && rows.every((r) => r.status === "delivered");

/**
 * A tenant with one FIFO endpoint on the receiver and `n` events ingested with a fake
 * queue: only the head's message was sent (it is returned, not run); the rest wait parked.
 */
async function fifoLine(n: number, path: (key: string) => string, endpoint: Record<string, unknown> = {}) {
  const tid = await newTenant("line");
  const tenantSeq = await tenantSeqOf(tid);
  await ensureType(TYPE);
  const key = uniq("line");
  const ep = await newEndpoint(tid, { url: `${receiver()}${path(key)}`, ordering: "fifo", ...endpoint });
  const t = testDeps();
  const events: { seq: number; id: string }[] = [];
  for (let i = 0; i < n; i++) events.push(await ingest(t.deps, tid, TYPE, { i }));
  const rows = await deliveriesOfEndpoint(tid, ep.id);
  expect(rows.map((r) => r.event_id)).toEqual(events.map((e) => e.id));
  const ordinal = ordinalOf(rows[0]!);
  // The head is due at once; every later place waits parked (no message, no due time).
  for (const [i, r] of rows.entries()) {
    expect(r).toMatchObject({ status: "pending", attempts: 0, reason: null });
    if (i === 0) expect(r.next_attempt_at).not.toBeNull();
    else expect(r.next_attempt_at).toBeNull();
  }
  const sent = takeDeliverMessages(t.delivery);
  expect(sent.map(bodyOf)).toEqual([deliverOf(tenantSeq, events[0]!.seq, [ordinal], 0)]);
  return { tid, tenantSeq, key, ep, ordinal, t, events, rows, head: bodyOf(sent[0]!) };
}

/**
 * Plays the queue: runs the messages through the consumer when each is due (its
 * `delaySeconds`), then whatever the consumer sent, until nothing is left. Returns how
 * many messages it ran.
 */
async function drain(t: TestDeps, first: Sent[], timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let waiting = first.map((m) => ({ body: bodyOf(m), dueAt: Date.now() + (m.delaySeconds ?? 0) * 1000 }));
  let ran = 0;
  while (waiting.length > 0) {
    if (Date.now() > deadline) throw new Error(`the queue did not drain: ${JSON.stringify(waiting)}`);
    const now = Date.now();
    const due = waiting.filter((w) => w.dueAt <= now);
    if (due.length === 0) {
      await sleep(Math.min(...waiting.map((w) => w.dueAt)) - now);
      continue;
    }
    waiting = waiting.filter((w) => w.dueAt > now);
    const fb = await consume(t, due.map((w) => w.body));
    expect(fb.retried.size, "no message of ours comes back").toBe(0);
    ran += due.length;
    for (const m of takeDeliverMessages(t.delivery)) waiting.push({ body: bodyOf(m), dueAt: Date.now() + (m.delaySeconds ?? 0) * 1000 });
  }
  return ran;
}

/** The deps' env with other bindings or vars (never assigned onto the real `env`). */
function envWith(t: TestDeps, overrides: Record<string, unknown>): Env {
  return Object.create(t.deps.env, Object.fromEntries(Object.entries(overrides).map(([k, value]) => [k, { value, enumerable: true }]))) as Env;
}

/** Points the tenant's TenantLog at a fake queue: what its alarm sends is recorded, not delivered. */
async function observeLogQueue(tid: string): Promise<FakeQueue> {
  const queue = fakeQueue();
  await runInDurableObject(await logOf(tid), (instance: TenantLog) => {
    const holder = instance as unknown as { env: Env };
    holder.env = Object.create(holder.env, { DELIVERY_QUEUE: { value: queue.queue, enumerable: true } }) as Env;
  });
  return queue;
}

describe("FIFO line", () => {
  it("messages for later events that arrive first send nothing and stay parked; the line goes out in event order, one message per place", async () => {
    const { tenantSeq, key, ep, tid, ordinal, t, events, head } = await fifoLine(3, (k) => `/ok/${k}`);

    // Messages naming the second and third events reach the consumer first, last first.
    const early = await consume(t, [deliverOf(tenantSeq, events[2]!.seq, [ordinal], 0), deliverOf(tenantSeq, events[1]!.seq, [ordinal], 0)]);
    expect(early.acked.size).toBe(2);
    expect(early.retried.size).toBe(0);
    expect(t.delivery.sent).toEqual([]);
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);
    // Still parked: not failed, no attempt counted, not made due.
    for (const r of (await deliveriesOfEndpoint(tid, ep.id)).slice(1)) expect(r).toMatchObject({ status: "pending", attempts: 0, reason: null, next_attempt_at: null });

    // The head goes; each recorded outcome releases the next head: three messages in all.
    expect(await drain(t, [head])).toBe(3);
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
    for (const r of await deliveriesOfEndpoint(tid, ep.id)) expect(r).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a head waiting for its retry holds the line; the next event starts only after it succeeded", async () => {
    const { tenantSeq, tid, key, ep, ordinal, t, events, head } = await fifoLine(2, (k) => `/fail/1/${k}`, { retry_schedule: [1] });
    await consume(t, [head]);
    const [d1, d2] = await deliveriesOfEndpoint(tid, ep.id);
    expect(d1).toMatchObject({ status: "pending", attempts: 1, response_status: 500 });
    expect(d1!.next_attempt_at).not.toBeNull();
    // Its retry is the only message: nothing released the line.
    const sent = takeDeliverMessages(t.delivery);
    expect(sent.map(bodyOf)).toEqual([deliverOf(tenantSeq, events[0]!.seq, [ordinal], 0)]);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(1);
    // The next one stays parked while the head waits, and a message for it is not admitted.
    expect(d2).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });
    await consume(t, [deliverOf(tenantSeq, events[1]!.seq, [ordinal], 0)]);
    expect(t.delivery.sent).toEqual([]);
    expect((await deliveriesOfEndpoint(tid, ep.id))[1]).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });

    await drain(t, sent);
    expect(allDelivered(await deliveriesOfEndpoint(tid, ep.id))).toBe(true);
    const log = await receiverLog(`/fail/1/${key}`);
    expect(log.map((r) => [r.headers["webhook-id"], r.headers["webhook-attempt"]])).toEqual([
      [events[0]!.id, "1"],
      [events[0]!.id, "2"],
      [events[1]!.id, "1"],
    ]);
    expect(log[2]!.startAt).toBeGreaterThanOrEqual(log[1]!.at);
  });

  it("a head that fails for good releases the line; each failure keeps its dead letter", async () => {
    const { tid, key, ep, t, events, head } = await fifoLine(2, (k) => `/status/410/${k}`);
    expect(await drain(t, [head])).toBe(2);
    const rows = await deliveriesOfEndpoint(tid, ep.id);
    for (const r of rows) expect(r).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1, response_status: 410 });
    expect(await webhookIds(`/status/410/${key}`)).toEqual(events.map((e) => e.id));
    // The log's outbox hands the dead letters to D1 on its alarm.
    const dls = await waitFor("the dead letters", async () => {
      const found = await deadLettersOf({ endpointId: ep.id });
      return found.length === 2 && found;
    }, REAL_QUEUE_MS);
    expect(dls.map((dl) => [dl.delivery_id, dl.reason, dl.attempts, dl.last_response_status]).sort()).toEqual(rows.map((r) => [r.id, "non_retryable_status", 1, 410]).sort());
  });

  it("a head refused by the URL policy at send time releases the line", async () => {
    const { tenantSeq, tid, key, ep, ordinal, t, events, head } = await fifoLine(2, (k) => `/ok/${k}`);
    // This consumer runs with private URLs forbidden: the head fails without an attempt.
    const strict = fakeBatch<LogDeliverMessage>("switchyard-deliveries", [{ body: head }]);
    await handleLogDeliveryBatch(strict.batch, envWith(t, { ALLOW_PRIVATE_URLS: "false" }));
    expect(strict.acked.size).toBe(1);
    const [d1] = await deliveriesOfEndpoint(tid, ep.id);
    expect(d1).toMatchObject({ status: "failed", reason: "url_not_allowed", attempts: 0 });
    expect((await deliveryDetail(tid, d1!.id)).attempts).toEqual([]);
    // Its outcome moved the line: the next head is sent at once, with a new generation.
    const released = takeDeliverMessages(t.delivery);
    expect(released.map(bodyOf)).toEqual([deliverOf(tenantSeq, events[1]!.seq, [ordinal], 1)]);
    expect(released[0]!.delaySeconds).toBeUndefined();
    await drain(t, released);
    expect((await deliveriesOfEndpoint(tid, ep.id))[1]).toMatchObject({ status: "delivered", attempts: 1 });
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[1]!.id]);
  });

  it("a head failed by the deliveries DLQ (consumer_error) releases the line; the real queue takes the next head", async () => {
    const { tid, key, ep, events, head } = await fifoLine(2, (k) => `/ok/${k}`);
    // Re-driven for our own trouble for CONSUMER_GIVE_UP_H (72 h), so the DLQ gives it up.
    const trouble = { since: Date.now() - 72 * 3_600_000 - 1, redrives: 80 };
    const res = await runQueue("switchyard-deliveries-dlq", [qmsg({ ...head, trouble }, uniq("dlq"), 6)]);
    expect(res.explicitAcks).toHaveLength(1);
    expect(res.retryMessages).toEqual([]);
    const [d1] = await deliveriesOfEndpoint(tid, ep.id);
    expect(d1).toMatchObject({ status: "failed", reason: "consumer_error", attempts: 0 });
    // The released head went to the real queue; its consumer delivers it.
    await waitFor("the next head to be delivered", async () => (await deliveriesOfEndpoint(tid, ep.id))[1]?.status === "delivered", REAL_QUEUE_MS);
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[1]!.id]);
    const dls = await waitFor("the dead letter", async () => {
      const found = await deadLettersOf({ endpointId: ep.id });
      return found.length > 0 && found;
    }, REAL_QUEUE_MS);
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ delivery_id: d1!.id, event_id: events[0]!.id, reason: "consumer_error", queue: "deliveries", attempts: 0 });
  });

  it("a record whose answer is lost after it committed is retried in process: the released head is still sent, every event goes out in order with no extra request", async () => {
    const { tenantSeq, key, ordinal, t, events, head } = await fifoLine(3, (k) => `/ok/${k}`);
    const real = t.deps.env.TENANT_LOG;
    let records = 0;
    // The first record reaches the object and commits; its answer is lost on the way back.
    const losing = {
      getByName(name: string) {
        const stub = real.getByName(name);
        return {
          claim: (...args: Parameters<typeof stub.claim>) => stub.claim(...args),
          record: async (...args: Parameters<typeof stub.record>) => {
            records += 1;
            const answer = await stub.record(...args);
            if (records === 1) throw new Error("Durable Object reset because its code was updated. (fake)");
            return answer;
          },
        };
      },
    } as unknown as Env["TENANT_LOG"];
    const fb = fakeBatch<LogDeliverMessage>("switchyard-deliveries", [{ body: head }]);
    await handleLogDeliveryBatch(fb.batch, envWith(t, { TENANT_LOG: losing }));
    expect(records).toBe(2);
    expect(fb.acked.size).toBe(1);
    expect(fb.retried.size).toBe(0);
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[0]!.id]);
    // The repeated record answered the released head again: it is sent once.
    const released = takeDeliverMessages(t.delivery);
    expect(released.map(bodyOf)).toEqual([deliverOf(tenantSeq, events[1]!.seq, [ordinal], 1)]);
    await drain(t, released);
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
  });

  it("a released head whose send failed is not stranded: the redelivered message is stale, and the log's alarm re-drives the head once overdue", async () => {
    const { tid, key, ep, t, events, head } = await fifoLine(2, (k) => `/ok/${k}`);
    // The outcome is recorded, but sending the released head fails: the message comes back.
    const refused = fakeBatch<LogDeliverMessage>("switchyard-deliveries", [{ body: head }]);
    await handleLogDeliveryBatch(refused.batch, envWith(t, { DELIVERY_QUEUE: fakeQueue(true).queue }));
    expect(refused.retried.size).toBe(1);
    expect(refused.acked.size).toBe(0);
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[0]!.id]);
    // Redelivered, it finds its delivery recorded: acked, nothing sent again.
    const again = await consume(t, [head], 2);
    expect(again.acked.size).toBe(1);
    expect(t.delivery.sent).toEqual([]);
    expect(await webhookIds(`/ok/${key}`)).toEqual([events[0]!.id]);
    const [d1, d2] = await deliveriesOfEndpoint(tid, ep.id);
    expect(d1).toMatchObject({ status: "delivered", attempts: 1 });
    // The next head is due, with no message on its way.
    expect(d2).toMatchObject({ status: "pending", attempts: 0 });
    expect(d2!.next_attempt_at).not.toBeNull();

    // Fifteen minutes later (its due time moved back in the log's own table) the alarm re-drives it.
    const log = await logOf(tid);
    await runInDurableObject(log, (_instance: TenantLog, state) => {
      const table = dayTables(dayOf(Date.parse(d2!.created_at))).deliveries;
      state.storage.sql.exec(`UPDATE ${table} SET next_attempt_at = next_attempt_at - ? WHERE event_seq = ?`, 16 * 60_000, events[1]!.seq);
    });
    await evictDurableObject(log); // what it remembers of its last look goes with the instance
    expect(await runDurableObjectAlarm(log)).toBe(true);
    await waitFor("the re-driven head to be delivered", async () => allDelivered(await deliveriesOfEndpoint(tid, ep.id)), REAL_QUEUE_MS);
    const got = await receiverLog(`/ok/${key}`);
    expect(got.map((r) => [r.headers["webhook-id"], r.headers["webhook-attempt"]])).toEqual([
      [events[0]!.id, "1"],
      [events[1]!.id, "1"],
    ]);
  });

  it("copies of the head's message in two consumers at once start it once", async () => {
    const { tid, key, ep, t, head } = await fifoLine(1, (k) => `/slow/150/${k}`);
    const [a, b] = await Promise.all([consume(t, [head]), consume(t, [head])]);
    expect(a.acked.size + b.acked.size).toBe(2);
    expect(await receiverLog(`/slow/150/${key}`)).toHaveLength(1);
    expect((await deliveriesOfEndpoint(tid, ep.id))[0]).toMatchObject({ status: "delivered", attempts: 1 });
    // The copy that found the line held comes back after the head's lease, and is stale then.
    const later = takeDeliverMessages(t.delivery);
    expect(later.map(bodyOf)).toEqual([head]);
    expect(later[0]!.delaySeconds).toBeGreaterThanOrEqual(1);
    await consume(t, later.map(bodyOf));
    expect(t.delivery.sent).toEqual([]);
    expect(await receiverLog(`/slow/150/${key}`)).toHaveLength(1);
  });

  it("a copy of the head's message that arrives after that attempt was recorded sends nothing", async () => {
    const { tid, key, ep, t, head } = await fifoLine(1, (k) => `/status/500/${k}`, { retry_schedule: [60] });
    await consume(t, [head]);
    const [retry] = takeDeliverMessages(t.delivery);
    expect(retry!.delaySeconds).toBeGreaterThanOrEqual(50);
    const [waiting] = await deliveriesOfEndpoint(tid, ep.id);
    expect(waiting).toMatchObject({ status: "pending", attempts: 1 });
    const before = await deliveryDetail(tid, waiting!.id);

    // A second consumer got a copy of the same message: its retry is not due, so it is only
    // sent again for when it is.
    const copy = await consume(t, [head], 2);
    expect(copy.acked.size).toBe(1);
    expect(await receiverLog(`/status/500/${key}`)).toHaveLength(1);
    const [resent] = takeDeliverMessages(t.delivery);
    expect(bodyOf(resent!)).toEqual(head);
    expect(resent!.delaySeconds).toBeGreaterThanOrEqual(50);
    // Still waiting for its retry, exactly as the first copy left it.
    expect(await deliveryDetail(tid, waiting!.id)).toEqual(before);
  });

  it("events accepted in parallel are lined up in acceptance order (only the first is due); an event whose send was refused is removed and holds no place", async () => {
    const tid = await newTenant("race");
    const tenantSeq = await tenantSeqOf(tid);
    await ensureType(TYPE);
    const key = uniq("race");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/fifo`, ordering: "fifo" });
    // A plain endpoint too: every event has a message to send, so a refused send can happen.
    await newEndpoint(tid, { url: `${receiver()}/ok/${key}/plain` });
    const t = testDeps();
    const events = (await Promise.all([0, 1, 2, 3, 4].map((i) => ingest(t.deps, tid, TYPE, { i })))).sort((x, y) => x.seq - y.seq);
    const first = takeDeliverMessages(t.delivery);
    expect(first.map((m) => m.e).sort((x, y) => x - y)).toEqual(events.map((e) => e.seq));
    const ordinal = ordinalOf((await deliveriesOfEndpoint(tid, ep.id))[0]!);
    // Only the lowest seq names the FIFO endpoint: no later event overtakes it.
    expect(first.filter((m) => m.p.includes(ordinal)).map((m) => [m.t, m.e, m.g])).toEqual([[tenantSeq, events[0]!.seq, 0]]);

    // An unkeyed event whose queue send is refused answers 503 and is removed from the log,
    // its place in the line with it.
    const refusing = testDeps({ delivery: fakeQueue(true) });
    await expect(ingest(refusing.deps, tid, TYPE, { refused: 1 })).rejects.toMatchObject({ status: 503 });
    const after = await ingest(t.deps, tid, TYPE, { i: 5 });
    const afterMsgs = takeDeliverMessages(t.delivery);
    expect(afterMsgs.filter((m) => m.p.includes(ordinal))).toEqual([]); // parked behind the line
    const listed = await call("GET", `/v1/tenants/${tid}/events?limit=100`);
    expect(listed.body.data).toHaveLength(6);
    expect(await deliveriesOfEndpoint(tid, ep.id)).toHaveLength(6);

    await drain(t, [...first, ...afterMsgs]);
    const inOrder = [...events, after].map((e) => e.id);
    expect(await webhookIds(`/ok/${key}/fifo`)).toEqual(inOrder);
    expect((await webhookIds(`/ok/${key}/plain`)).sort()).toEqual([...inOrder].sort());

    // The line is empty; a refused event that was its head is removed as well, and the next one is due at once.
    await expect(ingest(refusing.deps, tid, TYPE, { refused: 2 })).rejects.toMatchObject({ status: 503 });
    const last = await ingest(t.deps, tid, TYPE, { i: 6 });
    const lastMsgs = takeDeliverMessages(t.delivery);
    expect(lastMsgs.map((m) => [m.e, [...m.p].sort()])).toEqual([[last.seq, expect.arrayContaining([ordinal])]]);
    await drain(t, lastMsgs);
    expect(await webhookIds(`/ok/${key}/fifo`)).toEqual([...inOrder, last.id]);
    const rows = await deliveriesOfEndpoint(tid, ep.id);
    expect(rows).toHaveLength(7);
    expect(allDelivered(rows)).toBe(true);
  });

  it("the line is the log's own: after an eviction only the head is admitted, and the line moves on", async () => {
    const { tenantSeq, tid, key, ep, ordinal, t, events, head } = await fifoLine(2, (k) => `/ok/${k}`);
    const log = await logOf(tid);
    await evictDurableObject(log);
    await consume(t, [deliverOf(tenantSeq, events[1]!.seq, [ordinal], 0)]);
    expect(t.delivery.sent).toEqual([]);
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);
    expect((await deliveriesOfEndpoint(tid, ep.id))[1]).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });

    await consume(t, [head]);
    const released = takeDeliverMessages(t.delivery);
    expect(released.map(bodyOf)).toEqual([deliverOf(tenantSeq, events[1]!.seq, [ordinal], 1)]);
    await evictDurableObject(log);
    await drain(t, released);
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
  });
});

describe("switching ordering", () => {
  it("an endpoint switched from fifo to none still drains its FIFO-era line in order; later events go out directly", async () => {
    const { tenantSeq, tid, key, ep, ordinal, t, events, head } = await fifoLine(2, (k) => `/ok/${k}`);
    await patchEndpoint(tid, ep.id, { ordering: "none" });
    // A message for the second one reaching the consumer is still held back by the line.
    await consume(t, [deliverOf(tenantSeq, events[1]!.seq, [ordinal], 0)]);
    expect((await deliveriesOfEndpoint(tid, ep.id))[1]).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);

    // A new event is not in the line: it gets a message at once and is not held behind the line.
    const e3 = await ingest(t.deps, tid, TYPE, { n: 3 });
    const direct = takeDeliverMessages(t.delivery);
    expect(direct.map(bodyOf)).toEqual([deliverOf(tenantSeq, e3.seq, [ordinal], 0)]);
    await consume(t, direct.map(bodyOf));
    expect((await deliveriesOfEndpoint(tid, ep.id))[2]).toMatchObject({ event_id: e3.id, status: "delivered", attempts: 1 });
    expect(t.delivery.sent).toEqual([]); // it released nothing

    await drain(t, [head]);
    expect(await webhookIds(`/ok/${key}`)).toEqual([e3.id, events[0]!.id, events[1]!.id]);
  });
});

describe("rate limit", () => {
  it("spaces starts at least 1/r s apart: a burst starts what fits in the next second, parks the rest without an attempt, and the log's alarm releases each waiter once", async () => {
    const tid = await newTenant("rate");
    await ensureType(TYPE);
    const key = uniq("rate");
    const rate = 4;
    const N = 8;
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}`, rate_limit: rate });
    const released = await observeLogQueue(tid);
    const t = testDeps();
    for (let i = 0; i < N; i++) await ingest(t.deps, tid, TYPE, { i });
    const burst = takeDeliverMessages(t.delivery);
    expect(burst).toHaveLength(N);

    // A burst of eight in one consumer: the first r starts fit in the next second and are
    // served by it; the rest are parked for the log to release.
    const fb = await consume(t, burst.map(bodyOf));
    expect(fb.acked.size).toBe(N);
    expect(fb.retried.size).toBe(0);
    expect(t.delivery.sent).toEqual([]); // the log owns the wake-up: no message of the consumer's
    const afterBurst = await deliveriesOfEndpoint(tid, ep.id);
    expect(afterBurst.filter((r) => r.status === "delivered" && r.attempts === 1)).toHaveLength(rate);
    const waiting = afterBurst.filter((r) => r.attempts === 0);
    expect(waiting).toHaveLength(N - rate);
    for (const w of waiting) {
      expect(w).toMatchObject({ status: "pending", reason: null, next_attempt_at: null });
      expect((await deliveryDetail(tid, w.id)).attempts).toEqual([]);
    }

    // The log's alarm releases the waiters at the endpoint's pace; each is sent once.
    const releasedPerEvent = new Map<string, number>();
    let taken = 0;
    await waitFor(
      "every waiter to be released and delivered",
      async () => {
        const fresh = released.sent.slice(taken).map((m) => m.body as LogDeliverMessage);
        taken += fresh.length;
        for (const m of fresh) releasedPerEvent.set(`${m.e}:${m.p.join(",")}`, (releasedPerEvent.get(`${m.e}:${m.p.join(",")}`) ?? 0) + 1);
        if (fresh.length) await consume(t, fresh);
        return allDelivered(await deliveriesOfEndpoint(tid, ep.id));
      },
      REAL_QUEUE_MS,
    );
    expect(t.delivery.sent).toEqual([]);
    expect(releasedPerEvent.size).toBe(N - rate);
    expect([...releasedPerEvent.values()].every((n) => n === 1)).toBe(true);
    const all = await deliveriesOfEndpoint(tid, ep.id);
    expect(all.map((r) => [r.status, r.attempts])).toEqual(all.map(() => ["delivered", 1]));
    const starts = (await Promise.all(all.map(async (r) => Date.parse((await deliveryDetail(tid, r.id)).attempts[0]!.started_at)))).sort((x, y) => x - y);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!, `gap before start ${i}`).toBeGreaterThanOrEqual(1000 / rate);
    for (let i = 0; i + rate < starts.length; i++) expect(starts[i + rate]! - starts[i]!, `r + 1 starts from ${i}`).toBeGreaterThanOrEqual(1000);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(N);
  });

  it("through the queue handler a rate-limit wait acks the message and never msg.retry(); the log's alarm sends it through the real queue when its slot comes", async () => {
    const tid = await newTenant("rate-q");
    await ensureType(TYPE);
    const key = uniq("rateq");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}`, rate_limit: 1 });
    const t = testDeps();
    for (let i = 0; i < 2; i++) await ingest(t.deps, tid, TYPE, { i });
    const msgs = takeDeliverMessages(t.delivery);
    expect(msgs).toHaveLength(2);
    // The first starts at once; the second must wait a second or more, so it is parked.
    const res = await runQueue("switchyard-deliveries", msgs.map((m, i) => qmsg(bodyOf(m), `r${i}`)));
    expect(res.retryMessages).toEqual([]);
    expect([...res.explicitAcks].sort()).toEqual(["r0", "r1"]);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    const waiting = (await deliveriesOfEndpoint(tid, ep.id)).filter((r) => r.attempts === 0);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ status: "pending", reason: null });
    expect((await deliveryDetail(tid, waiting[0]!.id)).attempts).toEqual([]);
    // The alarm sends it through the real queue; it goes out with one attempt.
    await waitFor("the second delivery", async () => allDelivered(await deliveriesOfEndpoint(tid, ep.id)), REAL_QUEUE_MS);
    const log = await receiverLog(`/ok/${key}`);
    expect(log).toHaveLength(2);
    expect(log[1]!.startAt - log[0]!.startAt).toBeGreaterThanOrEqual(1000);
    for (const r of await deliveriesOfEndpoint(tid, ep.id)) expect(r.attempts).toBe(1);
  });
});

describe("pause and resume", () => {
  it("a paused endpoint parks its deliveries and sends nothing; events while paused create none; resume sends the backlog", async () => {
    const tid = await newTenant("pause");
    await ensureType(TYPE);
    const key = uniq("pause");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const t = testDeps();
    const e1 = await ingest(t.deps, tid, TYPE, { n: 1 });
    const e2 = await ingest(t.deps, tid, TYPE, { n: 2 });
    const msgs = takeDeliverMessages(t.delivery);
    await patchEndpoint(tid, ep.id, { status: "paused" });
    await ingest(t.deps, tid, TYPE, { n: 3 }); // accepted while paused: no delivery
    expect(takeDeliverMessages(t.delivery)).toEqual([]);

    const fb = await consume(t, msgs.map(bodyOf));
    expect(fb.acked.size).toBe(msgs.length);
    expect(t.delivery.sent).toEqual([]);
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);
    const parked = await deliveriesOfEndpoint(tid, ep.id);
    expect(parked.map((r) => r.event_id)).toEqual([e1.id, e2.id]);
    for (const r of parked) expect(r).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null, reason: null });

    // Resume (PATCH status active) sends the backlog through the real queue.
    await patchEndpoint(tid, ep.id, { status: "active" });
    await waitFor("the backlog", async () => allDelivered(await deliveriesOfEndpoint(tid, ep.id)), REAL_QUEUE_MS);
    expect((await webhookIds(`/ok/${key}`)).sort()).toEqual([e1.id, e2.id].sort());
    expect(await deliveriesOfEndpoint(tid, ep.id)).toHaveLength(2);
  });

  it("a paused FIFO endpoint starts nothing, parks a head already in flight, and sends its line in order on resume", async () => {
    const { tenantSeq, tid, key, ep, ordinal, t, events, head } = await fifoLine(3, (k) => `/ok/${k}`);
    await patchEndpoint(tid, ep.id, { status: "paused" });
    // The head's message was already in flight: it is parked, not sent, no attempt counted.
    const fb = await consume(t, [head]);
    expect(fb.acked.size).toBe(1);
    expect(t.delivery.sent).toEqual([]);
    for (const r of await deliveriesOfEndpoint(tid, ep.id)) expect(r).toMatchObject({ status: "pending", attempts: 0, next_attempt_at: null });
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);

    // Resume (what PATCH status active runs, here with the fake queue) starts the line from
    // its head, with a new generation; the head goes out at once, then the rest in order.
    await updateEndpoint({ ...t.deps, now: Date.now() }, tid, ep.id, { status: "active" });
    const resumed = takeDeliverMessages(t.delivery);
    expect(resumed.map(bodyOf)).toEqual([deliverOf(tenantSeq, events[0]!.seq, [ordinal], 1)]);
    await consume(t, resumed.map(bodyOf));
    expect(await webhookIds(`/ok/${key}`), "the resumed head is sent by its message, not held back").toEqual([events[0]!.id]);
    await drain(t, takeDeliverMessages(t.delivery));
    expect(await webhookIds(`/ok/${key}`)).toEqual(events.map((e) => e.id));
    expect(allDelivered(await deliveriesOfEndpoint(tid, ep.id))).toBe(true);
  });
});

describe("production-like concurrency", () => {
  it("delivery messages of 20 events, processed shuffled and in parallel batches with copies, still reach a FIFO endpoint in event order", async () => {
    const tid = await newTenant("conc");
    const tenantSeq = await tenantSeqOf(tid);
    await ensureType(TYPE);
    const key = uniq("conc");
    const fifo = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/fifo`, ordering: "fifo" });
    await newEndpoint(tid, { url: `${receiver()}/ok/${key}/a` });
    await newEndpoint(tid, { url: `${receiver()}/ok/${key}/b` });
    const t = testDeps();
    // Accepted in parallel: acceptance order is seq order.
    const events = (await Promise.all(Array.from({ length: 20 }, (_, i) => ingest(t.deps, tid, TYPE, { i })))).sort((x, y) => x.seq - y.seq);
    const first = takeDeliverMessages(t.delivery).map(bodyOf);
    // One message per event (its two plain endpoints); the FIFO endpoint only in the head's.
    expect(first.map((m) => m.e).sort((x, y) => x - y)).toEqual(events.map((e) => e.seq));
    const fifoOrdinal = ordinalOf((await deliveriesOfEndpoint(tid, fifo.id))[0]!);
    expect(first.filter((m) => m.p.includes(fifoOrdinal)).map((m) => m.e)).toEqual([events[0]!.seq]);
    for (const m of first) expect(m).toMatchObject({ t: tenantSeq, g: 0 });

    const shuffle = <T>(items: T[]): T[] => {
      const out = items.slice();
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    };
    // Every round: the messages so far shuffled into four batches run at once; what the
    // consumers send is the next round. From the second round on (released heads, which name
    // only the FIFO endpoint) each message also comes with a copy: at-least-once. (A copy of
    // a plain endpoint's untried message may be sent twice by design, so those are not copied.)
    let round = first;
    for (let n = 0; round.length > 0; n++) {
      expect(n, "rounds").toBeLessThan(60);
      if (n > 0) for (const m of round) expect(m.p).toEqual([fifoOrdinal]);
      const shuffled = shuffle(n === 0 ? round : [...round, ...round]);
      const batches = [0, 1, 2, 3].map((b) => shuffled.filter((_, i) => i % 4 === b)).filter((b) => b.length > 0);
      const results = await Promise.all(batches.map((batch) => consume(t, batch)));
      for (const r of results) expect(r.retried.size).toBe(0);
      round = takeDeliverMessages(t.delivery).map(bodyOf);
    }

    const rows = await deliveriesOfEndpoint(tid, fifo.id);
    expect(rows).toHaveLength(20);
    expect(allDelivered(rows)).toBe(true);
    const log = await receiverLog(`/ok/${key}/fifo`);
    expect(log.map((r) => r.headers["webhook-id"])).toEqual(events.map((e) => e.id));
    expect(log.every((r) => r.headers["webhook-attempt"] === "1")).toBe(true);
    for (let i = 1; i < log.length; i++) expect(log[i]!.startAt, `request ${i} starts after ${i - 1} was answered`).toBeGreaterThanOrEqual(log[i - 1]!.at);
    // The plain endpoints got every event once, in any order.
    for (const name of ["a", "b"]) expect((await webhookIds(`/ok/${key}/${name}`)).sort()).toEqual(events.map((e) => e.id).sort());
  });
});
