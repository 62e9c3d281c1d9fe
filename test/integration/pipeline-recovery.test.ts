/**
 * Nothing accepted is lost (data plane v2): a refused `deliveries` send at ingest, and the
 * TenantLog alarm's duties that replaced the Sweeper — sending a keyed event whose first
 * send failed about a minute later, and re-driving a pending delivery whose message was
 * lost once it is 15 minutes overdue. The log is read through the API and the tenant's
 * TenantLog; the clock is moved where the object takes `now` (ingest, `unsent`, `record`).
 */
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/api/app";
import { ingestEvent } from "../../src/core/events";
import type { AttemptRecord } from "../../src/domain/attempt";
import { AppError } from "../../src/errors";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import {
  call,
  consume,
  deliveriesOfEndpoint,
  deliveryDetail,
  ensureType,
  fakeQueue,
  ingest,
  logOf,
  newEndpoint,
  newTenant,
  patchEndpoint,
  receiver,
  receiverLog,
  sleep,
  takeDeliverMessages,
  tenantSeqOf,
  testDeps,
  uniq,
  waitFor,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 60_000 });

/** Bounds of every poll: a loaded 2-core CI machine runs the whole suite at once. */
const WAIT_MS = 20_000;
const MINUTE = 60_000;

const TYPE = "recover.thing.happened";
const PARKED_TYPE = "recover.thing.parked";

/** POSTs an event through the Worker's app with an env whose deliveries queue refuses every send. */
async function postWithRefusingQueue(tid: string, body: unknown, headers: Record<string, string> = {}) {
  const refusing = fakeQueue(true);
  const fakeEnv = Object.create(env) as Env;
  Object.defineProperty(fakeEnv, "DELIVERY_QUEUE", { value: refusing.queue, enumerable: true });
  const res = await createApp().fetch(
    new Request(`http://x/v1/tenants/${tid}/events`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
    fakeEnv,
    createExecutionContext(),
  );
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Ingests a keyed event through core as of `now` with a refusing queue: it answers 503 and
 * the keyed event stays, owed by the alarm from `now` + 1 minute (`unsent(e, now)`).
 */
async function ingestRefusedAt(tid: string, now: number, data: unknown, key: string): Promise<void> {
  const t = testDeps({ now, delivery: fakeQueue(true) });
  const refused = await ingestEvent(t.deps, tid, JSON.stringify({ type: TYPE, data }), key).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(refused).toBeInstanceOf(AppError);
  expect((refused as AppError).status).toBe(503);
}

/** The tenant's events as the API lists them, newest first. */
async function eventsOf(tid: string): Promise<{ id: string; type: string; created_at: string }[]> {
  const res = await call("GET", `/v1/tenants/${tid}/events?limit=250`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
}

/** The tenant's alarm time (null when none is set). */
async function alarmOf(tid: string): Promise<number | null> {
  return runInDurableObject(await logOf(tid), (_instance, state) => state.storage.getAlarm());
}

/** A retryable failure recorded as of `startedAt` (the object takes the attempt's own times). */
const failedAttempt = (startedAt: number, url: string): AttemptRecord => ({
  n: 1,
  startedAt,
  durationMs: 15,
  responseStatus: 500,
  responseBody: "boom",
  error: null,
  location: null,
  requestMethod: "POST",
  requestUrl: url,
  requestHeaders: { "webhook-signature": "[redacted]" },
});

describe("a refused deliveries send at ingest", () => {
  it("answers 503 with Retry-After; a keyed event stays stored and a repeat POST answers 200 and sends it", async () => {
    const tid = await newTenant("refuse");
    await ensureType(TYPE);
    const key = uniq("refuse");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const body = { type: TYPE, data: { n: 1 } };

    const refused = await postWithRefusingQueue(tid, body, { "idempotency-key": key });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.body).toMatchObject({ status: 503 });
    const stored = await eventsOf(tid);
    expect(stored).toHaveLength(1);
    const event = await call("GET", `/v1/tenants/${tid}/events/${stored[0]!.id}`);
    expect(event.status).toBe(200);
    expect(event.body).toMatchObject({ type: TYPE, data: { n: 1 }, deliveries: [{ endpoint_id: ep.id, status: "pending", attempts: 0 }] });
    expect(await receiverLog(`/ok/${key}`)).toEqual([]);

    // The client retries with the same key (the real queue now): 200 with the original event, sent.
    const repeat = await call("POST", `/v1/tenants/${tid}/events`, body, { "idempotency-key": key });
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(stored[0]!.id);
    await waitFor("the repeated event to be delivered", async () => (await receiverLog(`/ok/${key}`)).length === 1, WAIT_MS);
    expect((await receiverLog(`/ok/${key}`))[0]!.headers["webhook-id"]).toBe(stored[0]!.id);
    expect((await eventsOf(tid)).map((e) => e.id)).toEqual([stored[0]!.id]);
    const delivered = await waitFor("the delivery to read delivered", async () => {
      const [d] = await deliveriesOfEndpoint(tid, ep.id);
      return d?.status === "delivered" && d;
    }, WAIT_MS);
    expect(delivered).toMatchObject({ event_id: stored[0]!.id, attempts: 1 });
  });

  it("without an idempotency key removes the stored event before answering 503, so a retry cannot double it", async () => {
    const tid = await newTenant("refuse-nokey");
    await ensureType(TYPE);
    const key = uniq("nokey");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const body = { type: TYPE, data: { n: 2 } };
    const refused = await postWithRefusingQueue(tid, body);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).not.toBeNull();
    expect(await eventsOf(tid)).toEqual([]);
    expect(await deliveriesOfEndpoint(tid, ep.id)).toEqual([]);
    // Nothing of it is owed: the log's alarm sends nothing.
    await runDurableObjectAlarm(await logOf(tid));

    // The client's retry (the real queue now) makes the one and only event, delivered once.
    const retried = await call("POST", `/v1/tenants/${tid}/events`, body);
    expect(retried.status).toBe(202);
    await waitFor("the retried event to be delivered", async () => (await receiverLog(`/ok/${key}`)).length === 1, WAIT_MS);
    await sleep(500);
    expect((await receiverLog(`/ok/${key}`)).map((r) => r.headers["webhook-id"])).toEqual([retried.body.id]);
    expect((await eventsOf(tid)).map((e) => e.id)).toEqual([retried.body.id]);
    expect((await deliveriesOfEndpoint(tid, ep.id)).map((d) => d.event_id)).toEqual([retried.body.id]);
  });
});

describe("the TenantLog's alarm", () => {
  it("sends a keyed event whose client never came back once it is a minute old, and leaves a younger one until its minute", async () => {
    const tid = await newTenant("unsent");
    await ensureType(TYPE);
    const key = uniq("unsent");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const now = Date.now();
    await ingestRefusedAt(tid, now - MINUTE - 1000, { n: "old" }, `${key}-old`);
    await ingestRefusedAt(tid, now, { n: "young" }, `${key}-young`);
    const [old, young] = (await eventsOf(tid)).reverse();
    expect(old).toMatchObject({ type: TYPE, created_at: new Date(now - MINUTE - 1000).toISOString() });
    expect(young).toMatchObject({ type: TYPE, created_at: new Date(now).toISOString() });

    // The old one is owed since a second ago: its alarm is due (it may have fired already).
    await runDurableObjectAlarm(await logOf(tid));
    await waitFor("the old event to be delivered", async () => (await deliveriesOfEndpoint(tid, ep.id)).some((d) => d.status === "delivered"), WAIT_MS);
    const deliveries = await deliveriesOfEndpoint(tid, ep.id);
    expect(deliveries.map((d) => [d.event_id, d.status, d.attempts])).toEqual([
      [old!.id, "delivered", 1],
      [young!.id, "pending", 0],
    ]);
    expect((await receiverLog(`/ok/${key}`)).map((r) => r.headers["webhook-id"])).toEqual([old!.id]);
    // The young one is still owed: the alarm is set for its minute at the latest.
    const alarm = await alarmOf(tid);
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(now + MINUTE + 1000);
  });

  it("re-drives a pending delivery whose message was lost once it is 15 minutes overdue, with a new generation, and never touches parked or recently due ones", async () => {
    const tid = await newTenant("redrive");
    await ensureType(TYPE);
    await ensureType(PARKED_TYPE);
    const key = uniq("redrive");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}`, filter: { types: [TYPE] } });
    const parkedEp = await newEndpoint(tid, { url: `${receiver()}/ok/${key}-parked`, filter: { types: [PARKED_TYPE] } });
    // Ingest with a fake queue: these messages are "lost" (never run) unless a test step runs them.
    const t = testDeps();
    const lostEv = await ingest(t.deps, tid, TYPE, { n: "lost" });
    const recentEv = await ingest(t.deps, tid, TYPE, { n: "recent" });
    const parkedEv = await ingest(t.deps, tid, PARKED_TYPE, { n: "parked" });
    const messages = takeDeliverMessages(t.delivery);
    expect(messages.map((m) => m.e)).toEqual([lostEv.seq, recentEv.seq, parkedEv.seq]);
    const ordinal = messages[0]!.p[0]!;
    const parkedOrdinal = messages[2]!.p[0]!;
    const tenantSeq = await tenantSeqOf(tid);
    const log = await logOf(tid);

    // The parked one: its endpoint is paused before its message is claimed.
    await patchEndpoint(tid, parkedEp.id, { status: "paused" });
    const parkedRun = await consume(t, [{ kind: "deliver", t: tenantSeq, e: parkedEv.seq, p: [parkedOrdinal], g: 0 }]);
    expect(parkedRun.acked.size).toBe(1);
    expect(takeDeliverMessages(t.delivery)).toEqual([]);

    // Two first attempts failed; their retry messages were lost. One was due 16 minutes ago, one 5.
    const now = Date.now();
    const lostDue = now - 16 * MINUTE;
    const recentDue = now - 5 * MINUTE;
    const recorded = await log.record([
      { e: lostEv.seq, ordinal, generation: 0, attemptsBefore: 0, runStart: 0, attempt: failedAttempt(lostDue - 5000, ep.url), status: "pending", reason: null, nextAttemptAt: lostDue },
      { e: recentEv.seq, ordinal, generation: 0, attemptsBefore: 0, runStart: 0, attempt: failedAttempt(recentDue - 5000, ep.url), status: "pending", reason: null, nextAttemptAt: recentDue },
    ]);
    expect(recorded.recorded).toBe(2);
    expect(recorded.retries.map((r) => r.e)).toEqual([lostEv.seq, recentEv.seq]); // never sent: lost

    // The alarm (armed by the record for the lost one's overdue time, which has passed).
    await runDurableObjectAlarm(log);
    const [lostItem] = await deliveriesOfEndpoint(tid, ep.id);
    await waitFor("the rescued delivery to be delivered", async () => (await deliveryDetail(tid, lostItem!.id)).status === "delivered", WAIT_MS);
    expect(await log.getDelivery(ordinal, lostEv.seq)).toMatchObject({ status: "delivered", generation: 1, attempts: 2 });
    const got = await receiverLog(`/ok/${key}`);
    expect(got.map((r) => [r.headers["webhook-id"], r.headers["webhook-attempt"]])).toEqual([[lostEv.id, "2"]]);

    // The lost message turning up after all is stale now: acked, nothing more is sent.
    const late: LogDeliverMessage = { kind: "deliver", t: tenantSeq, e: lostEv.seq, p: [ordinal], g: 0 };
    const lateRun = await consume(t, [late]);
    expect(lateRun.acked.size).toBe(1);
    expect(lateRun.retried.size).toBe(0);
    expect(takeDeliverMessages(t.delivery)).toEqual([]);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);

    // The recently due one is left to its own message: same generation, same due time.
    expect(await log.getDelivery(ordinal, recentEv.seq)).toMatchObject({ status: "pending", generation: 0, attempts: 1, nextAttemptAt: recentDue });
    // The parked one waits for its resume, untouched.
    expect(await log.getDelivery(parkedOrdinal, parkedEv.seq)).toMatchObject({ status: "pending", generation: 0, attempts: 0, nextAttemptAt: null });
    expect(await receiverLog(`/ok/${key}-parked`)).toEqual([]);
    // The recently due one becomes overdue in 10 minutes: the alarm is set for it at the latest.
    const alarm = await alarmOf(tid);
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(recentDue + 15 * MINUTE + 1000);
  });
});
