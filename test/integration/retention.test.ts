/**
 * The Cron Trigger's D1 housekeeping (src/cron/retention.ts): dead letters older than
 * DEAD_LETTER_DAYS, deleted endpoints' and tenants' rows, ended portal sessions — each in
 * bounded batches. The log's own retention (whole days dropped by each TenantLog's alarm)
 * is tested in tenant-log.test.ts. Deleting a tenant empties its TenantLog at once
 * (`deleteAll`); its id is free again only once the cron has purged its rows.
 *
 * The tests share this file's D1 and run in order: each report's figures count what the
 * earlier tests left.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { getConfig } from "../../src/config";
import { PURGE_BATCH, runRetention } from "../../src/cron/retention";
import { worker } from "../support/worker-handlers";
import { call, ensureType, newEndpoint, newTenant, receiver, tenantSeqOf, uniq, waitFor } from "./pipeline-helpers";
import { PortalClient, fetchPortal, magicLink } from "./portal-helpers";

vi.setConfig({ testTimeout: 60_000 });

/** Bounds of every poll: a loaded 2-core CI machine runs the whole suite at once. */
const WAIT_MS = 20_000;
const DAY = 86_400_000;
const TYPE = "ret.done";

const config = getConfig(env);
const count = async (sql: string, ...params: unknown[]) => (await env.DB.prepare(sql).bind(...params).first<{ n: number }>())!.n;

/** Posts an event through the API (the real queue) and waits until D1 holds `n` dead letters for the tenant. */
async function postAndWaitForDeadLetters(tid: string, n: number): Promise<void> {
  const res = await call("POST", `/v1/tenants/${tid}/events`, { type: TYPE, data: { tid } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await waitFor(`${n} dead letter(s) of ${tid}`, async () => (await count(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`, tid)) >= n, WAIT_MS);
  expect(await count(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`, tid)).toBe(n);
}

/** `rows` synthetic dead letters of one endpoint created at `createdAt` (one statement). */
async function insertDeadLetters(tenantId: string, endpointId: string | null, rows: number, createdAt: number): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO dead_letters (tenant_id, endpoint_id, delivery_id, event_id, event_type, reason, attempts, last_response_status, created_at)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     SELECT ?, ?, NULL, 'evt_synthetic_' || i, ?, 'retries_exhausted', 8, 500, ? FROM n`,
  )
    .bind(rows, tenantId, endpointId, TYPE, createdAt)
    .run();
}

describe("retention (Cron Trigger): D1 housekeeping", () => {
  it("removes dead letters older than DEAD_LETTER_DAYS in bounded batches through an index; younger ones stay and stay readable", async () => {
    await ensureType(TYPE);
    const tid = await newTenant("ret-dl");
    await newEndpoint(tid, { url: `${receiver()}/status/410/${uniq("ret-dl")}`, retry_schedule: [] });
    await postAndWaitForDeadLetters(tid, 1);
    const listed = await call("GET", `/v1/dead-letters?tenant_id=${tid}`);
    expect(listed.status).toBe(200);
    const [fresh] = listed.body.data as { id: string; reason: string }[];
    expect(fresh).toMatchObject({ reason: "non_retryable_status" });

    const now = Date.now();
    const old = await newTenant("ret-dl-old");
    await insertDeadLetters(old, null, PURGE_BATCH + 100, now - (config.deadLetterDays + 1) * DAY);

    // A batch per run: the next run (the cron runs every 5 minutes) continues.
    expect(await runRetention(env, config, now)).toEqual({ deadLetters: PURGE_BATCH, endpoints: 0, tenants: 0, portalSessions: 0, tenantHours: 0 });
    expect(await count(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`, old)).toBe(100);
    expect(await runRetention(env, config, now)).toMatchObject({ deadLetters: 100 });
    expect(await runRetention(env, config, now)).toMatchObject({ deadLetters: 0 });
    expect(await count(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`, old)).toBe(0);
    // The young one stays, readable and replayable through the API.
    expect((await call("GET", `/v1/dead-letters/${fresh!.id}`)).status).toBe(200);

    // The batch is found through the created_at index, never a scan of the table.
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN SELECT seq FROM dead_letters WHERE created_at < ? LIMIT ?`).bind(now, PURGE_BATCH).all<{ detail: string }>();
    expect(results.map((r) => r.detail).join("\n")).toMatch(/USING (COVERING )?INDEX dead_letters_created/);

    // Once it is older than DEAD_LETTER_DAYS it goes too.
    expect(await runRetention(env, config, now + (config.deadLetterDays + 1) * DAY)).toMatchObject({ deadLetters: 1 });
    expect((await call("GET", `/v1/dead-letters/${fresh!.id}`)).status).toBe(404);
  });

  it("a deleted endpoint's dead letters are purged in batches, then its row and secrets; the tenant's other endpoints keep theirs", async () => {
    await ensureType(TYPE);
    const tid = await newTenant("ret-ep");
    const gone = await newEndpoint(tid, { url: `${receiver()}/status/410/${uniq("ret-ep-gone")}`, retry_schedule: [] });
    const kept = await newEndpoint(tid, { url: `${receiver()}/status/410/${uniq("ret-ep-kept")}`, retry_schedule: [] });
    await postAndWaitForDeadLetters(tid, 2);
    await insertDeadLetters(tid, gone.id, PURGE_BATCH, Date.now());
    const deadLettersOf = (endpointId: string) => count(`SELECT COUNT(*) AS n FROM dead_letters WHERE endpoint_id = ?`, endpointId);
    const rowsOf = async (endpointId: string) => ({
      endpoints: await count(`SELECT COUNT(*) AS n FROM endpoints WHERE id = ?`, endpointId),
      secrets: await count(`SELECT COUNT(*) AS n FROM endpoint_secrets WHERE endpoint_id = ?`, endpointId),
    });
    expect(await deadLettersOf(gone.id)).toBe(PURGE_BATCH + 1);

    expect((await call("DELETE", `/v1/tenants/${tid}/endpoints/${gone.id}`)).status).toBe(204);
    expect((await call("GET", `/v1/tenants/${tid}/endpoints/${gone.id}`)).status).toBe(404);
    // Its rows stay until the purge has removed its dead letters.
    expect(await rowsOf(gone.id)).toEqual({ endpoints: 1, secrets: 1 });

    // The Cron Trigger itself: one bounded batch per run.
    expect((await worker.scheduled({ cron: "*/5 * * * *" })).outcome).toBe("ok");
    expect(await deadLettersOf(gone.id)).toBe(1);
    expect(await rowsOf(gone.id)).toEqual({ endpoints: 1, secrets: 1 });
    expect((await worker.scheduled({ cron: "*/5 * * * *" })).outcome).toBe("ok");
    expect(await deadLettersOf(gone.id)).toBe(0);
    expect((await worker.scheduled({ cron: "*/5 * * * *" })).outcome).toBe("ok");
    expect(await rowsOf(gone.id)).toEqual({ endpoints: 0, secrets: 0 });

    // The other endpoint is untouched.
    expect(await deadLettersOf(kept.id)).toBe(1);
    expect(await rowsOf(kept.id)).toEqual({ endpoints: 1, secrets: 1 });
    expect((await call("GET", `/v1/tenants/${tid}/endpoints/${kept.id}`)).status).toBe(200);
    expect(await runRetention(env, config, Date.now())).toMatchObject({ endpoints: 0, tenants: 0 });
  });

  it("removes portal links that expired unused and sessions that ended, and leaves live ones", async () => {
    const tid = await newTenant("ret-portal");
    const sessionsOf = () => count(`SELECT COUNT(*) AS n FROM portal_sessions WHERE tenant_id = ?`, tid);
    const start = Date.now();
    await magicLink(tid, { expires_in: 60 }); // never opened
    const viewer = await PortalClient.open(tid, { expires_in: 3600 }); // opened: a session of an hour
    expect(await sessionsOf()).toBe(2);

    expect(await runRetention(env, config, Date.now())).toMatchObject({ portalSessions: 0 });
    expect(await sessionsOf()).toBe(2);

    // Two minutes on: the unused link has expired; the opened one's session lives on.
    expect(await runRetention(env, config, start + 120_000)).toMatchObject({ portalSessions: 1 });
    expect(await sessionsOf()).toBe(1);
    expect((await viewer.get("/portal")).status).toBe(200);

    // Past the session's hour: it goes too.
    expect(await runRetention(env, config, Date.now() + 3_601_000)).toMatchObject({ portalSessions: 1 });
    expect(await sessionsOf()).toBe(0);
    const after = await fetchPortal("/portal", { headers: { cookie: viewer.cookie } });
    expect(after.status).not.toBe(200);
  });
});

describe("deleting a tenant", () => {
  it("empties its TenantLog at once (deleteAll); its rows are purged by the cron, and only then can its id be used again", async () => {
    await ensureType(TYPE);
    const tid = await newTenant("ret-tenant");
    const ep = await newEndpoint(tid, { url: `${receiver()}/status/410/${uniq("ret-tenant")}`, retry_schedule: [] });
    const key = await call("POST", `/v1/tenants/${tid}/api-keys`, { name: "ci" });
    expect(key.status).toBe(201);
    await postAndWaitForDeadLetters(tid, 1);
    const seq = await tenantSeqOf(tid);
    const stub = env.TENANT_LOG.getByName(String(seq));
    expect((await stub.listEvents({ limit: 10 })).items).toHaveLength(1);

    const deleted = await call("DELETE", `/v1/tenants/${tid}`);
    expect(deleted.status).toBe(202);
    expect((await call("GET", `/v1/tenants/${tid}`)).status).toBe(404);
    expect((await call("GET", `/v1/tenants/${tid}/events`)).status).toBe(404);
    expect((await call("GET", `/v1/tenants/${tid}/endpoints/${ep.id}`)).status).toBe(404);

    // The log is empty: every table it still has holds no row, no day table is left, no alarm is set.
    const left = await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      const tables = sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE '__drizzle%'`)
        .toArray()
        .map((r) => r.name);
      const rows = Object.fromEntries(tables.map((name) => [name, sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`).one().n]));
      return { dayTables: tables.filter((name) => /_d\d+$/.test(name)), rows, alarm: await state.storage.getAlarm() };
    });
    expect(left.dayTables).toEqual([]);
    expect(Object.values(left.rows).every((n) => n === 0), JSON.stringify(left.rows)).toBe(true);
    expect(left.alarm).toBeNull();

    // Its id is not free until the purge has ended.
    const early = await call("POST", "/v1/tenants", { id: tid, name: tid });
    expect(early.status).toBe(409);
    expect(String(early.body.detail)).toContain("purge");

    const d1Rows = async () => ({
      tenants: await count(`SELECT COUNT(*) AS n FROM tenants WHERE id = ?`, tid),
      endpoints: await count(`SELECT COUNT(*) AS n FROM endpoints WHERE tenant_id = ?`, tid),
      secrets: await count(`SELECT COUNT(*) AS n FROM endpoint_secrets WHERE endpoint_id = ?`, ep.id),
      apiKeys: await count(`SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?`, tid),
      deadLetters: await count(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`, tid),
    });
    expect(await d1Rows()).toEqual({ tenants: 1, endpoints: 1, secrets: 1, apiKeys: 1, deadLetters: 1 });
    // A few bounded runs: the first removes its dead letters and keys, the next its endpoint, the last its row.
    for (let run = 0; run < 10 && (await d1Rows()).tenants > 0; run++) {
      expect((await call("POST", "/v1/tenants", { id: tid, name: tid })).status).toBe(409);
      await runRetention(env, config, Date.now());
    }
    expect(await d1Rows()).toEqual({ tenants: 0, endpoints: 0, secrets: 0, apiKeys: 0, deadLetters: 0 });

    // Now the id is free: a new tenant, with an empty log and no dead letters of the old one.
    const again = await call("POST", "/v1/tenants", { id: tid, name: tid });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    const events = await call("GET", `/v1/tenants/${tid}/events`);
    expect(events.status).toBe(200);
    expect(events.body.data).toEqual([]);
    expect((await call("GET", `/v1/tenants/${tid}/endpoints`)).body.data).toEqual([]);
    expect((await call("GET", `/v1/dead-letters?tenant_id=${tid}`)).body.data).toEqual([]);
  });
});
