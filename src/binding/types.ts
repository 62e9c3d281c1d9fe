/**
 * @module The service binding's contract for host Workers (docs/service-binding.md): the
 * inputs each method takes, the results it answers, and `SwitchyardRpc`, the interface a
 * host types its binding with (`SWITCHYARD: Service<SwitchyardRpc>`). Values have the JSON
 * shapes the HTTP API answers (DESIGN.md "Public HTTP API").
 *
 * This file imports nothing, so a host Worker in another repository can copy it as it is;
 * `SwitchyardEntrypoint` implements `SwitchyardRpc`, so the build fails if they drift.
 */

/** A field the input got wrong: `path` as the HTTP API names it (`filter.types[0]`, `data.n`). */
export interface BindingFieldError {
  path: string;
  message: string;
}

/** The problem document the HTTP API would send (RFC 9457), as a value. */
export interface BindingProblem {
  /** `https://switchyard.dev/problems/<kind>`, e.g. `…/validation-failed`, `…/tenant-log-full`. */
  type: string;
  title: string;
  /** The HTTP status the API would answer: 400, 404, 409, 413, 422, 500, 503. */
  status: number;
  detail: string;
  /** With 422: every field that is wrong. */
  errors?: BindingFieldError[];
  /** With 503: seconds to wait before trying again (the API's `Retry-After`). */
  retry_after?: number;
}

/**
 * Every method answers one of these and never throws for bad input or our own trouble.
 * `status` is the HTTP status the API would answer for the same call.
 */
export type BindingResult<T, S extends number = number> = { ok: true; status: S; value: T } | { ok: false; error: BindingProblem };

// Events

/** The body of `POST /v1/tenants/{tid}/events`. `data` must survive `JSON.stringify` unchanged. */
export interface EventInput {
  type: string;
  data: unknown;
  /** Your id for the event (`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`); also its idempotency key. */
  id?: string;
  /** ISO-8601 date-time. */
  occurred_at?: string;
}

export interface SendEventOptions {
  /** Used when the event has no `id`; 1–255 characters (the API's `Idempotency-Key`). */
  idempotencyKey?: string;
}

/** status 202: accepted now; status 200: the same key and body were accepted before (this is that event). */
export interface EventAccepted {
  id: string;
  type: string;
  created_at: string;
}

// Tenants

export interface TenantInput {
  name: string;
  /** `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`, not starting with `_`; generated (`ten_…`) when left out. */
  id?: string;
  metadata?: Record<string, unknown>;
}

export interface Tenant {
  id: string;
  name: string;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

// Endpoints

export type EndpointAuthInput = { type: "bearer"; token: string } | { type: "basic"; username: string; password: string };

export interface EndpointFilterInput {
  types?: string[];
  exclude?: string[];
  groups?: string[];
}

export interface CircuitInput {
  enabled?: boolean;
  open_after?: number;
  cool_off_s?: number;
}

/** The fields of an endpoint a create or an update may set (DESIGN.md "Endpoints"). */
export interface EndpointFieldsInput {
  description?: string;
  filter?: EndpointFilterInput | null;
  method?: "POST" | "PUT";
  headers?: Record<string, string> | null;
  auth?: EndpointAuthInput | null;
  format?: "standard" | "cloudevents";
  signature?: "standard" | "hmac-sha256-hex" | "timestamped-hex";
  ordering?: "none" | "fifo";
  rate_limit?: number | null;
  timeout_ms?: number;
  retry_schedule?: number[] | null;
  circuit?: CircuitInput | null;
}

export interface EndpointInput extends EndpointFieldsInput {
  url: string;
  status?: "active" | "paused";
  /** Keep a secret from a system being migrated; generated when left out. */
  secret?: string;
}

/** Each field named is replaced whole; `null` clears. `status: "active"` also re-enables a disabled endpoint. */
export interface EndpointUpdate extends EndpointFieldsInput {
  url?: string;
  status?: "active" | "paused";
}

export interface EndpointListOptions {
  status?: "active" | "paused" | "disabled";
  /** 1–250, default 50. */
  limit?: number;
  /** `next_cursor` of the previous page, sent with the same `status`. */
  cursor?: string;
}

export interface Endpoint {
  id: string;
  tenant_id: string;
  url: string;
  description: string;
  status: "active" | "paused" | "disabled";
  disabled_reason: string | null;
  filter: { types: string[]; exclude: string[]; groups: string[] };
  method: "POST" | "PUT";
  headers: Record<string, string>;
  /** Write-only: reads show only the type. */
  auth: { type: "bearer" | "basic" } | null;
  format: "standard" | "cloudevents";
  signature: "standard" | "hmac-sha256-hex" | "timestamped-hex";
  ordering: "none" | "fifo";
  rate_limit: number | null;
  timeout_ms: number;
  retry_schedule: number[] | null;
  circuit: { enabled: boolean; open_after: number; cool_off_s: number };
  circuit_state: "closed" | "open" | "half_open";
  created_at: string;
  updated_at: string;
}

/** The created endpoint with its signing secret, shown this once. */
export interface EndpointCreated extends Endpoint {
  secret: string;
}

/** A page, newest first; only `next_cursor: null` ends the list (a page may be short). */
export interface EndpointList {
  data: Endpoint[];
  next_cursor: string | null;
}

// Portal links

export interface PortalLinkInput {
  /**
   * The origin the tenant reaches Switchyard at, e.g. `https://webhooks.example.com`
   * (http or https, nothing after the host and port): a Worker cannot know its own public
   * origin outside an HTTP request.
   */
  origin: string;
  /** Seconds until the link expires, 60–86400 (default 3600); the session lasts as long. */
  expires_in?: number;
  /** A read-only session sees everything and changes nothing. */
  read_only?: boolean;
}

/** A one-time magic link into the tenant portal. */
export interface PortalLink {
  url: string;
  expires_at: string;
}

/**
 * The methods a host Worker calls on its Switchyard binding. Type the binding as
 * `Service<SwitchyardRpc>` (or `Service<SwitchyardEntrypoint>` with Switchyard's source at hand).
 */
export interface SwitchyardRpc extends Rpc.WorkerEntrypointBranded {
  sendEvent(tenantId: string, event: EventInput, options?: SendEventOptions): Promise<BindingResult<EventAccepted, 200 | 202>>;
  createTenant(input: TenantInput): Promise<BindingResult<Tenant, 201>>;
  getTenant(tenantId: string): Promise<BindingResult<Tenant, 200>>;
  createEndpoint(tenantId: string, input: EndpointInput): Promise<BindingResult<EndpointCreated, 201>>;
  listEndpoints(tenantId: string, options?: EndpointListOptions): Promise<BindingResult<EndpointList, 200>>;
  getEndpoint(tenantId: string, endpointId: string): Promise<BindingResult<Endpoint, 200>>;
  updateEndpoint(tenantId: string, endpointId: string, update: EndpointUpdate): Promise<BindingResult<Endpoint, 200>>;
  deleteEndpoint(tenantId: string, endpointId: string): Promise<BindingResult<null, 204>>;
  createPortalLink(tenantId: string, input: PortalLinkInput): Promise<BindingResult<PortalLink, 201>>;
}
