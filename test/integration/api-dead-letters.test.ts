/**
 * The dead-letter API (DESIGN.md "Dead letters") over data plane v2: a delivery that fails
 * for good leaves a dead letter in D1, handed over by its tenant's TenantLog outbox (its
 * alarm); `delivery_id` is the delivery's log id, and replaying one retries its delivery in
 * the log — from the log's `kept` copy once its day expired, 410 once that is gone too.
 *
 * Dropped from v1: "re-runs a refused fan-out (a dead letter without a delivery)". Data
 * plane v2 has no fan-out step that can fail: an event's deliveries are matched inside
 * ingest, in the same TenantLog call that stores it, so no fan-out dead letter exists.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { deadLetterListQuery } from "../../src/db/queries/dead-letters";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import { worker } from "../support/worker-handlers";
import { runLogAlarm, settleTenant as settle, tenantLogOf, tenantSeqOf } from "./hardening-helpers";
import {
  api,
  createApiKey,
  createEndpoint,
  createEventType,
  createTenant,
  expectInvalid,
  expectProblem,
  listAll,
  pageThrough,
  postEvent,
  uniqueTypeName,
  waitFor,
} from "./helpers";

vi.setConfig({ testTimeout: 60_000 });

/** A delivery id as the TenantLog mints it: `dlv_` and 32 characters of Crockford base32. */
const DELIVERY_ID = /^dlv_[0-9a-hjkmnp-tv-z]{32}$/;

const receiver = inject("receiverUrl");

let type: string;
let a: string;
let b: string;
let keyA: string;
let epA: { id: string };
let epB: { id: string };

/** Posts `n` events to a tenant whose endpoints answer 410, and settles: n dead letters each. */
async function failEvents(tenant: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await postEvent(tenant, { type, data: { i } })).id);
  await settle(tenant);
  return ids;
}

async function deadLettersOf(query: string, token?: string): Promise<any[]> {
  const res = await api(`/v1/dead-letters?limit=250&${query}`, token ? { token } : {});
  expect(res.status, res.text).toBe(200);
  return res.body.data;
}

beforeAll(async () => {
  type = await createEventType(uniqueTypeName("dl"));
  a = await createTenant();
  b = await createTenant();
  keyA = (await createApiKey(a)).key;
  epA = await createEndpoint(a, { url: `${receiver}/status/410/${a}` });
  epB = await createEndpoint(b, { url: `${receiver}/status/410/${b}` });
  await failEvents(a, 3);
  await failEvents(b, 2);
});

describe("GET /v1/dead-letters", () => {
  it("lists every tenant's dead letters for the admin, newest first, with the documented fields", async () => {
    const ofA = await deadLettersOf(`tenant_id=${a}`);
    expect(ofA).toHaveLength(3);
    expect(ofA[0]).toEqual({
      id: expect.stringMatching(/^dl_[0-9a-z]{11}$/),
      delivery_id: expect.stringMatching(DELIVERY_ID),
      event_id: expect.stringMatching(/^evt_/),
      tenant_id: a,
      endpoint_id: epA.id,
      event_type: type,
      reason: "non_retryable_status",
      attempts: 1,
      last_response_status: 410,
      created_at: expect.any(String),
      queue: null,
    });
    const ids = ofA.map((d) => d.id);
    expect(ids).toEqual([...ids].sort().reverse());
    const all = (await deadLettersOf("")).map((d) => d.tenant_id);
    expect(all).toEqual(expect.arrayContaining([a, b]));
  });

  it("filters by endpoint_id, since and until", async () => {
    expect((await deadLettersOf(`endpoint_id=${epB.id}`)).map((d) => d.endpoint_id)).toEqual([epB.id, epB.id]);
    const ofA = await deadLettersOf(`tenant_id=${a}`);
    const oldest = ofA[ofA.length - 1];
    expect((await deadLettersOf(`tenant_id=${a}&until=${oldest.created_at}`))).toEqual([]);
    expect((await deadLettersOf(`tenant_id=${a}&since=${oldest.created_at}`)).length).toBe(3);
    expect(await deadLettersOf("since=2999-01-01T00:00:00Z")).toEqual([]);
  });

  it("a tenant key sees only its own tenant's dead letters", async () => {
    const mine = await deadLettersOf("", keyA);
    expect(mine.length).toBeGreaterThanOrEqual(3);
    expect(new Set(mine.map((d) => d.tenant_id))).toEqual(new Set([a]));
    expect((await deadLettersOf(`tenant_id=${a}`, keyA)).length).toBe(mine.length);
    expect(await deadLettersOf(`endpoint_id=${epB.id}`, keyA)).toEqual([]);
  });

  it("a tenant key naming another tenant_id gets 403", async () => {
    expectProblem(await api(`/v1/dead-letters?tenant_id=${b}`, { token: keyA }), 403);
  });

  it("pages without repeats or gaps while new dead letters arrive", async () => {
    const t = await createTenant();
    await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    await failEvents(t, 7);
    const before = (await listAll(`/v1/dead-letters?tenant_id=${t}`)).map((d) => d.id as string);
    expect(before).toHaveLength(7);
    let added = 0;
    const { ids, pages } = await pageThrough(`/v1/dead-letters?tenant_id=${t}`, 3, async () => {
      await failEvents(t, 1);
      added += 1;
    });
    expect(pages).toBe(3);
    expect(added).toBe(2);
    expect(ids).toEqual(before);
    expect(await listAll(`/v1/dead-letters?tenant_id=${t}`)).toHaveLength(9);
  });

  it.each([
    ["since=tomorrow", "since"],
    ["until=2026-00-10", "until"],
    ["limit=0", "limit"],
    ["limit=251", "limit"],
    ["cursor=zzz", "cursor"],
  ])("refuses %s (422)", async (query, errorPath) => {
    expectInvalid(await api(`/v1/dead-letters?${query}`), errorPath);
  });
});

describe("GET /v1/dead-letters/{id}", () => {
  it("shows one dead letter", async () => {
    const [first] = await deadLettersOf(`tenant_id=${a}`);
    const res = await api(`/v1/dead-letters/${first.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(first);
    expect((await api(`/v1/dead-letters/${first.id}`, { token: keyA })).body).toEqual(first);
  });

  it("answers 404 to a tenant key for another tenant's dead letter", async () => {
    const [theirs] = await deadLettersOf(`tenant_id=${b}`);
    expectProblem(await api(`/v1/dead-letters/${theirs.id}`, { token: keyA }), 404);
    expectProblem(await api(`/v1/dead-letters/${theirs.id}/replay`, { method: "POST", token: keyA }), 404);
    expectProblem(await api(`/v1/dead-letters/${theirs.id}`, { method: "DELETE", token: keyA }), 404);
    expect((await api(`/v1/dead-letters/${theirs.id}`)).status).toBe(200);
  });

  it.each(["dl_zzzzzzzzzzz", "dl_00000000000", "dlv_00000000001", "not-an-id"])("answers 404 for %s", async (id) => {
    expectProblem(await api(`/v1/dead-letters/${id}`), 404);
  });
});

describe("POST /v1/dead-letters/{id}/replay", () => {
  it("answers 202, removes the dead letter and retries its delivery", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    await failEvents(t, 1);
    const [dl] = await deadLettersOf(`tenant_id=${t}`);
    // Paused, the replayed delivery waits, so nothing can fail it again before we look.
    await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", body: { status: "paused" } });
    expect((await api(`/v1/dead-letters/${dl.id}/replay`, { method: "POST" })).status).toBe(202);
    expectProblem(await api(`/v1/dead-letters/${dl.id}`), 404);
    expect(await deadLettersOf(`tenant_id=${t}`)).toEqual([]);
    await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", body: { status: "active" } });
    await settle(t);
    const again = await waitFor(
      async () => {
        await settle(t);
        const [x] = await deadLettersOf(`tenant_id=${t}`);
        return x && x.attempts === 2 ? x : null;
      },
      "the replayed delivery to fail again",
      20_000,
    );
    expect(again.delivery_id).toBe(dl.delivery_id);
    const [delivery] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    expect(delivery).toMatchObject({ id: dl.delivery_id, status: "failed", reason: "non_retryable_status", attempts: 2 });
  });

  it("a tenant key replays its own dead letter", async () => {
    const [mine] = await deadLettersOf(`tenant_id=${a}`);
    expect((await api(`/v1/dead-letters/${mine.id}/replay`, { method: "POST", token: keyA })).status).toBe(202);
    await settle(a);
  });

  it("a dead letter whose day of the log expired: replayed from the log's kept copy (202), or 410 once that copy is gone too, and the dead letter stays", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    const tenantSeq = await tenantSeqOf(t);
    const log = await tenantLogOf(t);
    const sql = <R,>(query: string, ...args: SqlStorageValue[]) =>
      runInDurableObject(log, (_o: TenantLog, state) => state.storage.sql.exec(query, ...args).toArray() as R[]);
    // Two events accepted 40 days ago (past RETENTION_DAYS, 30), the tenant's first: their day is old.
    const longAgo = Date.now() - 40 * 86_400_000;
    const old: number[] = [];
    const oldIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const accepted = await log.ingest({ tenantSeq, id: null, type, group: null, dataJson: JSON.stringify({ i }), occurredAt: null, idemKey: null, bodyHash: `old-${i}`, now: longAgo + i, fullBytes: 9 * 1024 ** 3 });
      if (accepted.kind !== "accepted") throw new Error(`ingest answered ${accepted.kind}`);
      old.push(accepted.event.seq);
      oldIds.push(accepted.event.id);
      const res = await worker.queue("switchyard-deliveries", accepted.jobs.map((job) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: { kind: "deliver", t: tenantSeq, ...job } })));
      expect(res.outcome).toBe("ok");
    }
    await settle(t);
    const dls = await deadLettersOf(`tenant_id=${t}`);
    expect(dls.map((d) => [d.endpoint_id, d.reason, d.attempts])).toEqual([
      [ep.id, "non_retryable_status", 1],
      [ep.id, "non_retryable_status", 1],
    ]);
    // An event today opens a new day; the log's alarm drops the expired one, keeping a copy of each dead-lettered delivery.
    await postEvent(t, { type, data: { today: true } });
    await settle(t);
    await waitFor(
      async () => {
        await runLogAlarm(log);
        return (await sql<{ n: number }>(`SELECT COUNT(*) AS n FROM days`))[0]!.n === 1;
      },
      "the expired day to be dropped",
      20_000,
    );
    expect(await sql(`SELECT event_seq FROM kept ORDER BY event_seq`)).toEqual(old.map((event_seq) => ({ event_seq })));
    // The second one's kept copy expires (it lives as long as a dead letter), while its D1 dead letter lingers until the Cron removes it.
    await sql(`UPDATE kept SET expires_at = ? WHERE event_seq = ?`, Date.now() - 1, old[1]!);
    await runLogAlarm(log);
    expect(await sql(`SELECT event_seq FROM kept`)).toEqual([{ event_seq: old[0] }]);
    const listed = await deadLettersOf(`tenant_id=${t}`);
    const first = listed.find((d) => d.event_id === oldIds[0])!;
    const second = listed.find((d) => d.event_id === oldIds[1])!;
    expect([first, second].every(Boolean)).toBe(true);

    const gone = await api(`/v1/dead-letters/${second.id}/replay`, { method: "POST" });
    expectProblem(gone, 410);
    expect((await api(`/v1/dead-letters/${second.id}`)).status).toBe(200); // it stays

    expect((await api(`/v1/dead-letters/${first.id}/replay`, { method: "POST" })).status).toBe(202);
    expectProblem(await api(`/v1/dead-letters/${first.id}`), 404);
    // Revived as a new event row and attempted again: the endpoint still answers 410, so a new dead letter.
    const again = await waitFor(
      async () => {
        await settle(t);
        return (await deadLettersOf(`tenant_id=${t}`)).find((d) => d.id !== second.id);
      },
      "the revived delivery to fail again",
      20_000,
    );
    expect(again).toMatchObject({ endpoint_id: ep.id, event_id: first.event_id, reason: "non_retryable_status", attempts: 2 });
    // The one whose copy is gone still answers 410.
    expectProblem(await api(`/v1/dead-letters/${second.id}/replay`, { method: "POST" }), 410);
  });
});

describe("POST /v1/dead-letters/replay", () => {
  it("answers 202 {count} and replays every match", async () => {
    const t = await createTenant();
    await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    await failEvents(t, 3);
    const res = await api("/v1/dead-letters/replay", { body: { tenant_id: t } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ count: 3 });
    await waitFor(
      async () => {
        await settle(t);
        const rows = await deadLettersOf(`tenant_id=${t}`);
        return rows.length === 3 && rows.every((d) => d.attempts === 2);
      },
      "three replayed deliveries",
      30_000,
    );
  });

  it("counts with since/until and endpoint_id", async () => {
    expect((await api("/v1/dead-letters/replay", { body: { since: "2999-01-01T00:00:00Z" } })).body).toEqual({ count: 0 });
    expect((await api("/v1/dead-letters/replay", { body: { endpoint_id: "ep_none" } })).body).toEqual({ count: 0 });
  });

  it("a tenant key replays only its own tenant and cannot name another (403)", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    expect((await api("/v1/dead-letters/replay", { body: {}, token: key })).body).toEqual({ count: 0 });
    expectProblem(await api("/v1/dead-letters/replay", { body: { tenant_id: b }, token: key }), 403);
  });

  it.each([
    ["since that is not ISO-8601", { since: "now" }, "since"],
    ["until of the wrong type", { until: 1 }, "until"],
    ["tenant_id of the wrong type", { tenant_id: 7 }, "tenant_id"],
    ["an unknown field", { reason: "x" }, "*"],
  ])("refuses %s (422)", async (_what, body, errorPath) => {
    expectInvalid(await api("/v1/dead-letters/replay", { body }), errorPath);
  });

  it("answers 400 for malformed JSON", async () => {
    expectProblem(await api("/v1/dead-letters/replay", { body: "{]" }), 400);
  });
});

describe("DELETE /v1/dead-letters/{id}", () => {
  it("answers 204; the dead letter is gone and its delivery stays failed", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    const ep = await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    await failEvents(t, 1);
    const [dl] = await deadLettersOf(`tenant_id=${t}`);
    expect((await api(`/v1/dead-letters/${dl.id}`, { method: "DELETE", token: key })).status).toBe(204);
    expectProblem(await api(`/v1/dead-letters/${dl.id}`), 404);
    expectProblem(await api(`/v1/dead-letters/${dl.id}`, { method: "DELETE" }), 404);
    const [delivery] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    expect(delivery).toMatchObject({ id: dl.delivery_id, status: "failed" });
  });
});

describe("the dead-letter list query", () => {
  it.each([
    ["tenant_id", { limit: 50, tenantId: "t" }],
    ["endpoint_id", { limit: 50, endpointId: "ep" }],
    ["since and until", { limit: 50, since: 1, until: 2 }],
    ["tenant_id and a cursor", { limit: 50, tenantId: "t", beforeSeq: 10 }],
    ["every filter and a cursor", { limit: 50, tenantId: "t", endpointId: "ep", since: 1, until: 2, beforeSeq: 10 }],
  ])("uses an index with %s (EXPLAIN QUERY PLAN)", async (_what, filter) => {
    const { sql, params } = deadLetterListQuery(filter);
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
    const plan = results.map((r) => r.detail);
    expect(plan.some((p) => /^SEARCH dead_letters USING (COVERING )?INDEX /.test(p)), JSON.stringify(plan)).toBe(true);
    expect(plan.some((p) => /^SCAN dead_letters/.test(p)), JSON.stringify(plan)).toBe(false);
  });

  it("reads the newest rows by primary key when unfiltered (no sort, no index needed)", async () => {
    const { sql, params } = deadLetterListQuery({ limit: 50 });
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
    expect(results.map((r) => r.detail)).toEqual(["SCAN dead_letters"]);
    const { sql: paged, params: pagedParams } = deadLetterListQuery({ limit: 50, beforeSeq: 10 });
    const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${paged}`).bind(...pagedParams).all<{ detail: string }>();
    expect(plan.results.map((r) => r.detail)).toEqual(["SEARCH dead_letters USING INTEGER PRIMARY KEY (rowid<?)"]);
  });
});
