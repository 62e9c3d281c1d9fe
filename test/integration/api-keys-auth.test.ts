import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createApiKey, createEndpoint, createEventType, createTenant, expectInvalid, expectProblem, rawTable, uid } from "./helpers";

describe("bearer token", () => {
  const routes: [string, string][] = [
    ["GET", "/v1/tenants"],
    ["POST", "/v1/tenants"],
    ["GET", "/v1/tenants/_operator"],
    ["GET", "/v1/event-types"],
    ["GET", "/v1/tenants/_operator/endpoints"],
    ["GET", "/v1/tenants/_operator/events"],
    ["POST", "/v1/tenants/_operator/events"],
    ["GET", "/v1/dead-letters"],
    ["GET", "/v1/dead-letters/dl_00000000001"],
    ["GET", "/v1/tenants/_operator/deliveries/dlv_00000000001"],
  ];

  it.each(routes)("%s %s without a token answers 401 problem+json", async (method, path) => {
    const res = await api(path, { method, token: null, ...(method === "POST" ? { body: { name: "x" } } : {}) });
    expectProblem(res, 401);
  });

  it.each(routes)("%s %s with a wrong token answers 401 problem+json", async (method, path) => {
    const res = await api(path, { method, token: "test-admin-tokeX", ...(method === "POST" ? { body: { name: "x" } } : {}) });
    expectProblem(res, 401);
  });

  it.each([
    ["Basic auth", "Basic dGVzdC1hZG1pbi10b2tlbg=="],
    ["the token without the Bearer scheme", "test-admin-token"],
    ["an empty bearer", "Bearer "],
    ["a prefix of the admin token", "Bearer test-admin"],
    ["a forged API key", `Bearer sy_${"0".repeat(26)}_${"A".repeat(43)}`],
  ])("refuses %s with 401", async (_what, authorization) => {
    const res = await exports.default.fetch(new Request("http://x/v1/tenants", { headers: { authorization } }));
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });

  it("accepts the scheme name in any case", async () => {
    const res = await exports.default.fetch(new Request("http://x/v1/tenants", { headers: { authorization: "bearer test-admin-token" } }));
    expect(res.status).toBe(200);
  });

  it.each(["/health", "/openapi.json", "/docs"])("%s needs no token", async (path) => {
    expect((await api(path, { token: null })).status).toBe(200);
  });
});

describe("tenant API keys", () => {
  let a: string;
  let b: string;
  let keyA: string;
  let endpointB: string;
  let typeName: string;

  const fill = (path: string) => path.replace("{a}", a).replace("{b}", b).replace("{ep}", endpointB).replace("{type}", typeName);

  beforeAll(async () => {
    a = await createTenant();
    b = await createTenant();
    keyA = (await createApiKey(a)).key;
    endpointB = (await createEndpoint(b)).id;
    typeName = await createEventType();
  });

  it("are created with 201 {id, name, key, created_at}, the key shown once", async () => {
    const res = await api(`/v1/tenants/${a}/api-keys`, { body: { name: "CI" } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.stringMatching(/^key_/), name: "CI", key: expect.stringMatching(/^sy_/), created_at: expect.any(String) });
    const list = await api(`/v1/tenants/${a}/api-keys`);
    expect(list.status).toBe(200);
    const item = list.body.data.find((k: { id: string }) => k.id === res.body.id);
    expect(item).toEqual({ id: res.body.id, name: "CI", created_at: res.body.created_at });
    expect(list.text).not.toContain(res.body.key);
  });

  it("are stored only as hashes: no api_keys row holds a key", async () => {
    const { key } = await createApiKey(a, "hashed");
    const secretPart = key.split("_").at(-1)!;
    const dump = await rawTable("api_keys");
    expect(dump).not.toContain(key);
    expect(dump).not.toContain(secretPart);
  });

  it("list newest first with pagination", async () => {
    const t = await createTenant();
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await createApiKey(t, `k${i}`)).id);
    const first = await api(`/v1/tenants/${t}/api-keys?limit=2`);
    const second = await api(`/v1/tenants/${t}/api-keys?limit=2&cursor=${first.body.next_cursor}`);
    const third = await api(`/v1/tenants/${t}/api-keys?limit=2&cursor=${second.body.next_cursor}`);
    const items = [...first.body.data, ...second.body.data, ...third.body.data] as { id: string; created_at: string }[];
    expect(items.map((k) => k.id).sort()).toEqual([...made].sort());
    const times = items.map((k) => Date.parse(k.created_at));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(third.body.next_cursor).toBeNull();
  });

  it("a tenant key reads its own tenant", async () => {
    const res = await api(`/v1/tenants/${a}`, { token: keyA });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(a);
  });

  it("a tenant key manages its own endpoints", async () => {
    const created = await api(`/v1/tenants/${a}/endpoints`, { token: keyA, body: { url: "https://example.com/a" } });
    expect(created.status).toBe(201);
    expect((await api(`/v1/tenants/${a}/endpoints/${created.body.id}`, { token: keyA })).status).toBe(200);
    expect((await api(`/v1/tenants/${a}/endpoints/${created.body.id}`, { token: keyA, method: "PATCH", body: { description: "mine" } })).status).toBe(200);
    expect((await api(`/v1/tenants/${a}/endpoints/${created.body.id}/secret`, { token: keyA })).status).toBe(200);
    expect((await api(`/v1/tenants/${a}/endpoints/${created.body.id}`, { token: keyA, method: "DELETE" })).status).toBe(204);
  });

  it("a tenant key reads event types and events of its tenant", async () => {
    expect((await api("/v1/event-types", { token: keyA })).status).toBe(200);
    expect((await api(`/v1/event-types/${typeName}`, { token: keyA })).status).toBe(200);
    expect((await api(`/v1/tenants/${a}/events`, { token: keyA })).status).toBe(200);
  });

  it.each([
    ["GET", "/v1/tenants/{b}", undefined],
    ["GET", "/v1/tenants/{b}/endpoints", undefined],
    ["POST", "/v1/tenants/{b}/endpoints", { url: "https://example.com/x" }],
    ["GET", "/v1/tenants/{b}/endpoints/{ep}", undefined],
    ["PATCH", "/v1/tenants/{b}/endpoints/{ep}", { description: "hijack" }],
    ["DELETE", "/v1/tenants/{b}/endpoints/{ep}", undefined],
    ["GET", "/v1/tenants/{b}/endpoints/{ep}/secret", undefined],
    ["POST", "/v1/tenants/{b}/endpoints/{ep}/secret/rotate", {}],
    ["GET", "/v1/tenants/{b}/endpoints/{ep}/deliveries", undefined],
    ["POST", "/v1/tenants/{b}/endpoints/{ep}/replay", { since: "2020-01-01T00:00:00Z" }],
    ["GET", "/v1/tenants/{b}/events", undefined],
    ["GET", "/v1/tenants/{b}/events/evt_x", undefined],
    ["GET", "/v1/tenants/{b}/deliveries/dlv_00000000001", undefined],
    ["POST", "/v1/tenants/{b}/deliveries/dlv_00000000001/retry", undefined],
  ])("a tenant key cannot reach another tenant: %s %s → 403", async (method, path, body) => {
    expectProblem(await api(fill(path), { method, token: keyA, body }), 403);
  });

  it("a tenant key cannot read another tenant's endpoint, which stays unchanged", async () => {
    expectProblem(await api(`/v1/tenants/${b}/endpoints/${endpointB}`, { token: keyA }), 403);
    expectProblem(await api(`/v1/tenants/${b}/endpoints/${endpointB}`, { token: keyA, method: "DELETE" }), 403);
    expect((await api(`/v1/tenants/${b}/endpoints/${endpointB}`)).status).toBe(200);
  });

  it("a tenant key cannot reach another tenant's endpoint through its own tenant's path (404)", async () => {
    expectProblem(await api(`/v1/tenants/${a}/endpoints/${endpointB}`, { token: keyA }), 404);
  });

  it.each([
    ["POST", "/v1/tenants", { name: "new" }],
    ["GET", "/v1/tenants", undefined],
    ["PATCH", "/v1/tenants/{a}", { name: "renamed" }],
    ["DELETE", "/v1/tenants/{a}", undefined],
    ["POST", "/v1/tenants/{a}/api-keys", { name: "more" }],
    ["GET", "/v1/tenants/{a}/api-keys", undefined],
    ["DELETE", "/v1/tenants/{a}/api-keys/key_x", undefined],
    ["POST", "/v1/event-types", { name: "x.y" }],
    ["PATCH", "/v1/event-types/{type}", { description: "x" }],
    ["DELETE", "/v1/event-types/{type}", undefined],
    ["POST", "/v1/tenants/{a}/events", "event"],
  ])("a tenant key is refused on admin-only routes: %s %s → 403", async (method, path, body) => {
    const payload = body === "event" ? { type: typeName, data: {} } : body;
    expectProblem(await api(fill(path), { method, token: keyA, body: payload }), 403);
  });

  it("a tenant key's refused calls change nothing", async () => {
    await api(`/v1/tenants/${a}`, { method: "DELETE", token: keyA });
    await api(`/v1/event-types/${typeName}`, { method: "DELETE", token: keyA });
    expect((await api(`/v1/tenants/${a}`)).status).toBe(200);
    expect((await api(`/v1/event-types/${typeName}`)).body.archived).toBe(false);
    // Nor did its refused event posts store anything in the tenant's log.
    expect((await api(`/v1/tenants/${a}/events`)).body.data).toEqual([]);
  });

  it("a revoked key answers 401", async () => {
    const t = await createTenant();
    const { id, key } = await createApiKey(t);
    expect((await api(`/v1/tenants/${t}`, { token: key })).status).toBe(200);
    expect((await api(`/v1/tenants/${t}/api-keys/${id}`, { method: "DELETE" })).status).toBe(204);
    expectProblem(await api(`/v1/tenants/${t}`, { token: key }), 401);
    const list = await api(`/v1/tenants/${t}/api-keys`);
    expect(list.body.data).toEqual([]);
  });

  it("a key of a deleted tenant answers 401", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    await api(`/v1/tenants/${t}`, { method: "DELETE" });
    expectProblem(await api(`/v1/tenants/${t}`, { token: key }), 401);
  });

  it("a key with one changed character answers 401", async () => {
    const { key } = await createApiKey(a, "tamper");
    const last = key.at(-1) === "A" ? "B" : "A";
    expectProblem(await api(`/v1/tenants/${a}`, { token: key.slice(0, -1) + last }), 401);
  });

  it("revoking an unknown key, or another tenant's key through this tenant, answers 404", async () => {
    expectProblem(await api(`/v1/tenants/${a}/api-keys/key_unknown`, { method: "DELETE" }), 404);
    const other = await createApiKey(b, "b-key");
    expectProblem(await api(`/v1/tenants/${a}/api-keys/${other.id}`, { method: "DELETE" }), 404);
    expect((await api(`/v1/tenants/${b}`, { token: other.key })).status).toBe(200);
  });

  it.each([
    ["a missing name", {}, "name"],
    ["a name of the wrong type", { name: 1 }, "name"],
    ["an unknown field", { name: "x", scope: "all" }, "*"],
  ])("refuses %s (422)", async (_what, body, path) => {
    expectInvalid(await api(`/v1/tenants/${a}/api-keys`, { body }), path);
  });

  it("answers 400 for malformed JSON", async () => {
    expectProblem(await api(`/v1/tenants/${a}/api-keys`, { body: "{" }), 400);
  });

  it("answers 404 for an unknown tenant", async () => {
    expectProblem(await api(`/v1/tenants/${uid("none")}/api-keys`, { body: { name: "x" } }), 404);
    expectProblem(await api(`/v1/tenants/${uid("none")}/api-keys`), 404);
  });
});
