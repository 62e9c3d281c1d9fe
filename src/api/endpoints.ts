/**
 * @module /v1/tenants/{tid}/endpoints: CRUD and secrets.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as endpoints from "../core/endpoints";
import { deps, requireTenant, type AppEnv } from "./context";
import {
  decodeCursor,
  iso,
  jsonBody,
  jsonResponse,
  listOf,
  page,
  TenantParams,
  Timestamp,
  problems,
} from "./schemas";
import { Endpoint, EndpointCreate, EndpointCreated, EndpointListQuery, EndpointPatch, toEndpoint } from "./shapes";

const Secrets = z
  .object({ secret: z.string(), previous: z.array(z.object({ secret: z.string(), expires_at: Timestamp })) })
  .openapi("EndpointSecrets");

export const EndpointParams = TenantParams.extend({ eid: z.string().openapi({ param: { name: "eid", in: "path" } }) });

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
      responses: { 201: jsonResponse(EndpointCreated, "Created"), ...problems(400, 401, 403, 404, 413, 415, 422, 503) },
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
      request: { params: TenantParams, query: EndpointListQuery },
      responses: { 200: jsonResponse(listOf(Endpoint, "EndpointList"), "Endpoints"), ...problems(401, 403, 404, 422, 503) },
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
      responses: { 200: jsonResponse(Endpoint, "The endpoint"), ...problems(401, 403, 404, 503) },
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
      responses: { 200: jsonResponse(Endpoint, "The endpoint"), ...problems(400, 401, 403, 404, 413, 415, 422, 503) },
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
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404, 413, 503) },
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
      responses: { 200: jsonResponse(Secrets, "Secrets"), ...problems(401, 403, 404, 503) },
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
      responses: { 200: jsonResponse(Secrets, "Secrets after the rotation"), ...problems(400, 401, 403, 404, 413, 415, 422, 503) },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      return c.json(toSecrets(await endpoints.rotateSecret(deps(c), tid, eid, c.req.valid("json"))), 200);
    },
  );
}
