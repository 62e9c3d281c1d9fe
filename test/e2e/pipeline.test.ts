/**
 * Issue 9, end to end: ingest → fan-out → signed delivery → retries → dead letters against
 * the real Worker under `wrangler dev` and a Node receiver that verifies every request with
 * `standardwebhooks`. The scenarios are independent (own tenant, own receiver paths) and run
 * concurrently.
 */
import { describe, expect, it } from "vitest";
import {
  api,
  at,
  createEndpoint,
  createEventType,
  createOperatorEndpoint,
  createTenant,
  deliveryOf,
  forEvent,
  getEndpoint,
  getEvent,
  listDeadLetters,
  postEvent,
  receivedAt,
  sleep,
  uid,
  verifyStandard,
  waitFor,
  waitForFinal,
  waitForOperatorEvent,
  waitForReceived,
} from "./helpers";

describe.concurrent("delivery pipeline", () => {
  it("fans one event out to two endpoints, each signed with its own secret", async () => {
    const tid = await createTenant("fanout");
    const type = await createEventType({ prefix: "fanout" });
    const key = uid();
    const a = await createEndpoint(tid, { url: at(`/ok/fan-a-${key}`) });
    const b = await createEndpoint(tid, { url: at(`/ok/fan-b-${key}`) });
    const eventId = `ev-${uid()}`;
    const occurredAt = "2026-01-02T03:04:05.000Z";
    const accepted = await postEvent(tid, { id: eventId, type, data: { n: 1, nested: { s: "é✓" } }, occurred_at: occurredAt });
    expect(accepted).toMatchObject({ id: eventId, type });

    const [gotA, gotB] = await Promise.all([waitForReceived(`/ok/fan-a-${key}`, 1), waitForReceived(`/ok/fan-b-${key}`, 1)]);
    for (const [ep, got] of [
      [a, gotA],
      [b, gotB],
    ] as const) {
      expect(got).toHaveLength(1);
      const r = got[0]!;
      const payload = verifyStandard(ep.secret, r);
      expect(payload).toEqual({ id: eventId, type, timestamp: occurredAt, data: { n: 1, nested: { s: "é✓" } } });
      expect(r.method).toBe("POST");
      expect(r.headers["webhook-id"]).toBe(eventId);
      expect(r.headers["webhook-attempt"]).toBe("1");
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["user-agent"]).toMatch(/^Switchyard\/\S+$/);
      // The other endpoint's secret must not verify this request.
      const other = ep === a ? b : a;
      expect(() => verifyStandard(other.secret, r)).toThrow();
    }

    const ev = await waitFor(
      async () => {
        const e = await getEvent(tid, eventId);
        return e.deliveries.length === 2 && e.deliveries.every((d: any) => d.status === "delivered") ? e : undefined;
      },
      { timeoutMs: 10_000, what: "both deliveries delivered" },
    );
    expect(ev.deliveries.map((d: any) => d.endpoint_id).sort()).toEqual([a.id, b.id].sort());
    expect(ev.deliveries.every((d: any) => d.attempts === 1)).toBe(true);
  });

  it("500, 500, 200 with retry_schedule [1,1,1]: three attempts (webhook-attempt 1..3), delivered", async () => {
    const tid = await createTenant("retry");
    const type = await createEventType({ prefix: "retry" });
    const path = `/fail/2/retry-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), retry_schedule: [1, 1, 1] });
    const ev = await postEvent(tid, { type, data: { k: "v" } });

    await waitForReceived(path, 3, { timeoutMs: 30_000 });
    const { delivery_id } = await deliveryOf(tid, ev.id, ep.id);
    const detail = await waitForFinal(tid, delivery_id);
    await sleep(1500); // a fourth attempt would have started by now
    const all = await receivedAt(path);
    expect(all).toHaveLength(3);
    expect(all.map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2", "3"]);
    for (const r of all) {
      expect(r.headers["webhook-id"]).toBe(ev.id);
      expect(verifyStandard(ep.secret, r)).toMatchObject({ id: ev.id, type, data: { k: "v" } });
    }
    // Each wait is 1 s ± 10 %: no retry may come sooner than 0.9 s (50 ms for measuring).
    for (let i = 1; i < all.length; i++) expect(all[i]!.startAt - all[i - 1]!.startAt).toBeGreaterThanOrEqual(850);

    expect(detail).toMatchObject({ status: "delivered", reason: null, response_status: 200, next_attempt_at: null });
    expect(detail.attempts.map((a: any) => [a.n, a.response_status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    expect(detail.request.body).toBe(all[2]!.body);
    expect(detail.request.headers["webhook-signature"]).toBe("[redacted]");
  });

  it("a 410 is final: one attempt, failed non_retryable_status, a dead letter, the endpoint stays active", async () => {
    const tid = await createTenant("gone");
    const type = await createEventType({ prefix: "gone" });
    const path = `/status/410/gone-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), retry_schedule: [1, 1] });
    const ev = await postEvent(tid, { type, data: { x: 1 } });

    const { delivery_id } = await deliveryOf(tid, ev.id, ep.id);
    const detail = await waitForFinal(tid, delivery_id);
    expect(detail).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 410 });
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: 410 });

    await sleep(2500); // longer than the schedule's first wait: no retry may follow
    const got = await receivedAt(path);
    expect(got).toHaveLength(1);
    expect(verifyStandard(ep.secret, got[0]!)).toMatchObject({ id: ev.id });

    const dls = await listDeadLetters({ tenant_id: tid });
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({
      delivery_id,
      event_id: ev.id,
      tenant_id: tid,
      endpoint_id: ep.id,
      event_type: type,
      reason: "non_retryable_status",
      attempts: 1,
      last_response_status: 410,
      queue: null,
    });
    expect((await getEndpoint(tid, ep.id)).status).toBe("active");
  });

  it("503 until exhausted with [1,1]: three attempts, retries_exhausted, switchyard.delivery.failed reaches _operator", async () => {
    const op = await createOperatorEndpoint(["switchyard.delivery.failed"]);
    const tid = await createTenant("exhaust");
    const type = await createEventType({ prefix: "exhaust" });
    const path = `/status/503/exhaust-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), retry_schedule: [1, 1] });
    const ev = await postEvent(tid, { type, data: { y: 2 } });

    const { delivery_id } = await deliveryOf(tid, ev.id, ep.id);
    const detail = await waitForFinal(tid, delivery_id, 30_000);
    expect(detail).toMatchObject({ status: "failed", reason: "retries_exhausted", response_status: 503 });
    expect(detail.attempts.map((a: any) => [a.n, a.response_status])).toEqual([
      [1, 503],
      [2, 503],
      [3, 503],
    ]);
    const got = await receivedAt(path);
    expect(got.map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2", "3"]);
    for (const r of got) expect(verifyStandard(ep.secret, r)).toMatchObject({ id: ev.id, type });

    const dls = await listDeadLetters({ tenant_id: tid });
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ delivery_id, reason: "retries_exhausted", attempts: 3, last_response_status: 503 });

    const { payload } = await waitForOperatorEvent(op, "switchyard.delivery.failed", (d) => d.delivery_id === delivery_id);
    expect(payload.data).toEqual({
      tenant_id: tid,
      endpoint_id: ep.id,
      delivery_id,
      event_id: ev.id,
      event_type: type,
      reason: "retries_exhausted",
      attempts: 3,
      last_response_status: 503,
    });
    await sleep(1000);
    const failedEvents = (await receivedAt(op.path)).map((r) => verifyStandard(op.endpoint.secret, r)).filter((p) => p.data.delivery_id === delivery_id);
    expect(failedEvents).toHaveLength(1);
  });

  it("a 302 is not followed: one attempt, final, the location recorded", async () => {
    const tid = await createTenant("redirect");
    const type = await createEventType({ prefix: "redirect" });
    const path = `/status/302/redirect-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), retry_schedule: [1] });
    const ev = await postEvent(tid, { type, data: {} });

    const { delivery_id } = await deliveryOf(tid, ev.id, ep.id);
    const detail = await waitForFinal(tid, delivery_id);
    expect(detail).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 302 });
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: 302, location: "http://127.0.0.1:1/private" });
    await sleep(2000);
    const got = await receivedAt(path);
    expect(got).toHaveLength(1);
    expect(verifyStandard(ep.secret, got[0]!)).toMatchObject({ id: ev.id });
  });

  it("a schedule longer than the queue's max_retries: eight attempts, delivered, no consumer_error", async () => {
    // AUTO_DISABLE_AFTER_S is 4 for the whole e2e Worker, and seven failures 1 s apart last
    // longer than that. Small events that succeed at once keep clearing the endpoint's
    // failing_since, so the endpoint stays active while one event is retried seven times.
    const tid = await createTenant("long");
    const type = await createEventType({ prefix: "long" });
    const path = `/fail-by-data/long-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), retry_schedule: [1, 1, 1, 1, 1, 1, 1] });
    const ev = await postEvent(tid, { type, data: { fail_times: 7 } });
    const { delivery_id } = await deliveryOf(tid, ev.id, ep.id);

    let done = false;
    const keepalive = (async () => {
      while (!done) {
        await postEvent(tid, { type, data: { fail_times: 0 } });
        await sleep(900);
      }
    })();
    let detail: any;
    try {
      detail = await waitForFinal(tid, delivery_id, 45_000);
    } finally {
      done = true;
      await keepalive;
    }
    expect(detail).toMatchObject({ status: "delivered", reason: null, response_status: 200 });
    expect(detail.attempts.map((a: any) => a.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(detail.attempts.map((a: any) => a.response_status)).toEqual([500, 500, 500, 500, 500, 500, 500, 200]);

    const mine = forEvent(await receivedAt(path), ev.id);
    expect(mine.map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2", "3", "4", "5", "6", "7", "8"]);
    for (const r of mine) expect(verifyStandard(ep.secret, r)).toMatchObject({ id: ev.id, data: { fail_times: 7 } });

    expect(await listDeadLetters({ tenant_id: tid })).toEqual([]);
    const failed = await listDeliveriesWithReason(tid, ep.id);
    expect(failed).toEqual([]);
    expect((await getEndpoint(tid, ep.id)).status).toBe("active");
  }, 90_000);

  it("40 first posts at once for a new tenant and type (cold per-isolate caches): every one answers 202 and is delivered once", async () => {
    const tid = await createTenant("cold");
    const type = await createEventType({ prefix: "cold" });
    const path = `/ok/cold-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path) });
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => api("POST", `/v1/tenants/${tid}/events`, { type, data: { i } })));
    // Concurrent first requests all miss the per-isolate ingest caches (tenant, event type):
    // none may fail for another's read (workerd refuses one request awaiting another's I/O).
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 40 }, () => 202));
    const got = await waitForReceived(path, 40);
    expect(new Set(got.map((r) => verifyStandard(ep.secret, r).id))).toEqual(new Set(answers.map((a) => a.body.id)));
  });

  it("idempotent ingest: the same id (or Idempotency-Key) twice makes one event and one delivery", async () => {
    const tid = await createTenant("idem");
    const type = await createEventType({ prefix: "idem" });
    const path = `/ok/idem-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path) });

    const id = `dup-${uid()}`;
    const first = await postEvent(tid, { id, type, data: { a: 1 } });
    const second = await postEvent(tid, { id, type, data: { a: 1 } }, { expected: 200 });
    expect(second).toEqual(first);
    const conflict = await api("POST", `/v1/tenants/${tid}/events`, { id, type, data: { a: 2 } });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("content-type")).toMatch(/^application\/problem\+json/);

    const idemKey = `key-${uid()}`;
    const k1 = await postEvent(tid, { type, data: { b: 1 } }, { idempotencyKey: idemKey });
    const k2 = await postEvent(tid, { type, data: { b: 1 } }, { idempotencyKey: idemKey, expected: 200 });
    expect(k2).toEqual(k1);

    await waitForReceived(path, 2);
    await sleep(2500); // a second delivery of either event would have arrived by now
    const got = await receivedAt(path);
    expect(got).toHaveLength(2);
    expect(got.map((r) => r.headers["webhook-id"]).sort()).toEqual([first.id, k1.id].sort());
    for (const r of got) verifyStandard(ep.secret, r);
    expect(first.id).toBe(id);
    for (const evid of [first.id, k1.id]) {
      const ev = await getEvent(tid, evid);
      expect(ev.deliveries).toHaveLength(1);
      expect(ev.deliveries[0]).toMatchObject({ endpoint_id: ep.id, status: "delivered", attempts: 1 });
    }
    const events = await api("GET", `/v1/tenants/${tid}/events`);
    expect(events.body.data).toHaveLength(2);
  });
});

/** Deliveries of the endpoint that failed (for any reason). */
async function listDeliveriesWithReason(tid: string, eid: string): Promise<any[]> {
  const page = await api("GET", `/v1/tenants/${tid}/endpoints/${eid}/deliveries?status=failed&limit=250`);
  expect(page.status).toBe(200);
  return page.body.data;
}
