/**
 * @module /v1/tenants/{tid}/api-keys (admin only)
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as apiKeys from "../core/api-keys";
import { deps, requireTenant, type AppEnv } from "./context";
import { decodeCursor, iso, jsonBody, jsonResponse, ListQuery, listOf, page, TenantParams, Timestamp, problems } from "./schemas";

const ApiKey = z.object({ id: z.string(), name: z.string(), created_at: Timestamp }).openapi("ApiKey");
const ApiKeyCreated = ApiKey.extend({ key: z.string().openapi({ description: "Shown once; store it now." }) }).openapi("ApiKeyCreated");
const KeyParams = TenantParams.extend({ kid: z.string().openapi({ param: { name: "kid", in: "path" } }) });

export function registerApiKeys(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/api-keys",
      operationId: "createApiKey",
      tags: ["API keys"],
      summary: "Create a tenant API key (admin); the key is shown once",
      request: { params: TenantParams, body: jsonBody(z.strictObject({ name: z.string().min(1).max(200) })) },
      responses: { 201: jsonResponse(ApiKeyCreated, "Created"), ...problems(400, 401, 403, 404, 413, 415, 422, 503) },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid, { adminOnly: true });
      const { row, key } = await apiKeys.createApiKey(deps(c), tid, c.req.valid("json").name);
      return c.json({ id: row.id, name: row.name, key, created_at: iso(row.createdAt)! }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/api-keys",
      operationId: "listApiKeys",
      tags: ["API keys"],
      summary: "List a tenant's API keys (admin); keys are never shown again",
      request: { params: TenantParams, query: ListQuery },
      responses: { 200: jsonResponse(listOf(ApiKey, "ApiKeyList"), "API keys, newest first"), ...problems(401, 403, 404, 422, 503) },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid, { adminOnly: true });
      const { limit, cursor } = c.req.valid("query");
      const rows = await apiKeys.listApiKeys(deps(c), tid, limit, decodeCursor<string>(cursor, "string"));
      const p = page(rows, limit, (k) => k.id);
      return c.json({ data: p.data.map((k) => ({ id: k.id, name: k.name, created_at: iso(k.createdAt)! })), next_cursor: p.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/tenants/{tid}/api-keys/{kid}",
      operationId: "deleteApiKey",
      tags: ["API keys"],
      summary: "Revoke an API key (admin)",
      request: { params: KeyParams },
      responses: { 204: { description: "Revoked" }, ...problems(401, 403, 404, 413, 503) },
    }),
    async (c) => {
      const { tid, kid } = c.req.valid("param");
      requireTenant(c, tid, { adminOnly: true });
      await apiKeys.deleteApiKey(deps(c), tid, kid);
      return c.body(null, 204);
    },
  );
}
