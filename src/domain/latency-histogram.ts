/**
 * @module Attempt latency as a fixed histogram, so hourly rollups can be added up and
 * percentiles read without keeping every duration. A percentile is reported as the upper
 * bound of the bucket it falls in (the last bucket: its lower bound).
 */

/** Upper bounds (ms) of the buckets; one more bucket holds everything slower. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([25, 50, 100, 200, 350, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 15_000, 30_000]);

/** An empty histogram. */
export const emptyHistogram = (): number[] => new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);

/** The bucket a duration falls in. */
export function latencyBucket(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

/** Adds `from` into `into` (same length). */
export function addHistogram(into: number[], from: readonly number[]): void {
  for (let i = 0; i < into.length; i++) into[i]! += from[i] ?? 0;
}

/**
 * The p-th percentile (0 < p ≤ 100), or null for an empty histogram.
 * @example percentileOf([0, 3, 1, ...], 50) // 50
 */
export function percentileOf(counts: readonly number[], p: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return LATENCY_BOUNDS_MS[i] ?? LATENCY_BOUNDS_MS.at(-1)!;
  }
  return LATENCY_BOUNDS_MS.at(-1)!;
}
