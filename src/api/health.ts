/**
 * @module GET /health: D1 reachable and secrets configured.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { getConfig } from "../config";
import { isValidSecretsKey } from "../domain/secret-box";
import type { AppEnv } from "./context";
import { jsonResponse } from "./schemas";

const Health = z
  .object({
    status: z.enum(["ok", "degraded"]),
    checks: z.object({ d1: z.enum(["ok", "error"]), secrets_key: z.enum(["ok", "missing", "invalid"]) }),
  })
  .openapi("Health");

export function registerHealth(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      operationId: "getHealth",
      tags: ["Health"],
      summary: "Service health (no token needed)",
      security: [],
      responses: { 200: jsonResponse(Health, "Healthy"), 503: jsonResponse(Health, "A dependency is failing") },
    }),
    async (c) => {
      let d1: "ok" | "error" = "ok";
      try {
        await c.env.DB.prepare("SELECT 1").first();
      } catch {
        d1 = "error";
      }
      const keys = getConfig(c.env).secretsKeys;
      const secretsKey: "ok" | "missing" | "invalid" = keys.length === 0 ? "missing" : isValidSecretsKey(keys[0]!) ? "ok" : "invalid";
      const checks = { d1, secrets_key: secretsKey };
      if (d1 === "ok" && secretsKey === "ok") return c.json({ status: "ok" as const, checks }, 200);
      return c.json({ status: "degraded" as const, checks }, 503);
    },
  );
}
