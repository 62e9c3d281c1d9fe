import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { attemptOutcome, dataPointsOf, MAX_DATA_POINTS_PER_INVOCATION, type AttemptMetric, type MetricDataPoint } from "../../src/domain/metrics";

const attempt = (over: Partial<AttemptMetric> = {}): AttemptMetric => ({
  tenantId: "acme",
  endpointId: "ep_1",
  eventType: "report.completed",
  status: 200,
  error: null,
  deliveryStatus: "delivered",
  latencyMs: 80,
  n: 1,
  ...over,
});

const sum = (points: MetricDataPoint[], column: 0 | 1) => points.reduce((total, p) => total + p.doubles[column], 0);
const granularities = (points: MetricDataPoint[]) => [...new Set(points.map((p) => p.blobs[4]))];

/** Attempts and latency per key, as the SQL queries of docs/metrics.md would add them up. */
function totalsBy(points: MetricDataPoint[], key: (p: MetricDataPoint) => string): Map<string, [number, number]> {
  const totals = new Map<string, [number, number]>();
  for (const p of points) {
    const t = totals.get(key(p)) ?? [0, 0];
    totals.set(key(p), [t[0] + p.doubles[0], t[1] + p.doubles[1]]);
  }
  return totals;
}

function expectedTotalsBy(attempts: AttemptMetric[], key: (a: AttemptMetric) => string): Map<string, [number, number]> {
  const totals = new Map<string, [number, number]>();
  for (const a of attempts) {
    const t = totals.get(key(a)) ?? [0, 0];
    totals.set(key(a), [t[0] + 1, t[1] + a.latencyMs]);
  }
  return totals;
}

const outcomeKey = (outcome: string, deliveryStatus: string) => `${outcome} ${deliveryStatus}`;

describe("attemptOutcome", () => {
  it.each([
    [200, null, "success"],
    [204, null, "success"],
    [299, null, "success"],
    [302, null, "http_error"],
    [410, null, "http_error"],
    [503, null, "http_error"],
    [null, "timeout", "timeout"],
    [null, "connection: Network connection lost.", "connection_error"],
    [null, "connection", "connection_error"],
  ] as const)("status %s, error %s → %s", (status, error, outcome) => {
    expect(attemptOutcome({ status, error })).toBe(outcome);
  });
});

describe("dataPointsOf", () => {
  it("writes one point per attempt, in order, with the documented columns", () => {
    const points = dataPointsOf([
      attempt(),
      attempt({ endpointId: "ep_2", status: 503, deliveryStatus: "pending", latencyMs: 12, n: 3 }),
      attempt({ tenantId: "_operator", eventType: "switchyard.delivery.failed", status: null, error: "timeout", deliveryStatus: "failed", latencyMs: 30_000, n: 8 }),
      attempt({ status: null, error: "connection: refused", deliveryStatus: "pending", latencyMs: 3 }),
    ]);
    expect(points).toEqual([
      { indexes: ["acme"], blobs: ["ep_1", "report.completed", "success", "delivered", "attempt"], doubles: [1, 80, 200, 1] },
      { indexes: ["acme"], blobs: ["ep_2", "report.completed", "http_error", "pending", "attempt"], doubles: [1, 12, 503, 3] },
      { indexes: ["_operator"], blobs: ["ep_1", "switchyard.delivery.failed", "timeout", "failed", "attempt"], doubles: [1, 30_000, 0, 8] },
      { indexes: ["acme"], blobs: ["ep_1", "report.completed", "connection_error", "pending", "attempt"], doubles: [1, 3, 0, 1] },
    ]);
  });

  it("writes nothing for an invocation without attempts", () => {
    expect(dataPointsOf([])).toEqual([]);
  });

  it("keeps 250 attempts whole", () => {
    const attempts = Array.from({ length: MAX_DATA_POINTS_PER_INVOCATION }, (_, i) => attempt({ latencyMs: i }));
    const points = dataPointsOf(attempts);
    expect(points).toHaveLength(250);
    expect(granularities(points)).toEqual(["attempt"]);
  });

  it("at 251 attempts to one endpoint, the first 249 keep their point and the last 2 become one aggregate", () => {
    const attempts = Array.from({ length: 251 }, (_, i) => attempt({ latencyMs: i, n: 1 + (i % 3) }));
    const points = dataPointsOf(attempts);
    expect(points).toHaveLength(250);
    expect(points.slice(0, 249).every((p) => p.blobs[4] === "attempt")).toBe(true);
    expect(points[249]).toEqual({ indexes: ["acme"], blobs: ["ep_1", "", "success", "delivered", "endpoint"], doubles: [2, 249 + 250, 0, 0] });
  });

  it("aggregates per endpoint and outcome: the outcome and the delivery status after it stay apart", () => {
    const attempts = [
      ...Array.from({ length: 250 }, () => attempt()),
      attempt({ status: 500, deliveryStatus: "pending", latencyMs: 5 }),
      attempt({ status: 502, deliveryStatus: "pending", latencyMs: 7 }),
      attempt({ status: 500, deliveryStatus: "failed", latencyMs: 11 }),
      attempt({ status: null, error: "timeout", deliveryStatus: "pending", latencyMs: 1000 }),
    ];
    const aggregates = dataPointsOf(attempts).filter((p) => p.blobs[4] !== "attempt");
    expect(aggregates).toEqual(
      expect.arrayContaining([
        { indexes: ["acme"], blobs: ["ep_1", "", "http_error", "pending", "endpoint"], doubles: [2, 12, 0, 0] },
        { indexes: ["acme"], blobs: ["ep_1", "", "http_error", "failed", "endpoint"], doubles: [1, 11, 0, 0] },
        { indexes: ["acme"], blobs: ["ep_1", "", "timeout", "pending", "endpoint"], doubles: [1, 1000, 0, 0] },
      ]),
    );
  });

  it("falls back to per-tenant sums when per-endpoint sums would not fit (300 endpoints of one tenant)", () => {
    const attempts = Array.from({ length: 300 }, (_, i) => attempt({ endpointId: `ep_${i}` }));
    const points = dataPointsOf(attempts);
    expect(points).toHaveLength(250);
    expect(points.slice(0, 249).map((p) => p.blobs[0])).toEqual(attempts.slice(0, 249).map((a) => a.endpointId));
    expect(points[249]).toEqual({ indexes: ["acme"], blobs: ["", "", "success", "delivered", "tenant"], doubles: [51, 51 * 80, 0, 0] });
  });

  it("falls back to sums over all tenants when per-tenant sums would not fit (300 tenants)", () => {
    const attempts = Array.from({ length: 600 }, (_, i) => attempt({ tenantId: `t${i % 300}`, status: i % 2 ? 200 : 500, deliveryStatus: i % 2 ? "delivered" : "pending" }));
    const points = dataPointsOf(attempts);
    expect(points.length).toBeLessThanOrEqual(250);
    const all = points.filter((p) => p.blobs[4] === "all");
    expect(all.map((p) => [p.indexes[0], p.blobs[0], p.blobs[2]]).sort()).toEqual([
      ["", "", "http_error"],
      ["", "", "success"],
    ]);
    expect(sum(points, 0)).toBe(600);
  });

  const attemptArb = (tenants: number, endpoints: number) =>
    fc.record<AttemptMetric>({
      tenantId: fc.integer({ min: 0, max: tenants - 1 }).map((i) => `t${i}`),
      endpointId: fc.integer({ min: 0, max: endpoints - 1 }).map((i) => `ep_${i}`),
      eventType: fc.constantFrom("report.completed", "vehicle.moved", "switchyard.delivery.failed"),
      status: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
      error: fc.constantFrom("timeout", "connection: reset"),
      deliveryStatus: fc.constantFrom("delivered", "pending", "failed"),
      latencyMs: fc.integer({ min: 0, max: 30_000 }),
      n: fc.integer({ min: 1, max: 12 }),
    }).map((a) => ({ ...a, error: a.status === null ? a.error : null }));

  // Small pools give per-endpoint sums; wide ones force the per-tenant and all-tenant fallbacks.
  const invocationArb = fc.oneof(
    fc.array(attemptArb(3, 6), { maxLength: 300 }),
    fc.array(attemptArb(3, 6), { minLength: 240, maxLength: 700 }),
    fc.array(attemptArb(20, 400), { minLength: 200, maxLength: 700 }),
    fc.array(attemptArb(400, 400), { minLength: 200, maxLength: 700 }),
  );

  it("never writes more than 250 points, and every count and latency sum stays exact", () => {
    fc.assert(
      fc.property(invocationArb, (attempts) => {
        const points = dataPointsOf(attempts);
        expect(points.length).toBeLessThanOrEqual(MAX_DATA_POINTS_PER_INVOCATION);
        expect(sum(points, 0)).toBe(attempts.length);
        expect(sum(points, 1)).toBe(attempts.reduce((t, a) => t + a.latencyMs, 0));
        // Outcome and delivery status are exact at every granularity.
        expect(totalsBy(points, (p) => outcomeKey(p.blobs[2], p.blobs[3]))).toEqual(expectedTotalsBy(attempts, (a) => outcomeKey(attemptOutcome(a), a.deliveryStatus)));
        // Per tenant too, unless the all-tenant fallback was needed.
        if (!points.some((p) => p.blobs[4] === "all")) {
          expect(totalsBy(points, (p) => p.indexes[0])).toEqual(expectedTotalsBy(attempts, (a) => a.tenantId));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("per-attempt points are the leading attempts, whole; a point stands for one granularity only", () => {
    fc.assert(
      fc.property(invocationArb, (attempts) => {
        const points = dataPointsOf(attempts);
        const whole = points.filter((p) => p.blobs[4] === "attempt");
        expect(points.slice(0, whole.length)).toEqual(whole);
        expect(whole).toEqual(dataPointsOf(attempts.slice(0, whole.length)));
        if (attempts.length <= MAX_DATA_POINTS_PER_INVOCATION) expect(whole).toHaveLength(attempts.length);
        expect(granularities(points.slice(whole.length)).length).toBeLessThanOrEqual(1);
        for (const p of points.slice(whole.length)) expect([p.blobs[1], p.doubles[2], p.doubles[3]]).toEqual(["", 0, 0]);
      }),
      { numRuns: 200 },
    );
  });

  it("fills the budget: more than 250 attempts always give exactly 250 points", () => {
    fc.assert(
      fc.property(invocationArb, (attempts) => {
        const points = dataPointsOf(attempts);
        expect(points).toHaveLength(Math.min(attempts.length, MAX_DATA_POINTS_PER_INVOCATION));
      }),
      { numRuns: 200 },
    );
  });
});
