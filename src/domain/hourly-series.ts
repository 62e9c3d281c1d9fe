/**
 * @module Hourly rollups turned into the evenly spaced series a chart draws: rows of any
 * number of endpoints (or tenants) are added up per bucket, missing hours count as zero, and
 * latency percentiles are read from the merged histograms of each bucket (never averaged
 * from hourly percentiles, which would be wrong). Pure: the clock is an argument.
 * See docs/charts.md.
 */
import { addHistogram, emptyHistogram, percentileOf } from "./latency-histogram";

export const HOUR_MS = 3_600_000;

/** One hour of rollups: what the TenantLog keeps per endpoint and hour. */
export interface HourlyRow {
  /** floor(ms / 3 600 000) */
  hour: number;
  created: number;
  delivered: number;
  failed: number;
  /** Attempt durations as a histogram of src/domain/latency-histogram.ts. */
  latency: number[];
}

/** Figures per bucket, index for index; `starts` are the buckets' first instants (ms). */
export interface HourlySeries {
  starts: number[];
  bucketHours: number;
  delivered: number[];
  failed: number[];
  /** null where no attempt was timed. */
  p50: (number | null)[];
  p95: (number | null)[];
}

/** The two windows a chart offers. */
export type ChartRange = "24h" | "7d";

export const CHART_RANGES: readonly ChartRange[] = ["24h", "7d"];

/** Reads `?range=`: anything but a known range is the default, 24 h. */
export function parseChartRange(value: string | undefined | null): ChartRange {
  return CHART_RANGES.find((r) => r === value) ?? "24h";
}

/**
 * Buckets rows into [fromHour, toHour) by `bucketHours` (1 for 24 h, e.g. 6 for 7 d),
 * zero-filled; several rows of one hour (several endpoints or tenants) add up. Rows
 * outside the window are ignored. A window that is not a whole number of buckets ends
 * with a shorter bucket.
 * @param rows rollups in any order
 * @param fromHour first hour (inclusive), as floor(ms / 3 600 000)
 * @param toHour last hour (exclusive)
 * @param bucketHours hours per bucket, a positive integer
 * @example hourlySeries(rows, 490_000, 490_024).delivered.length // 24
 */
export function hourlySeries(rows: readonly HourlyRow[], fromHour: number, toHour: number, bucketHours = 1): HourlySeries {
  if (!Number.isInteger(bucketHours) || bucketHours < 1) throw new RangeError(`bucketHours must be a positive integer, not ${bucketHours}`);
  const count = Math.max(0, Math.ceil((toHour - fromHour) / bucketHours));
  const delivered = new Array<number>(count).fill(0);
  const failed = new Array<number>(count).fill(0);
  const latency = Array.from({ length: count }, emptyHistogram);
  for (const row of rows) {
    if (row.hour < fromHour || row.hour >= toHour) continue;
    const i = Math.floor((row.hour - fromHour) / bucketHours);
    delivered[i]! += row.delivered;
    failed[i]! += row.failed;
    addHistogram(latency[i]!, row.latency);
  }
  return {
    starts: Array.from({ length: count }, (_, i) => (fromHour + i * bucketHours) * HOUR_MS),
    bucketHours,
    delivered,
    failed,
    p50: latency.map((h) => percentileOf(h, 50)),
    p95: latency.map((h) => percentileOf(h, 95)),
  };
}

/**
 * The hours a range covers at `nowMs`, ending with the current hour: 24 buckets of an hour,
 * or 7 days in 28 buckets of 6 hours aligned to 00, 06, 12 and 18 UTC (so the labels
 * read as whole days, and the current hour is in the last bucket).
 * @example rangeHours("24h", Date.UTC(2026, 10, 23, 12, 30)) // { fromHour: h - 23, toHour: h + 1, bucketHours: 1 } with h the 12:00 hour
 */
export function rangeHours(range: ChartRange, nowMs: number): { fromHour: number; toHour: number; bucketHours: number } {
  const next = Math.floor(nowMs / HOUR_MS) + 1;
  if (range === "24h") return { fromHour: next - 24, toHour: next, bucketHours: 1 };
  const toHour = Math.ceil(next / 6) * 6;
  return { fromHour: toHour - 7 * 24, toHour, bucketHours: 6 };
}
