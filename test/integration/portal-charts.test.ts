/**
 * The endpoint page's charts (docs/charts.md) after real deliveries: delivered and failed
 * per hour and latency from the TenantLog's hourly rollups, over 24 hours or 7 days.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { HOUR_MS } from "../../src/domain/hourly-series";
import { emptyHistogram, latencyBucket } from "../../src/domain/latency-histogram";
import { createEndpoint, createEventType, createTenant, postAndSettle, tenantLog, uid, uniqueTypeName } from "./helpers";
import { PortalClient, textOf } from "./portal-helpers";

const receiver = () => inject("receiverUrl");

/** The aria-labels of the page's chart images, in order (volume, then latency). */
const chartLabels = (html: string): string[] => [...html.matchAll(/role="img" aria-label="([^"]*)"/g)].map((m) => m[1]!.replaceAll("&amp;", "&"));

/** The rows of the chart tables of a page: [start or "Total", …cells], each table in turn. */
function chartTables(html: string): string[][][] {
  return [...html.matchAll(/<details class="chart-table">([\s\S]*?)<\/details>/g)].map((t) =>
    [...t[1]!.matchAll(/<tr><th scope="row">([^<]*)<\/th>((?:<td>[^<]*<\/td>)+)<\/tr>/g)].map((m) => [m[1]!, ...[...m[2]!.matchAll(/<td>([^<]*)<\/td>/g)].map((c) => c[1]!)]),
  );
}

/** "2026-11-23 13:00", the row label of the bucket holding `ms`. */
const rowLabel = (ms: number, bucketHours = 1): string => new Date(Math.floor(ms / (bucketHours * HOUR_MS)) * bucketHours * HOUR_MS).toISOString().slice(0, 16).replace("T", " ");

/** A tenant with one endpoint that answered 3 times 200, then 2 times 500 (no retries). */
async function endpointWithHistory(): Promise<{ t: string; id: string; client: PortalClient }> {
  const t = await createTenant();
  const type = await createEventType(uniqueTypeName("chart"));
  const flip = `chart-${uid()}`;
  const ep = await createEndpoint(t, { url: `${receiver()}/flip/${flip}`, retry_schedule: [] });
  for (let i = 0; i < 3; i++) await postAndSettle(t, type, { i });
  await fetch(`${receiver()}/_flip/${flip}`, { method: "POST", body: JSON.stringify({ status: 500 }) });
  for (let i = 0; i < 2; i++) await postAndSettle(t, type, { i });
  return { t, id: ep.id as string, client: await PortalClient.open(t) };
}

describe("the endpoint page's charts", () => {
  it("show the last 24 hours' delivered and failed deliveries per hour, the same totals as the figures beside them", async () => {
    const { id, client } = await endpointWithHistory();
    const page = await client.get(`/portal/endpoints/${id}`);
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("Last 24 hours");
    expect(text).toMatch(/Delivered 3 Failed 2/);
    expect(text).toContain("Success rate 60 %");

    const [volume, latency] = chartLabels(page.html);
    expect(volume).toMatch(/^Delivered and failed, per hour, from .+ UTC: 3 delivered, 2 failed, 60 % succeeded\.$/);
    expect(latency).toMatch(/^Answer time, per hour, .+: p50 \d+ ms, p95 \d+ ms; highest p95 \d+ ms\.$/);
    expect(page.html.match(/<rect class="failed"/g)).toHaveLength(1);

    const [counts, times] = chartTables(page.html);
    expect(counts).toHaveLength(25);
    expect(counts!.at(-1)).toEqual(["Total", "3", "2"]);
    // Deliveries made just now are in the last hour (or the one before, right after a turn of the hour).
    const recent = counts!.slice(-3, -1);
    expect(recent.map((r) => r[0])).toContain(rowLabel(Date.now()));
    expect(recent.reduce((n, r) => n + Number(r[1]) + Number(r[2]), 0)).toBe(5);
    expect(times!.filter((r) => r[1] !== "—").length).toBeGreaterThanOrEqual(1);
  });

  it("?range=7d shows 7 days in 6-hour buckets, deliveries of two days ago included; the switch links both ways", async () => {
    const { t, id, client } = await endpointWithHistory();
    // Two days ago this endpoint delivered 7 and failed 1, slowly: a rollup row like those the log flushes.
    const twoDaysAgo = Math.floor(Date.now() / HOUR_MS) - 48;
    const slow = emptyHistogram();
    slow[latencyBucket(2500)] = 8;
    await runInDurableObject(await tenantLog(t), (_instance, state) => {
      const ordinals = state.storage.sql.exec<{ ordinal: number }>("SELECT DISTINCT ordinal FROM rollups").toArray();
      expect(ordinals).toHaveLength(1);
      state.storage.sql.exec("INSERT INTO rollups (ordinal, hour, created, delivered, failed, latency) VALUES (?, ?, 8, 7, 1, ?)", ordinals[0]!.ordinal, twoDaysAgo, JSON.stringify(slow));
    });

    const day = await client.get(`/portal/endpoints/${id}`);
    expect(chartLabels(day.html)[0]).toContain("3 delivered, 2 failed");
    expect(chartLabels(day.html)[1]).not.toContain("3000 ms");
    expect(day.html).toContain(`<a href="/portal/endpoints/${id}#activity" aria-current="true">24 h</a>`);
    expect(day.html).toContain(`<a href="/portal/endpoints/${id}?range=7d#activity">7 days</a>`);

    const week = await client.get(`/portal/endpoints/${id}?range=7d`);
    expect(week.status).toBe(200);
    expect(textOf(week.html)).toContain("Last 7 days");
    expect(textOf(week.html)).toMatch(/Delivered 10 Failed 3/);
    const [volume, latency] = chartLabels(week.html);
    expect(volume).toMatch(/^Delivered and failed, per 6 hours, from .+: 10 delivered, 3 failed, 76\.9 % succeeded\.$/);
    expect(latency).toContain("highest p95 3000 ms");
    const [counts] = chartTables(week.html);
    expect(counts).toHaveLength(29);
    expect(counts!.at(-1)).toEqual(["Total", "10", "3"]);
    expect(counts!.find((r) => r[0] === rowLabel(twoDaysAgo * HOUR_MS, 6))?.slice(1)).toEqual(["7", "1"]);
    expect(week.html).toContain(`<a href="/portal/endpoints/${id}?range=7d#activity" aria-current="true">7 days</a>`);
    expect(week.html).toContain(`<a href="/portal/endpoints/${id}#activity">24 h</a>`);

    // An unknown range is the default, not an error.
    const odd = await client.get(`/portal/endpoints/${id}?range=1y`);
    expect(odd.status).toBe(200);
    expect(textOf(odd.html)).toContain("Last 24 hours");
  });

  it("an endpoint with no deliveries says so instead of drawing empty charts", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver()}/ok/chart-none` });
    const client = await PortalClient.open(t);
    const page = await client.get(`/portal/endpoints/${ep.id}?range=7d`);
    expect(page.status).toBe(200);
    expect(page.html.match(/No deliveries in this period\./g)).toHaveLength(2);
    expect(page.html).not.toContain('role="img"');
    expect(page.html).not.toContain("NaN");
  });
});
