/**
 * Issue 5, end to end: deliveries fail against a broken URL, the operator fixes the URL,
 * retries one by hand and replays the rest, and every event arrives, verified.
 */
import { expect, it } from "vitest";
import {
  api,
  at,
  createEndpoint,
  createEventType,
  createTenant,
  deliveryOf,
  getDelivery,
  listDeadLetters,
  listDeliveries,
  patchEndpoint,
  postEvent,
  receivedAt,
  sleep,
  uid,
  verifyStandard,
  waitFor,
} from "./helpers";

it("5 deliveries fail against a broken URL; after the fix one is retried by hand and the rest replayed: all 5 arrive", async () => {
  const tid = await createTenant("recover");
  const type = await createEventType({ prefix: "recover" });
  const key = uid();
  const brokenPath = `/status/500/recover-${key}`;
  const fixedPath = `/ok/recover-${key}`;
  const since = new Date(Date.now() - 1000).toISOString();
  const ep = await createEndpoint(tid, { url: at(brokenPath), retry_schedule: [] });
  const events = await Promise.all([0, 1, 2, 3, 4].map((i) => postEvent(tid, { type, data: { i } })));

  // A schedule of [] allows one attempt: each delivery fails at once with retries_exhausted.
  const failed = await waitFor(
    async () => {
      const ds = await listDeliveries(tid, ep.id);
      return ds.length === 5 && ds.every((d) => d.status === "failed") ? ds : undefined;
    },
    { timeoutMs: 20_000, what: "five failed deliveries" },
  );
  for (const d of failed) expect(d).toMatchObject({ reason: "retries_exhausted", attempts: 1, response_status: 500 });
  const broken = await receivedAt(brokenPath);
  expect(broken).toHaveLength(5);
  for (const r of broken) expect(verifyStandard(ep.secret, r)).toMatchObject({ type });
  expect(await listDeadLetters({ tenant_id: tid, endpoint_id: ep.id })).toHaveLength(5);

  // Fix the URL.
  expect(await patchEndpoint(tid, ep.id, { url: at(fixedPath) })).toMatchObject({ url: at(fixedPath), status: "active" });

  // Retry one by hand.
  const [firstEvent, ...restEvents] = events;
  const { delivery_id: retried } = await deliveryOf(tid, firstEvent!.id, ep.id);
  expect((await api("POST", `/v1/tenants/${tid}/deliveries/${retried}/retry`)).status).toBe(202);
  const one = await waitFor(async () => {
    const got = await receivedAt(fixedPath);
    return got.length >= 1 ? got : undefined;
  }, { timeoutMs: 15_000, what: "the retried delivery at the fixed URL" });
  expect(one.map((r) => r.headers["webhook-id"])).toEqual([firstEvent!.id]);
  const retriedDetail = await waitFor(
    async () => {
      const d = await getDelivery(tid, retried);
      return d.status === "delivered" ? d : undefined;
    },
    { timeoutMs: 10_000, what: "the retried delivery to be delivered" },
  );
  expect(retriedDetail.attempts.map((a: any) => [a.n, a.response_status])).toEqual([
    [1, 500],
    [2, 200],
  ]);
  expect(retriedDetail.request.url).toBe(at(fixedPath));

  // Replay the rest: the delivered one is not selected again.
  const replay = await api("POST", `/v1/tenants/${tid}/endpoints/${ep.id}/replay`, { since });
  expect(replay.status).toBe(202);
  expect(replay.body).toEqual({ count: 4 });

  await waitFor(async () => (await receivedAt(fixedPath)).length >= 5 || undefined, {
    timeoutMs: 20_000,
    what: "all five events at the fixed URL",
    diagnose: async () => ({
      received: (await receivedAt(fixedPath)).map((r) => r.headers["webhook-id"]),
      deliveries: (await listDeliveries(tid, ep.id)).map((d) => [d.id, d.event_id, d.status, d.reason, d.attempts, d.next_attempt_at]),
      deadLetters: await listDeadLetters({ tenant_id: tid }),
    }),
  });
  await sleep(1500);
  const got = await receivedAt(fixedPath);
  expect(got).toHaveLength(5);
  expect(new Set(got.map((r) => r.headers["webhook-id"]))).toEqual(new Set(events.map((e) => e.id)));
  for (const r of got) {
    const payload = verifyStandard(ep.secret, r);
    const i = events.findIndex((e) => e.id === payload.id);
    expect(payload).toMatchObject({ id: events[i]!.id, type, data: { i } });
    // The attempt count continues: one failed attempt, then this one.
    expect(r.headers["webhook-attempt"]).toBe("2");
  }
  expect(restEvents).toHaveLength(4);

  const final = await waitFor(
    async () => {
      const ds = await listDeliveries(tid, ep.id);
      return ds.every((d) => d.status === "delivered") ? ds : undefined;
    },
    { timeoutMs: 10_000, what: "every delivery delivered" },
  );
  expect(final).toHaveLength(5);
  for (const d of final) expect(d).toMatchObject({ status: "delivered", reason: null, attempts: 2, response_status: 200 });
  // Retrying a delivery removes its dead letter.
  expect(await listDeadLetters({ tenant_id: tid, endpoint_id: ep.id })).toEqual([]);
}, 60_000);
