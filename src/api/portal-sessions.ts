/**
 * @module POST /v1/tenants/{tid}/portal-sessions: a one-time magic link into the tenant
 * portal (admin only).
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { createPortalLink, PORTAL_LINK_DEFAULT_S, PORTAL_LINK_MAX_S, PORTAL_LINK_MIN_S } from "../portal/sessions";
import { deps, requireTenant, type AppEnv } from "./context";
import { errorResponses, iso, jsonResponse, TenantParams, Timestamp } from "./schemas";

const PortalSessionCreate = z.strictObject({
  expires_in: z
    .number()
    .int()
    .min(PORTAL_LINK_MIN_S)
    .max(PORTAL_LINK_MAX_S)
    .optional()
    .openapi({ default: PORTAL_LINK_DEFAULT_S, description: "Seconds until the link expires; the session it starts lasts as long" }),
  read_only: z.boolean().optional().openapi({ default: false, description: "A read-only session sees everything and changes nothing" }),
});

const PortalSession = z
  .object({
    url: z.string().openapi({ description: "One-time magic link on the Worker's own origin", example: "https://webhooks.example.com/portal/login?token=…" }),
    expires_at: Timestamp,
  })
  .openapi("PortalSession");

export function registerPortalSessions(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/portal-sessions",
      operationId: "createPortalSession",
      tags: ["Portal"],
      summary: "Make a one-time magic link that opens the tenant portal for this tenant alone (admin)",
      request: { params: TenantParams, body: { content: { "application/json": { schema: PortalSessionCreate } }, required: false } },
      responses: { 201: jsonResponse(PortalSession, "Created"), ...errorResponses },
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
      const url = new URL(`/portal/login?token=${link.token}`, c.req.url).href;
      return c.json({ url, expires_at: iso(link.expiresAt)! }, 201);
    },
  );
}
