/**
 * Issue 13 (1): receivers that misbehave, against the real Worker under `wrangler dev`
 * and real receivers on 127.0.0.1. Each scenario has its own tenant, endpoint and
 * receiver path; it ends in the state DESIGN "Delivery rules" gives, with every attempt
 * recorded (GET /v1/tenants/{tid}/deliveries/{did}), a dead letter for every failure, and
 * the receiver's log showing exactly the requests that were made.
 *
 * Run: npx vitest run --project e2e test/e2e/receiver-faults.test.ts
 */
import { describe, expect, it } from "vitest";
import {
  at,
  createEndpoint,
  createEventType,
  createTenant,
  deliveryOf,
  getDelivery,
  getEndpoint,
  listDeadLetters,
  postEvent,
  receivedAt,
  receiverUrl,
  sleep,
  uid,
  verifyStandard,
  waitForFinal as waitForFinalDelivery,
  workerUrl,
} from "./helpers";

/** Waits (up to 40 s by default) until the delivery leaves `pending`; returns its detail. */
const waitForFinal = (tenantId: string, deliveryId: string, timeoutMs = 40_000): Promise<any> => waitForFinalDelivery(tenantId, deliveryId, timeoutMs);

interface Scenario {
  tid: string;
  type: string;
  ep: Awaited<ReturnType<typeof createEndpoint>>;
  eventId: string;
  deliveryId: string;
}

/** One tenant, one event type, one endpoint at `path` with `options`, one event; returns ids. */
async function scenario(name: string, path: string, options: Record<string, unknown> = {}): Promise<Scenario> {
  const tid = await createTenant(name);
  const type = await createEventType({ prefix: name });
  const ep = await createEndpoint(tid, { url: at(path), ...options });
  const ev = await postEvent(tid, { type, data: { scenario: name } });
  const { delivery_id } = await deliveryOf(tid, ev.id, ep.id);
  return { tid, type, ep, eventId: ev.id, deliveryId: delivery_id };
}

/** The endpoint's dead letters (admin view). */
const deadLettersOf = (s: Scenario) => listDeadLetters({ tenant_id: s.tid, endpoint_id: s.ep.id });

/** Every recorded request is one signed delivery of the scenario's event. */
function expectSignedDeliveries(s: Scenario, records: Awaited<ReturnType<typeof receivedAt>>) {
  records.forEach((r, i) => {
    expect(r.headers["webhook-id"]).toBe(s.eventId);
    expect(r.headers["webhook-attempt"]).toBe(String(i + 1));
    expect(verifyStandard(s.ep.secret, r)).toMatchObject({ id: s.eventId, type: s.type });
  });
}

describe.concurrent("receiver faults", () => {
  it("a receiver that never answers: each attempt times out after timeout_ms (error \"timeout\"), is retried, then fails retries_exhausted with a dead letter", async () => {
    const path = `/hang/${uid()}`;
    const s = await scenario("hang", path, { timeout_ms: 1000, retry_schedule: [1] });
    const detail = await waitForFinal(s.tid, s.deliveryId);
    expect(detail).toMatchObject({ status: "failed", reason: "retries_exhausted", response_status: null, next_attempt_at: null });
    expect(detail.attempts).toHaveLength(2);
    for (const [i, a] of (detail.attempts as any[]).entries()) {
      expect(a).toMatchObject({ n: i + 1, response_status: null, response_body: null, error: "timeout", location: null });
      // Aborted by the timeout that started with the request, not earlier and not much later.
      expect(a.duration_ms).toBeGreaterThanOrEqual(950);
      expect(a.duration_ms).toBeLessThan(5000);
    }
    const got = await receivedAt(path);
    expect(got).toHaveLength(2);
    expectSignedDeliveries(s, got);
    const dls = await deadLettersOf(s);
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ delivery_id: s.deliveryId, reason: "retries_exhausted", attempts: 2, last_response_status: null });
    console.log(`[fault] hang: attempts ${detail.attempts.map((a: any) => `${a.error} after ${a.duration_ms} ms`).join(", ")}; ${detail.status} ${detail.reason}`);
  });

  it("a receiver that sends 200 headers then closes the connection mid-body: a connection error, retried, then delivered", async () => {
    const path = `/close/1/${uid()}`;
    const s = await scenario("close", path, { retry_schedule: [1, 1] });
    const detail = await waitForFinal(s.tid, s.deliveryId);
    expect(detail).toMatchObject({ status: "delivered", reason: null, response_status: 200 });
    expect(detail.attempts).toHaveLength(2);
    // The truncated answer is not a success: the receiver's 200 never arrived whole.
    expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: null, response_body: null, location: null });
    expect(detail.attempts[0].error).toMatch(/^connection/);
    expect(detail.attempts[1]).toMatchObject({ n: 2, response_status: 200, error: null, response_body: "ok" });
    console.log(`[fault] close mid-body: attempt 1 error ${JSON.stringify(detail.attempts[0].error)}`);
    const got = await receivedAt(path);
    expect(got).toHaveLength(2);
    expectSignedDeliveries(s, got);
    expect(await deadLettersOf(s)).toHaveLength(0);
  });

  it("a receiver that resets the connection: a connection error, retried, then delivered", async () => {
    const path = `/reset/2/${uid()}`;
    const s = await scenario("reset", path, { retry_schedule: [1, 1, 1] });
    const detail = await waitForFinal(s.tid, s.deliveryId);
    expect(detail).toMatchObject({ status: "delivered", reason: null, response_status: 200 });
    expect(detail.attempts).toHaveLength(3);
    for (const a of detail.attempts.slice(0, 2)) {
      expect(a).toMatchObject({ response_status: null, response_body: null });
      expect(a.error).toMatch(/^connection/);
    }
    expect(detail.attempts[2]).toMatchObject({ n: 3, response_status: 200, error: null });
    console.log(`[fault] reset: attempt errors ${detail.attempts.slice(0, 2).map((a: any) => JSON.stringify(a.error)).join(", ")}`);
    const got = await receivedAt(path);
    expect(got).toHaveLength(3);
    expectSignedDeliveries(s, got);
    expect(await deadLettersOf(s)).toHaveLength(0);
  });

  it("a receiver that answers 200 after 1.5 s, inside a 5 s timeout: delivered on the first attempt", async () => {
    const path = `/slow/1500/${uid()}`;
    const s = await scenario("slow", path, { timeout_ms: 5000, retry_schedule: [1] });
    const detail = await waitForFinal(s.tid, s.deliveryId);
    expect(detail).toMatchObject({ status: "delivered", reason: null, response_status: 200 });
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: 200, error: null, response_body: "ok" });
    expect(detail.attempts[0].duration_ms).toBeGreaterThanOrEqual(1450);
    console.log(`[fault] slow 1.5 s: delivered, duration ${detail.attempts[0].duration_ms} ms`);
    await sleep(1500);
    expect(await receivedAt(path)).toHaveLength(1);
  });

  it("a receiver that answers 500 with a 10 MB body: only the first 4 KiB are recorded, the Worker stays up, the delivery fails once", async () => {
    const path = `/big/${uid()}`;
    const s = await scenario("big", path, { retry_schedule: [] });
    const detail = await waitForFinal(s.tid, s.deliveryId);
    expect(detail).toMatchObject({ status: "failed", reason: "retries_exhausted", response_status: 500 });
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: 500, error: null });
    expect(detail.attempts[0].response_body).toBe("x".repeat(4096));
    console.log(`[fault] 10 MB body: stored ${detail.attempts[0].response_body.length} bytes, attempt took ${detail.attempts[0].duration_ms} ms`);
    expect(await receivedAt(path)).toHaveLength(1);
    const dls = await deadLettersOf(s);
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ reason: "retries_exhausted", attempts: 1, last_response_status: 500 });
    // The Worker survived reading (and cancelling) a 10 MB answer.
    expect((await fetch(`${workerUrl()}/health`)).status).toBe(200);
  });

  it("stored response bodies are capped in bytes: the first 256 bytes of a 2xx, the first 4 KiB of a failure (multi-byte UTF-8)", async () => {
    const ok = await scenario("utf8ok", `/utf8/200/${uid()}`, { retry_schedule: [] });
    const bad = await scenario("utf8bad", `/utf8/500/${uid()}`, { retry_schedule: [] });
    const okDetail = await waitForFinal(ok.tid, ok.deliveryId);
    expect(okDetail).toMatchObject({ status: "delivered", response_status: 200 });
    expect(okDetail.attempts[0].response_body).toBe("é".repeat(128)); // 256 bytes
    const badDetail = await waitForFinal(bad.tid, bad.deliveryId);
    expect(badDetail).toMatchObject({ status: "failed", reason: "retries_exhausted", response_status: 500 });
    expect(badDetail.attempts[0].response_body).toBe("é".repeat(2048)); // 4096 bytes
  });

  for (const code of [301, 302, 307]) {
    it(`a receiver that answers ${code} to a private address: not followed, final non_retryable_status, location recorded, one request`, async () => {
      const key = uid();
      const path = `/redirect/${code}/${key}`;
      const s = await scenario(`redirect${code}`, path, { retry_schedule: [1, 1] });
      const detail = await waitForFinal(s.tid, s.deliveryId);
      expect(detail).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: code, next_attempt_at: null });
      expect(detail.attempts).toHaveLength(1);
      expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: code, error: null, location: `${receiverUrl()}/redirect-target/${key}` });
      await sleep(2500); // longer than the first scheduled wait: no retry, no follow-up
      const got = await receivedAt(path);
      expect(got).toHaveLength(1);
      expectSignedDeliveries(s, got);
      // The redirect target (on this very receiver, 127.0.0.1) was never asked.
      expect(await receivedAt(`/redirect-target/${key}`)).toHaveLength(0);
      const dls = await deadLettersOf(s);
      expect(dls).toHaveLength(1);
      expect(dls[0]).toMatchObject({ reason: "non_retryable_status", attempts: 1, last_response_status: code });
    });
  }

  it("a receiver that answers 429 with Retry-After: 2: the next attempt starts ≥ 2 s after the first (the schedule says 1 s), then delivered", async () => {
    const path = `/retry-after/2/${uid()}`;
    const s = await scenario("ratelimited", path, { retry_schedule: [1, 1] });
    const detail = await waitForFinal(s.tid, s.deliveryId);
    expect(detail).toMatchObject({ status: "delivered", reason: null, response_status: 200 });
    expect(detail.attempts.map((a: any) => [a.n, a.response_status])).toEqual([
      [1, 429],
      [2, 200],
    ]);
    expect(detail.attempts[0].response_body).toBe("slow down");
    const got = await receivedAt(path);
    expect(got).toHaveLength(2);
    expectSignedDeliveries(s, got);
    expect(got[1]!.startAt - got[0]!.startAt).toBeGreaterThanOrEqual(2000);
    console.log(`[fault] 429 Retry-After 2: second attempt ${got[1]!.startAt - got[0]!.startAt} ms after the first`);
    expect(Date.parse(detail.attempts[1].started_at) - Date.parse(detail.attempts[0].started_at)).toBeGreaterThanOrEqual(2000);
    // The 429 counted toward failing_since; the success cleared it: the endpoint is active.
    expect((await getEndpoint(s.tid, s.ep.id)).status).toBe("active");
  });

  it("a receiver that answers 403: final at once, never retried", async () => {
    const path = `/status/403/${uid()}`;
    const s = await scenario("forbidden", path, { retry_schedule: [1, 1, 1] });
    const detail = await waitForFinal(s.tid, s.deliveryId);
    expect(detail).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 403, next_attempt_at: null });
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0]).toMatchObject({ n: 1, response_status: 403, response_body: "status 403", error: null });
    await sleep(3000); // three scheduled waits of 1 s would have passed
    expect(await receivedAt(path)).toHaveLength(1);
    expect((await getDelivery(s.tid, s.deliveryId)).attempts).toHaveLength(1);
    const dls = await deadLettersOf(s);
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ reason: "non_retryable_status", attempts: 1, last_response_status: 403 });
  });

  it("a receiver whose body is not UTF-8: recorded without error, invalid bytes as U+FFFD (2xx delivered, 4xx final)", async () => {
    const ok = await scenario("binary200", `/binary/200/${uid()}`, { retry_schedule: [1] });
    const bad = await scenario("binary400", `/binary/400/${uid()}`, { retry_schedule: [1] });
    const expected = "a\uFFFD\uFFFDb\uFFFD(c\uFFFDd";
    const okDetail = await waitForFinal(ok.tid, ok.deliveryId);
    expect(okDetail).toMatchObject({ status: "delivered", response_status: 200 });
    expect(okDetail.attempts).toHaveLength(1);
    expect(okDetail.attempts[0]).toMatchObject({ n: 1, response_status: 200, error: null, response_body: expected });
    const badDetail = await waitForFinal(bad.tid, bad.deliveryId);
    expect(badDetail).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 400 });
    expect(badDetail.attempts).toHaveLength(1);
    expect(badDetail.attempts[0]).toMatchObject({ n: 1, response_status: 400, error: null, response_body: expected });
    expect(await deadLettersOf(bad)).toHaveLength(1);
    expect(await deadLettersOf(ok)).toHaveLength(0);
  });
});
