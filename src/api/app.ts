/**
 * @module The Hono app: auth, the one error path, the OpenAPI document and the routes.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hook } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { getConfig } from "../config";
import { authenticateApiKey } from "../core/api-keys";
import { constantTimeEqual } from "../domain/constant-time";
import { MAX_JSON_DEPTH, nestsDeeperThan, TOO_DEEP_MESSAGE } from "../domain/json-depth";
import { AppError, describeError, issuesToErrors, problemResponse } from "../errors";
import { openDb } from "../db/client";
import type { AppEnv } from "./context";
import { MAX_JSON_BODY_BYTES } from "./shapes";
import { renderDocs } from "./docs";
import { registerApiKeys } from "./api-keys";
import { registerDeadLetters } from "./dead-letters";
import { registerDeliveries } from "./deliveries";
import { registerEndpoints } from "./endpoints";
import { registerEndpointTools } from "./endpoint-tools";
import { registerEvents } from "./events";
import { registerEventTypes } from "./event-types";
import { registerTenants } from "./tenants";
import { registerHealth } from "./health";
import { registerPortalSessions } from "./portal-sessions";

const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (!result.success) throw new AppError(422, "The request is not valid.", { errors: issuesToErrors(result.error.issues) });
};

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1] ?? null;
}

/** The operations' tags, in the order a reader meets them (DESIGN "Public HTTP API"). */
const TAGS = [
  { name: "Health", description: "Whether the Worker can reach D1 and has its secrets key; needs no token." },
  { name: "Tenants", description: "The host platform's customers; each has its own endpoints, events and log. Admin token." },
  { name: "API keys", description: "Tenant API keys: a tenant's own bearer token, shown once. Admin token." },
  { name: "Event types", description: "The catalogue of event names, with an optional JSON Schema and example; shared by every tenant." },
  { name: "Endpoints", description: "A tenant's webhook receivers: URL, filter, signing, retries, circuit breaker, secrets, test sends and stats." },
  { name: "Events", description: "Posting an event fans it out to every endpoint whose filter matches it." },
  { name: "Deliveries", description: "One event to one endpoint: its attempts, and retry or replay." },
  { name: "Dead letters", description: "Deliveries that failed for good, kept for inspection and replay." },
  { name: "Portal", description: "One-time magic links into the tenant portal." },
];

/**
 * The document's own fields. `servers` is the origin the document was asked from, so a
 * generated client's base URL is this deployment. The project has no open-source licence
 * (package.json is private and names none), hence a LicenseRef (docs/api-contract.md).
 */
function openApiConfig(origin: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "Switchyard",
      version: "1.0.0",
      description: "Webhook delivery for SaaS platforms. Errors are RFC 9457 problem+json.",
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: origin }],
    security: [{ bearer: [] }],
    tags: TAGS,
  };
}

/** Builds the API app (the portal is mounted beside it in index.ts). */
export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "The admin token (ADMIN_TOKEN) or a tenant API key.",
  });

  app.use("/v1/*", async function authenticate(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw new AppError(401, "Send Authorization: Bearer <token>.");
    const config = getConfig(c.env);
    if (config.adminToken && (await constantTimeEqual(token, config.adminToken))) {
      c.set("principal", { kind: "admin" });
      return next();
    }
    const key = await authenticateApiKey(openDb(c.env.DB), token);
    if (!key) throw new AppError(401, "The bearer token is not valid.");
    c.set("principal", { kind: "tenant", tenantId: key.tenantId, keyId: key.id });
    return next();
  });

  // Control-plane bodies (tenants, event types, endpoints, …) have no size rule of their
  // own, and D1 refuses a row over 2 MB in production: without a cap a large metadata or
  // schema would pass validation and then fail as a 500. Event ingest keeps its own
  // MAX_PAYLOAD_BYTES check (it must answer 413 before parsing, streamed or not).
  app.use("/v1/*", async function limitBody(c, next) {
    if (c.req.method === "POST" && /^\/v1\/tenants\/[^/]+\/events\/?$/.test(c.req.path)) return next();
    return bodyLimit({ maxSize: MAX_JSON_BODY_BYTES, onError: () => problemResponse(413, `The body is larger than ${MAX_JSON_BODY_BYTES} bytes.`) })(c, next);
  });

  // Deeper JSON than the runtime can re-serialise would otherwise be a 500 (a stack
  // overflow in JSON.stringify); event ingest checks its own body after its size check.
  app.use("/v1/*", async function limitDepth(c, next) {
    if (c.req.method === "GET" || c.req.method === "DELETE" || /^\/v1\/tenants\/[^/]+\/events\/?$/.test(c.req.path)) return next();
    if (nestsDeeperThan(await c.req.text(), MAX_JSON_DEPTH)) return problemResponse(422, "The request is not valid.", { errors: [{ path: "(body)", message: TOO_DEEP_MESSAGE }] });
    return next();
  });

  registerHealth(app);
  registerTenants(app);
  registerApiKeys(app);
  registerEventTypes(app);
  registerEndpoints(app);
  registerEndpointTools(app);
  registerEvents(app);
  registerDeliveries(app);
  registerDeadLetters(app);
  registerPortalSessions(app);

  app.doc31("/openapi.json", (c) => openApiConfig(new URL(c.req.url).origin));
  app.get("/docs", (c) => c.html(renderDocs(app.getOpenAPI31Document(openApiConfig(new URL(c.req.url).origin)))));

  app.notFound(() => problemResponse(404, "No such route."));
  app.onError((err) => {
    if (err instanceof HTTPException) {
      // Hono's validators throw 400 for a body that is not JSON.
      const detail = err.status === 400 ? "The body is not valid JSON." : err.message || "Request refused.";
      return problemResponse(err.status, detail);
    }
    const { status, detail, options } = describeError(err);
    return problemResponse(status, detail, options);
  });
  return app;
}
