import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addHistogram, emptyHistogram, LATENCY_BOUNDS_MS, latencyBucket, percentileOf } from "../../src/domain/latency-histogram";

describe("latency histogram", () => {
  it.each([
    [0, 0],
    [25, 0],
    [26, 1],
    [999, 7],
    [1000, 7],
    [30_000, LATENCY_BOUNDS_MS.length - 1],
    [30_001, LATENCY_BOUNDS_MS.length],
  ])("%i ms falls in bucket %i", (ms, bucket) => {
    expect(latencyBucket(ms)).toBe(bucket);
  });

  it("an empty histogram has no percentile", () => {
    expect(percentileOf(emptyHistogram(), 50)).toBeNull();
  });

  it("a percentile is the upper bound of the bucket holding that rank, and never below the true value's bucket", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 100 }), (durations, p) => {
        const h = emptyHistogram();
        for (const d of durations) h[latencyBucket(d)]!++;
        const sorted = [...durations].sort((a, b) => a - b);
        const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
        expect(percentileOf(h, p)).toBe(LATENCY_BOUNDS_MS[latencyBucket(exact)] ?? LATENCY_BOUNDS_MS.at(-1));
      }),
      { numRuns: 300 },
    );
  }, 30_000);

  it("histograms add up bucket by bucket", () => {
    const a = emptyHistogram();
    const b = emptyHistogram();
    a[1] = 2;
    b[1] = 3;
    b[4] = 1;
    addHistogram(a, b);
    expect(a[1]).toBe(5);
    expect(a[4]).toBe(1);
  });
});
