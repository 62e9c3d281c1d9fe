import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { MAX_JSON_BODY_BYTES } from "../../src/api/shapes";
import { createTenant, uid } from "./helpers";
import { documentMismatch, servedDocument, type OpenApiDocument, type ReceivedResponse } from "./openapi-validate";

/** Sends a request straight to the Worker (not through `api`, which would already judge it). */
async function raw(method: string, path: string, body?: unknown): Promise<{ request: Request; response: ReceivedResponse }> {
  const request = new Request(`http://x${path}`, {
    method,
    headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const res = await exports.default.fetch(request);
  return { request, response: { status: res.status, headers: res.headers, text: await res.text() } };
}

const withBody = (r: ReceivedResponse, body: unknown): ReceivedResponse => ({ ...r, text: JSON.stringify(body) });

describe("the response validation against /openapi.json", () => {
  it("passes what the Worker answers: a tenant, a list, a 404 problem, an unrouted /v1 path", async () => {
    const doc = await servedDocument();
    const tid = await createTenant();
    for (const [method, path] of [
      ["GET", `/v1/tenants/${tid}`],
      ["GET", "/v1/tenants?limit=2"],
      ["GET", `/v1/tenants/${uid("missing")}`],
      ["GET", "/v1/nothing-here"],
    ] as const) {
      const { request, response } = await raw(method, path);
      expect(documentMismatch(doc, request, response), `${method} ${path}`).toBeNull();
    }
  });

  it("passes the answers no other test sees through the helpers: a real 503 with Retry-After, a 413 to a DELETE with a body", async () => {
    const doc = await servedDocument();
    const tid = await createTenant();
    // Without SECRETS_KEY an endpoint cannot be created (its secret cannot be sealed): 503.
    const noKey = { ...env, SECRETS_KEY: "" } as Env;
    const request = new Request(`http://x/v1/tenants/${tid}/endpoints`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" },
      body: JSON.stringify({ url: "https://example.com/hook" }),
    });
    const res = await createApp().fetch(request, noKey);
    const unavailable = { status: res.status, headers: res.headers, text: await res.text() };
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(documentMismatch(doc, request, unavailable)).toBeNull();

    const big = await raw("DELETE", `/v1/tenants/${uid("missing")}`, { pad: "x".repeat(MAX_JSON_BODY_BYTES) });
    expect(big.response.status).toBe(413);
    expect(documentMismatch(doc, big.request, big.response)).toBeNull();
  });

  it("catches a body missing a required field, and names the operation, the status and the field", async () => {
    const doc = await servedDocument();
    const { request, response } = await raw("GET", `/v1/tenants/${await createTenant()}`);
    const { name: _dropped, ...rest } = JSON.parse(response.text) as Record<string, unknown>;
    const problem = documentMismatch(doc, request, withBody(response, rest));
    expect(problem).toContain("getTenant");
    expect(problem).toContain("answered 200");
    expect(problem).toMatch(/"name"/);
  });

  it("catches a field of the wrong type and a value outside its enum", async () => {
    const doc = await servedDocument();
    const tid = await createTenant();
    const made = await raw("POST", `/v1/tenants/${tid}/endpoints`, { url: "https://example.com/hook" });
    const { request, response } = await raw("GET", `/v1/tenants/${tid}/endpoints/${JSON.parse(made.response.text).id}`);
    const endpoint = JSON.parse(response.text) as Record<string, unknown>;
    expect(documentMismatch(doc, request, response)).toBeNull();
    expect(documentMismatch(doc, request, withBody(response, { ...endpoint, timeout_ms: "15000" }))).toContain("/timeout_ms");
    expect(documentMismatch(doc, request, withBody(response, { ...endpoint, status: "sleeping" }))).toContain("/status");
  });

  it("catches a status the operation does not declare", async () => {
    const doc = await servedDocument();
    const { request, response } = await raw("GET", `/v1/tenants/${await createTenant()}`);
    const problem = documentMismatch(doc, request, { ...response, status: 418 });
    expect(problem).toContain("getTenant");
    expect(problem).toContain("does not declare");
  });

  it("catches a 503 without Retry-After, and a problem sent as plain JSON", async () => {
    const doc = await servedDocument();
    const { request, response } = await raw("GET", `/v1/tenants/${uid("missing")}`);
    expect(response.status).toBe(404);
    const problem = JSON.parse(response.text) as Record<string, unknown>;
    const unavailable = withBody({ ...response, status: 503 }, { ...problem, status: 503 });
    expect(documentMismatch(doc, request, unavailable)).toContain("Retry-After");
    const withRetry = new Headers(response.headers);
    withRetry.set("retry-after", "5");
    expect(documentMismatch(doc, request, { ...unavailable, headers: withRetry })).toBeNull();
    const plain = new Headers(response.headers);
    plain.set("content-type", "application/json");
    expect(documentMismatch(doc, request, { ...response, headers: plain })).toContain("content-type");
  });

  it("catches an unrouted /v1 path answering something other than a problem document", async () => {
    const doc = await servedDocument();
    const { request, response } = await raw("GET", "/v1/nothing-here");
    expect(documentMismatch(doc, request, withBody(response, { error: "not found" }))).toContain("(no operation)");
  });

  it("catches the document drifting from the Worker: a field the document requires and the Worker does not send", async () => {
    const doc = structuredClone(await servedDocument()) as OpenApiDocument & { components: { schemas: Record<string, { required: string[] }> } };
    doc.components.schemas.Tenant!.required.push("plan");
    const { request, response } = await raw("GET", `/v1/tenants/${await createTenant()}`);
    expect(documentMismatch(doc, request, response)).toMatch(/"plan"/);
  });
});
