import fc from "fast-check";
import { jsx } from "hono/jsx";
import { describe, expect, it } from "vitest";
import { HOUR_MS, hourlySeries, type HourlyRow, type HourlySeries } from "../../src/domain/hourly-series";
import { emptyHistogram, latencyBucket } from "../../src/domain/latency-histogram";
import { LatencyChart, RangeSwitch, VolumeChart } from "../../src/ui/charts";

const H0 = Math.floor(Date.UTC(2026, 10, 23, 0) / HOUR_MS);

const render = async (node: ReturnType<typeof jsx>): Promise<string> => String(await node.toString());
const volume = (series: HourlySeries, title = "Deliveries") => render(jsx(VolumeChart, { series, title }));
const latency = (series: HourlySeries, title = "Latency") => render(jsx(LatencyChart, { series, title }));

const histogramOf = (...ms: number[]): number[] => {
  const h = emptyHistogram();
  for (const m of ms) h[latencyBucket(m)]!++;
  return h;
};
const row = (hour: number, delivered: number, failed: number, ...latencyMs: number[]): HourlyRow => ({ hour, created: delivered + failed, delivered, failed, latency: histogramOf(...latencyMs) });

/** Every `<tag …>` of a class, as attribute maps, in document order. */
function elements(html: string, tag: string, cls: string): Record<string, string>[] {
  return [...html.matchAll(new RegExp(`<${tag} class="${cls}"([^>]*)>`, "g"))].map((m) => Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])));
}
const ariaLabel = (html: string): string => /role="img" aria-label="([^"]*)"/.exec(html)?.[1] ?? "";
/** The body rows of the `<details>` table: [start, …numbers]. */
const tableRows = (html: string): string[][] =>
  [...html.matchAll(/<tr><th scope="row">([^<]*)<\/th>((?:<td>[^<]*<\/td>)+)<\/tr>/g)].map((m) => [m[1]!, ...[...m[2]!.matchAll(/<td>([^<]*)<\/td>/g)].map((c) => c[1]!)]);

describe("VolumeChart", () => {
  it("draws one delivered bar per bucket with a count, its height proportional to the count", async () => {
    const counts = [4, 0, 10, 7, 1, 20];
    const series = hourlySeries(counts.map((c, i) => row(H0 + i, c, 0)), H0, H0 + 6);
    const bars = elements(await volume(series), "rect", "delivered");
    expect(bars).toHaveLength(counts.filter((c) => c > 0).length);
    const perUnit = Number(bars.at(-1)!.height) / 20;
    counts
      .filter((c) => c > 0)
      .forEach((c, i) => {
        expect(Number(bars[i]!.height)).toBeCloseTo(Math.max(1, c * perUnit), 1);
      });
    // Bars stand on one baseline: y + height is the same for all.
    expect(new Set(bars.map((b) => (Number(b.y) + Number(b.height)).toFixed(1))).size).toBe(1);
  });

  it("bars grow left to right in time order, each in its own slot", async () => {
    const series = hourlySeries([row(H0, 3, 0), row(H0 + 5, 3, 0), row(H0 + 23, 3, 0)], H0, H0 + 24);
    const xs = elements(await volume(series), "rect", "delivered").map((b) => Number(b.x));
    expect(xs).toHaveLength(3);
    expect(xs[1]! - xs[0]!).toBeCloseTo(((xs[2]! - xs[0]!) * 5) / 23, 1);
  });

  it("stacks a hatched failed bar on top exactly where failures happened", async () => {
    const series = hourlySeries([row(H0, 10, 0), row(H0 + 1, 10, 5), row(H0 + 2, 0, 5)], H0, H0 + 3);
    const html = await volume(series);
    const delivered = elements(html, "rect", "delivered");
    const failed = elements(html, "rect", "failed");
    expect(failed).toHaveLength(2);
    expect(failed[0]!.fill).toMatch(/^url\(#hatch-/);
    // On top of the delivered bar of the same hour, half its height.
    expect(failed[0]!.x).toBe(delivered[1]!.x);
    expect(Number(failed[0]!.y) + Number(failed[0]!.height)).toBeCloseTo(Number(delivered[1]!.y), 1);
    expect(Number(failed[0]!.height)).toBeCloseTo(Number(delivered[1]!.height) / 2, 1);
    // An hour with only failures: the failed bar stands on the baseline.
    expect(Number(failed[1]!.y) + Number(failed[1]!.height)).toBeCloseTo(Number(delivered[0]!.y) + Number(delivered[0]!.height), 1);
  });

  it("no failures, no failed bar (and the legend still says 0 failed)", async () => {
    const html = await volume(hourlySeries([row(H0, 10, 0)], H0, H0 + 24));
    expect(elements(html, "rect", "failed")).toHaveLength(0);
    expect(html).toContain("Failed (hatched): 0");
  });

  it("sums it up in the image's label: totals, success rate, period", async () => {
    const series = hourlySeries([row(H0, 30, 1), row(H0 + 7, 9, 0)], H0, H0 + 24);
    expect(ariaLabel(await volume(series))).toBe("Deliveries, per hour, from 2026-11-23 00:00 to 2026-11-24 00:00 UTC: 39 delivered, 1 failed, 97.5 % succeeded.");
  });

  it("offers every bucket's numbers as a table, with totals", async () => {
    const series = hourlySeries([row(H0 + 1, 12, 3)], H0, H0 + 24);
    const html = await volume(series);
    const rows = tableRows(html);
    expect(rows).toHaveLength(25);
    expect(rows[0]).toEqual(["2026-11-23 00:00", "0", "0"]);
    expect(rows[1]).toEqual(["2026-11-23 01:00", "12", "3"]);
    expect(rows[24]).toEqual(["Total", "12", "3"]);
    expect(html).toMatch(/<details class="chart-table"><summary>Figures as a table<\/summary>/);
  });

  it("an all-zero series says there were no deliveries instead of drawing NaN", async () => {
    const html = await volume(hourlySeries([], H0, H0 + 24));
    expect(html).toContain("No deliveries in this period.");
    expect(html).not.toContain("<svg");
    expect(html).not.toContain("NaN");
    expect(html).toContain("<figcaption>Deliveries</figcaption>");
  });

  it("labels the axes: counts, and time in UTC (hours over a day, days over a week)", async () => {
    const day = await volume(hourlySeries([row(H0, 5, 0)], H0, H0 + 24));
    expect(day).toContain(">count</text>");
    expect(day).toContain(">Time (UTC), per hour</text>");
    expect([...day.matchAll(/>(\d\d:00)<\/text>/g)].map((m) => m[1])).toEqual(["00:00", "06:00", "12:00", "18:00"]);
    const week = await volume(hourlySeries([row(H0, 5, 0)], H0, H0 + 168, 6));
    expect(week).toContain(">Time (UTC), per 6 hours</text>");
    expect(week).toContain(">Nov 23</text>");
    expect(week).toContain(">29</text>");
  });

  it("every figure is finite and the bars stay inside the drawing, whatever the data", async () => {
    await fc.assert(
      // Small and huge counts side by side: the one-unit minimum must never push a bar out.
      fc.asyncProperty(fc.array(fc.tuple(fc.oneof(fc.nat(3), fc.nat(100_000)), fc.oneof(fc.nat(3), fc.nat(100_000))), { minLength: 1, maxLength: 28 }), async (pairs) => {
        const series = hourlySeries(pairs.map(([d, f], i) => row(H0 + i, d, f)), H0, H0 + pairs.length);
        const html = await volume(series);
        expect(html).not.toMatch(/NaN|Infinity/);
        const bars = [...elements(html, "rect", "delivered"), ...elements(html, "rect", "failed")];
        for (const b of bars) {
          expect(Number(b.y)).toBeGreaterThanOrEqual(17.99);
          expect(Number(b.y) + Number(b.height)).toBeLessThanOrEqual(146.01);
          expect(Number(b.height)).toBeGreaterThanOrEqual(1);
          expect(Number(b.x) + Number(b.width)).toBeLessThanOrEqual(320);
        }
        // Every non-zero count has its own visible bar.
        expect(bars).toHaveLength(pairs.flat().filter((n) => n > 0).length);
      }),
      { numRuns: 200 },
    );
  });

  it("escapes the title and gives two charts on a page different hatch ids", async () => {
    const series = hourlySeries([row(H0, 1, 1)], H0, H0 + 2);
    const a = await volume(series, "<script>alert(1)</script>");
    expect(a).not.toContain("<script>");
    expect(a).toContain("&lt;script&gt;");
    const id = (html: string) => /<pattern id="([^"]+)"/.exec(html)?.[1];
    expect(id(await volume(series, "All tenants"))).not.toBe(id(await volume(series, "Tenant acme")));
  });
});

describe("LatencyChart", () => {
  it("draws a p50 and a p95 line whose heights follow the percentiles", async () => {
    const series = hourlySeries([row(H0, 3, 0, 20, 20, 180), row(H0 + 1, 3, 0, 90, 90, 900), row(H0 + 2, 2, 0, 400, 400)], H0, H0 + 3);
    expect(series.p50).toEqual([25, 100, 500]);
    expect(series.p95).toEqual([200, 1000, 500]);
    const html = await latency(series);
    const ys = (cls: string) => elements(html, "polyline", cls)[0]!.points!.split(" ").map((p) => Number(p.split(",")[1]));
    const p50 = ys("p50");
    const p95 = ys("p95");
    const baseline = 146;
    const scale = (baseline - p95[1]!) / 1000;
    expect(baseline - p50[0]!).toBeCloseTo(25 * scale, 1);
    expect(baseline - p50[1]!).toBeCloseTo(100 * scale, 1);
    expect(baseline - p95[0]!).toBeCloseTo(200 * scale, 1);
    expect(p50[2]).toBeCloseTo(p95[2]!, 5);
    expect(elements(html, "polyline", "p95")[0]!["stroke-dasharray"]).toBeDefined();
    expect(elements(html, "polyline", "p50")[0]!["stroke-dasharray"]).toBeUndefined();
  });

  it("breaks the lines where a bucket had no attempts, and marks each point", async () => {
    const series = hourlySeries([row(H0, 1, 0, 30), row(H0 + 1, 1, 0, 30), row(H0 + 3, 1, 0, 30), row(H0 + 4, 1, 0, 30)], H0, H0 + 5);
    const html = await latency(series);
    expect(elements(html, "polyline", "p50")).toHaveLength(2);
    expect(elements(html, "circle", "p50")).toHaveLength(4);
    expect(elements(html, "rect", "p95")).toHaveLength(4);
  });

  it("sums up p50 and p95 in the label and lists them in the table", async () => {
    const series = hourlySeries([row(H0, 2, 0, 20, 300), row(H0 + 2, 1, 0, 40)], H0, H0 + 24);
    const html = await latency(series);
    expect(ariaLabel(html)).toBe("Latency, per hour, from 2026-11-23 00:00 to 2026-11-24 00:00 UTC: p50 25 to 50 ms, p95 50 to 350 ms; highest p95 350 ms.");
    const rows = tableRows(html);
    expect(rows[0]).toEqual(["2026-11-23 00:00", "25", "350"]);
    expect(rows[1]).toEqual(["2026-11-23 01:00", "—", "—"]);
    expect(html).toContain(">ms</text>");
  });

  it("with nothing timed says there were no deliveries instead of drawing", async () => {
    const html = await latency(hourlySeries([row(H0, 0, 3)], H0, H0 + 24));
    expect(html).toContain("No deliveries in this period.");
    expect(html).not.toContain("<svg");
    expect(html).not.toContain("NaN");
  });
});

describe("RangeSwitch", () => {
  it("links both ranges and marks the current one", async () => {
    const html = await render(jsx(RangeSwitch, { current: "7d", hrefFor: (r: string) => `/portal/endpoints/ep_1?range=${r}` }));
    expect(html).toContain('<a href="/portal/endpoints/ep_1?range=24h">24 h</a>');
    expect(html).toContain('<a href="/portal/endpoints/ep_1?range=7d" aria-current="true">7 days</a>');
  });
});
