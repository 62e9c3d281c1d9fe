/**
 * The delivery log API (DESIGN.md "Deliveries") over data plane v2: every read goes to the
 * tenant's TenantLog, delivery ids are log ids (`dlv_` + acceptance time, tenant seq, event
 * seq, endpoint ordinal), cursors are event seqs. The last block checks with EXPLAIN QUERY
 * PLAN, inside the TenantLog, that the endpoint's log reads use the events' INTEGER key and
 * the deliveries' primary key (no scan of deliveries, no sort), with and without ANALYZE.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { logDeliveryId } from "../../src/domain/ids";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { DeliveryQuery } from "../../src/tenant-log/types";
import { dumpDurableObject, settleTenant as settle, tenantLogOf, tenantSeqOf, type TenantLogStub } from "./hardening-helpers";
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
  receiverLog,
  uniqueTypeName,
  waitFor,
} from "./helpers";

vi.setConfig({ testTimeout: 60_000 });

/** A delivery id as the TenantLog mints it: `dlv_` and 32 characters of Crockford base32. */
const DELIVERY_ID = /^dlv_[0-9a-hjkmnp-tv-z]{32}$/;

const receiver = inject("receiverUrl");
const TOKEN = `bearer-${crypto.randomUUID()}`;

let tenant: string;
let typeA: string;
let typeB: string;
let okEp: { id: string; secret: string; url: string };
let failEp: { id: string };
const eventIds: string[] = [];

const log = (ep: string, q = "") => `/v1/tenants/${tenant}/endpoints/${ep}/deliveries${q}`;

async function deliveryRow(deliveryId: string) {
  const res = await api(`/v1/tenants/${tenant}/deliveries/${deliveryId}`);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

beforeAll(async () => {
  tenant = await createTenant();
  typeA = await createEventType(uniqueTypeName("alpha"));
  typeB = await createEventType(uniqueTypeName("beta"));
  okEp = await createEndpoint(tenant, { url: `${receiver}/ok/${tenant}`, auth: { type: "bearer", token: TOKEN }, headers: { "X-Custom": "kept" } });
  failEp = await createEndpoint(tenant, { url: `${receiver}/status/410/${tenant}` });
  for (const type of [typeA, typeA, typeA, typeB, typeB]) eventIds.push((await postEvent(tenant, { type, data: { for: tenant } })).id);
  await settle(tenant);
});

describe("GET /v1/tenants/{tid}/endpoints/{eid}/deliveries", () => {
  it("lists the endpoint's deliveries newest first with the documented fields", async () => {
    const res = await api(log(okEp.id));
    expect(res.status).toBe(200);
    expect(res.body.next_cursor).toBeNull();
    expect(res.body.data).toHaveLength(5);
    expect(res.body.data.map((d: { event_id: string }) => d.event_id).sort()).toEqual([...eventIds].sort());
    const times = res.body.data.map((d: { created_at: string }) => d.created_at) as string[];
    expect(times).toEqual([...times].sort().reverse());
    expect(res.body.data[0]).toEqual({
      id: expect.stringMatching(DELIVERY_ID),
      event_id: expect.any(String),
      event_type: expect.any(String),
      endpoint_id: okEp.id,
      status: "delivered",
      reason: null,
      attempts: 1,
      test: false,
      created_at: expect.any(String),
      last_attempt_at: expect.any(String),
      next_attempt_at: null,
      response_status: 200,
    });
  });

  it("shows failed deliveries with their reason and response status", async () => {
    const res = await api(log(failEp.id));
    expect(res.body.data).toHaveLength(5);
    for (const d of res.body.data) expect(d).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1, response_status: 410 });
  });

  it.each([
    ["delivered", 5, 0],
    ["failed", 0, 5],
    ["pending", 0, 0],
  ])("filters by status=%s", async (status, okCount, failCount) => {
    expect((await api(log(okEp.id, `?status=${status}`))).body.data).toHaveLength(okCount);
    expect((await api(log(failEp.id, `?status=${status}`))).body.data).toHaveLength(failCount);
  });

  it("filters by event type", async () => {
    const res = await api(log(okEp.id, `?type=${typeB}`));
    expect(res.body.data.map((d: { event_id: string }) => d.event_id).sort()).toEqual([eventIds[3], eventIds[4]].sort());
    expect(res.body.data.every((d: { event_type: string }) => d.event_type === typeB)).toBe(true);
    expect((await api(log(okEp.id, "?type=no.such_type"))).body.data).toEqual([]);
  });

  it("filters by since (inclusive) and until (exclusive)", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/ok/${t}` });
    await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    await new Promise((r) => setTimeout(r, 5));
    await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    const all = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    expect(all).toHaveLength(2);
    const [newer, older] = all;
    expect(newer.created_at > older.created_at).toBe(true);
    const ids = async (q: string) => (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries?${q}`)).body.data.map((d: { id: string }) => d.id);
    expect(await ids(`since=${newer.created_at}`)).toEqual([newer.id]);
    expect(await ids(`until=${newer.created_at}`)).toEqual([older.id]);
    expect(await ids(`since=${older.created_at}&until=${newer.created_at}`)).toEqual([older.id]);
  });

  it("pages without repeats or gaps while new deliveries keep arriving", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/ok/${t}` });
    for (let i = 0; i < 8; i++) await postEvent(t, { type: typeA, data: { i } });
    await settle(t);
    const before = (await listAll(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).map((d) => d.id as string);
    expect(before).toHaveLength(8);
    let added = 0;
    const { ids, pages } = await pageThrough(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`, 3, async () => {
      await postEvent(t, { type: typeA, data: { added: true } });
      await settle(t);
      added += 1;
    });
    expect(pages).toBe(3);
    expect(added).toBe(2);
    expect(ids).toEqual(before);
    const after = await listAll(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`);
    expect(after).toHaveLength(10);
  });

  it.each([
    ["since=yesterday", "since"],
    ["since=2026-02-30T00:00:00Z", "since"],
    ["until=12345", "until"],
    ["until=2026-01-01T25:00:00Z", "until"],
    ["status=done", "status"],
    ["limit=0", "limit"],
    ["limit=251", "limit"],
    ["cursor=bogus", "cursor"],
  ])("refuses %s (422)", async (query, errorPath) => {
    expectInvalid(await api(log(okEp.id, `?${query}`)), errorPath);
  });

  it("answers 404 for an unknown endpoint and for another tenant's endpoint under this tenant", async () => {
    expectProblem(await api(log("ep_unknown")), 404);
    const other = await createTenant();
    const theirs = await createEndpoint(other);
    expectProblem(await api(log(theirs.id)), 404);
  });

  it("a tenant key reads its own log but not another tenant's (403)", async () => {
    const { key } = await createApiKey(tenant);
    expect((await api(log(okEp.id), { token: key })).body.data).toHaveLength(5);
    const other = await createTenant();
    const theirs = await createEndpoint(other);
    expectProblem(await api(`/v1/tenants/${other}/endpoints/${theirs.id}/deliveries`, { token: key }), 403);
  });
});

describe("GET /v1/tenants/{tid}/deliveries/{did}", () => {
  it("shows the delivery, the request as sent with auth and signature redacted, and every attempt", async () => {
    const [latest] = (await api(log(okEp.id))).body.data;
    const d = await deliveryRow(latest.id);
    const { attempts: count, ...fields } = latest;
    expect(d).toMatchObject(fields);
    expect(d.attempts).toHaveLength(count);
    expect(d.request.method).toBe("POST");
    expect(d.request.url).toBe(okEp.url);
    expect(d.request.headers.authorization).toBe("[redacted]");
    expect(d.request.headers["webhook-signature"]).toBe("[redacted]");
    expect(d.request.headers["webhook-id"]).toBe(latest.event_id);
    expect(d.request.headers["X-Custom"] ?? d.request.headers["x-custom"]).toBe("kept");
    expect(JSON.stringify(d)).not.toContain(TOKEN);
    expect(d.attempts).toEqual([
      { n: 1, started_at: expect.any(String), duration_ms: expect.any(Number), response_status: 200, response_body: "ok", error: null, location: null },
    ]);
    const sent = (await receiverLog(receiver, `/ok/${tenant}`)).filter((r) => r.headers["webhook-id"] === latest.event_id);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(d.request.body).toBe(sent[0]!.body);
    expect(JSON.parse(d.request.body)).toMatchObject({ id: latest.event_id, type: typeB, data: { for: tenant } });
    expect(sent[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("never stores the auth token or a signature in the tenant's log (a dump of every table of its storage)", async () => {
    const sent = await receiverLog(receiver, `/ok/${tenant}`);
    expect(sent.length).toBeGreaterThanOrEqual(5);
    const log = await dumpDurableObject(await tenantLogOf(tenant));
    const dump = JSON.stringify(log);
    // The attempts were logged with their headers (so a stored secret would be in the dump).
    expect(dump).toContain("[redacted]");
    expect(dump).toContain("X-Custom");
    expect(dump).not.toContain(TOKEN);
    for (const r of sent) expect(dump).not.toContain(r.headers["webhook-signature"]!.split(",")[1]!);
  });

  it.each([
    ["hmac-sha256-hex", { signature: "hmac-sha256-hex" }, "x-switchyard-signature"],
    ["timestamped-hex", { signature: "timestamped-hex" }, "x-switchyard-signature"],
    ["basic auth", { auth: { type: "basic", username: "user", password: "pass-word-123" } }, "authorization"],
  ])("redacts the secret header with %s", async (_what, extra, header) => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/ok/${t}`, ...extra });
    await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    const [item] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    const d = (await api(`/v1/tenants/${t}/deliveries/${item.id}`)).body;
    expect(d.request.headers[header]).toBe("[redacted]");
    const [received] = await receiverLog(receiver, `/ok/${t}`);
    expect(received!.headers[header]).not.toBe("[redacted]");
    expect(JSON.stringify(d)).not.toContain(received!.headers[header]!);
  });

  it("shows a failed attempt's status and response body", async () => {
    const [item] = (await api(log(failEp.id))).body.data;
    const d = await deliveryRow(item.id);
    expect(d).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 410 });
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0]).toMatchObject({ n: 1, response_status: 410, response_body: "status 410", error: null });
  });

  it("records the Location of a redirect, which is not followed", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/status/302/${t}` });
    await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    const [item] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    const d = (await api(`/v1/tenants/${t}/deliveries/${item.id}`)).body;
    expect(d).toMatchObject({ status: "failed", reason: "non_retryable_status", response_status: 302 });
    expect(d.attempts[0].location).toBe("http://127.0.0.1:1/private");
  });

  it("answers 404 for unknown, malformed and other tenants' delivery ids", async () => {
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/dlv_zzzzzzzzzzz`), 404);
    // Well formed, naming this tenant's log, but no such event or endpoint there.
    const seq = await tenantSeqOf(tenant);
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/${logDeliveryId({ createdAt: Date.now(), tenantSeq: seq, eventSeq: 999_999, ordinal: 1 })}`), 404);
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/${logDeliveryId({ createdAt: Date.now(), tenantSeq: seq, eventSeq: 1, ordinal: 999 })}`), 404);
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/not-an-id`), 404);
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/dl_00000000001`), 404);
    const other = await createTenant();
    await createEndpoint(other, { url: `${receiver}/ok/${other}` });
    await postEvent(other, { type: typeA, data: {} });
    await settle(other);
    const theirs = (await api(`/v1/tenants/${other}/events`)).body.data[0].id;
    const detail = (await api(`/v1/tenants/${other}/events/${theirs}`)).body;
    const did = detail.deliveries[0].delivery_id;
    expect((await api(`/v1/tenants/${other}/deliveries/${did}`)).status).toBe(200);
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/${did}`), 404);
    const { key } = await createApiKey(tenant);
    expectProblem(await api(`/v1/tenants/${other}/deliveries/${did}`, { token: key }), 403);
  });
});

describe("POST /v1/tenants/{tid}/deliveries/{did}/retry", () => {
  it("retries a failed delivery: 202, its dead letter is removed, and it is attempted again", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    const [item] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    const dl = await env.DB.prepare("SELECT seq FROM dead_letters WHERE endpoint_id = ?").bind(ep.id).first<{ seq: number }>();
    expect(dl).not.toBeNull();
    // Paused, the retried delivery waits, so nothing can fail it again before we look.
    await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", body: { status: "paused" } });
    const res = await api(`/v1/tenants/${t}/deliveries/${item.id}/retry`, { method: "POST" });
    expect(res.status).toBe(202);
    expect(await env.DB.prepare("SELECT seq FROM dead_letters WHERE endpoint_id = ?").bind(ep.id).first()).toBeNull();
    expect((await api(`/v1/tenants/${t}/deliveries/${item.id}`)).body).toMatchObject({ status: "pending", reason: null, attempts: [expect.anything()] });
    await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", body: { status: "active" } });
    await settle(t);
    const after = await waitFor(
      async () => {
        const d = (await api(`/v1/tenants/${t}/deliveries/${item.id}`)).body;
        return d.attempts.length === 2 && d.status === "failed" ? d : null;
      },
      "the retried attempt",
      15_000,
    );
    expect(after.attempts.map((a: { n: number }) => a.n)).toEqual([1, 2]);
    expect(after.attempts[1].response_status).toBe(410);
  });

  it("resends a delivered delivery with the same webhook-id", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/ok/${t}` });
    const ev = await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    const [item] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    expect((await api(`/v1/tenants/${t}/deliveries/${item.id}/retry`, { method: "POST" })).status).toBe(202);
    await settle(t);
    const d = await waitFor(
      async () => {
        const x = (await api(`/v1/tenants/${t}/deliveries/${item.id}`)).body;
        return x.attempts.length === 2 && x.status === "delivered" ? x : null;
      },
      "the resend",
      15_000,
    );
    expect(d.attempts).toHaveLength(2);
    const sent = await receiverLog(receiver, `/ok/${t}`);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    for (const r of sent) expect(r.headers["webhook-id"]).toBe(ev.id);
  });

  it("answers 409 when the endpoint is disabled", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    const [item] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    await env.DB.prepare("UPDATE endpoints SET status = 'disabled', disabled_reason = 'test' WHERE id = ?").bind(ep.id).run();
    expectProblem(await api(`/v1/tenants/${t}/deliveries/${item.id}/retry`, { method: "POST" }), 409);
  });

  it("answers 404 for an unknown delivery and 403 for a tenant key of another tenant", async () => {
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/dlv_zzzzzzzzzzz/retry`, { method: "POST" }), 404);
    const other = await createTenant();
    const { key } = await createApiKey(other);
    const [item] = (await api(log(failEp.id))).body.data;
    expectProblem(await api(`/v1/tenants/${tenant}/deliveries/${item.id}/retry`, { method: "POST", token: key }), 403);
  });

  it("a tenant key retries its own delivery", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    const ep = await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    await postEvent(t, { type: typeA, data: {} });
    await settle(t);
    const [item] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`, { token: key })).body.data;
    expect((await api(`/v1/tenants/${t}/deliveries/${item.id}/retry`, { method: "POST", token: key })).status).toBe(202);
  });
});

describe("POST /v1/tenants/{tid}/endpoints/{eid}/replay", () => {
  it("answers 202 {count} and retries every failed delivery in the window", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/status/410/${t}` });
    const since = new Date().toISOString();
    for (let i = 0; i < 3; i++) await postEvent(t, { type: typeA, data: { i } });
    await settle(t);
    const res = await api(`/v1/tenants/${t}/endpoints/${ep.id}/replay`, { body: { since } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ count: 3 });
    await waitFor(
      async () => {
        await settle(t);
        const all = await listAll(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`);
        return all.length === 3 && all.every((d) => d.status === "failed" && d.attempts === 2);
      },
      "three replayed attempts",
      30_000,
    );
  });

  it("counts only deliveries with the given status and window", async () => {
    const res = await api(log(okEp.id).replace("/deliveries", "/replay"), { body: { since: "2999-01-01T00:00:00Z" } });
    expect(res.body).toEqual({ count: 0 });
    const none = await api(log(okEp.id).replace("/deliveries", "/replay"), { body: { since: "2000-01-01T00:00:00Z", until: "2000-01-02T00:00:00Z", status: "delivered" } });
    expect(none.body).toEqual({ count: 0 });
  });

  it.each([
    ["a missing since", {}, "since"],
    ["since that is not ISO-8601", { since: "last week" }, "since"],
    ["until that is not ISO-8601", { since: "2026-01-01T00:00:00Z", until: 5 }, "until"],
    ["status pending", { since: "2026-01-01T00:00:00Z", status: "pending" }, "status"],
    ["an unknown field", { since: "2026-01-01T00:00:00Z", endpoint: "x" }, "*"],
  ])("refuses %s (422)", async (_what, body, errorPath) => {
    expectInvalid(await api(`/v1/tenants/${tenant}/endpoints/${failEp.id}/replay`, { body }), errorPath);
  });

  it("answers 400 for malformed JSON, 404 for an unknown endpoint, 409 for a disabled one", async () => {
    expectProblem(await api(`/v1/tenants/${tenant}/endpoints/${failEp.id}/replay`, { body: "{" }), 400);
    expectProblem(await api(`/v1/tenants/${tenant}/endpoints/ep_unknown/replay`, { body: { since: "2026-01-01T00:00:00Z" } }), 404);
    const t = await createTenant();
    const ep = await createEndpoint(t);
    await env.DB.prepare("UPDATE endpoints SET status = 'disabled' WHERE id = ?").bind(ep.id).run();
    expectProblem(await api(`/v1/tenants/${t}/endpoints/${ep.id}/replay`, { body: { since: "2026-01-01T00:00:00Z" } }), 409);
  });
});

describe("the endpoint's log reads inside the TenantLog (EXPLAIN QUERY PLAN)", () => {
  interface Read {
    sql: string;
    args: SqlStorageValue[];
  }

  let t: string;
  let epId: string;
  let stub: TenantLogStub;
  let ordinal: number;
  let retriedSeq: number;
  let deliveredSeq: number;
  let since: number;

  /** Runs `work` on the object, recording every statement it executes on the log's storage. */
  async function recorded<R>(work: (instance: TenantLog) => Promise<R>): Promise<{ result: R; reads: Read[] }> {
    return runInDurableObject(stub, async (instance: TenantLog, state) => {
      const sql = state.storage.sql;
      const exec = sql.exec;
      const reads: Read[] = [];
      (sql as { exec: unknown }).exec = (query: string, ...args: SqlStorageValue[]) => {
        reads.push({ sql: query, args });
        return exec.call(sql, query, ...args);
      };
      try {
        return { result: await work(instance), reads };
      } finally {
        (sql as { exec: unknown }).exec = exec;
      }
    });
  }

  /** The plan of each read, as EXPLAIN QUERY PLAN details. */
  async function plans(reads: Read[]): Promise<{ sql: string; plan: string[] }[]> {
    return runInDurableObject(stub, (_instance: TenantLog, state) =>
      reads.map((r) => ({ sql: r.sql, plan: state.storage.sql.exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${r.sql}`, ...r.args).toArray().map((p) => p.detail) })),
    );
  }

  /** Every read names an index: the events' INTEGER key, the deliveries' and attempts' primary key; never a scan or a sort. */
  function expectIndexed(explained: { sql: string; plan: string[] }[], events: RegExp, deliveries: RegExp, attempts?: RegExp) {
    const all = JSON.stringify(explained, null, 1);
    for (const { sql, plan } of explained) {
      expect(plan.length, sql).toBeGreaterThan(0);
      expect(plan.some((p) => /^SCAN /.test(p)), `a scan in ${all}`).toBe(false);
      expect(plan.some((p) => p.includes("TEMP B-TREE")), `a sort in ${all}`).toBe(false);
      const table = /FROM (\w+)/.exec(sql)![1]!;
      if (/^events_d\d+$/.test(table)) for (const p of plan) expect(p, sql).toMatch(events);
      else if (/^deliveries_d\d+$/.test(table)) for (const p of plan) expect(p, sql).toMatch(deliveries);
      else if (/^attempts_d\d+$/.test(table) && attempts) for (const p of plan) expect(p, sql).toMatch(attempts);
      else throw new Error(`an unexpected read of ${table}: ${sql}`);
    }
    const tables = explained.map((e) => /FROM (\w+)/.exec(e.sql)![1]!);
    expect(tables.some((x) => x.startsWith("events_d")), all).toBe(true);
    expect(tables.some((x) => x.startsWith("deliveries_d")), all).toBe(true);
  }

  const EVENTS_BY_KEY_BELOW = /^SEARCH events_d\d+ USING INTEGER PRIMARY KEY \(rowid<\?\)$/;
  const EVENT_BY_KEY = /^SEARCH events_d\d+ USING INTEGER PRIMARY KEY \(rowid=\?\)$/;
  const DELIVERY_BY_KEY = /^SEARCH deliveries_d\d+ USING PRIMARY KEY \(ordinal=\? AND event_seq=\?\)$/;
  const ATTEMPTS_BY_KEY = /^SEARCH attempts_d\d+ USING PRIMARY KEY \(ordinal=\? AND event_seq=\?\)$/;

  beforeAll(async () => {
    t = await createTenant();
    // A retried delivery (its second attempt in the attempts table) and first-try successes.
    const ep = await createEndpoint(t, { url: `${receiver}/fail-each/1/plan-${t}`, retry_schedule: [1] });
    epId = ep.id;
    since = Date.now();
    for (let i = 0; i < 4; i++) await postEvent(t, { type: i % 2 ? typeB : typeA, data: { i } });
    await settle(t);
    stub = await tenantLogOf(t);
    ordinal = await runInDurableObject(stub, (_i: TenantLog, state) => state.storage.sql.exec<{ ordinal: number }>(`SELECT ordinal FROM endpoints WHERE id = ?`, ep.id).one().ordinal);
    const items = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data as { id: string; attempts: number; status: string }[];
    expect(items.map((d) => [d.status, d.attempts])).toEqual([
      ["delivered", 2],
      ["delivered", 2],
      ["delivered", 2],
      ["delivered", 2],
    ]);
    const retried = await runInDurableObject(stub, (_i: TenantLog, state) => {
      const day = state.storage.sql.exec<{ day: number }>(`SELECT day FROM days ORDER BY day DESC LIMIT 1`).one().day;
      return state.storage.sql.exec<{ event_seq: number }>(`SELECT event_seq FROM attempts_d${day} WHERE ordinal = ? ORDER BY event_seq`, ordinal).toArray();
    });
    expect(retried.length).toBe(4);
    retriedSeq = retried[0]!.event_seq;
    // And one first-try success, its attempt inline in its delivery row.
    await fetch(`${receiver}/_flip/plan-ok-${t}`, { method: "POST", body: JSON.stringify({ status: 200 }) });
    await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", body: { url: `${receiver}/flip/plan-ok-${t}` } });
    const last = await postEvent(t, { type: typeA, data: { last: true } });
    await settle(t);
    deliveredSeq = (await stub.findEventSeq(last.id))!;
    expect((await runInDurableObject(stub, (instance: TenantLog) => instance.getDelivery(ordinal, deliveredSeq)))!.attemptList.map((a) => a.n)).toEqual([1]);
  });

  const variants: [string, () => Omit<DeliveryQuery, "limit">][] = [
    ["no filter", () => ({})],
    ["status", () => ({ status: "failed" })],
    ["type", () => ({ type: typeB })],
    ["since and until", () => ({ since, until: Date.now() + 1 })],
    ["a cursor", () => ({ before: deliveredSeq })],
    ["every filter and a cursor", () => ({ status: "delivered", type: typeA, since, until: Date.now() + 1, before: deliveredSeq })],
  ];

  for (const analyzed of [false, true]) {
    describe(analyzed ? "with ANALYZE statistics" : "without statistics", () => {
      beforeAll(async () => {
        if (analyzed) await runInDurableObject(stub, (_i: TenantLog, state) => void state.storage.sql.exec("ANALYZE"));
        const stats = await runInDurableObject(stub, (_i: TenantLog, state) => state.storage.sql.exec(`SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'`).toArray().length);
        expect(stats).toBe(analyzed ? 1 : 0);
      });

      it.each(variants)("an endpoint's log with %s reads events by their INTEGER key and each delivery by its primary key", async (_what, query) => {
        const q = { limit: 50, ...query() };
        const { result, reads } = await recorded((instance) => instance.listDeliveries(ordinal, q));
        expectIndexed(await plans(reads), EVENTS_BY_KEY_BELOW, DELIVERY_BY_KEY);
        // Those reads are the route's: the same query through the API lists the same deliveries.
        const params = new URLSearchParams({ limit: "50" });
        if (q.status) params.set("status", q.status);
        if (q.type) params.set("type", q.type);
        if (q.since !== undefined) params.set("since", new Date(q.since).toISOString());
        if (q.until !== undefined) params.set("until", new Date(q.until).toISOString());
        const listed = await api(`/v1/tenants/${t}/endpoints/${epId}/deliveries?${params}`);
        if (q.before === undefined) {
          expect(result.items.map((d) => d.eventId)).toEqual(listed.body.data.map((d: { event_id: string }) => d.event_id));
          expect(result.items.length).toBe(q.status === "failed" ? 0 : q.type === typeB ? 2 : 5);
        } else {
          expect(result.items.every((d) => d.e < q.before!)).toBe(true);
          expect(result.items.length).toBe(q.type === typeA ? 2 : 4);
        }
      });

      it("one delivery with its attempts reads its event, its row and its attempts by their keys", async () => {
        for (const e of [retriedSeq, deliveredSeq]) {
          const { result, reads } = await recorded((instance) => instance.getDelivery(ordinal, e));
          expect(result!.attemptList.length).toBe(e === retriedSeq ? 2 : 1);
          expectIndexed(await plans(reads), EVENT_BY_KEY, DELIVERY_BY_KEY, ATTEMPTS_BY_KEY);
        }
      });
    });
  }
});
