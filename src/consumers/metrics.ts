/**
 * @module Writes the delivery consumer's Workers Analytics Engine data points, once per
 * invocation after its acks (DESIGN.md "Metrics", docs/metrics.md). What is written, and how
 * more than 250 attempts are summed, is src/domain/metrics.ts. Metrics never change a
 * delivery: `writeDataPoint` does not block, and anything it throws is logged and dropped.
 */
import { dataPointsOf, type AttemptMetric } from "../domain/metrics";
import type { Outcome } from "../tenant-log/types";

/** An outcome the consumer handed to `record`, with the names the data point carries. */
export interface AttemptMade {
  tenantId: string;
  endpointId: string;
  eventType: string;
  outcome: Outcome;
}

/**
 * Writes one data point per request the invocation sent (summed past the platform's limit).
 * Outcomes without an attempt (the URL policy refused the URL: nothing was sent) write none.
 * Test sends do not come through here, so they are not counted (docs/metrics.md).
 *
 * @param dataset The `METRICS` binding; absent when a deployment's wrangler.toml dropped it.
 * @param made The outcomes of this invocation, whatever became of their record: each was a
 *   request a receiver saw.
 */
export function writeAttemptMetrics(dataset: AnalyticsEngineDataset | undefined, made: readonly AttemptMade[]): void {
  if (!dataset) return;
  let failed = 0;
  let firstError: unknown;
  try {
    for (const point of dataPointsOf(made.flatMap(attemptMetricOf))) {
      try {
        dataset.writeDataPoint(point);
      } catch (err) {
        failed += 1;
        firstError ??= err;
      }
    }
  } catch (err) {
    failed += 1;
    firstError ??= err;
  }
  if (failed > 0) console.error(`writing ${failed} metric data point(s) failed; deliveries are unaffected`, firstError);
}

function attemptMetricOf({ tenantId, endpointId, eventType, outcome }: AttemptMade): AttemptMetric[] {
  const a = outcome.attempt;
  if (!a) return [];
  return [{ tenantId, endpointId, eventType, status: a.responseStatus, error: a.error, deliveryStatus: outcome.status, latencyMs: a.durationMs, n: a.n }];
}
