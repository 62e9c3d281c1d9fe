/**
 * Retry scheduling, final statuses, dead letters and the operational event of a failure
 * (data plane v2): each attempt is run through the v2 consumer (`handleLogDeliveryBatch`)
 * with a fake deliveries queue, so every retry message and its `delaySeconds` is seen
 * exactly; the log is read through the API (and the tenant's TenantLog for generations);
 * dead letters reach D1 through the TenantLog's outbox, flushed by its alarm.
 *
 * The deliveries DLQ's give-up tests (consumer_error after CONSUMER_GIVE_UP_H, a stale DLQ
 * message) moved to test/integration/consumer-dead-letters.test.ts with the DLQ consumer.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import {
  call,
  consume,
  deadLettersOf,
  deliveriesOfEndpoint,
  deliveryDetail,
  endpointRow,
  ensureType,
  ingest,
  logOf,
  newEndpoint,
  newTenant,
  operatorEvents,
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
  type DeadLetterDbRow,
  type TestDeps,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 60_000 });

/** Bounds of every poll: a loaded 2-core CI machine runs the whole suite at once. */
const WAIT_MS = 20_000;

const TYPE = "retry.thing.happened";
const DELIVERY_FAILED = "switchyard.delivery.failed";

/** A message body as the queue carries it (a fake queue's copy also records its delay). */
const bodyOf = (m: LogDeliverMessage & { delaySeconds?: number }): LogDeliverMessage => ({ kind: m.kind, t: m.t, e: m.e, p: m.p, g: m.g });

/** A tenant with one endpoint and one event ingested with a fake queue: its one deliver message, not yet run. */
async function setup(path: (key: string) => string, endpoint: Record<string, unknown> = {}) {
  const tid = await newTenant("retry");
  await ensureType(TYPE);
  const key = uniq("retry");
  const ep = await newEndpoint(tid, { url: `${receiver()}${path(key)}`, ...endpoint });
  const t = testDeps();
  const ev = await ingest(t.deps, tid, TYPE, { key });
  const [m, ...more] = takeDeliverMessages(t.delivery);
  expect(more).toEqual([]);
  const msg = bodyOf(m!);
  expect(msg).toMatchObject({ kind: "deliver", t: await tenantSeqOf(tid), e: ev.seq, g: 0 });
  expect(msg.p).toHaveLength(1);
  const [d, ...others] = await deliveriesOfEndpoint(tid, ep.id);
  expect(others).toEqual([]);
  expect(d).toMatchObject({ event_id: ev.id, status: "pending", attempts: 0 });
  return { tid, key, ep, t, ev, msg, ordinal: msg.p[0]!, deliveryId: d!.id, log: await logOf(tid) };
}

/** Runs one message through the consumer; answers the deliver messages it sent (the fake queue is emptied). */
async function run(t: TestDeps, msg: LogDeliverMessage) {
  const fb = await consume(t, [msg]);
  expect(fb.retried.size, "our own trouble handed the message back").toBe(0);
  expect(fb.acked.size).toBe(1);
  return takeDeliverMessages(t.delivery);
}

/** Waits (in real time: the consumer claims with Date.now()) until the delivery's next attempt is due. */
async function untilDue(tid: string, deliveryId: string): Promise<void> {
  const next = (await deliveryDetail(tid, deliveryId)).next_attempt_at;
  expect(next).not.toBeNull();
  await sleep(Math.max(0, Date.parse(next!) - Date.now() + 20));
}

/**
 * Runs the tenant's alarm (its outbox flush) and waits until D1 holds `n` dead letters of
 * the endpoint (each test has endpoints of its own); the caller checks whose they are.
 */
async function flushedDeadLetters(tid: string, endpointId: string, n = 1): Promise<DeadLetterDbRow[]> {
  await runDurableObjectAlarm(await logOf(tid));
  return waitFor(`${n} dead letter(s) of ${endpointId} in D1`, async () => {
    const rows = await deadLettersOf({ endpointId });
    return rows.length >= n && rows;
  }, WAIT_MS);
}

/** `_operator`'s switchyard.delivery.failed events for a delivery, once at least one is there. */
async function reportedFailures(deliveryId: string) {
  return waitFor(`the ${DELIVERY_FAILED} of ${deliveryId}`, async () => {
    const ops = await operatorEvents(DELIVERY_FAILED, "delivery_id", deliveryId);
    return ops.length > 0 && ops;
  }, WAIT_MS);
}

/** Milliseconds between the end of an attempt and the next one's due time, as the API shows them. */
function waitAfter(attempt: { started_at: string; duration_ms: number }, nextAttemptAt: string | null): number {
  return Date.parse(nextAttemptAt!) - (Date.parse(attempt.started_at) + attempt.duration_ms);
}

describe("retry scheduling", () => {
  it("a 500 sends a new message delayed by the schedule ±10 %, records each attempt, and exhaustion fails the delivery with a dead letter and an operational event", async () => {
    // Schedule [3, 4]: short enough to wait for in real time, long enough that ±10 % shows.
    const { tid, key, ep, t, ev, msg, ordinal, deliveryId, log } = await setup((k) => `/status/500/${k}`, { retry_schedule: [3, 4] });

    // Attempt 1 → a retry in 3 s ± 10 %, as a new message for the same delivery and generation.
    let sent = await run(t, msg);
    // The same message arriving again at once (before next_attempt_at) sends nothing and is
    // sent again for the rest of the wait.
    const early = await run(t, msg);
    expect(await receiverLog(`/status/500/${key}`)).toHaveLength(1);
    expect(early).toHaveLength(1);
    expect(bodyOf(early[0]!)).toEqual(msg);
    expect(early[0]!.delaySeconds).toBeGreaterThanOrEqual(1);
    expect(early[0]!.delaySeconds).toBeLessThanOrEqual(4);

    let detail = await deliveryDetail(tid, deliveryId);
    expect(detail).toMatchObject({ status: "pending", reason: null, response_status: 500 });
    expect(detail.attempts.map((a) => [a.n, a.response_status])).toEqual([[1, 500]]);
    expect(await log.getDelivery(ordinal, ev.seq)).toMatchObject({ generation: msg.g, attempts: 1 });
    expect(sent).toHaveLength(1);
    expect(bodyOf(sent[0]!)).toEqual(msg);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(3); // ceil(2.7..3.3 s)
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(4);
    let wait = waitAfter(detail.attempts[0]!, detail.next_attempt_at);
    expect(wait).toBeGreaterThanOrEqual(2700 - 1);
    expect(wait).toBeLessThanOrEqual(3300 + 1);

    // Attempt 2, when due → a retry in 4 s ± 10 %.
    await untilDue(tid, deliveryId);
    sent = await run(t, msg);
    detail = await deliveryDetail(tid, deliveryId);
    expect(detail).toMatchObject({ status: "pending", reason: null, response_status: 500 });
    expect(detail.attempts).toHaveLength(2);
    expect(sent).toHaveLength(1);
    expect(bodyOf(sent[0]!)).toEqual(msg);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(4); // ceil(3.6..4.4 s)
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(5);
    wait = waitAfter(detail.attempts[1]!, detail.next_attempt_at);
    expect(wait).toBeGreaterThanOrEqual(3600 - 1);
    expect(wait).toBeLessThanOrEqual(4400 + 1);

    // Attempt 3: the schedule [3, 4] allows three attempts, so this one exhausts it.
    await untilDue(tid, deliveryId);
    sent = await run(t, msg);
    expect(sent).toEqual([]);
    detail = await deliveryDetail(tid, deliveryId);
    expect(detail).toMatchObject({ status: "failed", reason: "retries_exhausted", next_attempt_at: null, response_status: 500 });
    expect(detail.attempts.map((a) => [a.n, a.response_status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
    ]);
    expect((await deliveriesOfEndpoint(tid, ep.id)).map((d) => [d.id, d.status, d.reason, d.attempts])).toEqual([[deliveryId, "failed", "retries_exhausted", 3]]);
    const requests = await receiverLog(`/status/500/${key}`);
    expect(requests.map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2", "3"]);
    expect(new Set(requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set([ev.id]));
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);

    // The dead letter, once the TenantLog's alarm has flushed its outbox.
    const [dl, ...more] = await flushedDeadLetters(tid, ep.id);
    expect(more).toEqual([]);
    expect(dl).toMatchObject({ tenant_id: tid, endpoint_id: ep.id, delivery_id: deliveryId, event_id: ev.id, event_type: TYPE, reason: "retries_exhausted", attempts: 3, last_response_status: 500, queue: null, generation: 0 });

    // switchyard.delivery.failed for _operator, with the design's data: an event in _operator's log like any other.
    const ops = await reportedFailures(deliveryId);
    expect(ops).toHaveLength(1);
    expect(ops[0]!.data).toEqual({
      tenant_id: tid,
      endpoint_id: ep.id,
      delivery_id: deliveryId,
      event_id: ev.id,
      event_type: TYPE,
      reason: "retries_exhausted",
      attempts: 3,
      last_response_status: 500,
    });
    const opEvent = await call("GET", `/v1/tenants/_operator/events/${ops[0]!.id}`);
    expect(opEvent.status, JSON.stringify(opEvent.body)).toBe(200);
    expect(opEvent.body).toMatchObject({ id: ops[0]!.id, type: DELIVERY_FAILED, data: ops[0]!.data });

    // The retry message of attempt 2 arriving late finds the delivery failed: nothing more is sent.
    expect(await run(t, msg)).toEqual([]);
    expect(await receiverLog(`/status/500/${key}`)).toHaveLength(3);
    expect((await deliveryDetail(tid, deliveryId)).attempts).toHaveLength(3);
    expect(await deadLettersOf({ endpointId: ep.id })).toHaveLength(1);
  });

  it("through the queue handler a retry is a new message and the original is acked, never msg.retry()", async () => {
    const { tid, key, msg, deliveryId } = await setup((k) => `/status/503/${k}`, { retry_schedule: [600] });
    const before = Date.now();
    const res = await runQueue("switchyard-deliveries", [qmsg(msg, "m-503")]);
    expect(res.outcome).toBe("ok");
    expect(res.retryMessages).toEqual([]);
    expect(res.explicitAcks).toEqual(["m-503"]);
    expect(await receiverLog(`/status/503/${key}`)).toHaveLength(1);
    const detail = await deliveryDetail(tid, deliveryId);
    expect(detail).toMatchObject({ status: "pending", reason: null, response_status: 503 });
    expect(detail.attempts).toHaveLength(1);
    expect(Date.parse(detail.next_attempt_at!) - before).toBeGreaterThan(500_000);
  });

  it("a 429 with Retry-After waits at least that long (jitter never shortens it), then delivers", async () => {
    // Retry-After 4 s against a schedule of 1 s ± 10 %: the wait is the Retry-After.
    const { tid, key, t, msg, deliveryId } = await setup((k) => `/retry-after/4/${k}`, { retry_schedule: [1, 1] });
    const sent = await run(t, msg);
    const detail = await deliveryDetail(tid, deliveryId);
    expect(detail).toMatchObject({ status: "pending", reason: null, response_status: 429 });
    expect(detail.attempts.map((a) => [a.n, a.response_status])).toEqual([[1, 429]]);
    expect(sent).toHaveLength(1);
    expect(bodyOf(sent[0]!)).toEqual(msg);
    expect(sent[0]!.delaySeconds).toBe(4);
    expect(waitAfter(detail.attempts[0]!, detail.next_attempt_at)).toBeGreaterThanOrEqual(4000);

    await untilDue(tid, deliveryId);
    expect(await run(t, msg)).toEqual([]);
    const done = await deliveryDetail(tid, deliveryId);
    expect(done).toMatchObject({ status: "delivered", reason: null, response_status: 200, next_attempt_at: null });
    expect(done.attempts.map((a) => [a.n, a.response_status])).toEqual([
      [1, 429],
      [2, 200],
    ]);
    expect((await receiverLog(`/retry-after/4/${key}`)).map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2"]);
  });
});

describe("final statuses", () => {
  it("a 410 is final after one attempt: failed non_retryable_status with a dead letter; the endpoint stays active", async () => {
    const { tid, key, ep, t, ev, msg, deliveryId } = await setup((k) => `/status/410/${k}`, { retry_schedule: [1, 1, 1] });
    expect(await run(t, msg)).toEqual([]);
    const detail = await deliveryDetail(tid, deliveryId);
    expect(detail).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 410, next_attempt_at: null });
    expect(detail.attempts).toHaveLength(1);
    expect(await receiverLog(`/status/410/${key}`)).toHaveLength(1);
    expect(await flushedDeadLetters(tid, ep.id)).toEqual([
      expect.objectContaining({ reason: "non_retryable_status", attempts: 1, last_response_status: 410, endpoint_id: ep.id, tenant_id: tid, event_id: ev.id, delivery_id: deliveryId, queue: null }),
    ]);
    const ops = await reportedFailures(deliveryId);
    expect(ops.map((o) => o.data)).toEqual([expect.objectContaining({ reason: "non_retryable_status", attempts: 1, last_response_status: 410 })]);
    expect((await endpointRow(ep.id)).status).toBe("active");
  });

  it("a 302 is final: the redirect is not followed and its location is recorded", async () => {
    const { tid, key, ep, t, msg, deliveryId } = await setup((k) => `/status/302/${k}`, { retry_schedule: [1] });
    expect(await run(t, msg)).toEqual([]);
    const detail = await deliveryDetail(tid, deliveryId);
    expect(detail).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 302 });
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: 302, location: "http://127.0.0.1:1/private", error: null });
    expect(await receiverLog(`/status/302/${key}`)).toHaveLength(1);
    expect(await flushedDeadLetters(tid, ep.id)).toEqual([expect.objectContaining({ delivery_id: deliveryId, reason: "non_retryable_status", attempts: 1, last_response_status: 302 })]);
  });
});

describe("operational events", () => {
  it("a failed delivery of an _operator endpoint keeps its dead letter but emits no switchyard.delivery.failed (no loops)", async () => {
    const key = uniq("opfail");
    const opEp = await newEndpoint("_operator", { url: `${receiver()}/status/410/${key}`, filter: { types: [DELIVERY_FAILED] } });
    // A tenant delivery fails for good: its operational event goes to the _operator endpoint
    // through the same pipeline (the tenant's alarm sends _operator's jobs to the real queue).
    const { tid, ep, t, msg, deliveryId } = await setup((k) => `/status/410/${k}`);
    expect(await run(t, msg)).toEqual([]);
    expect(await flushedDeadLetters(tid, ep.id)).toEqual([expect.objectContaining({ delivery_id: deliveryId })]);
    const [op] = await reportedFailures(deliveryId);
    const opDelivery = await waitFor(
      "the _operator delivery to fail",
      async () => (await deliveriesOfEndpoint("_operator", opEp.id)).find((d) => d.event_id === op!.id && d.status === "failed"),
      WAIT_MS,
    );
    expect(opDelivery).toMatchObject({ event_type: DELIVERY_FAILED, reason: "non_retryable_status", attempts: 1, response_status: 410 });
    expect((await receiverLog(`/status/410/${key}`)).map((r) => JSON.parse(r.body).data.delivery_id)).toContain(deliveryId);

    // Its dead letter reaches D1 through _operator's outbox, in the flush that would have
    // reported it; once that flush has ended (the outbox is empty), nothing was reported.
    const opDeadLetters = await flushedDeadLetters("_operator", opEp.id);
    expect(opDeadLetters).toEqual([expect.objectContaining({ tenant_id: "_operator", endpoint_id: opEp.id, delivery_id: opDelivery.id, reason: "non_retryable_status", attempts: 1 })]);
    const operatorLog = await logOf("_operator");
    await waitFor("_operator's outbox flush to end", () => runInDurableObject(operatorLog, (_o, state) => state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM outbox WHERE kind = 'dead_letter'`).one().n === 0), WAIT_MS);
    expect(await operatorEvents(DELIVERY_FAILED, "delivery_id", opDelivery.id)).toEqual([]);
  });
});
