import { describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { api, expectProblem } from "./helpers";

/** The routes of DESIGN "Public HTTP API" that the management API serves. */
const DESIGN_ROUTES = [
  "get /health",
  "post /v1/tenants",
  "get /v1/tenants",
  "get /v1/tenants/{tid}",
  "patch /v1/tenants/{tid}",
  "delete /v1/tenants/{tid}",
  "post /v1/tenants/{tid}/api-keys",
  "get /v1/tenants/{tid}/api-keys",
  "delete /v1/tenants/{tid}/api-keys/{kid}",
  "post /v1/event-types",
  "get /v1/event-types",
  "get /v1/event-types/{name}",
  "patch /v1/event-types/{name}",
  "delete /v1/event-types/{name}",
  "post /v1/tenants/{tid}/endpoints",
  "get /v1/tenants/{tid}/endpoints",
  "get /v1/tenants/{tid}/endpoints/{eid}",
  "patch /v1/tenants/{tid}/endpoints/{eid}",
  "delete /v1/tenants/{tid}/endpoints/{eid}",
  "get /v1/tenants/{tid}/endpoints/{eid}/secret",
  "post /v1/tenants/{tid}/endpoints/{eid}/secret/rotate",
  "post /v1/tenants/{tid}/endpoints/{eid}/test",
  "get /v1/tenants/{tid}/endpoints/{eid}/stats",
  "post /v1/tenants/{tid}/events",
  "get /v1/tenants/{tid}/events",
  "get /v1/tenants/{tid}/events/{evid}",
  "get /v1/tenants/{tid}/endpoints/{eid}/deliveries",
  "get /v1/tenants/{tid}/deliveries/{did}",
  "post /v1/tenants/{tid}/deliveries/{did}/retry",
  "post /v1/tenants/{tid}/endpoints/{eid}/replay",
  "get /v1/dead-letters",
  "get /v1/dead-letters/{id}",
  "post /v1/dead-letters/{id}/replay",
  "post /v1/dead-letters/replay",
  "delete /v1/dead-letters/{id}",
];

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

async function documented(): Promise<{ doc: any; ops: string[] }> {
  const res = await api("/openapi.json", { token: null });
  expect(res.status).toBe(200);
  const doc = res.body;
  const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => `${m} ${path}`),
  );
  return { doc, ops };
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document with a bearer security scheme", async () => {
    const { doc } = await documented();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.Problem).toBeDefined();
  });

  it("says what the Worker does: a delivery's detail has an array of attempts (not allOf with the list item's count), and an event's data is required", async () => {
    const { doc } = await documented();
    const detail = doc.components.schemas.DeliveryDetail;
    expect(detail.allOf).toBeUndefined();
    expect(detail.properties.attempts).toMatchObject({ type: "array" });
    expect(detail.required).toEqual(expect.arrayContaining(["id", "status", "attempts", "request"]));
    expect(doc.components.schemas.EventCreate.required).toEqual(expect.arrayContaining(["type", "data"]));
    // A test send without SECRETS_KEY answers 503 (test/integration/hardening-secrets.test.ts).
    expect(Object.keys(doc.paths["/v1/tenants/{tid}/endpoints/{eid}/test"].post.responses)).toContain("503");
  });

  it("names every operation verb-first and uniquely (generated clients read createEndpoint, not postV1TenantsByTidEndpoints), and serves from the Worker's own origin", async () => {
    const { doc } = await documented();
    const ids = Object.values(doc.paths as Record<string, Record<string, { operationId?: string }>>).flatMap((item) => METHODS.filter((m) => item[m]).map((m) => item[m]!.operationId));
    expect(ids.every((id) => typeof id === "string" && /^(create|list|get|update|delete|archive|retry|replay|send|rotate)[A-Z]\w+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(["createEndpoint", "listDeliveries", "retryDelivery", "sendEvent"]));
    expect(doc.servers).toEqual([{ url: "http://x" }]);
  });

  it("documents every route of the design", async () => {
    const { ops } = await documented();
    for (const route of DESIGN_ROUTES) expect(ops, route).toContain(route);
  });

  it("documents every route the app serves", async () => {
    const { ops } = await documented();
    const served = createApp()
      .routes.filter((r) => r.method !== "ALL" && r.path.startsWith("/v1/"))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);
    expect(served.length).toBeGreaterThanOrEqual(DESIGN_ROUTES.length - 1);
    for (const route of new Set(served)) expect(ops, route).toContain(route);
  });

  it("gives every operation a summary, a described tag, its success and the error answers the middleware can give to any route", async () => {
    const { doc } = await documented();
    const tags = new Map((doc.tags as { name: string; description?: string }[]).map((t) => [t.name, t.description]));
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const m of METHODS) {
        const op = item[m];
        if (!op) continue;
        const where = `${m} ${path}`;
        expect(op.summary, where).toEqual(expect.any(String));
        expect(op.tags, where).toHaveLength(1);
        expect(tags.get(op.tags[0]), where).toEqual(expect.any(String));
        const codes = Object.keys(op.responses);
        expect(codes.some((c) => c.startsWith("2")), where).toBe(true);
        if (!path.startsWith("/v1/")) continue;
        // Auth answers 401 before any route; onError answers 503 for any dependency failure.
        const universal = ["401", "503"];
        // The body limit answers 413 to any request with a body; the depth check 422 to POST and PATCH.
        if (m !== "get") universal.push("413");
        if (m === "post" || m === "patch") universal.push("422");
        // A JSON body is parsed, and malformed JSON answers 400.
        if (op.requestBody) universal.push("400");
        expect(codes, where).toEqual(expect.arrayContaining(universal));
        for (const code of codes.filter((c) => /^[45]/.test(c))) {
          expect(op.responses[code].content, `${where} ${code}`).toEqual({ "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } });
        }
        expect(op.responses["503"].headers["Retry-After"], where).toMatchObject({ required: true, schema: { type: "integer" } });
      }
    }
  });

  it("declares no 429 and no Location header: no route sends either (a 429 would fail the response validation as undeclared)", async () => {
    const { doc } = await documented();
    for (const item of Object.values(doc.paths as Record<string, Record<string, any>>)) {
      for (const m of METHODS) {
        if (!item[m]) continue;
        expect(Object.keys(item[m].responses)).not.toContain("429");
        for (const response of Object.values(item[m].responses as Record<string, { headers?: object }>)) {
          expect(Object.keys(response.headers ?? {}).map((h) => h.toLowerCase())).not.toContain("location");
        }
      }
    }
  });

  it("names a licence, with an SPDX identifier", async () => {
    const { doc } = await documented();
    expect(doc.info.license).toEqual({ name: expect.any(String), identifier: expect.stringMatching(/^(LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9.+-]+)$/) });
  });

  it("documents the Idempotency-Key header and the 413 of event ingest", async () => {
    const { doc } = await documented();
    const ingest = doc.paths["/v1/tenants/{tid}/events"].post;
    expect(ingest.parameters.map((p: { name: string }) => p.name.toLowerCase())).toContain("idempotency-key");
    expect(Object.keys(ingest.responses)).toEqual(expect.arrayContaining(["200", "202", "409", "413"]));
  });

  it("marks /health as needing no token", async () => {
    const { doc } = await documented();
    expect(doc.paths["/health"].get.security).toEqual([]);
  });
});

describe("GET /docs", () => {
  it("renders an HTML reference listing the routes", async () => {
    const res = await api("/docs", { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.text).toMatch(/^<!DOCTYPE html>|^<html/i);
    for (const path of ["/v1/tenants", "/v1/dead-letters", "/v1/tenants/{tid}/endpoints/{eid}/deliveries"]) expect(res.text).toContain(path);
    expect(res.text).toContain("/openapi.json");
  });
});

describe("GET /health", () => {
  it("answers ok with D1 and the secrets key checked", async () => {
    const res = await api("/health", { token: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", checks: { d1: "ok", secrets_key: "ok" } });
  });
});

describe("unknown routes", () => {
  it("answer 404 problem+json", async () => {
    expectProblem(await api("/v1/nothing-here"), 404);
    expectProblem(await api("/nothing", { token: null }), 404);
  });

  it("need a token under /v1 before anything else", async () => {
    expectProblem(await api("/v1/nothing-here", { token: null }), 401);
  });
});
