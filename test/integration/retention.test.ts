import { env } from "cloudflare:workers";
import { worker } from "../support/worker-handlers";
import { describe, expect, inject, it } from "vitest";
import { getConfig } from "../../src/config";
import { runRetention } from "../../src/cron/retention";
import { api } from "./helpers";

const DAY = 86_400_000;

async function waitFor<T>(read: () => Promise<T | null | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await read();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = async (sql: string, ...params: unknown[]) => (await env.DB.prepare(sql).bind(...params).first<{ n: number }>())!.n;

describe("retention (Cron Trigger)", () => {
  it("purges old events with their deliveries and attempts, expires old pending deliveries, drops old dead letters", async () => {
    const receiver = inject("receiverUrl");
    expect((await api("/v1/tenants", { body: { id: "ret", name: "R" } })).status).toBe(201);
    expect((await api("/v1/event-types", { body: { name: "ret.done" } })).status).toBe(201);
    const ok = await api("/v1/tenants/ret/endpoints", { body: { url: `${receiver}/ok/retention` } });
    const broken = await api("/v1/tenants/ret/endpoints", { body: { url: `${receiver}/status/410/retention`, retry_schedule: [] } });
    expect(ok.status).toBe(201);
    expect(broken.status).toBe(201);
    expect((await api("/v1/tenants/ret/events", { body: { type: "ret.done", data: { n: 1 } } })).status).toBe(202);
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM deliveries WHERE status != 'pending'")) === 2, "both outcomes");
    expect(await count("SELECT COUNT(*) AS n FROM dead_letters")).toBe(1);

    // A delivery that waits (paused endpoint) for longer than RETENTION_DAYS.
    const paused = await api("/v1/tenants/ret/endpoints", { body: { url: `${receiver}/ok/retention-paused` } });
    expect((await api("/v1/tenants/ret/events", { body: { type: "ret.done", data: { n: 2 } } })).status).toBe(202);
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM deliveries WHERE endpoint_id = ?", paused.body.id)) === 1, "the third delivery");
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM deliveries WHERE endpoint_id != ? AND status != 'pending'", paused.body.id)) === 4, "the others' outcomes");
    await env.DB.prepare("UPDATE deliveries SET next_attempt_at = NULL, status = 'pending' WHERE endpoint_id = ?").bind(paused.body.id).run();

    const config = getConfig(env);
    // Nothing is old yet.
    expect(await runRetention(env, config, Date.now())).toMatchObject({ expired: 0, events: 0, deadLetters: 0 });

    const later = Date.now() + 31 * DAY;
    const report = await runRetention(env, config, later);
    expect(report.expired).toBe(1);
    // The expired one failed with a dead letter and was reported to _operator.
    const expired = await env.DB.prepare("SELECT status, reason FROM deliveries WHERE endpoint_id = ?").bind(paused.body.id).first();
    expect(expired).toEqual({ status: "failed", reason: "expired" });
    expect(await count("SELECT COUNT(*) AS n FROM events WHERE tenant_id = '_operator' AND type = 'switchyard.delivery.failed' AND data LIKE '%\"expired\"%'")).toBe(1);
    // Dead letters are 31 days old at `later`, past DEAD_LETTER_DAYS (30): the two 410s' go;
    // the expired one was created at `later` and stays.
    expect(report.deadLetters).toBe(2);
    // Events referenced by no pending delivery and no dead letter went with their deliveries and attempts.
    expect(report.events).toBeGreaterThanOrEqual(1);
    const second = await runRetention(env, config, later);
    expect(second.events).toBeGreaterThanOrEqual(1);
    // Event 1 is gone with its deliveries and attempts; event 2 stays while its expired
    // delivery's dead letter refers to it.
    expect(await env.DB.prepare("SELECT data FROM events WHERE tenant_id = 'ret'").all()).toMatchObject({ results: [{ data: '{"n":2}' }] });
    expect(await count("SELECT COUNT(*) AS n FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.data = '{\"n\":1}'")).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM attempts a LEFT JOIN deliveries d ON d.seq = a.delivery_seq WHERE d.seq IS NULL")).toBe(0);
    // Once that dead letter ages out too, the event goes.
    await runRetention(env, config, later + 31 * DAY);
    await runRetention(env, config, later + 31 * DAY);
    expect(await count("SELECT COUNT(*) AS n FROM events WHERE tenant_id = 'ret'")).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM deliveries WHERE tenant_id = 'ret'")).toBe(0);
  });

  it("a deleted endpoint's log is purged in batches and its row removed", async () => {
    const receiver = inject("receiverUrl");
    await api("/v1/tenants", { body: { id: "ret2", name: "R2" } });
    await api("/v1/event-types", { body: { name: "ret2.done" } });
    const ep = await api("/v1/tenants/ret2/endpoints", { body: { url: `${receiver}/ok/retention2` } });
    await api("/v1/tenants/ret2/events", { body: { type: "ret2.done", data: {} } });
    await waitFor(async () => (await count("SELECT COUNT(*) AS n FROM deliveries WHERE endpoint_id = ? AND status = 'delivered'", ep.body.id)) === 1, "delivery");
    expect((await api(`/v1/tenants/ret2/endpoints/${ep.body.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await api(`/v1/tenants/ret2/endpoints/${ep.body.id}`)).status).toBe(404);
    await worker.scheduled({ cron: "*/5 * * * *" });
    await worker.scheduled({ cron: "*/5 * * * *" });
    expect(await count("SELECT COUNT(*) AS n FROM deliveries WHERE endpoint_id = ?", ep.body.id)).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM endpoints WHERE id = ?", ep.body.id)).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM endpoint_secrets WHERE endpoint_id = ?", ep.body.id)).toBe(0);
  });
});
