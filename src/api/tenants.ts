/**
 * @module /v1/tenants
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as tenants from "../core/tenants";
import type { TenantRow } from "../db/queries/tenants";
import { deps, requireAdmin, requireTenant, type AppEnv } from "./context";
import { conflictResponse, decodeCursor, errorResponses, HostId, iso, ListQuery, listOf, jsonBody, jsonResponse, page, TenantParams, Timestamp } from "./schemas";

const Tenant = z
  .object({ id: z.string(), name: z.string(), metadata: z.record(z.string(), z.unknown()), created_at: Timestamp, updated_at: Timestamp })
  .openapi("Tenant");

const TenantCreate = z.strictObject({
  name: z.string().min(1).max(200),
  id: HostId.refine((s) => !s.startsWith("_"), "ids starting with _ are reserved").optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

const TenantPatch = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
});

const toTenant = (t: TenantRow) => ({
  id: t.id,
  name: t.name,
  metadata: t.metadata,
  created_at: iso(t.createdAt)!,
  updated_at: iso(t.updatedAt)!,
});

export function registerTenants(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants",
      operationId: "createTenant",
      tags: ["Tenants"],
      summary: "Create a tenant (admin)",
      request: { body: jsonBody(TenantCreate) },
      responses: { 201: jsonResponse(Tenant, "Created"), ...errorResponses, ...conflictResponse },
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
      responses: { 200: jsonResponse(listOf(Tenant, "TenantList"), "Tenants, newest first"), ...errorResponses },
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
      responses: { 200: jsonResponse(Tenant, "The tenant"), ...errorResponses },
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
      responses: { 200: jsonResponse(Tenant, "The tenant"), ...errorResponses },
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
      responses: { 202: { description: "Deleted; data is purged in the background" }, ...errorResponses, ...conflictResponse },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid, { adminOnly: true });
      await tenants.deleteTenant(deps(c), tid);
      return c.body(null, 202);
    },
  );
}
