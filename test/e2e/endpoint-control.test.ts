/**
 * Issue 10, end to end: FIFO ordering and rate limits (EndpointDO), pause and resume, and
 * auto-disable (the e2e Worker runs with AUTO_DISABLE_AFTER_S = 4), against the real Worker
 * and a receiver that verifies every request with `standardwebhooks`.
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
  getDelivery,
  getEndpoint,
  getEvent,
  listDeadLetters,
  listDeliveries,
  patchEndpoint,
  postEvent,
  receivedAt,
  setFlip,
  sleep,
  uid,
  verifyStandard,
  waitFor,
  waitForOperatorEvent,
  type Recorded,
} from "./helpers";

/** The most timestamps in any window [t, t + 1000 ms). */
function mostInOneSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (const t of sorted) most = Math.max(most, sorted.filter((u) => u >= t && u < t + 1000).length);
  return most;
}

function spread(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted.map((t) => t - sorted[0]!).join(", ");
}

describe.concurrent("endpoint ordering, rate limit, pause, auto-disable", () => {
  it("FIFO: a receiver that fails each event twice gets 8 events in order, none started before the previous succeeded", async () => {
    const tid = await createTenant("fifo");
    const type = await createEventType({ prefix: "fifo" });
    const path = `/fail-each/2/fifo-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), ordering: "fifo", retry_schedule: [1, 1, 1] });
    const ids: string[] = [];
    // Acceptance order is event order: post one after the other.
    for (let i = 0; i < 8; i++) ids.push((await postEvent(tid, { type, data: { i } })).id);

    await waitFor(
      async () => {
        const got = await receivedAt(path);
        return got.filter((r) => r.headers["webhook-attempt"] === "3").length >= 8 ? got : undefined;
      },
      { timeoutMs: 100_000, intervalMs: 500, what: "8 events delivered through the FIFO line" },
    );
    await sleep(1000);
    const got = await receivedAt(path);
    for (const r of got) expect(verifyStandard(ep.secret, r)).toMatchObject({ type });

    // Every event: exactly three attempts (500, 500, 200), webhook-attempt 1..3.
    const perEvent = ids.map((id) => forEvent(got, id));
    perEvent.forEach((reqs, i) => {
      expect(reqs.map((r) => r.headers["webhook-attempt"]), `event ${i}`).toEqual(["1", "2", "3"]);
      expect(JSON.parse(reqs[0]!.body).data).toEqual({ i });
    });
    expect(got).toHaveLength(24);
    // The line: all of event i's requests come before any of event i+1's, and event i+1's
    // first attempt starts only after event i's success was answered.
    const order = got.map((r) => ids.indexOf(r.headers["webhook-id"]!));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    for (let i = 1; i < 8; i++) {
      const prevSuccess = perEvent[i - 1]![2]!;
      const firstAttempt = perEvent[i]![0]!;
      expect(firstAttempt.startAt, `event ${i} started before event ${i - 1} succeeded`).toBeGreaterThanOrEqual(prevSuccess.at);
    }
    const deliveries = await listDeliveries(tid, ep.id);
    expect(deliveries).toHaveLength(8);
    for (const d of deliveries) expect(d).toMatchObject({ status: "delivered", attempts: 3 });
  }, 120_000);

  it("rate_limit 4: 16 events posted at once never make more than 4 starts in any one-second window; all delivered with 1 attempt", async () => {
    const tid = await createTenant("rate");
    const type = await createEventType({ prefix: "rate" });
    const path = `/ok/rate-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), rate_limit: 4 });
    const events = await Promise.all(Array.from({ length: 16 }, (_, i) => postEvent(tid, { type, data: { i } })));

    await waitFor(async () => (await receivedAt(path)).length >= 16 || undefined, { timeoutMs: 30_000, intervalMs: 300, what: "16 requests" });
    await sleep(1000);
    const got = await receivedAt(path);
    expect(got).toHaveLength(16);
    for (const r of got) verifyStandard(ep.secret, r);
    expect(new Set(got.map((r) => r.headers["webhook-id"]))).toEqual(new Set(events.map((e) => e.id)));
    expect(got.every((r) => r.headers["webhook-attempt"] === "1")).toBe(true);

    // No window [t, t + 1 s) may hold more than 4 starts: neither as the receiver sees them
    // (headers arrived; a receiver enforcing its own 4/s limit counts these) nor as the
    // Worker recorded them (each attempt's started_at).
    const deliveries = await listDeliveries(tid, ep.id);
    const details = await Promise.all(deliveries.map((d) => getDelivery(tid, d.id)));
    const workerStarts = details.flatMap((d) => d.attempts.map((a: any) => Date.parse(a.started_at)));
    const receiverStarts = got.map((r) => r.startAt);
    const report = `receiver starts (ms from first): ${spread(receiverStarts)}; worker started_at (ms from first): ${spread(workerStarts)}`;
    expect(mostInOneSecond(receiverStarts), report).toBeLessThanOrEqual(4);
    expect(mostInOneSecond(workerStarts), report).toBeLessThanOrEqual(4);

    expect(deliveries).toHaveLength(16);
    for (const d of deliveries) expect(d).toMatchObject({ status: "delivered", attempts: 1, reason: null });
  }, 60_000);

  /**
   * Pause with a backlog, post while paused, resume: the backlog (deliveries created before
   * the pause) arrives, the event posted while paused never does.
   * - plain endpoint: the backlog is deliveries waiting for a retry (the receiver answered 503);
   * - rate-limited endpoint: the backlog is deliveries still waiting for their turn.
   */
  it("pause, post, resume (plain endpoint): the pre-pause backlog arrives, the event posted while paused never does", async () => {
    const tid = await createTenant("pause");
    const type = await createEventType({ prefix: "pause" });
    const key = `pause-${uid()}`;
    const path = `/flip/${key}`;
    await setFlip(key, 503);
    const ep = await createEndpoint(tid, { url: at(path), retry_schedule: [3] });
    const backlog = await Promise.all([1, 2, 3].map((i) => postEvent(tid, { type, data: { i } })));
    // Each pre-pause delivery has been tried once and waits for its retry.
    await waitFor(async () => (await receivedAt(path)).length >= 3 || undefined, { timeoutMs: 15_000, what: "three first attempts" });
    await patchEndpoint(tid, ep.id, { status: "paused" });
    const pausedAt = Date.now();
    await setFlip(key, 200);
    const whilePaused = await postEvent(tid, { type, data: { paused: true } });

    // The retries come due while paused: nothing may be sent.
    await sleep(5000);
    const duringPause = (await receivedAt(path)).filter((r) => r.startAt > pausedAt);
    expect(duringPause).toEqual([]);
    const pending = await listDeliveries(tid, ep.id);
    expect(pending).toHaveLength(3);
    // Parked in D1 (no queue message left to age out), waiting for the resume.
    for (const d of pending) expect(d).toMatchObject({ status: "pending", attempts: 1, next_attempt_at: null });

    await patchEndpoint(tid, ep.id, { status: "active" });
    const afterResume = await waitFor(
      async () => {
        const got = (await receivedAt(path)).filter((r) => r.startAt > pausedAt);
        return got.length >= 3 ? got : undefined;
      },
      { timeoutMs: 20_000, what: "the backlog after resume" },
    );
    await sleep(2000);
    const all = await receivedAt(path);
    for (const r of all) verifyStandard(ep.secret, r);
    expect(new Set(afterResume.map((r) => r.headers["webhook-id"]))).toEqual(new Set(backlog.map((e) => e.id)));
    expect(all.filter((r) => r.startAt > pausedAt)).toHaveLength(3);
    expect(forEvent(all, whilePaused.id)).toEqual([]);
    expect((await getEvent(tid, whilePaused.id)).deliveries).toEqual([]);
    for (const d of await listDeliveries(tid, ep.id)) expect(d).toMatchObject({ status: "delivered", attempts: 2 });
  }, 60_000);

  it("pause, post, resume (rate-limited endpoint): deliveries still waiting for their turn go out on resume", async () => {
    const tid = await createTenant("pauserl");
    const type = await createEventType({ prefix: "pauserl" });
    const path = `/ok/pauserl-${uid()}`;
    const ep = await createEndpoint(tid, { url: at(path), rate_limit: 1 });
    const backlog = await Promise.all(Array.from({ length: 6 }, (_, i) => postEvent(tid, { type, data: { i } })));
    // Wait until fan-out has made all six deliveries, then pause at once: at one start per
    // second most of them have not gone out yet.
    await waitFor(async () => (await listDeliveries(tid, ep.id)).length === 6 || undefined, { timeoutMs: 15_000, intervalMs: 100, what: "six deliveries" });
    await patchEndpoint(tid, ep.id, { status: "paused" });
    const whilePaused = await postEvent(tid, { type, data: { paused: true } });
    await sleep(4000);
    const beforeResume = await receivedAt(path);
    // Something must be held back, or this test proves nothing.
    expect(beforeResume.length).toBeLessThan(6);
    await sleep(1500);
    expect(await receivedAt(path)).toHaveLength(beforeResume.length);

    await patchEndpoint(tid, ep.id, { status: "active" });
    await waitFor(async () => (await receivedAt(path)).length >= 6 || undefined, { timeoutMs: 20_000, what: `the rest of the backlog (had ${beforeResume.length} of 6)` });
    await sleep(2000);
    const all = await receivedAt(path);
    for (const r of all) verifyStandard(ep.secret, r);
    expect(all).toHaveLength(6);
    expect(new Set(all.map((r) => r.headers["webhook-id"]))).toEqual(new Set(backlog.map((e) => e.id)));
    expect(forEvent(all, whilePaused.id)).toEqual([]);
    for (const d of await listDeliveries(tid, ep.id)) expect(d).toMatchObject({ status: "delivered", attempts: 1 });
  }, 60_000);

  it("auto-disable: switchyard.endpoint.disabled reaches _operator; re-enable, fix the URL, replay {since} delivers the backlog", async () => {
    const op = await createOperatorEndpoint(["switchyard.endpoint.disabled", "switchyard.delivery.failed"]);
    const tid = await createTenant("disable");
    const type = await createEventType({ prefix: "disable" });
    const key = uid();
    const brokenPath = `/status/500/disable-${key}`;
    const fixedPath = `/ok/disable-${key}`;
    const since = new Date(Date.now() - 1000).toISOString();
    const ep = await createEndpoint(tid, { url: at(brokenPath), retry_schedule: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1] });
    const first = await postEvent(tid, { type, data: { n: 1 } });

    const disabled = await waitFor(
      async () => {
        const e = await getEndpoint(tid, ep.id);
        return e.status === "disabled" ? e : undefined;
      },
      { timeoutMs: 30_000, what: "the endpoint to be disabled" },
    );
    expect(disabled.disabled_reason).toEqual(expect.any(String));
    const { payload } = await waitForOperatorEvent(op, "switchyard.endpoint.disabled", (d) => d.endpoint_id === ep.id);
    expect(payload.data).toMatchObject({ tenant_id: tid, endpoint_id: ep.id, url: at(brokenPath), disabled_reason: disabled.disabled_reason });
    expect(Date.parse(payload.data.failing_since)).not.toBeNaN();

    const brokenTries = await receivedAt(brokenPath);
    expect(brokenTries.length).toBeGreaterThanOrEqual(2);
    for (const r of brokenTries) verifyStandard(ep.secret, r);
    // Failing since the first attempt; disabled at the first failed attempt 4 s or more later.
    expect(brokenTries[brokenTries.length - 1]!.startAt - brokenTries[0]!.startAt).toBeGreaterThanOrEqual(3500);

    const { delivery_id: firstDelivery } = await deliveryOf(tid, first.id, ep.id);
    const firstState = await waitFor(
      async () => {
        const d = (await listDeliveries(tid, ep.id)).find((x) => x.id === firstDelivery);
        return d?.status === "failed" ? d : undefined;
      },
      { timeoutMs: 10_000, what: "the pending delivery to fail" },
    );
    expect(firstState.reason).toBe("endpoint_disabled");
    const attemptsBeforeReplay = firstState.attempts;
    expect(attemptsBeforeReplay).toBe(brokenTries.length);

    // Events that arrive while disabled are recorded as endpoint_disabled failures, no attempt.
    const second = await postEvent(tid, { type, data: { n: 2 } });
    const secondDelivery = await deliveryOf(tid, second.id, ep.id);
    const secondState = (await listDeliveries(tid, ep.id)).find((x) => x.id === secondDelivery.delivery_id);
    expect(secondState).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 0 });
    await sleep(1500);
    expect(await receivedAt(brokenPath)).toHaveLength(brokenTries.length);
    // endpoint_disabled failures keep no dead letter (DESIGN.md "Dead letters": the disable is
    // reported once, so an abandoned endpoint does not grow D1 with every event); they stay
    // in the log and replayable.
    const deadBefore = await listDeadLetters({ tenant_id: tid, endpoint_id: ep.id });
    expect(deadBefore.filter((x) => x.reason === "endpoint_disabled")).toEqual([]);

    // Replay refuses a disabled endpoint; re-enable and fix the receiver URL first.
    expect((await api("POST", `/v1/tenants/${tid}/endpoints/${ep.id}/replay`, { since })).status).toBe(409);
    const fixed = await patchEndpoint(tid, ep.id, { status: "active", url: at(fixedPath) });
    expect(fixed).toMatchObject({ status: "active", disabled_reason: null, url: at(fixedPath) });
    const replay = await api("POST", `/v1/tenants/${tid}/endpoints/${ep.id}/replay`, { since });
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual({ count: 2 });

    const got = await waitFor(async () => {
      const g = await receivedAt(fixedPath);
      return g.length >= 2 ? g : undefined;
    }, { timeoutMs: 20_000, what: "the backlog at the fixed URL" });
    await sleep(1500);
    const all = await receivedAt(fixedPath);
    expect(all).toHaveLength(2);
    const byId = (id: string) => all.find((r) => r.headers["webhook-id"] === id) as Recorded;
    expect(verifyStandard(ep.secret, byId(first.id))).toMatchObject({ id: first.id, data: { n: 1 } });
    expect(verifyStandard(ep.secret, byId(second.id))).toMatchObject({ id: second.id, data: { n: 2 } });
    // The attempt count continues over the delivery's life.
    expect(byId(first.id).headers["webhook-attempt"]).toBe(String(attemptsBeforeReplay + 1));
    expect(byId(second.id).headers["webhook-attempt"]).toBe("1");
    expect(got.length).toBe(2);
    for (const d of await listDeliveries(tid, ep.id)) expect(d).toMatchObject({ status: "delivered", reason: null });
    expect((await getEndpoint(tid, ep.id)).status).toBe("active");
    // Retried deliveries lose their dead letters.
    expect(await listDeadLetters({ tenant_id: tid, endpoint_id: ep.id })).toEqual([]);

    // Emitted once; endpoint_disabled failures emit no switchyard.delivery.failed.
    const opPayloads = (await receivedAt(op.path)).map((r) => verifyStandard(op.endpoint.secret, r));
    expect(opPayloads.filter((p) => p.type === "switchyard.endpoint.disabled" && p.data.endpoint_id === ep.id)).toHaveLength(1);
    expect(opPayloads.filter((p) => p.type === "switchyard.delivery.failed" && p.data.endpoint_id === ep.id)).toEqual([]);
  }, 90_000);
});
