/**
 * @module The Workers Analytics Engine data points of one delivery-consumer invocation
 * (DESIGN.md "Metrics", docs/metrics.md "What is written"): one point per attempt while they
 * fit the platform's 250 writes per invocation, and the rest summed into aggregate points, so
 * that every count and latency sum stays exact however many attempts one invocation made.
 * Values in, values out: src/consumers/metrics.ts writes what this returns.
 */

/** Workers Analytics Engine takes at most 250 `writeDataPoint` calls per Worker invocation (docs/metrics.md). */
export const MAX_DATA_POINTS_PER_INVOCATION = 250;

/** What the attempt got back: a 2xx, another status, or no answer (timed out, or no connection). */
export type AttemptOutcomeName = "success" | "http_error" | "timeout" | "connection_error";

/** The delivery's status once the attempt was recorded (`pending`: a retry is scheduled). */
export type DeliveryStatusAfter = "delivered" | "pending" | "failed";

/**
 * What one point stands for: one attempt, or the attempts of one invocation summed per
 * endpoint, per tenant, or over every tenant (the coarser sums only when the finer ones would
 * not fit in the 250 points).
 */
export type PointGranularity = "attempt" | "endpoint" | "tenant" | "all";

/** One attempt of the invocation, as the consumer saw it. */
export interface AttemptMetric {
  tenantId: string;
  endpointId: string;
  eventType: string;
  /** The HTTP status answered; null when no answer came. */
  status: number | null;
  /** Why no answer came (`timeout`, `connection: …`); null with an answer. */
  error: string | null;
  deliveryStatus: DeliveryStatusAfter;
  latencyMs: number;
  /** The attempt's number over its delivery's life, 1-based (`webhook-attempt`). */
  n: number;
}

/**
 * One `writeDataPoint` argument. Column order is the contract with the SQL queries of
 * docs/metrics.md: index1 tenant; blob1 endpoint, blob2 event type, blob3 outcome, blob4
 * delivery status, blob5 granularity; double1 attempts, double2 latency ms (summed), double3
 * HTTP status, double4 attempt number. Append new columns at the end, never reorder.
 */
export interface MetricDataPoint {
  indexes: [string];
  blobs: [endpointId: string, eventType: string, outcome: AttemptOutcomeName, deliveryStatus: DeliveryStatusAfter, granularity: PointGranularity];
  doubles: [attempts: number, latencyMs: number, status: number, attemptNumber: number];
}

/**
 * The outcome of an attempt from what it got.
 *
 * @example attemptOutcome({ status: 503, error: null }) // "http_error"
 */
export function attemptOutcome(attempt: Pick<AttemptMetric, "status" | "error">): AttemptOutcomeName {
  if (attempt.status !== null) return attempt.status >= 200 && attempt.status <= 299 ? "success" : "http_error";
  // src/outbound/send.ts names a timeout `timeout`; every other missing answer is a connection error.
  return attempt.error === "timeout" ? "timeout" : "connection_error";
}

type AggregateGranularity = Exclude<PointGranularity, "attempt">;

/** Finest first: the first that fits in the budget is used. */
const AGGREGATE_GRANULARITIES: readonly AggregateGranularity[] = ["endpoint", "tenant", "all"];

/** What an aggregate point keeps of the attempts it sums; the rest reads "" or 0. */
function aggregateKey(a: AttemptMetric, granularity: AggregateGranularity): string {
  const outcome = `${attemptOutcome(a)} ${a.deliveryStatus}`;
  if (granularity === "all") return outcome;
  // JSON keeps ids that contain spaces apart from the outcome.
  if (granularity === "tenant") return JSON.stringify([a.tenantId, outcome]);
  return JSON.stringify([a.tenantId, a.endpointId, outcome]);
}

function pointOfAttempt(a: AttemptMetric): MetricDataPoint {
  return {
    indexes: [a.tenantId],
    blobs: [a.endpointId, a.eventType, attemptOutcome(a), a.deliveryStatus, "attempt"],
    doubles: [1, a.latencyMs, a.status ?? 0, a.n],
  };
}

function aggregatePoints(attempts: readonly AttemptMetric[], granularity: AggregateGranularity): MetricDataPoint[] {
  const groups = new Map<string, MetricDataPoint>();
  for (const a of attempts) {
    const key = aggregateKey(a, granularity);
    const point = groups.get(key);
    if (point) {
      point.doubles[0] += 1;
      point.doubles[1] += a.latencyMs;
      continue;
    }
    groups.set(key, {
      indexes: [granularity === "all" ? "" : a.tenantId],
      blobs: [granularity === "endpoint" ? a.endpointId : "", "", attemptOutcome(a), a.deliveryStatus, granularity],
      doubles: [1, a.latencyMs, 0, 0],
    });
  }
  return [...groups.values()];
}

/**
 * How many leading attempts keep a point of their own when the rest are summed at this
 * granularity within `max` points in all; null when the sums alone would not fit.
 */
function attemptsKeptWhole(attempts: readonly AttemptMetric[], granularity: AggregateGranularity, max: number): number | null {
  // groupsFrom[i]: how many aggregate points attempts[i..] would need.
  const groupsFrom = new Array<number>(attempts.length + 1).fill(0);
  const seen = new Set<string>();
  for (let i = attempts.length - 1; i >= 0; i--) {
    seen.add(aggregateKey(attempts[i]!, granularity));
    groupsFrom[i] = seen.size;
  }
  for (let kept = Math.min(attempts.length, max); kept >= 0; kept--) {
    if (kept + groupsFrom[kept]! <= max) return kept;
  }
  return null;
}

/**
 * The data points for one invocation's attempts, in attempt order: one per attempt while
 * they fit in {@link MAX_DATA_POINTS_PER_INVOCATION}; beyond that, as many leading attempts
 * as fit keep their own point and the rest are summed per endpoint and outcome (per tenant,
 * or over all tenants, only if that would still not fit). The sum of `double1` is always the
 * number of attempts and the sum of `double2` their total latency.
 *
 * @param attempts The attempts made by one invocation.
 * @returns At most {@link MAX_DATA_POINTS_PER_INVOCATION} points.
 * @example
 * dataPointsOf([{ tenantId: "acme", endpointId: "ep_1", eventType: "report.completed", status: 200, error: null, deliveryStatus: "delivered", latencyMs: 84, n: 1 }])
 * // [{ indexes: ["acme"], blobs: ["ep_1", "report.completed", "success", "delivered", "attempt"], doubles: [1, 84, 200, 1] }]
 */
export function dataPointsOf(attempts: readonly AttemptMetric[]): MetricDataPoint[] {
  const max = MAX_DATA_POINTS_PER_INVOCATION;
  if (attempts.length <= max) return attempts.map(pointOfAttempt);
  for (const granularity of AGGREGATE_GRANULARITIES) {
    const kept = attemptsKeptWhole(attempts, granularity, max);
    if (kept !== null) return [...attempts.slice(0, kept).map(pointOfAttempt), ...aggregatePoints(attempts.slice(kept), granularity)];
  }
  // Unreachable: "all" has at most 4 outcomes × 3 statuses = 12 groups.
  throw new Error("metric aggregates do not fit in one invocation's data points");
}
