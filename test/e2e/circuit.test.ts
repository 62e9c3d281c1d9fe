/**
 * Issue 18, end to end: the circuit breaker against the real Worker under `wrangler dev` and
 * a receiver that hangs and then recovers (test/support/receiver.ts `/hold/{key}`).
 *
 * An endpoint with timeout_ms 1000 and circuit {open_after: 3, cool_off_s: 10}: three
 * deliveries time out, the circuit opens (visible as `circuit_state`), and
 * `switchyard.endpoint.circuit_opened` reaches an `_operator` endpoint once. While it is open
 * nothing is sent: the first three wait without spending their scheduled retries, and events
 * posted meanwhile stay pending with no attempt. Then the receiver recovers: within one
 * cool-off the probe gets through, the circuit closes, and every deferred delivery arrives,
 * signed (checked with `standardwebhooks`), none failed.
 *
 * The e2e Worker runs with AUTO_DISABLE_AFTER_S = 4, so the receiver recovers before the
 * probe is due: a failed probe checks auto-disable like any failed attempt (DESIGN "Delivery
 * rules"), and would disable the endpoint here.
 *
 * Run: npx vitest run --project e2e test/e2e/circuit.test.ts
 */
import { describe, expect, it } from "vitest";
import {
  at,
  createEndpoint,
  createEventType,
  createOperatorEndpoint,
  createTenant,
  deliveryOf,
  forEvent,
  getDelivery,
  getEndpoint,
  listDeliveries,
  postEvent,
  receivedAt,
  receiverUrl,
  sleep,
  uid,
  verifyStandard,
  waitFor,
  waitForOperatorEvent,
} from "./helpers";

const TIMEOUT_MS = 1000;
const OPEN_AFTER = 3;
const COOL_OFF_S = 10;

/** The receiver at `/hold/{key}` answers 200 from now on. */
async function release(key: string): Promise<void> {
  const res = await fetch(`${receiverUrl()}/_release/${key}`, { method: "POST" });
  expect(res.status).toBe(200);
}

describe("circuit breaker", () => {
  it("opens after 3 timeouts, holds every delivery without spending attempts, reports the opening once, and a successful probe after recovery delivers the backlog", async () => {
    const op = await createOperatorEndpoint(["switchyard.endpoint.circuit_opened"]);
    const tid = await createTenant("circuit");
    const type = await createEventType({ prefix: "circuit" });
    const key = `circuit-${uid()}`;
    const path = `/hold/${key}`;
    const ep = await createEndpoint(tid, { url: at(path), timeout_ms: TIMEOUT_MS, circuit: { open_after: OPEN_AFTER, cool_off_s: COOL_OFF_S } });
    expect(ep).toMatchObject({ circuit: { enabled: true, open_after: OPEN_AFTER, cool_off_s: COOL_OFF_S }, circuit_state: "closed" });

    // Three events at once: their first attempts hang until the 1 s timeout.
    const firstEvents = await Promise.all([1, 2, 3].map((i) => postEvent(tid, { type, data: { phase: "before", i } })));
    const diagnose = async () => ({ endpoint: await getEndpoint(tid, ep.id), deliveries: await listDeliveries(tid, ep.id), received: (await receivedAt(path)).length });

    const opened = await waitFor(
      async () => {
        const e = await getEndpoint(tid, ep.id);
        return e.circuit_state === "open" ? e : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: "circuit_state open", diagnose },
    );
    const openedAt = Date.now();
    expect(opened.status).toBe("active");
    const tries = await receivedAt(path);
    expect(tries, "the circuit opens within 3 consecutive timeouts").toHaveLength(OPEN_AFTER);
    for (const r of tries) verifyStandard(ep.secret, r);
    expect(new Set(tries.map((r) => r.headers["webhook-id"]))).toEqual(new Set(firstEvents.map((e) => e.id)));

    // Reported to _operator once, with what opened it and until when.
    const { payload } = await waitForOperatorEvent(op, "switchyard.endpoint.circuit_opened", (d) => d.endpoint_id === ep.id);
    expect(payload.data).toMatchObject({ tenant_id: tid, endpoint_id: ep.id, url: at(path), consecutive_failures: OPEN_AFTER });
    const openUntil = Date.parse(payload.data.open_until);
    expect(openUntil).not.toBeNaN();
    expect(openUntil - tries[tries.length - 1]!.startAt).toBeGreaterThan((COOL_OFF_S - 2) * 1000);
    expect(openUntil - tries[tries.length - 1]!.startAt).toBeLessThan((COOL_OFF_S + 5) * 1000);

    // While open: events posted meanwhile wait with no attempt, and the first three's
    // scheduled retries (5 s after their failure) are held too. Nothing reaches the receiver.
    const during = await Promise.all([1, 2].map((i) => postEvent(tid, { type, data: { phase: "during", i } })));
    const duringDeliveries = await Promise.all(during.map((e) => deliveryOf(tid, e.id, ep.id)));
    await sleep(Math.max(0, openedAt + 6000 - Date.now()));
    expect(Date.now(), "still inside the cool-off (raise COOL_OFF_S if this machine is slow)").toBeLessThan(openUntil - 1000);
    expect(await receivedAt(path), "no request while the circuit is open").toHaveLength(OPEN_AFTER);
    const held = await listDeliveries(tid, ep.id);
    expect(held).toHaveLength(5);
    for (const d of held) {
      expect(d.status, JSON.stringify(d)).toBe("pending");
      expect(d.reason).toBeNull();
    }
    for (const { delivery_id } of duringDeliveries) expect(held.find((d) => d.id === delivery_id)).toMatchObject({ status: "pending", attempts: 0 });
    for (const e of firstEvents) {
      const { delivery_id } = await deliveryOf(tid, e.id, ep.id);
      expect(held.find((d) => d.id === delivery_id)).toMatchObject({ status: "pending", attempts: 1 });
    }
    expect((await getEndpoint(tid, ep.id)).circuit_state).toBe("open");

    // The receiver recovers before the probe is due.
    await release(key);
    const releasedAt = Date.now();
    const closed = await waitFor(
      async () => {
        const e = await getEndpoint(tid, ep.id);
        return e.circuit_state === "closed" ? e : undefined;
      },
      { timeoutMs: (COOL_OFF_S + 10) * 1000, intervalMs: 200, what: "circuit_state closed after the receiver recovered", diagnose },
    );
    expect(closed.status).toBe("active");
    expect(Date.now() - releasedAt, "closed within one cool-off of the recovery (plus polling slack)").toBeLessThan((COOL_OFF_S + 5) * 1000);

    // Every deferred delivery arrives, signed; none failed.
    const all = [...firstEvents, ...during];
    const answered = await waitFor(
      async () => {
        const got = (await receivedAt(path)).filter((r) => r.startAt >= releasedAt);
        return new Set(got.map((r) => r.headers["webhook-id"])).size >= all.length ? got : undefined;
      },
      { timeoutMs: 20_000, what: "every deferred delivery after the probe", diagnose },
    );
    const probe = [...answered].sort((a, b) => a.startAt - b.startAt)[0]!;
    // One probe first; the rest went out only after its answer.
    for (const r of answered) if (r !== probe) expect(r.startAt, "a delivery started before the probe was answered").toBeGreaterThanOrEqual(probe.at);
    await sleep(1500);
    const received = await receivedAt(path);
    for (const e of all) {
      const reqs = forEvent(received, e.id);
      const last = reqs[reqs.length - 1]!;
      expect(last.startAt, `event ${e.id} was delivered after the recovery`).toBeGreaterThanOrEqual(releasedAt);
      expect(verifyStandard(ep.secret, last)).toMatchObject({ id: e.id, type });
    }
    // Each of the first three: the timed-out attempt and the successful one, no attempt in between.
    for (const e of firstEvents) expect(forEvent(received, e.id).map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2"]);
    for (const e of during) expect(forEvent(received, e.id).map((r) => r.headers["webhook-attempt"])).toEqual(["1"]);

    const final = await waitFor(
      async () => {
        const list = await listDeliveries(tid, ep.id);
        return list.every((d) => d.status === "delivered") ? list : undefined;
      },
      { timeoutMs: 10_000, what: "every delivery delivered", diagnose },
    );
    expect(final).toHaveLength(5);
    for (const d of final) expect(d).toMatchObject({ status: "delivered", reason: null });
    const detail = await getDelivery(tid, (await deliveryOf(tid, firstEvents[0]!.id, ep.id)).delivery_id);
    expect(detail.attempts[0]).toMatchObject({ error: "timeout", response_status: null });
    expect(detail.attempts.at(-1)).toMatchObject({ response_status: 200 });

    // The opening was reported once.
    const reports = (await receivedAt(op.path)).map((r) => verifyStandard(op.endpoint.secret, r)).filter((p) => p.type === "switchyard.endpoint.circuit_opened" && p.data.endpoint_id === ep.id);
    expect(reports).toHaveLength(1);
  }, 120_000);
});
