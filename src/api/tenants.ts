/**
 * @module /v1/tenants
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as tenants from "../core/tenants";
import { deps, requireAdmin, requireTenant, type AppEnv } from "./context";
import { decodeCursor, ListQuery, listOf, jsonBody, jsonResponse, page, TenantParams, problems } from "./schemas";
import { Tenant, TenantCreate, TenantPatch, toTenant } from "./shapes";

export function registerTenants(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants",
      operationId: "createTenant",
      tags: ["Tenants"],
      summary: "Create a tenant (admin)",
      request: { body: jsonBody(TenantCreate) },
      responses: { 201: jsonResponse(Tenant, "Created"), ...problems(400, 401, 403, 409, 413, 415, 422, 503) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(toTenant(await tenants.createTenant(deps(c), c.req.valid("json"))), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants",
      operationId: "listTenants",
      tags: ["Tenants"],
      summary: "List tenants (admin)",
      request: { query: ListQuery },
      responses: { 200: jsonResponse(listOf(Tenant, "TenantList"), "Tenants, newest first"), ...problems(401, 403, 422, 503) },
    }),
    async (c) => {
      requireAdmin(c);
      const { limit, cursor } = c.req.valid("query");
      const rows = await tenants.listTenants(deps(c), limit, decodeCursor<number>(cursor, "number"));
      const p = page(rows, limit, (t) => t.seq);
      return c.json({ data: p.data.map(toTenant), next_cursor: p.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}",
      operationId: "getTenant",
      tags: ["Tenants"],
      summary: "Get a tenant",
      request: { params: TenantParams },
      responses: { 200: jsonResponse(Tenant, "The tenant"), ...problems(401, 403, 404, 503) },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid);
      return c.json(toTenant(await tenants.getTenant(deps(c), tid)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/tenants/{tid}",
      operationId: "updateTenant",
      tags: ["Tenants"],
      summary: "Update a tenant (admin)",
      request: { params: TenantParams, body: jsonBody(TenantPatch) },
      responses: { 200: jsonResponse(Tenant, "The tenant"), ...problems(400, 401, 403, 404, 413, 415, 422, 503) },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid, { adminOnly: true });
      return c.json(toTenant(await tenants.updateTenant(deps(c), tid, c.req.valid("json"))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/tenants/{tid}",
      operationId: "deleteTenant",
      tags: ["Tenants"],
      summary: "Delete a tenant and purge its data in the background (admin)",
      request: { params: TenantParams },
      responses: { 202: { description: "Deleted; data is purged in the background" }, ...problems(401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid, { adminOnly: true });
      await tenants.deleteTenant(deps(c), tid);
      return c.body(null, 202);
    },
  );
}
