/**
 * The delivery consumer's Workers Analytics Engine data points (src/consumers/metrics.ts,
 * src/domain/metrics.ts; layout in docs/metrics.md): real consumer batches against the real
 * TenantLog and receiver, with `env.METRICS.writeDataPoint` spied on (the local runtime keeps
 * no data points). Each test uses its own tenant and reads only the points indexed by it.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import type { MetricDataPoint } from "../../src/domain/metrics";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import { endpoint, fakeBatch, ingest, tenantLog, type Endpoint, type Tenant } from "./consumer-helpers";
import { fakeQueue, receiverLog, sleep, uniq, type FakeQueue } from "./pipeline-helpers";

/** Sized for a loaded 2-core CI run, not for one file alone. */
const TIMEOUT = 30_000;

type WriteSpy = MockInstance<AnalyticsEngineDataset["writeDataPoint"]>;

let spy: WriteSpy | undefined;
afterEach(() => spy?.mockRestore());

function spyOnMetrics(): WriteSpy {
  spy = vi.spyOn(env.METRICS, "writeDataPoint");
  return spy;
}

/** The points written for this tenant (other test files' consumers write to the same binding). */
const pointsOf = (s: WriteSpy, tenant: Tenant): MetricDataPoint[] => s.mock.calls.map(([p]) => p as MetricDataPoint).filter((p) => p.indexes[0] === tenant.id);

/** The Worker's env with a fake deliveries queue (defined on a child object, never assigned onto `env`). */
function consumerEnv(): { consumer: Env; queue: FakeQueue } {
  const queue = fakeQueue();
  return { consumer: Object.create(env, { DELIVERY_QUEUE: { value: queue.queue, enumerable: true } }) as Env, queue };
}

async function run(messages: LogDeliverMessage[], consumer: Env) {
  const fake = fakeBatch<LogDeliverMessage>("switchyard-deliveries", messages);
  await handleLogDeliveryBatch(fake.batch, consumer);
  return { ...fake, ids: fake.batch.messages.map((m) => m.id) };
}

/** The recorded duration of a delivery's attempt n: what its data point's latency must be. */
async function recordedDuration(tenant: Tenant, ep: Endpoint, e: number, n = 1): Promise<number> {
  const delivery = await tenant.log.getDelivery(ep.ordinal, e);
  return delivery!.attemptList.find((a) => a.n === n)!.durationMs;
}

describe("the delivery consumer's metric data points", () => {
  it(
    "a success, a 5xx, a timeout and a refused connection each write one data point: tenant, endpoint, event type, outcome, status, latency, attempt number",
    async () => {
      const tenant = await tenantLog();
      const ok = await endpoint(tenant, `/ok/${uniq("m-ok")}`);
      const broken = await endpoint(tenant, `/status/503/${uniq("m-503")}`, { retry_schedule: [60] });
      const hanging = await endpoint(tenant, `/hang/${uniq("m-hang")}`, { timeout_ms: 1000 });
      // Nothing listens on port 1: the connection is refused.
      const refused = await endpoint(tenant, "", { url: `http://127.0.0.1:1/${uniq("m-refused")}` });
      const ev = await ingest(tenant, { n: 1 }, "metrics.tested");
      const { consumer } = consumerEnv();
      const writes = spyOnMetrics();

      const { acked, ids } = await run(ev.messages, consumer);

      expect([...acked]).toEqual(ids);
      const points = pointsOf(writes, tenant);
      expect(points).toHaveLength(4);
      const byEndpoint = new Map(points.map((p) => [p.blobs[0], p]));
      const expected: [Endpoint, string, string, number][] = [
        [ok, "success", "delivered", 200],
        [broken, "http_error", "pending", 503],
        [hanging, "timeout", "pending", 0],
        [refused, "connection_error", "pending", 0],
      ];
      for (const [ep, outcome, deliveryStatus, status] of expected) {
        expect(byEndpoint.get(ep.id)).toEqual({
          indexes: [tenant.id],
          blobs: [ep.id, "metrics.tested", outcome, deliveryStatus, "attempt"],
          doubles: [1, await recordedDuration(tenant, ep, ev.e), status, 1],
        });
      }
      // The timeout's latency is the endpoint's timeout_ms, not the time the consumer took.
      expect(byEndpoint.get(hanging.id)!.doubles[1]).toBeGreaterThanOrEqual(900);
    },
    TIMEOUT,
  );

  it(
    "a retry writes its own point with attempt number 2, and the delivery's final status",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/status/500/${uniq("m-retry")}`, { retry_schedule: [1] });
      const ev = await ingest(tenant, {}, "metrics.retried");
      const { consumer, queue } = consumerEnv();
      const writes = spyOnMetrics();

      await run(ev.messages, consumer);
      const [retry] = queue.sent.map((m) => m.body as LogDeliverMessage);
      const pending = await tenant.log.getDelivery(ep.ordinal, ev.e);
      await sleep(Math.max(0, pending!.nextAttemptAt! - Date.now()));
      await run([retry!], consumer);

      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "failed", reason: "retries_exhausted", attempts: 2 });
      expect(pointsOf(writes, tenant).map((p) => [p.blobs[2], p.blobs[3], p.doubles[0], p.doubles[2], p.doubles[3]])).toEqual([
        ["http_error", "pending", 1, 500, 1],
        ["http_error", "failed", 1, 500, 2],
      ]);
    },
    TIMEOUT,
  );

  it(
    "an invocation of 264 attempts writes 250 points, and its aggregates add up to every attempt and its latency exactly",
    async () => {
      const tenant = await tenantLog();
      const endpoints = [
        ...(await Promise.all([0, 1, 2, 3].map((i) => endpoint(tenant, `/ok/${uniq(`m-many-${i}`)}`)))),
        ...(await Promise.all([4, 5].map((i) => endpoint(tenant, `/status/500/${uniq(`m-many-${i}`)}`, { retry_schedule: [600] })))),
      ];
      const events: number[] = [];
      const messages: LogDeliverMessage[] = [];
      for (let i = 0; i < 44; i++) {
        const ev = await ingest(tenant, { i }, "metrics.burst");
        events.push(ev.e);
        messages.push(...ev.messages);
      }
      const { consumer } = consumerEnv();
      const writes = spyOnMetrics();

      const { acked, ids } = await run(messages, consumer);

      expect([...acked]).toEqual(ids);
      const points = pointsOf(writes, tenant);
      expect(points).toHaveLength(250);
      const whole = points.filter((p) => p.blobs[4] === "attempt");
      const summed = points.filter((p) => p.blobs[4] !== "attempt");
      expect(whole.length).toBeGreaterThan(200);
      expect(summed.length).toBeGreaterThan(0);
      expect(summed.every((p) => p.blobs[4] === "endpoint" && p.blobs[1] === "" && p.doubles[2] === 0 && p.doubles[3] === 0)).toBe(true);

      const durations = new Map<string, number>();
      for (const ep of endpoints) {
        const received = await receiverLog(ep.path);
        expect(received).toHaveLength(44);
        const mine = points.filter((p) => p.blobs[0] === ep.id);
        expect(mine.reduce((n, p) => n + p.doubles[0], 0)).toBe(44);
        const ok = ep.path.startsWith("/ok/");
        expect(new Set(mine.map((p) => `${p.blobs[2]} ${p.blobs[3]}`))).toEqual(new Set([ok ? "success delivered" : "http_error pending"]));
        const recorded = await Promise.all(events.map((e) => recordedDuration(tenant, ep, e)));
        durations.set(ep.id, recorded.reduce((a, b) => a + b, 0));
        expect(mine.reduce((n, p) => n + p.doubles[1], 0)).toBe(durations.get(ep.id));
      }
      expect(points.reduce((n, p) => n + p.doubles[0], 0)).toBe(264);
    },
    TIMEOUT,
  );

  it(
    "a METRICS binding that throws changes nothing about deliveries: same sends, records, retries and acks",
    async () => {
      const tenant = await tenantLog();
      const ok = await endpoint(tenant, `/ok/${uniq("m-throw-ok")}`);
      const broken = await endpoint(tenant, `/status/500/${uniq("m-throw-500")}`, { retry_schedule: [60] });
      const ev = await ingest(tenant, {}, "metrics.thrown");
      const { consumer, queue } = consumerEnv();
      const writes = spyOnMetrics().mockImplementation(() => {
        throw new Error("Analytics Engine refused the data point (fake)");
      });
      const logged = vi.spyOn(console, "error").mockImplementation(() => {});

      try {
        const { acked, retried, ids } = await run(ev.messages, consumer);

        expect(writes).toHaveBeenCalled();
        expect([...acked]).toEqual(ids);
        expect(retried.size).toBe(0);
        expect(await receiverLog(ok.path)).toHaveLength(1);
        expect(await receiverLog(broken.path)).toHaveLength(1);
        expect(await tenant.log.getDelivery(ok.ordinal, ev.e)).toMatchObject({ status: "delivered", attempts: 1 });
        expect(await tenant.log.getDelivery(broken.ordinal, ev.e)).toMatchObject({ status: "pending", attempts: 1, responseStatus: 500 });
        expect(queue.sent.map((m) => m.body)).toEqual([expect.objectContaining({ kind: "deliver", t: tenant.t, e: ev.e, p: [broken.ordinal] })]);
        expect(logged.mock.calls.some(([msg]) => String(msg).includes("metric data point"))).toBe(true);
      } finally {
        logged.mockRestore();
      }
    },
    TIMEOUT,
  );
});
