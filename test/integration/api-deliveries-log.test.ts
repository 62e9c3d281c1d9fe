import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { deliveryListQuery } from "../../src/db/queries/log";
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
  rawTable,
  receiverLog,
  settle,
  uniqueTypeName,
  waitFor,
} from "./helpers";

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
      id: expect.stringMatching(/^dlv_[0-9a-z]{11}$/),
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

  it("never stores the auth token or a signature in the attempts table", async () => {
    const sent = await receiverLog(receiver, `/ok/${tenant}`);
    const dump = await rawTable("attempts");
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
    const after = await waitFor(async () => {
      const d = (await api(`/v1/tenants/${t}/deliveries/${item.id}`)).body;
      return d.attempts.length === 2 && d.status === "failed" ? d : null;
    }, "the retried attempt");
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
    const d = await waitFor(async () => {
      const x = (await api(`/v1/tenants/${t}/deliveries/${item.id}`)).body;
      return x.attempts.length === 2 && x.status === "delivered" ? x : null;
    }, "the resend");
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
    await waitFor(async () => {
      await settle(t);
      const { n } = (await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE endpoint_id = ? AND attempts = 2 AND status = 'failed'").bind(ep.id).first<{ n: number }>())!;
      return n === 3;
    }, "three replayed attempts");
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

describe("the delivery log query", () => {
  const variants: [string, Parameters<typeof deliveryListQuery>[2]][] = [
    ["no filter", { limit: 50 }],
    ["status", { limit: 50, status: "failed" }],
    ["type", { limit: 50, type: "a.b" }],
    ["since and until", { limit: 50, since: 1, until: 2 }],
    ["a cursor", { limit: 50, before: { createdAt: 5, seq: 9 } }],
    ["every filter and a cursor", { limit: 50, status: "delivered", type: "a.b", since: 1, until: 2, before: { createdAt: 5, seq: 9 } }],
  ];

  it.each(variants)("uses an index with %s (EXPLAIN QUERY PLAN)", async (_what, filter) => {
    const { sql, params } = deliveryListQuery("t", "ep_x", filter);
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
    const plan = results.map((r) => r.detail);
    const deliveriesStep = plan.find((p) => / (d|deliveries)\b/.test(p) && !/\be\b USING INTEGER/.test(p));
    expect(deliveriesStep, JSON.stringify(plan)).toMatch(/^SEARCH d USING (COVERING )?INDEX /);
    expect(plan.some((p) => /^SCAN (d|deliveries)\b/.test(p)), JSON.stringify(plan)).toBe(false);
    expect(plan.some((p) => p.includes("TEMP B-TREE")), JSON.stringify(plan)).toBe(false);
  });

  it("is the query the route runs (its results match the API)", async () => {
    const { sql, params } = deliveryListQuery(tenant, okEp.id, { limit: 10, type: typeA });
    const { results } = await env.DB.prepare(sql).bind(...params).all<{ event_id: string }>();
    const api_ = (await api(log(okEp.id, `?type=${typeA}&limit=10`))).body.data.map((d: { event_id: string }) => d.event_id);
    expect(results.map((r) => r.event_id)).toEqual(api_);
    expect(api_).toHaveLength(3);
  });
});
