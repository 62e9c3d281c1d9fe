/**
 * Retry scheduling, final statuses and dead letters: each attempt is run through the
 * consumer's per-message path with fake queues, so every retry message and its
 * `delaySeconds` is seen exactly; the DLQ consumers run through `exports.default.queue`.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { seqId } from "../../src/domain/ids";
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
  ingestAndFanOut,
  newEndpoint,
  newTenant,
  operatorEvents,
  qmsg,
  receiver,
  receiverLog,
  runQueue,
  testDeps,
  uniq,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 20_000 });

const TYPE = "retry.thing.happened";

async function setup(path: (key: string) => string, endpoint: Record<string, unknown> = {}) {
  const tid = await newTenant("retry");
  await ensureType(TYPE);
  const key = uniq("retry");
  const ep = await newEndpoint(tid, { url: `${receiver()}${path(key)}`, ...endpoint });
  const t = testDeps();
  const ev = await ingestAndFanOut(t, tid, TYPE, { key });
  const [m] = deliverMessages(t.delivery);
  t.delivery.sent.length = 0;
  return { tid, key, ep, t, ev, msg: { d: m!.d, g: m!.g } };
}

describe("retry scheduling", () => {
  it("a 500 sends a new message delayed by the schedule ±10 %, records each attempt, and exhaustion fails the delivery with a dead letter and an operational event", async () => {
    const { tid, key, ep, t, ev, msg } = await setup((k) => `/status/500/${k}`, { retry_schedule: [10, 20] });

    // Attempt 1 → retry in 10 s ± 10 %.
    await deliver(t.deps, msg);
    let row = await deliveryRow(msg.d);
    expect(row).toMatchObject({ status: "pending", attempts: 1, reason: null, response_status: 500, generation: msg.g });
    let sent = deliverMessages(t.delivery);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ kind: "deliver", d: msg.d, g: msg.g });
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(9);
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(11);
    const [a1] = await attemptsOf(msg.d);
    expect(row.next_attempt_at! - a1!.started_at).toBeGreaterThanOrEqual(9000);
    expect(row.next_attempt_at! - a1!.started_at).toBeLessThanOrEqual(11_000 + 1000);

    // The message arriving early (before next_attempt_at) sends nothing and waits again for the rest.
    t.delivery.sent.length = 0;
    await deliver(t.deps, msg, Date.now());
    expect(await receiverLog(`/status/500/${key}`)).toHaveLength(1);
    sent = deliverMessages(t.delivery);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(8);
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(11);
    expect(await deliveryRow(msg.d)).toMatchObject({ attempts: 1, status: "pending" });

    // Attempt 2, when due → retry in 20 s ± 10 %.
    t.delivery.sent.length = 0;
    await deliver(t.deps, msg, row.next_attempt_at!);
    row = await deliveryRow(msg.d);
    expect(row).toMatchObject({ status: "pending", attempts: 2 });
    sent = deliverMessages(t.delivery);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(18);
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(22);

    // Attempt 3: the schedule [10, 20] allows three attempts, so this one exhausts it.
    t.delivery.sent.length = 0;
    await deliver(t.deps, msg, row.next_attempt_at!);
    row = await deliveryRow(msg.d);
    expect(row).toMatchObject({ status: "failed", reason: "retries_exhausted", attempts: 3, next_attempt_at: null, response_status: 500 });
    expect(deliverMessages(t.delivery)).toEqual([]);

    const attempts = await attemptsOf(msg.d);
    expect(attempts.map((a) => [a.n, a.response_status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
    ]);
    const requests = await receiverLog(`/status/500/${key}`);
    expect(requests.map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2", "3"]);
    expect(new Set(requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set([ev.id]));
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);

    const [dl, ...more] = await deadLettersOf({ deliverySeq: msg.d });
    expect(more).toEqual([]);
    expect(dl).toMatchObject({ tenant_id: tid, endpoint_id: ep.id, event_id: ev.id, event_type: TYPE, reason: "retries_exhausted", attempts: 3, last_response_status: 500, queue: null });

    // switchyard.delivery.failed for _operator, with the design's data, fanned out through the same pipeline.
    const ops = await operatorEvents("switchyard.delivery.failed", "delivery_id", seqId("dlv", msg.d));
    expect(ops).toHaveLength(1);
    expect(JSON.parse(ops[0]!.data)).toEqual({
      tenant_id: tid,
      endpoint_id: ep.id,
      delivery_id: seqId("dlv", msg.d),
      event_id: ev.id,
      event_type: TYPE,
      reason: "retries_exhausted",
      attempts: 3,
      last_response_status: 500,
    });
    expect(fanoutMessages(t.fanout)).toContainEqual({ kind: "fanout", e: ops[0]!.seq });

    // The retry message of attempt 2 arriving late finds the delivery failed: nothing more is sent.
    await deliver(t.deps, msg, Date.now() + 60_000);
    expect(await receiverLog(`/status/500/${key}`)).toHaveLength(3);
    expect(await attemptsOf(msg.d)).toHaveLength(3);
  });

  it("through the queue handler a retry is a new message and the original is acked, never msg.retry()", async () => {
    const { key, msg } = await setup((k) => `/status/503/${k}`, { retry_schedule: [600] });
    const res = await runQueue("switchyard-deliveries", [qmsg({ kind: "deliver", ...msg }, "m-503")]);
    expect(res.outcome).toBe("ok");
    expect(res.retryMessages).toEqual([]);
    expect(res.explicitAcks).toEqual(["m-503"]);
    expect(await receiverLog(`/status/503/${key}`)).toHaveLength(1);
    const row = await deliveryRow(msg.d);
    expect(row).toMatchObject({ status: "pending", attempts: 1, response_status: 503 });
    expect(row.next_attempt_at! - Date.now()).toBeGreaterThan(500_000);
  });

  it("a 429 with Retry-After waits at least that long (jitter never shortens it), then delivers", async () => {
    const { key, t, msg } = await setup((k) => `/retry-after/30/${k}`, { retry_schedule: [1, 1] });
    await deliver(t.deps, msg);
    const row = await deliveryRow(msg.d);
    expect(row).toMatchObject({ status: "pending", attempts: 1, response_status: 429 });
    const sent = deliverMessages(t.delivery);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.delaySeconds).toBe(30);
    const [a1] = await attemptsOf(msg.d);
    expect(row.next_attempt_at! - a1!.started_at).toBeGreaterThanOrEqual(30_000);

    await deliver(t.deps, msg, row.next_attempt_at!);
    expect(await deliveryRow(msg.d)).toMatchObject({ status: "delivered", attempts: 2, response_status: 200 });
    expect((await receiverLog(`/retry-after/30/${key}`)).map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2"]);
  });
});

describe("final statuses", () => {
  it("a 410 is final after one attempt: failed non_retryable_status with a dead letter; the endpoint stays active", async () => {
    const { tid, key, ep, t, ev, msg } = await setup((k) => `/status/410/${k}`, { retry_schedule: [1, 1, 1] });
    await deliver(t.deps, msg);
    expect(await deliveryRow(msg.d)).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1, response_status: 410, next_attempt_at: null });
    expect(deliverMessages(t.delivery)).toEqual([]);
    expect(await receiverLog(`/status/410/${key}`)).toHaveLength(1);
    expect(await deadLettersOf({ deliverySeq: msg.d })).toEqual([
      expect.objectContaining({ reason: "non_retryable_status", attempts: 1, last_response_status: 410, endpoint_id: ep.id, tenant_id: tid, event_id: ev.id }),
    ]);
    const ops = await operatorEvents("switchyard.delivery.failed", "delivery_id", seqId("dlv", msg.d));
    expect(ops.map((o) => JSON.parse(o.data))).toEqual([expect.objectContaining({ reason: "non_retryable_status", attempts: 1, last_response_status: 410 })]);
    expect((await endpointRow(ep.id)).status).toBe("active");
  });

  it("a 302 is final: the redirect is not followed and its location is recorded", async () => {
    const { key, t, msg } = await setup((k) => `/status/302/${k}`, { retry_schedule: [1] });
    await deliver(t.deps, msg);
    expect(await deliveryRow(msg.d)).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1, response_status: 302 });
    const attempts = await attemptsOf(msg.d);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ n: 1, response_status: 302, location: "http://127.0.0.1:1/private", error: null });
    expect(await receiverLog(`/status/302/${key}`)).toHaveLength(1);
    expect(deliverMessages(t.delivery)).toEqual([]);
    expect(await deadLettersOf({ deliverySeq: msg.d })).toEqual([expect.objectContaining({ reason: "non_retryable_status", last_response_status: 302 })]);
  });
});

describe("dead-letter queues", () => {
  // Re-driven for our own trouble for CONSUMER_GIVE_UP_H (72 h): see reliability-queue-faults for the re-drives before it.
  const givenUp = () => ({ since: Date.now() - 72 * 3_600_000 - 1, redrives: 80 });

  it("a delivery message in the deliveries DLQ after CONSUMER_GIVE_UP_H fails its delivery with consumer_error, keeps a dead letter and emits one operational event", async () => {
    const { tid, ep, ev, msg } = await setup((k) => `/ok/${k}`);
    const res = await runQueue("switchyard-deliveries-dlq", [qmsg({ kind: "deliver", ...msg, trouble: givenUp() }, "dlq-1", 6)]);
    expect(res.explicitAcks).toEqual(["dlq-1"]);
    expect(await deliveryRow(msg.d)).toMatchObject({ status: "failed", reason: "consumer_error", attempts: 0, next_attempt_at: null });
    expect(await deadLettersOf({ deliverySeq: msg.d })).toEqual([
      expect.objectContaining({ tenant_id: tid, endpoint_id: ep.id, event_id: ev.id, reason: "consumer_error", attempts: 0, queue: "deliveries" }),
    ]);
    const ops = await operatorEvents("switchyard.delivery.failed", "delivery_id", seqId("dlv", msg.d));
    expect(ops.map((o) => JSON.parse(o.data))).toEqual([
      { tenant_id: tid, endpoint_id: ep.id, delivery_id: seqId("dlv", msg.d), event_id: ev.id, event_type: TYPE, reason: "consumer_error", attempts: 0, last_response_status: null },
    ]);
    // A second copy changes nothing.
    await runQueue("switchyard-deliveries-dlq", [qmsg({ kind: "deliver", ...msg, trouble: givenUp() }, "dlq-2", 6)]);
    expect(await deadLettersOf({ deliverySeq: msg.d })).toHaveLength(1);
    expect(await operatorEvents("switchyard.delivery.failed", "delivery_id", seqId("dlv", msg.d))).toHaveLength(1);
  });

  it("a stale message in the deliveries DLQ leaves a delivery that a newer generation owns alone", async () => {
    const { msg } = await setup((k) => `/ok/${k}`);
    await env.DB.prepare(`UPDATE deliveries SET generation = generation + 1 WHERE seq = ?`).bind(msg.d).run();
    const res = await runQueue("switchyard-deliveries-dlq", [qmsg({ kind: "deliver", ...msg, trouble: givenUp() }, "dlq-stale", 6)]);
    expect(res.explicitAcks).toEqual(["dlq-stale"]);
    expect(await deliveryRow(msg.d)).toMatchObject({ status: "pending", reason: null });
    expect(await deadLettersOf({ deliverySeq: msg.d })).toEqual([]);
  });
});

describe("operational events", () => {
  it("a failed delivery of an _operator endpoint emits no switchyard.delivery.failed (no loops)", async () => {
    const key = uniq("opfail");
    const opEp = await newEndpoint("_operator", { url: `${receiver()}/status/410/${key}`, filter: { types: ["switchyard.delivery.failed"] } });
    // A tenant delivery fails for good: its operational event is fanned out to the _operator endpoint.
    const { t, msg } = await setup((k) => `/status/410/${k}`);
    await deliver(t.deps, msg);
    const [op] = await operatorEvents("switchyard.delivery.failed", "delivery_id", seqId("dlv", msg.d));
    await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: op!.seq }, 1);
    const opDelivery = (await deliveriesOfEndpoint(opEp.id)).find((r) => r.event_seq === op!.seq)!;
    expect(opDelivery).toMatchObject({ tenant_id: "_operator", status: "pending" });
    await deliver(t.deps, { d: opDelivery.seq, g: opDelivery.generation });
    expect(await deliveryRow(opDelivery.seq)).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1 });
    expect(await deadLettersOf({ deliverySeq: opDelivery.seq })).toHaveLength(1);
    expect(await operatorEvents("switchyard.delivery.failed", "delivery_id", seqId("dlv", opDelivery.seq))).toEqual([]);
    expect((await receiverLog(`/status/410/${key}`)).map((r) => JSON.parse(r.body).data.delivery_id)).toContain(seqId("dlv", msg.d));
  });
});
