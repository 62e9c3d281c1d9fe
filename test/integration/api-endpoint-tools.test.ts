/**
 * Endpoint tools (DESIGN.md "Endpoints"): the test send, recorded in the tenant's TenantLog
 * as a `test` delivery, and stats read from the log's hourly rollups.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { sendTestEvent } from "../../src/core/endpoint-tools";
import { pipelineDeps } from "../../src/core/deps";
import { runLogAlarm, settleTenant as settle, tenantLogOf } from "./hardening-helpers";
import {
  api,
  createApiKey,
  createEndpoint,
  createEventType,
  createTenant,
  expectInvalid,
  expectProblem,
  postEvent,
  receiverLog,
  uniqueTypeName,
} from "./helpers";

vi.setConfig({ testTimeout: 60_000 });

const receiver = inject("receiverUrl");
const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"] };

let tenant: string;
let withExample: string;
let withoutExample: string;

beforeAll(async () => {
  tenant = await createTenant();
  withExample = await createEventType(uniqueTypeName("example"), { schema, example: { n: 42 } });
  withoutExample = await createEventType(uniqueTypeName("bare"));
});

const testPath = (ep: string, t = tenant) => `/v1/tenants/${t}/endpoints/${ep}/test`;

describe("POST /v1/tenants/{tid}/endpoints/{eid}/test", () => {
  it("sends one signed request now and answers 200 with the receiver's answer", async () => {
    const ep = await createEndpoint(tenant, { url: `${receiver}/ok/test-${tenant}` });
    const res = await api(testPath(ep.id), { body: { type: withoutExample, data: { hello: "world" } } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      delivery_id: expect.stringMatching(/^dlv_/),
      response_status: 200,
      duration_ms: expect.any(Number),
      error: null,
      response_body: "ok",
    });
    const [sent] = await receiverLog(receiver, `/ok/test-${tenant}`);
    expect(JSON.parse(sent!.body)).toMatchObject({ type: withoutExample, data: { hello: "world" } });
    expect(sent!.headers["webhook-signature"]).toMatch(/^v1,/);
  });

  it("uses the event type's example when data is absent", async () => {
    const ep = await createEndpoint(tenant, { url: `${receiver}/ok/example-${tenant}` });
    expect((await api(testPath(ep.id), { body: { type: withExample } })).status).toBe(200);
    const [sent] = await receiverLog(receiver, `/ok/example-${tenant}`);
    expect(JSON.parse(sent!.body).data).toEqual({ n: 42 });
  });

  it("answers 200 whatever the receiver answered, and keeps no dead letter", async () => {
    const ep = await createEndpoint(tenant, { url: `${receiver}/status/410/test-${tenant}` });
    const res = await api(testPath(ep.id), { body: { type: withExample } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ response_status: 410, response_body: "status 410" });
    const [logged] = (await api(`/v1/tenants/${tenant}/endpoints/${ep.id}/deliveries`)).body.data;
    expect(logged).toMatchObject({ id: res.body.delivery_id, test: true, status: "failed", reason: "non_retryable_status", attempts: 1 });
    // Whatever the log's outbox holds reaches D1 when its alarm runs: no dead letter for a test send.
    await runLogAlarm(await tenantLogOf(tenant));
    expect(await env.DB.prepare("SELECT 1 FROM dead_letters WHERE endpoint_id = ?").bind(ep.id).first()).toBeNull();
  });

  it("sends even when the endpoint is paused", async () => {
    const ep = await createEndpoint(tenant, { url: `${receiver}/ok/paused-${tenant}`, status: "paused" });
    expect((await api(testPath(ep.id), { body: { type: withExample } })).body.response_status).toBe(200);
    expect(await receiverLog(receiver, `/ok/paused-${tenant}`)).toHaveLength(1);
  });

  it("is recorded as a test delivery, not listed as an event, and cannot be retried (409)", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/ok/rec-${t}` });
    const res = await api(testPath(ep.id, t), { body: { type: withExample } });
    const [item] = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/deliveries`)).body.data;
    expect(item).toMatchObject({ id: res.body.delivery_id, test: true, status: "delivered", attempts: 1 });
    expect((await api(`/v1/tenants/${t}/events`)).body.data).toEqual([]);
    expect(item.event_id).toMatch(/^evt_/);
    expectProblem(await api(`/v1/tenants/${t}/events/${item.event_id}`), 404);
    expectProblem(await api(`/v1/tenants/${t}/deliveries/${item.id}/retry`, { method: "POST" }), 409);
  });

  it.each([
    ["an unknown type", () => ({ type: "no.such_type" }), "type"],
    ["no data and no example", () => ({ type: withoutExample }), "data"],
    ["data that fails the schema", () => ({ type: withExample, data: { n: "x" } }), "data.n"],
    ["a missing type", () => ({ data: {} }), "type"],
    ["an unknown field", () => ({ type: withExample, extra: 1 }), "*"],
  ])("refuses %s (422) and sends nothing", async (_what, body, errorPath) => {
    const ep = await createEndpoint(tenant, { url: `${receiver}/ok/refused-${_what.replaceAll(" ", "-")}` });
    expectInvalid(await api(testPath(ep.id), { body: body() }), errorPath);
    expect(await receiverLog(receiver, `/ok/refused-${_what.replaceAll(" ", "-")}`)).toEqual([]);
  });

  it("refuses with 422 a number the send would alter (beyond 2^53 in any spelling), sending and recording nothing", async () => {
    const path = `/ok/altered-${tenant}`;
    const ep = await createEndpoint(tenant, { url: `${receiver}${path}` });
    for (const literal of ["12345678901234567.0", "1.2345678901234567e16", "9007199254740993"]) {
      const res = await api(testPath(ep.id), { body: `{"type":"${withoutExample}","data":{"n":${literal}}}` });
      expectInvalid(res, "data.n");
    }
    expect(await receiverLog(receiver, path)).toEqual([]);
    expect((await api(`/v1/tenants/${tenant}/endpoints/${ep.id}/deliveries`)).body.data).toEqual([]);
  });

  it("answers 400 for malformed JSON and 404 for an unknown endpoint", async () => {
    const ep = await createEndpoint(tenant);
    expectProblem(await api(testPath(ep.id), { body: "{" }), 400);
    expectProblem(await api(testPath("ep_unknown"), { body: { type: withExample } }), 404);
  });

  it("a tenant key tests its own endpoints but not another tenant's (403)", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    const mine = await createEndpoint(t, { url: `${receiver}/ok/key-${t}` });
    expect((await api(testPath(mine.id, t), { body: { type: withExample }, token: key })).status).toBe(200);
    const theirs = await createEndpoint(tenant);
    expectProblem(await api(testPath(theirs.id), { body: { type: withExample }, token: key }), 403);
  });

  it("does not pass the URL policy (ALLOW_PRIVATE_URLS false): nothing is sent", async () => {
    const ep = await createEndpoint(tenant, { url: `${receiver}/ok/policy-${tenant}` });
    const d = pipelineDeps(env);
    const r = await sendTestEvent({ ...d, config: { ...d.config, allowPrivateUrls: false } }, tenant, ep.id, { type: withExample }, { text: "{}", root: "" });
    expect(r.responseStatus).toBeNull();
    expect(r.error).toMatch(/url_not_allowed/);
    expect(await receiverLog(receiver, `/ok/policy-${tenant}`)).toEqual([]);
    const logged = (await api(`/v1/tenants/${tenant}/deliveries/${r.deliveryId}`)).body;
    expect(logged).toMatchObject({ test: true, status: "failed", reason: "url_not_allowed", attempts: [] });
  });
});

describe("GET /v1/tenants/{tid}/endpoints/{eid}/stats", () => {
  it("counts deliveries by status with the success rate and latency; test sends do not count", async () => {
    const t = await createTenant();
    const flip = `stats-${t}`;
    const ep = await createEndpoint(t, { url: `${receiver}/flip/${flip}` });
    await fetch(`${receiver}/_flip/${flip}`, { method: "POST", body: JSON.stringify({ status: 410 }) });
    await postEvent(t, { type: withExample, data: { n: 1 } });
    await settle(t);
    await fetch(`${receiver}/_flip/${flip}`, { method: "POST", body: JSON.stringify({ status: 200 }) });
    await postEvent(t, { type: withExample, data: { n: 2 } });
    await postEvent(t, { type: withExample, data: { n: 3 } });
    await settle(t);
    await api(testPath(ep.id, t), { body: { type: withExample } });
    const res = await api(`/v1/tenants/${t}/endpoints/${ep.id}/stats`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      since: expect.any(String),
      until: expect.any(String),
      counts: { pending: 0, delivered: 2, failed: 1 },
      success_rate: 2 / 3,
      latency_ms: { p50: expect.any(Number), p95: expect.any(Number) },
    });
    expect(Math.abs(Date.parse(res.body.since) - (Date.now() - 86_400_000))).toBeLessThan(10_000);
  });

  it("answers null rates when the window holds no deliveries", async () => {
    const ep = await createEndpoint(tenant);
    const res = await api(`/v1/tenants/${tenant}/endpoints/${ep.id}/stats?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z`);
    expect(res.body).toEqual({
      since: "2020-01-01T00:00:00.000Z",
      until: "2020-01-02T00:00:00.000Z",
      counts: { pending: 0, delivered: 0, failed: 0 },
      success_rate: null,
      latency_ms: { p50: null, p95: null },
    });
  });

  it.each([
    ["since=last-week", "since"],
    ["until=2026-02-29T00:00:00Z", "until"],
  ])("refuses %s (422)", async (query, errorPath) => {
    const ep = await createEndpoint(tenant);
    expectInvalid(await api(`/v1/tenants/${tenant}/endpoints/${ep.id}/stats?${query}`), errorPath);
  });

  it("answers 404 for an unknown endpoint and 403 to another tenant's key", async () => {
    expectProblem(await api(`/v1/tenants/${tenant}/endpoints/ep_unknown/stats`), 404);
    const ep = await createEndpoint(tenant);
    const other = await createTenant();
    const { key } = await createApiKey(other);
    expectProblem(await api(`/v1/tenants/${tenant}/endpoints/${ep.id}/stats`, { token: key }), 403);
  });
});
