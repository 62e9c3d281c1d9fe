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

  it("gives every operation a summary and its success and error responses", async () => {
    const { doc } = await documented();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const m of METHODS) {
        const op = item[m];
        if (!op) continue;
        expect(op.summary, `${m} ${path}`).toEqual(expect.any(String));
        const codes = Object.keys(op.responses);
        expect(codes.some((c) => c.startsWith("2")), `${m} ${path}`).toBe(true);
        if (path.startsWith("/v1/")) {
          expect(codes, `${m} ${path}`).toEqual(expect.arrayContaining(["401", "422"]));
          expect(op.responses["401"].content["application/problem+json"], `${m} ${path}`).toBeDefined();
        }
      }
    }
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
