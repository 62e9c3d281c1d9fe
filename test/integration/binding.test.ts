/**
 * The service binding (DESIGN.md "Service binding — for host Workers",
 * docs/service-binding.md) called the way a host Worker calls it: the auxiliary worker
 * test/support/host-worker.js binds `SwitchyardEntrypoint` and forwards each `POST
 * /rpc/<method>` to it over RPC. Each verb is compared with the HTTP API for the same
 * input: same value, same status, same problem document (errors and their paths).
 */
import { env } from "cloudflare:workers";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import type { BindingResult, SwitchyardRpc } from "../../src/binding/types";
import { api, createEventType, createTenant, expectProblem, uid, uniqueTypeName } from "./helpers";
import { deliveriesOfEndpoint, receiver, receiverLog, uniq, waitFor } from "./pipeline-helpers";
import { fetchPortal } from "./portal-helpers";

vi.setConfig({ testTimeout: 45_000 });

const host = (env as unknown as { HOST: Fetcher }).HOST;

/**
 * Calls `env.SWITCHYARD[method](...args)` inside the host Worker. The host answers 500 when
 * the call threw, so every call here also asserts that the binding did not throw.
 */
async function rpc<T = any>(method: keyof SwitchyardRpc & string, ...args: unknown[]): Promise<BindingResult<T>> {
  const res = await host.fetch(`http://host/rpc/${method}`, { method: "POST", body: JSON.stringify(args) });
  const body = (await res.json()) as { result?: BindingResult<T>; thrown?: string };
  expect(body.thrown, `${method} threw`).toBeUndefined();
  expect(res.status).toBe(200);
  return body.result!;
}

/** The value of a success with the given status. */
function valueOf<T>(result: BindingResult<T>, status: number): T {
  expect(result, JSON.stringify(result)).toMatchObject({ ok: true, status });
  return (result as { value: T }).value;
}

/** The problem of a failure, asserted to be the problem document the API sent for the same input. */
async function expectSameProblem(result: BindingResult<unknown>, apiResponse: Promise<Awaited<ReturnType<typeof api>>>) {
  const res = await apiResponse;
  const problem = expectProblem(res, res.status);
  expect(result).toEqual({ ok: false, error: problem });
  return problem;
}

describe("sendEvent", () => {
  it("accepts an event (202) and its deliveries reach the tenant's endpoints, logged like an HTTP post", async () => {
    const tid = valueOf(await rpc("createTenant", { name: "Host tenant", id: uid("bind") }), 201).id as string;
    const type = await createEventType(uniqueTypeName("bound"));
    const key = uniq("bind");
    const a = valueOf<any>(await rpc("createEndpoint", tid, { url: `${receiver()}/ok/${key}/a` }), 201);
    const b = valueOf<any>(await rpc("createEndpoint", tid, { url: `${receiver()}/ok/${key}/b`, filter: { types: ["other.*"] } }), 201);

    const before = Date.now();
    const sent = valueOf<any>(await rpc("sendEvent", tid, { type, data: { report: 7, name: "ü" }, occurred_at: "2026-01-02T03:04:05Z" }), 202);
    expect(Object.keys(sent).sort()).toEqual(["created_at", "id", "type"]);
    expect(sent.id).toMatch(/^evt_/);
    expect(sent.type).toBe(type);
    expect(Date.parse(sent.created_at)).toBeGreaterThanOrEqual(before - 1000);

    const delivered = await waitFor("the delivery to a", async () => (await deliveriesOfEndpoint(tid, a.id)).find((d) => d.status === "delivered"), 30_000);
    expect(delivered.event_id).toBe(sent.id);
    const received = await receiverLog(`/ok/${key}/a`);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!.body)).toMatchObject({ type, data: { report: 7, name: "ü" } });
    // The filter is applied as for an HTTP post: b does not subscribe to the type.
    expect(await deliveriesOfEndpoint(tid, b.id)).toEqual([]);

    const event = await api(`/v1/tenants/${tid}/events/${sent.id}`);
    expect(event.status, event.text).toBe(200);
    expect(event.body).toMatchObject({ id: sent.id, type, data: { report: 7, name: "ü" }, occurred_at: "2026-01-02T03:04:05.000Z" });
    expect(event.body.deliveries.map((d: { endpoint_id: string }) => d.endpoint_id)).toEqual([a.id]);
  });

  it("answers 200 with the original event for a repeated id or idempotency key, 409 when the body differs", async () => {
    const tid = await createTenant();
    const type = await createEventType();
    const first = valueOf<any>(await rpc("sendEvent", tid, { type, data: { n: 1 }, id: "order-1" }), 202);
    expect(first.id).toBe("order-1");
    expect(valueOf(await rpc("sendEvent", tid, { type, data: { n: 1 }, id: "order-1" }), 200)).toEqual(first);

    const keyed = valueOf<any>(await rpc("sendEvent", tid, { type, data: { n: 2 } }, { idempotencyKey: "k-1" }), 202);
    expect(valueOf(await rpc("sendEvent", tid, { type, data: { n: 2 } }, { idempotencyKey: "k-1" }), 200)).toEqual(keyed);
    // The key is shared with the HTTP API's Idempotency-Key header.
    const overHttp = await api(`/v1/tenants/${tid}/events`, { body: { type, data: { n: 2 } }, headers: { "idempotency-key": "k-1" } });
    expect(overHttp.status, overHttp.text).toBe(200);
    expect(overHttp.body).toEqual(keyed);

    await expectSameProblem(
      await rpc("sendEvent", tid, { type, data: { n: 3 } }, { idempotencyKey: "k-1" }),
      api(`/v1/tenants/${tid}/events`, { body: { type, data: { n: 3 } }, headers: { "idempotency-key": "k-1" } }),
    );
    expect((await rpc("sendEvent", tid, { type, data: { n: 3 } }, { idempotencyKey: "k-1" })).ok).toBe(false);
    await expectSameProblem(
      await rpc("sendEvent", tid, { type, data: { n: 1 } }, { idempotencyKey: "" }),
      api(`/v1/tenants/${tid}/events`, { body: { type, data: { n: 1 } }, headers: { "idempotency-key": "" } }),
    );
  });

  it("answers an unknown tenant with ok: false and the API's 404", async () => {
    const type = await createEventType();
    const missing = uid("nobody");
    const result = await rpc("sendEvent", missing, { type, data: {} });
    const problem = await expectSameProblem(result, api(`/v1/tenants/${missing}/events`, { body: { type, data: {} } }));
    expect(problem.status).toBe(404);
  });

  const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"] };
  it.each([
    ["a missing type and data", {}],
    ["a type that is not a string", { type: 5, data: {} }],
    ["an unknown field", { type: "TYPE", data: {}, extra: true }],
    ["an id that is not a host id", { type: "TYPE", data: {}, id: "has.dot" }],
    ["a malformed occurred_at", { type: "TYPE", data: {}, occurred_at: "yesterday" }],
    ["data failing the type's JSON Schema", { type: "SCHEMA", data: { n: "one" } }],
    ["an unknown event type", { type: "no.such_type", data: {} }],
    ["a reserved switchyard.* type", { type: "switchyard.endpoint.disabled", data: {} }],
    ["a body that is not an object", ["TYPE"]],
  ])("answers %s with the API's 422 and the same errors", async (_what, template) => {
    const tid = await createTenant();
    const type = await createEventType();
    const typed = await createEventType(uniqueTypeName("schema"), { schema });
    const body = JSON.parse(JSON.stringify(template).replaceAll('"TYPE"', JSON.stringify(type)).replaceAll('"SCHEMA"', JSON.stringify(typed)));
    const problem = await expectSameProblem(await rpc("sendEvent", tid, body), api(`/v1/tenants/${tid}/events`, { body }));
    expect(problem.status).toBe(422);
    expect(problem.errors!.length).toBeGreaterThan(0);
  });

  it("answers an archived event type with the API's 422", async () => {
    const tid = await createTenant();
    const type = await createEventType();
    expect((await api(`/v1/event-types/${type}`, { method: "DELETE" })).status).toBe(204);
    const problem = await expectSameProblem(await rpc("sendEvent", tid, { type, data: {} }), api(`/v1/tenants/${tid}/events`, { body: { type, data: {} } }));
    expect(problem.errors).toEqual([{ path: "type", message: `event type ${type} is archived` }]);
  });

  it("answers 413 for an event over MAX_PAYLOAD_BYTES as JSON, before looking up the tenant", async () => {
    const max = Number(env.MAX_PAYLOAD_BYTES);
    const type = await createEventType();
    const tid = await createTenant();
    const fits = valueOf<any>(await rpc("sendEvent", tid, { type, data: "x".repeat(max - 100) }), 202);
    expect(fits.id).toMatch(/^evt_/);
    for (const target of [tid, uid("nobody")]) {
      const result = await rpc("sendEvent", target, { type, data: "x".repeat(max) });
      expect(result).toMatchObject({ ok: false, error: { status: 413, type: "https://switchyard.dev/problems/payload-too-large", title: "Payload Too Large" } });
    }
    expectProblem(await api(`/v1/tenants/${tid}/events`, { body: { type, data: "x".repeat(max) } }), 413);
  });
});

describe("tenants", () => {
  it("createTenant answers 201 with the tenant as the API shows it; getTenant reads it", async () => {
    const id = uid("bten");
    const created = valueOf(await rpc("createTenant", { id, name: "Acme", metadata: { plan: "pro" } }), 201);
    const overHttp = await api(`/v1/tenants/${id}`);
    expect(overHttp.status).toBe(200);
    expect(created).toEqual(overHttp.body);
    expect(created).toMatchObject({ id, name: "Acme", metadata: { plan: "pro" } });
    expect(valueOf(await rpc("getTenant", id), 200)).toEqual(overHttp.body);

    const generated = valueOf<any>(await rpc("createTenant", { name: "No id" }), 201);
    expect(generated.id).toMatch(/^ten_/);
  });

  it("validates as the API does: 409 for a taken id, 422 with the same paths, 404 for an unknown tenant", async () => {
    const id = await createTenant();
    await expectSameProblem(await rpc("createTenant", { id, name: "Again" }), api("/v1/tenants", { body: { id, name: "Again" } }));
    for (const body of [{ name: "" }, { id: "_reserved", name: "x" }, { name: "x", metadata: [1] }, { name: "x", plan: "pro" }, {}]) {
      const problem = await expectSameProblem(await rpc("createTenant", body), api("/v1/tenants", { body }));
      expect(problem.status).toBe(422);
    }
    const missing = uid("nobody");
    await expectSameProblem(await rpc("getTenant", missing), api(`/v1/tenants/${missing}`));
  });
});

describe("endpoints", () => {
  it("createEndpoint answers 201 with its secret this once; get, list, update (pause, resume) and delete follow", async () => {
    const tid = await createTenant();
    const created = valueOf<any>(await rpc("createEndpoint", tid, { url: "https://example.com/a", description: "A", filter: { types: ["order.*"] } }), 201);
    expect(created.secret).toMatch(/^whsec_/);
    const { secret, ...shown } = created;
    const overHttp = await api(`/v1/tenants/${tid}/endpoints/${created.id}`);
    expect(shown).toEqual(overHttp.body);
    expect(valueOf(await rpc("getEndpoint", tid, created.id), 200)).toEqual(overHttp.body);
    const secrets = await api(`/v1/tenants/${tid}/endpoints/${created.id}/secret`);
    expect(secrets.body.secret).toBe(secret);

    const second = valueOf<any>(await rpc("createEndpoint", tid, { url: "https://example.com/b", status: "paused" }), 201);
    const firstPage = valueOf<any>(await rpc("listEndpoints", tid, { limit: 1 }), 200);
    expect(firstPage.data.map((e: { id: string }) => e.id)).toEqual([second.id]);
    expect(firstPage.next_cursor).toEqual(expect.any(String));
    const secondPage = valueOf<any>(await rpc("listEndpoints", tid, { limit: 1, cursor: firstPage.next_cursor }), 200);
    expect(secondPage.data.map((e: { id: string }) => e.id)).toEqual([created.id]);
    expect(valueOf<any>(await rpc("listEndpoints", tid), 200)).toEqual((await api(`/v1/tenants/${tid}/endpoints`)).body);
    expect(valueOf<any>(await rpc("listEndpoints", tid, { status: "paused" }), 200).data.map((e: { id: string }) => e.id)).toEqual([second.id]);

    const paused = valueOf<any>(await rpc("updateEndpoint", tid, created.id, { status: "paused", description: "paused by host" }), 200);
    expect(paused).toMatchObject({ id: created.id, status: "paused", description: "paused by host", filter: { types: ["order.*"] } });
    expect((await api(`/v1/tenants/${tid}/endpoints/${created.id}`)).body).toEqual(paused);
    expect(valueOf<any>(await rpc("updateEndpoint", tid, created.id, { status: "active", filter: null }), 200)).toMatchObject({
      status: "active",
      filter: { types: [], exclude: [], groups: [] },
    });

    expect(await rpc("deleteEndpoint", tid, second.id)).toEqual({ ok: true, status: 204, value: null });
    await expectSameProblem(await rpc("getEndpoint", tid, second.id), api(`/v1/tenants/${tid}/endpoints/${second.id}`));
    await expectSameProblem(await rpc("deleteEndpoint", tid, second.id), api(`/v1/tenants/${tid}/endpoints/${second.id}`, { method: "DELETE" }));
  });

  it.each([
    ["an empty url and a bad filter", { url: "", filter: { types: [5], extra: 1 } }],
    ["out-of-range numbers", { url: "https://example.com/x", rate_limit: 0, timeout_ms: 100, retry_schedule: [0], circuit: { open_after: 99 } }],
    ["a forbidden header and a bad auth", { url: "https://example.com/x", headers: { Host: "x" }, auth: { type: "digest" } }],
    ["a URL the policy refuses", { url: "ftp://example.com/x" }],
    ["a short secret for the standard profile", { url: "https://example.com/x", secret: "short" }],
    ["an unknown field", { url: "https://example.com/x", colour: "red" }],
  ])("createEndpoint answers %s with the API's 422 and the same errors", async (_what, body) => {
    const tid = await createTenant();
    const problem = await expectSameProblem(await rpc("createEndpoint", tid, body), api(`/v1/tenants/${tid}/endpoints`, { body }));
    expect(problem.status).toBe(422);
  });

  it("updateEndpoint and listEndpoints validate as the API does", async () => {
    const tid = await createTenant();
    const ep = valueOf<any>(await rpc("createEndpoint", tid, { url: "https://example.com/a" }), 201);
    for (const patch of [{ status: "disabled" }, { url: null }, { method: "GET", ordering: "lifo" }]) {
      const problem = await expectSameProblem(await rpc("updateEndpoint", tid, ep.id, patch), api(`/v1/tenants/${tid}/endpoints/${ep.id}`, { method: "PATCH", body: patch }));
      expect(problem.status).toBe(422);
    }
    for (const [options, query] of [
      [{ limit: 0 }, "limit=0"],
      [{ limit: 251 }, "limit=251"],
      [{ limit: 2.5 }, "limit=2.5"],
      [{ status: "gone" }, "status=gone"],
      [{ cursor: "nope" }, "cursor=nope"],
    ] as const) {
      const problem = await expectSameProblem(await rpc("listEndpoints", tid, options), api(`/v1/tenants/${tid}/endpoints?${query}`));
      expect(problem.status).toBe(422);
    }
    const missing = uid("nobody");
    await expectSameProblem(await rpc("listEndpoints", missing), api(`/v1/tenants/${missing}/endpoints`));
    await expectSameProblem(await rpc("updateEndpoint", tid, "ep_missing", { description: "x" }), api(`/v1/tenants/${tid}/endpoints/ep_missing`, { method: "PATCH", body: { description: "x" } }));
  });
});

describe("createPortalLink", () => {
  it("answers 201 with a one-time link on the given origin that opens the tenant's portal", async () => {
    const tid = await createTenant();
    const before = Date.now();
    const link = valueOf<any>(await rpc("createPortalLink", tid, { origin: "https://webhooks.example.com" }), 201);
    expect(Object.keys(link).sort()).toEqual(["expires_at", "url"]);
    const url = new URL(link.url);
    expect(url.origin).toBe("https://webhooks.example.com");
    expect(url.pathname).toBe("/portal/login");
    expect(Date.parse(link.expires_at)).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(Date.parse(link.expires_at)).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);

    const opened = await fetchPortal(link.url);
    expect(opened.status).toBe(303);
    expect(opened.headers.get("location")).toBe("/portal");
    expect(opened.headers.get("set-cookie")).toMatch(/HttpOnly/);
    const again = await fetchPortal(link.url);
    expect(again.headers.get("set-cookie")).toBeNull();

    const short = valueOf<any>(await rpc("createPortalLink", tid, { origin: "http://localhost:8787/", expires_in: 60, read_only: true }), 201);
    expect(new URL(short.url).origin).toBe("http://localhost:8787");
    expect(Date.parse(short.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
  });

  it("validates expires_in and read_only as the API does, and origin as an http(s) origin", async () => {
    const tid = await createTenant();
    for (const body of [{ expires_in: 59 }, { expires_in: 86_401 }, { read_only: "yes" }, { tenant_id: "other" }]) {
      const result = await rpc("createPortalLink", tid, { origin: "https://webhooks.example.com", ...body });
      const overHttp = expectProblem(await api(`/v1/tenants/${tid}/portal-sessions`, { body }), 422);
      expect(result).toEqual({ ok: false, error: overHttp });
    }
    for (const origin of ["webhooks.example.com", "ftp://webhooks.example.com", "https://webhooks.example.com/portal", "https://u:p@webhooks.example.com", "https://webhooks.example.com/?x=1"]) {
      const result = await rpc("createPortalLink", tid, { origin });
      expect(result, origin).toMatchObject({ ok: false, error: { status: 422, errors: [{ path: "origin", message: expect.stringContaining("origin") }] } });
    }
    expect(await rpc("createPortalLink", tid, {})).toMatchObject({ ok: false, error: { status: 422, errors: [{ path: "origin" }] } });
    const missing = uid("nobody");
    await expectSameProblem(await rpc("createPortalLink", missing, { origin: "https://webhooks.example.com" }), api(`/v1/tenants/${missing}/portal-sessions`, { body: {} }));
  });
});

describe("bad input never throws", () => {
  const cycle = { $cycle: true };
  const big = { $bigint: "9007199254740993" };
  const undef = { $undefined: true };
  it.each([
    ["sendEvent", [42, { type: "a.b", data: {} }], "tenantId"],
    ["sendEvent", [undef, undef], "tenantId"],
    ["sendEvent", ["TENANT", undef], "(body)"],
    ["sendEvent", ["TENANT", null], "(body)"],
    ["sendEvent", ["TENANT", cycle], "(body)"],
    ["sendEvent", ["TENANT", { type: "a.b", data: big }], "(body)"],
    ["sendEvent", ["TENANT", { type: "a.b", data: { $deep: 600 } }], "data"],
    ["sendEvent", ["TENANT", { type: "a.b", data: {} }, { idempotencyKey: 7 }], "Idempotency-Key"],
    ["createTenant", [undef], "(body)"],
    ["createTenant", ["acme"], "(body)"],
    ["createTenant", [{ name: "x", metadata: { deep: { $deep: 600 } } }], "(body)"],
    ["getTenant", [{ id: "x" }], "tenantId"],
    ["createEndpoint", ["TENANT", cycle], "(body)"],
    ["createEndpoint", ["TENANT", [1, 2]], "(body)"],
    ["listEndpoints", ["TENANT", { limit: big }], "limit"],
    ["listEndpoints", ["TENANT", { limit: "many" }], "limit"],
    ["getEndpoint", ["TENANT", null], "endpointId"],
    ["updateEndpoint", ["TENANT", "ep_x", undef], "(body)"],
    ["deleteEndpoint", [null, "ep_x"], "tenantId"],
    ["createPortalLink", ["TENANT", undef], "(body)"],
  ] as const)("%s(%j) answers a typed 422 naming %s", async (method, args, path) => {
    const tid = await createTenant();
    const filled = JSON.parse(JSON.stringify(args).replaceAll('"TENANT"', JSON.stringify(tid)));
    const result = await rpc(method, ...filled);
    expect(result).toMatchObject({ ok: false, error: { status: 422, type: "https://switchyard.dev/problems/validation-failed", title: "Validation Failed", detail: expect.any(String) } });
    expect((result as { error: { errors: { path: string }[] } }).error.errors.map((e) => e.path)).toContain(path);
  });

  it("a Date in an event is sent as its JSON string, as JSON.stringify gives it", async () => {
    const tid = await createTenant();
    const type = await createEventType();
    const sent = valueOf<any>(await rpc("sendEvent", tid, { type, data: { at: { $date: "2026-03-04T05:06:07.000Z" } } }), 202);
    const event = await api(`/v1/tenants/${tid}/events/${sent.id}`);
    expect(event.body.data).toEqual({ at: "2026-03-04T05:06:07.000Z" });
  });
});

describe("types for host Workers", () => {
  it("Service<SwitchyardRpc> gives a host typed results", () => {
    type Binding = Service<SwitchyardRpc>;
    expectTypeOf<Awaited<ReturnType<Binding["sendEvent"]>>>().toExtend<{ ok: boolean }>();
    type Sent = Extract<Awaited<ReturnType<Binding["sendEvent"]>>, { ok: true }>;
    expectTypeOf<Sent["status"]>().toEqualTypeOf<200 | 202>();
    expectTypeOf<Sent["value"]["id"]>().toEqualTypeOf<string>();
    type Failed = Extract<Awaited<ReturnType<Binding["getTenant"]>>, { ok: false }>;
    expectTypeOf<Failed["error"]["status"]>().toEqualTypeOf<number>();
    expectTypeOf<Parameters<Binding["createEndpoint"]>[1]["url"]>().toEqualTypeOf<string>();
  });
});
