/**
 * @module POST /v1/tenants/{tid}/portal-sessions: a one-time magic link into the tenant
 * portal (admin only).
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { createPortalLink, PORTAL_LINK_DEFAULT_S, portalLoginUrl } from "../core/portal-sessions";
import { deps, requireTenant, type AppEnv } from "./context";
import { iso, jsonResponse, TenantParams, problems } from "./schemas";
import { PortalSession, PortalSessionCreate } from "./shapes";

export function registerPortalSessions(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/portal-sessions",
      operationId: "createPortalSession",
      tags: ["Portal"],
      summary: "Make a one-time magic link that opens the tenant portal for this tenant alone (admin)",
      request: { params: TenantParams, body: { content: { "application/json": { schema: PortalSessionCreate } }, required: false } },
      responses: { 201: jsonResponse(PortalSession, "Created"), ...problems(400, 401, 403, 404, 413, 415, 422, 503) },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid, { adminOnly: true });
      // An absent body skips validation (and its defaults), so they are applied here.
      const body = c.req.valid("json");
      const link = await createPortalLink(deps(c), tid, {
        expiresIn: body.expires_in ?? PORTAL_LINK_DEFAULT_S,
        readOnly: body.read_only ?? false,
      });
      const url = portalLoginUrl(c.req.url, link.token);
      return c.json({ url, expires_at: iso(link.expiresAt)! }, 201);
    },
  );
}
