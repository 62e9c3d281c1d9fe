/**
 * @module /v1/tenants/{tid}/endpoints: CRUD and secrets.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as endpoints from "../core/endpoints";
import { circuitStateOf, ENDPOINT_LIMITS as L } from "../core/endpoints";
import type { EndpointRow } from "../db/queries/endpoints";
import { deps, requireTenant, type AppEnv } from "./context";
import {
  CircuitInput,
  CircuitSettings,
  CircuitStateField,
  decodeCursor,
  errorResponses,
  iso,
  jsonBody,
  jsonResponse,
  ListQuery,
  listOf,
  page,
  TenantParams,
  Timestamp,
  unavailableResponse,
} from "./schemas";

const Auth = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("bearer"), token: z.string().min(1).max(4096) }),
  z.strictObject({ type: z.literal("basic"), username: z.string().min(1).max(1024).refine((s) => !s.includes(":"), "may not contain ':'"), password: z.string().max(1024) }),
]);

const Filter = z.strictObject({
  types: z.array(z.string().max(128)).max(100).optional(),
  exclude: z.array(z.string().max(128)).max(100).optional(),
  groups: z.array(z.string().min(1).max(64)).max(50).optional(),
});

const Url = z.string().min(1).max(2048);

const EndpointFields = {
  url: Url,
  description: z.string().max(L.descriptionMax).optional(),
  filter: Filter.nullable().optional(),
  method: z.enum(["POST", "PUT"]).optional(),
  headers: z.record(z.string(), z.string()).nullable().optional(),
  auth: Auth.nullable().optional(),
  format: z.enum(["standard", "cloudevents"]).optional(),
  signature: z.enum(["standard", "hmac-sha256-hex", "timestamped-hex"]).optional(),
  ordering: z.enum(["none", "fifo"]).optional(),
  rate_limit: z.number().int().min(1).max(L.rateLimitMax).nullable().optional(),
  timeout_ms: z.number().int().min(L.timeoutMinMs).max(L.timeoutMaxMs).optional(),
  retry_schedule: z.array(z.number().int().min(1).max(L.retryWaitMaxS)).max(L.retryEntriesMax).nullable().optional(),
  circuit: CircuitInput.nullable().optional(),
};

const EndpointCreate = z.strictObject({
  ...EndpointFields,
  status: z.enum(["active", "paused"]).optional(),
  secret: z.string().min(1).max(256).optional().openapi({ description: "Keep a secret from the system being migrated (at least 24 characters; whsec_… for signature standard)" }),
});

const EndpointPatch = z.strictObject({
  ...EndpointFields,
  url: Url.optional(),
  status: z.enum(["active", "paused"]).optional().openapi({ description: "active also re-enables a disabled endpoint" }),
});

export const Endpoint = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    url: z.string(),
    description: z.string(),
    status: z.enum(["active", "paused", "disabled"]),
    disabled_reason: z.string().nullable(),
    filter: z.object({ types: z.array(z.string()), exclude: z.array(z.string()), groups: z.array(z.string()) }),
    method: z.enum(["POST", "PUT"]),
    headers: z.record(z.string(), z.string()),
    auth: z.object({ type: z.enum(["bearer", "basic"]) }).nullable().openapi({ description: "Write-only: reads show only the type" }),
    format: z.enum(["standard", "cloudevents"]),
    signature: z.enum(["standard", "hmac-sha256-hex", "timestamped-hex"]),
    ordering: z.enum(["none", "fifo"]),
    rate_limit: z.number().int().nullable(),
    timeout_ms: z.number().int(),
    retry_schedule: z.array(z.number().int()).nullable(),
    circuit: CircuitSettings,
    circuit_state: CircuitStateField,
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Endpoint");

const EndpointCreated = Endpoint.extend({ secret: z.string().openapi({ description: "Shown this once" }) }).openapi("EndpointCreated");

const Secrets = z
  .object({ secret: z.string(), previous: z.array(z.object({ secret: z.string(), expires_at: Timestamp })) })
  .openapi("EndpointSecrets");

export const EndpointParams = TenantParams.extend({ eid: z.string().openapi({ param: { name: "eid", in: "path" } }) });

/** The endpoint as the API shows it; `now` decides whether an open circuit is already half open. */
export const toEndpoint = (e: EndpointRow, now: number) => ({
  id: e.id,
  tenant_id: e.tenantId,
  url: e.url,
  description: e.description,
  status: e.status,
  disabled_reason: e.disabledReason,
  filter: e.filter,
  method: e.method,
  headers: e.headers,
  auth: e.authType ? { type: e.authType } : null,
  format: e.format,
  signature: e.signature,
  ordering: e.ordering,
  rate_limit: e.rateLimit,
  timeout_ms: e.timeoutMs,
  retry_schedule: e.retrySchedule,
  circuit: e.circuit,
  circuit_state: circuitStateOf(e, now),
  created_at: iso(e.createdAt)!,
  updated_at: iso(e.updatedAt)!,
});

const toSecrets = (list: { secret: string; expiresAt: number | null }[]) => ({
  secret: list[0]?.secret ?? "",
  previous: list.slice(1).map((s) => ({ secret: s.secret, expires_at: iso(s.expiresAt)! })),
});

export function registerEndpoints(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/endpoints",
      operationId: "createEndpoint",
      tags: ["Endpoints"],
      summary: "Create an endpoint; its secret is shown this once",
      request: { params: TenantParams, body: jsonBody(EndpointCreate) },
      responses: { 201: jsonResponse(EndpointCreated, "Created"), ...errorResponses, ...unavailableResponse },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid);
      const d = deps(c);
      const { row, secret } = await endpoints.createEndpoint(d, tid, c.req.valid("json"));
      return c.json({ ...toEndpoint(row, d.now), secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/endpoints",
      operationId: "listEndpoints",
      tags: ["Endpoints"],
      summary: "List endpoints, newest first",
      request: { params: TenantParams, query: ListQuery.extend({ status: z.enum(["active", "paused", "disabled"]).optional() }) },
      responses: { 200: jsonResponse(listOf(Endpoint, "EndpointList"), "Endpoints"), ...errorResponses },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid);
      const { limit, cursor, status } = c.req.valid("query");
      const d = deps(c);
      const rows = await endpoints.listEndpoints(d, tid, { status, before: decodeCursor<string>(cursor, "string"), limit });
      const p = page(rows, limit, (e) => e.id);
      return c.json({ data: p.data.map((e) => toEndpoint(e, d.now)), next_cursor: p.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/endpoints/{eid}",
      operationId: "getEndpoint",
      tags: ["Endpoints"],
      summary: "Get an endpoint",
      request: { params: EndpointParams },
      responses: { 200: jsonResponse(Endpoint, "The endpoint"), ...errorResponses },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      const d = deps(c);
      return c.json(toEndpoint(await endpoints.getEndpoint(d, tid, eid), d.now), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/tenants/{tid}/endpoints/{eid}",
      operationId: "updateEndpoint",
      tags: ["Endpoints"],
      summary: "Update an endpoint: each named field is replaced whole, null clears",
      request: { params: EndpointParams, body: jsonBody(EndpointPatch) },
      responses: { 200: jsonResponse(Endpoint, "The endpoint"), ...errorResponses, ...unavailableResponse },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      const d = deps(c);
      const { after } = await endpoints.updateEndpoint(d, tid, eid, c.req.valid("json"));
      return c.json(toEndpoint(after, d.now), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/tenants/{tid}/endpoints/{eid}",
      operationId: "deleteEndpoint",
      tags: ["Endpoints"],
      summary: "Delete an endpoint; pending deliveries are cancelled",
      request: { params: EndpointParams },
      responses: { 204: { description: "Deleted" }, ...errorResponses },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      await endpoints.deleteEndpoint(deps(c), tid, eid);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/endpoints/{eid}/secret",
      operationId: "getEndpointSecret",
      tags: ["Endpoints"],
      summary: "Get the signing secret and those still in their grace period",
      request: { params: EndpointParams },
      responses: { 200: jsonResponse(Secrets, "Secrets"), ...errorResponses, ...unavailableResponse },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      return c.json(toSecrets(await endpoints.getSecrets(deps(c), tid, eid)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/endpoints/{eid}/secret/rotate",
      operationId: "rotateEndpointSecret",
      tags: ["Endpoints"],
      summary: "Rotate the signing secret; the old one stays valid for grace_seconds",
      request: {
        params: EndpointParams,
        body: jsonBody(z.strictObject({ secret: z.string().min(1).max(256).optional(), grace_seconds: z.number().int().min(0).max(7 * 86_400).optional() })),
      },
      responses: { 200: jsonResponse(Secrets, "Secrets after the rotation"), ...errorResponses, ...unavailableResponse },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      return c.json(toSecrets(await endpoints.rotateSecret(deps(c), tid, eid, c.req.valid("json"))), 200);
    },
  );
}
