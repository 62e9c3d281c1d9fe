import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HOUR_MS, hourlySeries, parseChartRange, rangeHours, type HourlyRow } from "../../src/domain/hourly-series";
import { addHistogram, emptyHistogram, latencyBucket, percentileOf } from "../../src/domain/latency-histogram";

const H0 = 493_000; // an hour number: 2026-03-29 16:00 UTC
const histogramOf = (...ms: number[]): number[] => {
  const h = emptyHistogram();
  for (const m of ms) h[latencyBucket(m)]!++;
  return h;
};
const row = (hour: number, delivered: number, failed: number, ...latencyMs: number[]): HourlyRow => ({ hour, created: delivered + failed, delivered, failed, latency: histogramOf(...latencyMs) });

describe("hourlySeries", () => {
  it("zero-fills every hour of the window and dates each bucket by its first instant", () => {
    const s = hourlySeries([row(H0 + 2, 5, 1, 40)], H0, H0 + 24);
    expect(s.starts).toHaveLength(24);
    expect(s.starts[0]).toBe(H0 * HOUR_MS);
    expect(s.starts[23]).toBe((H0 + 23) * HOUR_MS);
    expect(s.bucketHours).toBe(1);
    expect(s.delivered).toEqual(Array.from({ length: 24 }, (_, i) => (i === 2 ? 5 : 0)));
    expect(s.failed).toEqual(Array.from({ length: 24 }, (_, i) => (i === 2 ? 1 : 0)));
    expect(s.p50[2]).toBe(50);
    expect(s.p50.filter((v) => v !== null)).toHaveLength(1);
    expect(s.p95.filter((v) => v !== null)).toHaveLength(1);
  });

  it("adds up several rows of one hour (several endpoints or tenants)", () => {
    const s = hourlySeries([row(H0, 3, 0, 20), row(H0, 4, 2, 20), row(H0 + 1, 1, 1)], H0, H0 + 2);
    expect(s.delivered).toEqual([7, 1]);
    expect(s.failed).toEqual([2, 1]);
  });

  it("buckets 7 days in 6-hour buckets, each summing its six hours", () => {
    const rows = Array.from({ length: 168 }, (_, i) => row(H0 + i, i, i % 2));
    const s = hourlySeries(rows, H0, H0 + 168, 6);
    expect(s.starts).toHaveLength(28);
    expect(s.starts[1]! - s.starts[0]!).toBe(6 * HOUR_MS);
    expect(s.delivered[0]).toBe(0 + 1 + 2 + 3 + 4 + 5);
    expect(s.delivered[27]).toBe(162 + 163 + 164 + 165 + 166 + 167);
    expect(s.failed.every((f) => f === 3)).toBe(true);
  });

  it("ignores rows outside [fromHour, toHour)", () => {
    const s = hourlySeries([row(H0 - 1, 9, 9, 10), row(H0 + 3, 9, 9, 10), row(H0, 1, 0, 10)], H0, H0 + 3);
    expect(s.delivered).toEqual([1, 0, 0]);
    expect(s.failed).toEqual([0, 0, 0]);
  });

  it("reads percentiles from the merged histograms of a bucket, not from hourly percentiles", () => {
    // Hour one: 19 fast attempts; hour two: one slow attempt. Averaging the hours' p95 would say ~2 s.
    const fast = row(H0, 19, 0, ...Array.from({ length: 19 }, () => 20));
    const slow = row(H0 + 1, 1, 0, 4000);
    const s = hourlySeries([fast, slow], H0, H0 + 6, 6);
    expect(s.p50).toEqual([25]);
    expect(s.p95).toEqual([25]);
    expect(hourlySeries([fast, slow, row(H0 + 2, 1, 0, 4000)], H0, H0 + 6, 6).p95).toEqual([5000]);
  });

  it("has no percentile (null, not 0) where nothing was timed", () => {
    const s = hourlySeries([row(H0, 0, 2)], H0, H0 + 2);
    expect(s.p50).toEqual([null, null]);
    expect(s.p95).toEqual([null, null]);
  });

  it("refuses a bucket size that is not a positive whole number of hours", () => {
    expect(() => hourlySeries([], H0, H0 + 24, 0)).toThrow(RangeError);
    expect(() => hourlySeries([], H0, H0 + 24, 1.5)).toThrow(RangeError);
  });

  it("keeps every count of the window, in the right bucket, whatever the rows' order and grouping", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ hour: fc.integer({ min: H0 - 10, max: H0 + 60 }), delivered: fc.nat(50), failed: fc.nat(50), latency: fc.array(fc.integer({ min: 0, max: 40_000 }), { maxLength: 5 }) })),
        fc.integer({ min: 1, max: 12 }),
        (raw, bucketHours) => {
          const rows = raw.map((r) => row(r.hour, r.delivered, r.failed, ...r.latency));
          const s = hourlySeries(rows, H0, H0 + 48, bucketHours);
          expect(s.starts).toHaveLength(Math.ceil(48 / bucketHours));
          const inside = rows.filter((r) => r.hour >= H0 && r.hour < H0 + 48);
          expect(s.delivered.reduce((a, b) => a + b, 0)).toBe(inside.reduce((a, r) => a + r.delivered, 0));
          expect(s.failed.reduce((a, b) => a + b, 0)).toBe(inside.reduce((a, r) => a + r.failed, 0));
          s.starts.forEach((start, i) => {
            const mine = inside.filter((r) => r.hour * HOUR_MS >= start && r.hour * HOUR_MS < start + bucketHours * HOUR_MS);
            expect(s.delivered[i]).toBe(mine.reduce((a, r) => a + r.delivered, 0));
            const merged = emptyHistogram();
            for (const r of mine) addHistogram(merged, r.latency);
            expect(s.p95[i]).toBe(percentileOf(merged, 95));
          });
        },
      ),
    );
  });
});

describe("rangeHours", () => {
  const now = Date.UTC(2026, 10, 23, 13, 40);
  const hour = Math.floor(now / HOUR_MS);

  it("24 h is the 24 hours ending with the current one, by the hour", () => {
    expect(rangeHours("24h", now)).toEqual({ fromHour: hour - 23, toHour: hour + 1, bucketHours: 1 });
  });

  it("7 d is 28 buckets of 6 hours on 00/06/12/18 UTC, the last holding the current hour", () => {
    const r = rangeHours("7d", now);
    expect(r.bucketHours).toBe(6);
    expect(r.toHour - r.fromHour).toBe(168);
    expect(new Date(r.fromHour * HOUR_MS).getUTCHours() % 6).toBe(0);
    expect(new Date(r.toHour * HOUR_MS).toISOString()).toBe("2026-11-23T18:00:00.000Z");
    expect(hour).toBeGreaterThanOrEqual(r.toHour - 6);
  });

  it("the current hour is always in the last bucket", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.constantFrom("24h" as const, "7d" as const), (ms, range) => {
        const r = rangeHours(range, ms);
        const h = Math.floor(ms / HOUR_MS);
        expect(h).toBeLessThan(r.toHour);
        expect(h).toBeGreaterThanOrEqual(r.toHour - r.bucketHours);
      }),
    );
  });

  it.each([
    ["7d", "7d"],
    ["24h", "24h"],
    [undefined, "24h"],
    ["30d", "24h"],
  ])("?range=%s reads as %s", (value, range) => {
    expect(parseChartRange(value)).toBe(range);
  });
});
