import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createEndpoint as coreCreateEndpoint, updateEndpoint as coreUpdateEndpoint } from "../../src/core/endpoints";
import type { Deps } from "../../src/api/context";
import { snapshotOf } from "../../src/core/tenant-logs";
import { findEndpointById } from "../../src/db/queries/endpoints";
import { openDb } from "../../src/db/client";
import { AppError } from "../../src/errors";
import { pipelineDeps } from "../../src/core/deps";
import { api, createApiKey, createEndpoint, createTenant, expectInvalid, expectProblem, pageThrough, rawTable, tenantLog } from "./helpers";

const STANDARD_SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;
/** 32 bytes of base64: a valid supplied standard secret. */
const SUPPLIED_STANDARD = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;

let tenant: string;
beforeAll(async () => {
  tenant = await createTenant();
});

const path = (suffix = "") => `/v1/tenants/${tenant}/endpoints${suffix}`;

describe("POST /v1/tenants/{tid}/endpoints", () => {
  it("creates an endpoint with defaults and shows its generated secret once", async () => {
    const res = await api(path(), { body: { url: "https://example.com/hook" } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^ep_[0-9a-z]{26}$/),
      tenant_id: tenant,
      url: "https://example.com/hook",
      description: "",
      status: "active",
      disabled_reason: null,
      filter: { types: [], exclude: [], groups: [] },
      method: "POST",
      headers: {},
      auth: null,
      format: "standard",
      signature: "standard",
      ordering: "none",
      rate_limit: null,
      timeout_ms: 15000,
      retry_schedule: null,
      circuit: { enabled: true, open_after: 3, cool_off_s: 60 },
      circuit_state: "closed",
      created_at: expect.any(String),
      updated_at: expect.any(String),
      secret: expect.stringMatching(STANDARD_SECRET),
    });
    const { secret, ...rest } = res.body;
    const got = await api(path(`/${res.body.id}`));
    expect(got.body).toEqual(rest);
    expect(got.text).not.toContain(secret);
    expect(atob(secret.slice("whsec_".length))).toHaveLength(32);
  });

  it("stores every field of the design and reads them back", async () => {
    const body = {
      url: "https://example.com/full",
      description: "Fleet system",
      status: "paused",
      filter: { types: ["vehicle.*", "report.completed", "*"], exclude: ["vehicle.deleted"], groups: ["inspections"] },
      method: "PUT",
      headers: { "X-Custom": "v", Authorization: "Token abc" },
      format: "cloudevents",
      signature: "timestamped-hex",
      ordering: "fifo",
      rate_limit: 250,
      timeout_ms: 30000,
      retry_schedule: [5, 30, 120, 600, 3600],
      circuit: { enabled: false, open_after: 20, cool_off_s: 3600 },
    };
    const res = await api(path(), { body });
    expect(res.status, res.text).toBe(201);
    const { url, ...expected } = body;
    expect(res.body).toMatchObject({ ...expected, url, auth: null });
    expect((await api(path(`/${res.body.id}`))).body).toMatchObject(expected);
  });

  it("keeps a supplied secret (migration) and returns it from GET secret", async () => {
    const res = await api(path(), { body: { url: "https://example.com/s", secret: SUPPLIED_STANDARD } });
    expect(res.status).toBe(201);
    expect(res.body.secret).toBe(SUPPLIED_STANDARD);
    expect((await api(path(`/${res.body.id}/secret`))).body).toEqual({ secret: SUPPLIED_STANDARD, previous: [] });
  });

  it("accepts any secret of at least 24 characters for the hex profiles", async () => {
    const secret = "my-old-platform-secret-24";
    for (const signature of ["hmac-sha256-hex", "timestamped-hex"]) {
      const res = await api(path(), { body: { url: "https://example.com/h", signature, secret } });
      expect(res.status, res.text).toBe(201);
      expect(res.body.secret).toBe(secret);
    }
  });

  it("allows an authorization custom header when auth is not set", async () => {
    const res = await api(path(), { body: { url: "https://example.com/a", headers: { authorization: "Token t" } } });
    expect(res.status).toBe(201);
  });

  it("allows private addresses and http while ALLOW_PRIVATE_URLS is true (the test environment)", async () => {
    const res = await api(path(), { body: { url: "http://127.0.0.1:9/hook" } });
    expect(res.status).toBe(201);
  });

  it("can add endpoints to the _operator tenant", async () => {
    expect((await api("/v1/tenants/_operator/endpoints", { body: { url: "https://ops.example.com/hook" } })).status).toBe(201);
  });

  it.each([
    ["a URL that does not parse", { url: "not a url" }, "url"],
    ["a relative URL", { url: "/hook" }, "url"],
    ["an ftp URL", { url: "ftp://example.com/x" }, "url"],
    ["a URL with user:password@", { url: "https://user:pw@example.com/x" }, "url"],
    ["a URL with a user only", { url: "https://user@example.com/x" }, "url"],
    ["a URL of the wrong type", { url: 5 }, "url"],
    ["a missing URL", { url: undefined }, "url"],
    ["a filter type with upper case", { filter: { types: ["Report.done"] } }, "filter.types[0]"],
    ["a filter type with one segment", { filter: { types: ["report"] } }, "filter.types[0]"],
    ["a wildcard in the middle", { filter: { types: ["a.*.b"] } }, "filter.types[0]"],
    ["a leading wildcard", { filter: { types: ["ok.one", "*.created"] } }, "filter.types[1]"],
    ["a bad exclude pattern", { filter: { exclude: ["vehicle.**"] } }, "filter.exclude[0]"],
    ["a filter that is not an object", { filter: ["a.b"] }, "filter"],
    ["an unknown filter key", { filter: { include: ["a.b"] } }, "filter*"],
    ["method GET", { method: "GET" }, "method"],
    ["format xml", { format: "xml" }, "format"],
    ["signature rsa", { signature: "rsa" }, "signature"],
    ["ordering lifo", { ordering: "lifo" }, "ordering"],
    ["status disabled", { status: "disabled" }, "status"],
    ["rate_limit 0", { rate_limit: 0 }, "rate_limit"],
    ["rate_limit 251", { rate_limit: 251 }, "rate_limit"],
    ["rate_limit 1.5", { rate_limit: 1.5 }, "rate_limit"],
    ["rate_limit as a string", { rate_limit: "10" }, "rate_limit"],
    ["timeout_ms 999", { timeout_ms: 999 }, "timeout_ms"],
    ["timeout_ms 30001", { timeout_ms: 30001 }, "timeout_ms"],
    ["a retry schedule of 21 entries", { retry_schedule: Array(21).fill(1) }, "retry_schedule"],
    ["a retry wait of 0", { retry_schedule: [5, 0] }, "retry_schedule[1]"],
    ["a retry wait over 86400", { retry_schedule: [86401] }, "retry_schedule[0]"],
    ["a header value that is not a string", { headers: { "X-A": 1 } }, "headers*"],
    ["a description over 1000 characters", { description: "x".repeat(1001) }, "description"],
    ["circuit.open_after 0", { circuit: { open_after: 0 } }, "circuit.open_after"],
    ["circuit.open_after 21", { circuit: { open_after: 21 } }, "circuit.open_after"],
    ["circuit.open_after 2.5", { circuit: { open_after: 2.5 } }, "circuit.open_after"],
    ["circuit.open_after as a string", { circuit: { open_after: "3" } }, "circuit.open_after"],
    ["circuit.cool_off_s 9", { circuit: { cool_off_s: 9 } }, "circuit.cool_off_s"],
    ["circuit.cool_off_s 3601", { circuit: { cool_off_s: 3601 } }, "circuit.cool_off_s"],
    ["circuit.cool_off_s null", { circuit: { cool_off_s: null } }, "circuit.cool_off_s"],
    ["circuit.enabled as a string", { circuit: { enabled: "yes" } }, "circuit.enabled"],
    ["circuit.enabled 0", { circuit: { enabled: 0 } }, "circuit.enabled"],
    ["a circuit that is not an object", { circuit: true }, "circuit"],
    ["a circuit that is an array", { circuit: [3, 60] }, "circuit"],
    ["an unknown circuit key", { circuit: { threshold: 3 } }, "circuit*"],
    ["circuit_state (read-only)", { circuit_state: "open" }, "*"],
    ["an unknown auth type", { auth: { type: "digest", token: "x" } }, "auth*"],
    ["bearer auth without a token", { auth: { type: "bearer" } }, "auth*"],
    ["basic auth with a colon in the username", { auth: { type: "basic", username: "a:b", password: "p" } }, "auth*"],
    ["an unknown field", { retries: 3 }, "*"],
    ["a supplied secret under 24 characters (hex profile)", { signature: "hmac-sha256-hex", secret: "short-secret" }, "secret"],
    ["a supplied secret without whsec_ (standard)", { secret: "a-perfectly-long-secret-of-40-characters" }, "secret"],
    ["a whsec_ secret that is not base64 (standard)", { secret: "whsec_!!!!not-base64-at-all!!!!!!!!!!!!" }, "secret"],
    ["a whsec_ secret whose key is under 24 bytes (standard)", { secret: `whsec_${btoa("x".repeat(23))}` }, "secret"],
    ["a whsec_ secret whose key is over 64 bytes (standard)", { secret: `whsec_${btoa("x".repeat(65))}` }, "secret"],
  ])("refuses %s (422)", async (_what, extra, errorPath) => {
    const body: Record<string, unknown> = { url: "https://example.com/hook", ...extra };
    if (body.url === undefined) delete body.url;
    expectInvalid(await api(path(), { body }), errorPath);
  });

  it.each([
    "Host",
    "content-type",
    "Content-Length",
    "User-Agent",
    "webhook-id",
    "Webhook-Signature",
    "webhook-anything",
    "X-Switchyard-Signature",
    "x-switchyard-custom",
    "Connection",
    "Keep-Alive",
    "Transfer-Encoding",
    "Upgrade",
    "TE",
    "Trailer",
    "Proxy-Authorization",
  ])("refuses the reserved custom header %s (422, case ignored)", async (name) => {
    expectInvalid(await api(path(), { body: { url: "https://example.com/hook", headers: { [name]: "v" } } }), `headers.${name}`);
  });

  it.each([
    ["a header name with a space", { "X Bad": "v" }, "headers.X Bad"],
    ["a header value with a line break", { "X-A": "a\r\nInjected: 1" }, "headers.X-A"],
    ["more than 20 headers", Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, "v"])), "headers"],
  ])("refuses %s (422)", async (_what, headers, errorPath) => {
    expectInvalid(await api(path(), { body: { url: "https://example.com/hook", headers } }), errorPath);
  });

  it("refuses an authorization custom header when auth is set (422)", async () => {
    const res = await api(path(), { body: { url: "https://example.com/hook", auth: { type: "bearer", token: "t" }, headers: { AUTHORIZATION: "x" } } });
    expectInvalid(res, "headers.AUTHORIZATION");
  });

  it("lists every problem at once", async () => {
    const p = expectInvalid(
      await api(path(), { body: { url: "ftp://x", filter: { types: ["BAD"] }, headers: { Host: "h" } } }),
      "url",
    );
    expect(p.errors!.map((e) => e.path)).toEqual(expect.arrayContaining(["url", "filter.types[0]", "headers.Host"]));
  });

  it("answers 400 for malformed JSON", async () => {
    expectProblem(await api(path(), { body: '{"url": "https://example.com"' }), 400);
  });

  it("answers 404 for an unknown tenant", async () => {
    expectProblem(await api("/v1/tenants/no-such-tenant/endpoints", { body: { url: "https://example.com" } }), 404);
  });
});

describe("the URL policy with ALLOW_PRIVATE_URLS false (core createEndpoint)", () => {
  const strict = (): Deps => {
    const d = pipelineDeps(env);
    return { ...d, config: { ...d.config, allowPrivateUrls: false } };
  };

  async function refusal(run: () => Promise<unknown>) {
    const err = await run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }

  it.each([
    "http://example.com/hook",
    "https://localhost/hook",
    "https://api.localhost/hook",
    "https://db.internal/hook",
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://0x7f.1/hook",
    "https://10.1.2.3/hook",
    "https://100.64.0.1/hook",
    "https://169.254.169.254/latest",
    "https://172.16.0.1/hook",
    "https://192.0.0.8/hook",
    "https://192.168.1.1./hook",
    "https://198.18.0.1/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[fc00::1]/hook",
    "https://[fe80::1]/hook",
    "https://[ff02::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a00:1]/hook",
    "https://[64:ff9b::a00:1]/hook",
    "https://[2002:c0a8:101::1]/hook",
  ])("refuses %s with 422 on url", async (url) => {
    const err = await refusal(() => coreCreateEndpoint(strict(), tenant, { url }));
    expect(err.status).toBe(422);
    expect(err.options.errors?.map((e) => e.path)).toEqual(["url"]);
  });

  it("accepts a public https URL", async () => {
    const { row } = await coreCreateEndpoint(strict(), tenant, { url: "https://hooks.example.com/in" });
    expect(row.url).toBe("https://hooks.example.com/in");
    expect((await api(path(`/${row.id}`))).status).toBe(200);
  });

  it("refuses to move an endpoint to a private address on update", async () => {
    const { row } = await coreCreateEndpoint(strict(), tenant, { url: "https://hooks.example.com/in" });
    const err = await refusal(() => coreUpdateEndpoint(strict(), tenant, row.id, { url: "https://10.0.0.1/x" }));
    expect(err.status).toBe(422);
    expect((await api(path(`/${row.id}`))).body.url).toBe("https://hooks.example.com/in");
  });
});

describe("auth and secrets at rest", () => {
  it("shows only auth's type on every read", async () => {
    const token = `tok-${crypto.randomUUID()}`;
    const res = await api(path(), { body: { url: "https://example.com/auth", auth: { type: "bearer", token } } });
    expect(res.status).toBe(201);
    expect(res.body.auth).toEqual({ type: "bearer" });
    expect(res.text).not.toContain(token);
    const got = await api(path(`/${res.body.id}`));
    expect(got.body.auth).toEqual({ type: "bearer" });
    expect(got.text).not.toContain(token);
    const list = await api(path("?limit=250"));
    expect(list.text).not.toContain(token);
    const patched = await api(path(`/${res.body.id}`), { method: "PATCH", body: { auth: { type: "basic", username: "u", password: token } } });
    expect(patched.body.auth).toEqual({ type: "basic" });
    expect(patched.text).not.toContain(token);
  });

  it("stores secrets, tokens and passwords encrypted: the raw D1 rows reveal none of them", async () => {
    const token = `bearer-${crypto.randomUUID()}`;
    const password = `pw-${crypto.randomUUID()}`;
    const a = await createEndpoint(tenant, { auth: { type: "bearer", token } });
    const b = await createEndpoint(tenant, { auth: { type: "basic", username: "user", password } });
    const rotated = await api(path(`/${a.id}/secret/rotate`), { body: {} });
    expect(rotated.status).toBe(200);
    const hexSecret = `hex-secret-${crypto.randomUUID()}`;
    const c = await createEndpoint(tenant, { signature: "hmac-sha256-hex", secret: hexSecret });
    const dump = (await rawTable("endpoints")) + (await rawTable("endpoint_secrets"));
    const secrets = [a.secret, b.secret, rotated.body.secret, hexSecret, c.secret];
    for (const s of secrets) {
      expect(dump).not.toContain(s);
      if (s.startsWith("whsec_")) expect(dump).not.toContain(s.slice("whsec_".length));
    }
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(password);
    expect(dump).not.toContain(btoa(`user:${password}`));
  });
});

describe("GET /v1/tenants/{tid}/endpoints/{eid}", () => {
  it("answers 404 for an unknown endpoint and for another tenant's endpoint under this tenant", async () => {
    expectProblem(await api(path("/ep_unknown")), 404);
    const other = await createTenant();
    const theirs = await createEndpoint(other);
    expectProblem(await api(path(`/${theirs.id}`)), 404);
    expectProblem(await api(path(`/${theirs.id}`), { method: "PATCH", body: { description: "x" } }), 404);
    expectProblem(await api(path(`/${theirs.id}`), { method: "DELETE" }), 404);
    expectProblem(await api(path(`/${theirs.id}/secret`)), 404);
    expect((await api(`/v1/tenants/${other}/endpoints/${theirs.id}`)).status).toBe(200);
  });

  it("a tenant key cannot read another tenant's endpoint (403)", async () => {
    const other = await createTenant();
    const theirs = await createEndpoint(other);
    const { key } = await createApiKey(tenant);
    expectProblem(await api(`/v1/tenants/${other}/endpoints/${theirs.id}`, { token: key }), 403);
    expectProblem(await api(`/v1/tenants/${other}/endpoints/${theirs.id}/secret`, { token: key }), 403);
  });
});

describe("PATCH /v1/tenants/{tid}/endpoints/{eid}", () => {
  it("replaces each named field whole and keeps the rest", async () => {
    const ep = await createEndpoint(tenant, {
      description: "d",
      filter: { types: ["a.b"], exclude: ["a.c"], groups: ["g"] },
      headers: { "X-One": "1", "X-Two": "2" },
      retry_schedule: [1, 2],
    });
    const res = await api(path(`/${ep.id}`), { method: "PATCH", body: { filter: { types: ["x.*"] }, headers: { "X-Three": "3" } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      description: "d",
      filter: { types: ["x.*"], exclude: [], groups: [] },
      headers: { "X-Three": "3" },
      retry_schedule: [1, 2],
      url: ep.url,
    });
    expect((await api(path(`/${ep.id}`))).body).toEqual(res.body);
  });

  it("clears filter, headers, auth, rate_limit and retry_schedule with null", async () => {
    const ep = await createEndpoint(tenant, {
      filter: { types: ["a.b"] },
      headers: { "X-One": "1" },
      auth: { type: "bearer", token: "t" },
      rate_limit: 5,
      retry_schedule: [1],
    });
    const res = await api(path(`/${ep.id}`), {
      method: "PATCH",
      body: { filter: null, headers: null, auth: null, rate_limit: null, retry_schedule: null },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ filter: { types: [], exclude: [], groups: [] }, headers: {}, auth: null, rate_limit: null, retry_schedule: null });
    const raw = await env.DB.prepare("SELECT auth_box FROM endpoints WHERE id = ?").bind(ep.id).first<{ auth_box: string | null }>();
    expect(raw!.auth_box).toBeNull();
  });

  it("pauses and resumes", async () => {
    const ep = await createEndpoint(tenant);
    expect((await api(path(`/${ep.id}`), { method: "PATCH", body: { status: "paused" } })).body.status).toBe("paused");
    expect((await api(path(`/${ep.id}`), { method: "PATCH", body: { status: "active" } })).body.status).toBe("active");
  });

  it("re-enables a disabled endpoint with status active, clearing disabled_reason", async () => {
    const ep = await createEndpoint(tenant);
    await env.DB.prepare("UPDATE endpoints SET status = 'disabled', disabled_reason = 'failing since x', failing_since = 1 WHERE id = ?").bind(ep.id).run();
    const disabled = await api(path(`/${ep.id}`));
    expect(disabled.body).toMatchObject({ status: "disabled", disabled_reason: "failing since x" });
    expect((await api(path("?status=disabled&limit=250"))).body.data.map((e: { id: string }) => e.id)).toContain(ep.id);
    const res = await api(path(`/${ep.id}`), { method: "PATCH", body: { status: "active" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "active", disabled_reason: null });
    const raw = await env.DB.prepare("SELECT failing_since FROM endpoints WHERE id = ?").bind(ep.id).first<{ failing_since: number | null }>();
    expect(raw!.failing_since).toBeNull();
  });

  it("moves to a hex profile keeping a generated secret", async () => {
    const ep = await createEndpoint(tenant);
    const res = await api(path(`/${ep.id}`), { method: "PATCH", body: { signature: "hmac-sha256-hex" } });
    expect(res.status).toBe(200);
    expect(res.body.signature).toBe("hmac-sha256-hex");
  });

  it("refuses signature standard while the current secret is not a whsec_ secret (422)", async () => {
    const ep = await createEndpoint(tenant, { signature: "hmac-sha256-hex", secret: "legacy-secret-with-24-chars" });
    expectInvalid(await api(path(`/${ep.id}`), { method: "PATCH", body: { signature: "standard" } }), "signature");
    expect((await api(path(`/${ep.id}`))).body.signature).toBe("hmac-sha256-hex");
  });

  it("refuses setting auth while an authorization custom header exists (422)", async () => {
    const ep = await createEndpoint(tenant, { headers: { Authorization: "Token x" } });
    expectInvalid(await api(path(`/${ep.id}`), { method: "PATCH", body: { auth: { type: "bearer", token: "t" } } }), "headers.Authorization");
  });

  it.each([
    ["a bad URL", { url: "nope" }, "url"],
    ["a URL with credentials", { url: "https://a:b@example.com" }, "url"],
    ["a bad filter", { filter: { exclude: ["*.x"] } }, "filter.exclude[0]"],
    ["a reserved header", { headers: { "webhook-id": "x" } }, "headers.webhook-id"],
    ["status disabled", { status: "disabled" }, "status"],
    ["a secret (rotate instead)", { secret: "whsec_x" }, "*"],
    ["timeout_ms of the wrong type", { timeout_ms: "1000" }, "timeout_ms"],
    ["an unknown field", { id: "ep_other" }, "*"],
  ])("refuses %s (422)", async (_what, body, errorPath) => {
    const ep = await createEndpoint(tenant);
    expectInvalid(await api(path(`/${ep.id}`), { method: "PATCH", body }), errorPath);
  });

  it("answers 400 for malformed JSON and 404 for an unknown endpoint", async () => {
    const ep = await createEndpoint(tenant);
    expectProblem(await api(path(`/${ep.id}`), { method: "PATCH", body: "{,}" }), 400);
    expectProblem(await api(path("/ep_unknown"), { method: "PATCH", body: { description: "x" } }), 404);
  });
});

describe("DELETE /v1/tenants/{tid}/endpoints/{eid}", () => {
  it("answers 204; the endpoint is gone from reads and lists", async () => {
    const ep = await createEndpoint(tenant);
    expect((await api(path(`/${ep.id}`), { method: "DELETE" })).status).toBe(204);
    expectProblem(await api(path(`/${ep.id}`)), 404);
    expectProblem(await api(path(`/${ep.id}/secret`)), 404);
    expectProblem(await api(path(`/${ep.id}`), { method: "DELETE" }), 404);
    const list = await api(path("?limit=250"));
    expect(list.body.data.map((e: { id: string }) => e.id)).not.toContain(ep.id);
  });
});

describe("secrets", () => {
  it("GET secret returns the current secret and no previous ones", async () => {
    const ep = await createEndpoint(tenant);
    expect((await api(path(`/${ep.id}/secret`))).body).toEqual({ secret: ep.secret, previous: [] });
  });

  it("rotate makes a new secret and keeps the old one for the grace period", async () => {
    const ep = await createEndpoint(tenant);
    const before = Date.now();
    const res = await api(path(`/${ep.id}/secret/rotate`), { body: { grace_seconds: 3600 } });
    expect(res.status).toBe(200);
    expect(res.body.secret).toMatch(STANDARD_SECRET);
    expect(res.body.secret).not.toBe(ep.secret);
    expect(res.body.previous).toEqual([{ secret: ep.secret, expires_at: expect.any(String) }]);
    const expires = Date.parse(res.body.previous[0].expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    expect((await api(path(`/${ep.id}/secret`))).body).toEqual(res.body);
  });

  it("defaults the grace period to 24 hours", async () => {
    const ep = await createEndpoint(tenant);
    const res = await api(path(`/${ep.id}/secret/rotate`), { body: {} });
    const expires = Date.parse(res.body.previous[0].expires_at);
    expect(Math.abs(expires - (Date.now() + 86_400_000))).toBeLessThan(5000);
  });

  it("lists every secret still in its grace period, newest first", async () => {
    const ep = await createEndpoint(tenant);
    const one = await api(path(`/${ep.id}/secret/rotate`), { body: {} });
    const two = await api(path(`/${ep.id}/secret/rotate`), { body: {} });
    expect(two.body.previous.map((p: { secret: string }) => p.secret)).toEqual([one.body.secret, ep.secret]);
  });

  it("grace_seconds 0 drops the old secret at once", async () => {
    const ep = await createEndpoint(tenant);
    const res = await api(path(`/${ep.id}/secret/rotate`), { body: { grace_seconds: 0 } });
    expect(res.body.previous).toEqual([]);
  });

  it("rotates to a supplied secret that fits the profile", async () => {
    const ep = await createEndpoint(tenant);
    const res = await api(path(`/${ep.id}/secret/rotate`), { body: { secret: SUPPLIED_STANDARD } });
    expect(res.status).toBe(200);
    expect(res.body.secret).toBe(SUPPLIED_STANDARD);
    const hex = await createEndpoint(tenant, { signature: "timestamped-hex" });
    const hexRes = await api(path(`/${hex.id}/secret/rotate`), { body: { secret: "receiver-accepts-this-one-now" } });
    expect(hexRes.status).toBe(200);
    expect(hexRes.body.secret).toBe("receiver-accepts-this-one-now");
  });

  it.each([
    ["a secret without whsec_ for signature standard", "standard", { secret: "a-long-enough-secret-but-not-whsec" }, "secret"],
    ["a short secret for a hex profile", "hmac-sha256-hex", { secret: "too-short" }, "secret"],
    ["negative grace_seconds", "standard", { grace_seconds: -1 }, "grace_seconds"],
    ["grace_seconds over 7 days", "standard", { grace_seconds: 7 * 86_400 + 1 }, "grace_seconds"],
    ["an unknown field", "standard", { previous: [] }, "*"],
  ])("rotate refuses %s (422) and keeps the current secret", async (_what, signature, body, errorPath) => {
    const ep = await createEndpoint(tenant, { signature });
    expectInvalid(await api(path(`/${ep.id}/secret/rotate`), { body }), errorPath);
    expect((await api(path(`/${ep.id}/secret`))).body).toEqual({ secret: ep.secret, previous: [] });
  });

  it("rotate answers 400 for malformed JSON and 404 for an unknown endpoint", async () => {
    const ep = await createEndpoint(tenant);
    expectProblem(await api(path(`/${ep.id}/secret/rotate`), { body: "{" }), 400);
    expectProblem(await api(path("/ep_unknown/secret/rotate"), { body: {} }), 404);
    expectProblem(await api(path("/ep_unknown/secret")), 404);
  });
});

describe("GET /v1/tenants/{tid}/endpoints", () => {
  it("filters by status", async () => {
    const t = await createTenant();
    const active = await createEndpoint(t);
    const paused = await createEndpoint(t, { status: "paused" });
    const ids = async (q: string) => (await api(`/v1/tenants/${t}/endpoints${q}`)).body.data.map((e: { id: string }) => e.id);
    expect(await ids("?status=paused")).toEqual([paused.id]);
    expect(await ids("?status=active")).toEqual([active.id]);
    expect(await ids("?status=disabled")).toEqual([]);
    expect(await ids("")).toEqual([paused.id, active.id]);
    expectInvalid(await api(`/v1/tenants/${t}/endpoints?status=gone`), "status");
  });

  it("pages newest first without repeats or gaps while endpoints are created between pages", async () => {
    const t = await createTenant();
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await createEndpoint(t)).id);
    const before = (await api(`/v1/tenants/${t}/endpoints?limit=250`)).body.data.map((e: { id: string }) => e.id) as string[];
    expect([...before].sort()).toEqual([...made].sort());
    const added: string[] = [];
    const { ids, pages } = await pageThrough(`/v1/tenants/${t}/endpoints`, 2, async () => {
      added.push((await createEndpoint(t)).id);
    });
    expect(pages).toBe(4);
    expect(ids).toEqual(before);
    expect(added).toHaveLength(3);
  });

  it.each(["0", "251", "x"])("refuses limit=%s (422)", async (limit) => {
    expectInvalid(await api(path(`?limit=${limit}`)), "limit");
  });

  it("refuses a foreign cursor (422)", async () => {
    expectInvalid(await api(path("?cursor=WzFd")), "cursor"); // [1]: a number where an id is expected
  });
});

describe("circuit (DESIGN \"Endpoints\": circuit and read-only circuit_state)", () => {
  const DEFAULTS = { enabled: true, open_after: 3, cool_off_s: 60 };
  const setCircuit = (id: string, state: "open" | "closed", openUntil: number | null) =>
    env.DB.prepare("UPDATE endpoints SET circuit_state = ?, circuit_open_until = ? WHERE id = ?").bind(state, openUntil, id).run();
  const versionOf = async (id: string) => (await env.DB.prepare("SELECT version FROM endpoints WHERE id = ?").bind(id).first<{ version: number }>())!.version;

  it("accepts the bounds, and a circuit of some members takes the defaults for the rest", async () => {
    for (const circuit of [
      { enabled: true, open_after: 1, cool_off_s: 10 },
      { enabled: true, open_after: 20, cool_off_s: 3600 },
    ]) {
      const res = await api(path(), { body: { url: "https://example.com/c", circuit } });
      expect(res.status, res.text).toBe(201);
      expect(res.body.circuit).toEqual(circuit);
    }
    expect((await createEndpoint(tenant, { circuit: { enabled: false } })).circuit).toEqual({ ...DEFAULTS, enabled: false });
    expect((await createEndpoint(tenant, { circuit: { cool_off_s: 15 } })).circuit).toEqual({ ...DEFAULTS, cool_off_s: 15 });
    expect((await createEndpoint(tenant, { circuit: {} })).circuit).toEqual(DEFAULTS);
    expect((await createEndpoint(tenant, { circuit: null })).circuit).toEqual(DEFAULTS);
  });

  it("stores the defaults as JSON in D1 and every read shows them", async () => {
    const ep = await createEndpoint(tenant);
    const raw = await env.DB.prepare("SELECT circuit, circuit_state, circuit_open_until FROM endpoints WHERE id = ?").bind(ep.id).first<Record<string, unknown>>();
    expect(raw).toEqual({ circuit: JSON.stringify(DEFAULTS), circuit_state: "closed", circuit_open_until: null });
    const listed = (await api(path("?limit=250"))).body.data.find((e: { id: string }) => e.id === ep.id);
    expect(listed).toMatchObject({ circuit: DEFAULTS, circuit_state: "closed" });
  });

  it("a row that names no circuit columns (as rows made before the migration) reads as the defaults, closed", async () => {
    const ep = await createEndpoint(tenant, { circuit: { open_after: 7 } });
    const id = `ep_${"0".repeat(20)}${Math.random().toString(36).slice(2, 8).padEnd(6, "0")}`;
    const cols = "tenant_id, url, description, status, filter, method, headers, format, signature, ordering, timeout_ms, created_at, updated_at, version";
    await env.DB.prepare(`INSERT INTO endpoints (id, ${cols}) SELECT ?, ${cols} FROM endpoints WHERE id = ?`).bind(id, ep.id).run();
    expect((await api(path(`/${id}`))).body).toMatchObject({ id, circuit: DEFAULTS, circuit_state: "closed" });
  });

  it("PATCH replaces circuit whole (members left out take their defaults), bumps the version and syncs the log", async () => {
    const ep = await createEndpoint(tenant, { circuit: { enabled: true, open_after: 5, cool_off_s: 120 } });
    const v1 = await versionOf(ep.id);
    const res = await api(path(`/${ep.id}`), { method: "PATCH", body: { circuit: { open_after: 7 } } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.circuit).toEqual({ enabled: true, open_after: 7, cool_off_s: 60 });
    expect((await api(path(`/${ep.id}`))).body.circuit).toEqual({ enabled: true, open_after: 7, cool_off_s: 60 });
    const v2 = await versionOf(ep.id);
    expect(v2).toBe(v1 + 1);

    // The TenantLog got the new version, and the snapshot it is sent carries the circuit in camelCase.
    const row = (await findEndpointById(openDb(env.DB), ep.id))!;
    expect(snapshotOf(row)).toMatchObject({ id: ep.id, version: v2, circuit: { enabled: true, openAfter: 7, coolOffS: 60 } });
    const logged = await runInDurableObject(await tenantLog(tenant), (_o, state) =>
      state.storage.sql.exec<{ version: number }>("SELECT version FROM endpoints WHERE id = ?", ep.id).toArray(),
    );
    expect(logged).toEqual([{ version: v2 }]);
  });

  it("PATCH circuit null resets every member to its default; a PATCH that does not name circuit keeps it", async () => {
    const ep = await createEndpoint(tenant, { circuit: { enabled: false, open_after: 9, cool_off_s: 900 } });
    const kept = await api(path(`/${ep.id}`), { method: "PATCH", body: { description: "still mine" } });
    expect(kept.body.circuit).toEqual({ enabled: false, open_after: 9, cool_off_s: 900 });
    const reset = await api(path(`/${ep.id}`), { method: "PATCH", body: { circuit: null } });
    expect(reset.status, reset.text).toBe(200);
    expect(reset.body.circuit).toEqual(DEFAULTS);
  });

  it.each([
    ["open_after 0", { open_after: 0 }, "circuit.open_after"],
    ["cool_off_s 5000", { cool_off_s: 5000 }, "circuit.cool_off_s"],
    ["enabled null", { enabled: null }, "circuit.enabled"],
    ["an unknown key", { open_after: 3, half_open_after: 1 }, "circuit*"],
  ])("PATCH refuses a circuit with %s (422 problem+json) and keeps the stored one", async (_what, circuit, errorPath) => {
    const ep = await createEndpoint(tenant, { circuit: { open_after: 4 } });
    const p = expectInvalid(await api(path(`/${ep.id}`), { method: "PATCH", body: { circuit } }), errorPath);
    expect(p.errors!.find((e) => e.path.startsWith("circuit"))!.message.length).toBeGreaterThan(0);
    expect((await api(path(`/${ep.id}`))).body.circuit).toEqual({ ...DEFAULTS, open_after: 4 });
  });

  it("says what the bounds are in the 422", async () => {
    const p = expectInvalid(await api(path(), { body: { url: "https://example.com/c", circuit: { open_after: 99, cool_off_s: 1 } } }), "circuit.open_after");
    expect(p.errors).toEqual(
      expect.arrayContaining([
        { path: "circuit.open_after", message: "must be an integer from 1 to 20" },
        { path: "circuit.cool_off_s", message: "must be an integer from 10 to 3600" },
      ]),
    );
  });

  it("the core verbs check the same bounds (the portal's path, which has no zod schema)", async () => {
    const d = pipelineDeps(env);
    const err = await coreCreateEndpoint(d, tenant, { url: "https://example.com/c", circuit: { open_after: 0, cool_off_s: 3601 } }).then(
      () => null,
      (e: unknown) => e as AppError,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err!.status).toBe(422);
    expect(err!.options.errors?.map((e) => e.path).sort()).toEqual(["circuit.cool_off_s", "circuit.open_after"]);
    const { row } = await coreCreateEndpoint(d, tenant, { url: "https://example.com/c" });
    const upd = await coreUpdateEndpoint(d, tenant, row.id, { circuit: { open_after: 1.5 } }).then(
      () => null,
      (e: unknown) => e as AppError,
    );
    expect(upd!.options.errors?.map((e) => e.path)).toEqual(["circuit.open_after"]);
  });

  it("circuit_state: open while D1 says open and the cool-off runs, half_open once circuit_open_until has passed, closed again when closed", async () => {
    const ep = await createEndpoint(tenant);
    const stateOf = async () => (await api(path(`/${ep.id}`))).body.circuit_state;
    const listedStateOf = async () => (await api(path("?limit=250"))).body.data.find((e: { id: string }) => e.id === ep.id).circuit_state;
    expect(await stateOf()).toBe("closed");

    await setCircuit(ep.id, "open", Date.now() + 60_000);
    expect(await stateOf()).toBe("open");
    expect(await listedStateOf()).toBe("open");

    await setCircuit(ep.id, "open", Date.now() - 1000);
    expect(await stateOf()).toBe("half_open");
    expect(await listedStateOf()).toBe("half_open");

    await setCircuit(ep.id, "closed", null);
    expect(await stateOf()).toBe("closed");
  });

  it("a PATCH never writes back the circuit state it read (the consumer owns it), and answers with the current state", async () => {
    const ep = await createEndpoint(tenant);
    const until = Date.now() + 60_000;
    await setCircuit(ep.id, "open", until);
    const res = await api(path(`/${ep.id}`), { method: "PATCH", body: { description: "edited while open", circuit: { cool_off_s: 30 } } });
    expect(res.body).toMatchObject({ description: "edited while open", circuit_state: "open", circuit: { enabled: true, cool_off_s: 30 } });
    const raw = await env.DB.prepare("SELECT circuit_state, circuit_open_until FROM endpoints WHERE id = ?").bind(ep.id).first();
    expect(raw).toEqual({ circuit_state: "open", circuit_open_until: until });
  });

  it("turning the breaker off closes an open circuit", async () => {
    const ep = await createEndpoint(tenant);
    await setCircuit(ep.id, "open", Date.now() + 60_000);
    const res = await api(path(`/${ep.id}`), { method: "PATCH", body: { circuit: { enabled: false } } });
    expect(res.body).toMatchObject({ circuit: { enabled: false, open_after: 3, cool_off_s: 60 }, circuit_state: "closed" });
    const raw = await env.DB.prepare("SELECT circuit_state, circuit_open_until FROM endpoints WHERE id = ?").bind(ep.id).first();
    expect(raw).toEqual({ circuit_state: "closed", circuit_open_until: null });
  });

  it("a tenant key reads circuit_state and may tune the circuit of its own endpoints", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    const ep = await createEndpoint(t);
    const res = await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", token: key, body: { circuit: { open_after: 5 } } });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ circuit: { enabled: true, open_after: 5, cool_off_s: 60 }, circuit_state: "closed" });
  });

  it("is documented in the OpenAPI document: bounds, defaults, read-only circuit_state", async () => {
    const doc = (await api("/openapi.json", { token: null })).body;
    const schemas = doc.components.schemas;
    expect(schemas.Endpoint.properties.circuit).toEqual({ $ref: "#/components/schemas/Circuit" });
    expect(schemas.Endpoint.properties.circuit_state).toMatchObject({ type: "string", enum: ["closed", "open", "half_open"], description: expect.stringContaining("Read-only") });
    expect(schemas.Endpoint.required).toEqual(expect.arrayContaining(["circuit", "circuit_state"]));
    const input = schemas.CircuitInput;
    expect([input.type].flat()).toContain("object");
    expect(input).toMatchObject({
      additionalProperties: false,
      properties: {
        enabled: { type: "boolean", default: true },
        open_after: { type: "integer", minimum: 1, maximum: 20, default: 3 },
        cool_off_s: { type: "integer", minimum: 10, maximum: 3600, default: 60 },
      },
    });
    expect(input.description).toContain("null resets");
    const create = doc.paths["/v1/tenants/{tid}/endpoints"].post.requestBody.content["application/json"].schema;
    const patch = doc.paths["/v1/tenants/{tid}/endpoints/{eid}"].patch.requestBody.content["application/json"].schema;
    for (const body of [create, patch]) {
      expect(JSON.stringify(body.properties.circuit)).toContain("#/components/schemas/CircuitInput");
      expect(body.properties.circuit_state).toBeUndefined();
    }
  });

  it("switchyard.endpoint.circuit_opened is a built-in event type with an example", async () => {
    const res = await api("/v1/event-types/switchyard.endpoint.circuit_opened");
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ name: "switchyard.endpoint.circuit_opened", group: "switchyard", description: expect.stringContaining("circuit breaker") });
    expect(Object.keys(res.body.example).sort()).toEqual(["consecutive_failures", "endpoint_id", "open_until", "tenant_id", "url"]);
    const posted = await api("/v1/tenants/_operator/events", { body: { type: "switchyard.endpoint.circuit_opened", data: res.body.example } });
    expectInvalid(posted, "type");
  });
});
