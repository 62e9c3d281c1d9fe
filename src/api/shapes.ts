/**
 * @module Request bodies and response shapes of tenants, endpoints and portal links. The
 * HTTP routes and the service binding (`src/binding/`, docs/service-binding.md) validate
 * with these same schemas and answer with these same JSON shapes.
 */
import { z } from "@hono/zod-openapi";
import { circuitStateOf, ENDPOINT_LIMITS as L } from "../core/endpoints";
import type { EndpointRow } from "../db/queries/endpoints";
import type { TenantRow } from "../db/queries/tenants";
import { PORTAL_LINK_DEFAULT_S, PORTAL_LINK_MAX_S, PORTAL_LINK_MIN_S } from "../core/portal-sessions";
import { CircuitInput, CircuitSettings, CircuitStateField, HostId, iso, ListQuery, Timestamp } from "./schemas";

/** The largest JSON body of any route but event ingest (which has MAX_PAYLOAD_BYTES). */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

// Tenants

export const Tenant = z
  .object({ id: z.string(), name: z.string(), metadata: z.record(z.string(), z.unknown()), created_at: Timestamp, updated_at: Timestamp })
  .openapi("Tenant");

export const TenantCreate = z.strictObject({
  name: z.string().min(1).max(200),
  id: HostId.refine((s) => !s.startsWith("_"), "ids starting with _ are reserved").optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

export const TenantPatch = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
});

export const toTenant = (t: TenantRow) => ({
  id: t.id,
  name: t.name,
  metadata: t.metadata,
  created_at: iso(t.createdAt)!,
  updated_at: iso(t.updatedAt)!,
});

// Endpoints

export const Auth = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("bearer"), token: z.string().min(1).max(4096) }),
  z.strictObject({ type: z.literal("basic"), username: z.string().min(1).max(1024).refine((s) => !s.includes(":"), "may not contain ':'"), password: z.string().max(1024) }),
]);

export const Filter = z.strictObject({
  types: z.array(z.string().max(128)).max(100).optional(),
  exclude: z.array(z.string().max(128)).max(100).optional(),
  groups: z.array(z.string().min(1).max(64)).max(50).optional(),
});

export const Url = z.string().min(1).max(2048);

export const EndpointFields = {
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

export const EndpointCreate = z.strictObject({
  ...EndpointFields,
  status: z.enum(["active", "paused"]).optional(),
  secret: z.string().min(1).max(256).optional().openapi({ description: "Keep a secret from the system being migrated (at least 24 characters; whsec_… for signature standard)" }),
});

export const EndpointPatch = z.strictObject({
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

export const EndpointCreated = Endpoint.extend({ secret: z.string().openapi({ description: "Shown this once" }) }).openapi("EndpointCreated");

/** The query of the endpoint list. */
export const EndpointListQuery = ListQuery.extend({ status: z.enum(["active", "paused", "disabled"]).optional() });

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

// Portal links

export const PortalSessionCreate = z.strictObject({
  expires_in: z
    .number()
    .int()
    .min(PORTAL_LINK_MIN_S)
    .max(PORTAL_LINK_MAX_S)
    .optional()
    .openapi({ default: PORTAL_LINK_DEFAULT_S, description: "Seconds until the link expires; the session it starts lasts as long" }),
  read_only: z.boolean().optional().openapi({ default: false, description: "A read-only session sees everything and changes nothing" }),
});

export const PortalSession = z
  .object({
    url: z.string().openapi({ description: "One-time magic link on the Worker's own origin", example: "https://webhooks.example.com/portal/login?token=…" }),
    expires_at: Timestamp,
  })
  .openapi("PortalSession");

