/**
 * @module D1 schema: the record of everything a reader sees.
 *
 * Times are integer milliseconds since the epoch. Log tables (events, deliveries,
 * attempts, dead letters) use INTEGER primary keys: D1 bills every index row written,
 * and a TEXT key costs an extra autoindex row on each insert.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { DEFAULT_CIRCUIT, type CircuitConfig } from "../domain/circuit";

export const tenants = sqliteTable(
  "tenants",
  {
    // AUTOINCREMENT: the seq names the tenant's TenantLog and is embedded in its ids, so it
    // is never handed out again, even after a purged tenant's row is deleted.
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    name: text("name").notNull(),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** Set when the tenant is deleted; the row stays until its purge ends so the id is not reused. */
    deletedAt: integer("deleted_at"),
  },
  (t) => [uniqueIndex("tenants_id").on(t.id)],
);

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    name: text("name").notNull(),
    /** SHA-256 hex of the whole key; the key itself is never stored. */
    keyHash: text("key_hash").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("api_keys_tenant").on(t.tenantId, t.id)],
);

export const eventTypes = sqliteTable("event_types", {
  name: text("name").primaryKey(),
  description: text("description").notNull(),
  group: text("group_name"),
  schema: text("schema", { mode: "json" }).$type<Record<string, unknown>>(),
  example: text("example", { mode: "json" }).$type<unknown>(),
  archivedAt: integer("archived_at"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export interface StoredFilter {
  types: string[];
  exclude: string[];
  groups: string[];
}

/**
 * An endpoint an operator should look at: failing, behind an open circuit, or disabled (the
 * operator console). One text, used by the partial index and by every query it serves.
 */
export const ENDPOINT_ATTENTION = "(failing_since IS NOT NULL OR circuit_state = 'open' OR status = 'disabled')";

export const endpoints = sqliteTable(
  "endpoints",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    url: text("url").notNull(),
    description: text("description").notNull(),
    status: text("status", { enum: ["active", "paused", "disabled"] }).notNull(),
    disabledReason: text("disabled_reason"),
    failingSince: integer("failing_since"),
    filter: text("filter", { mode: "json" }).$type<StoredFilter>().notNull(),
    method: text("method", { enum: ["POST", "PUT"] }).notNull(),
    headers: text("headers", { mode: "json" }).$type<Record<string, string>>().notNull(),
    authType: text("auth_type", { enum: ["bearer", "basic"] }),
    /** AES-GCM box of the auth JSON ({token} or {username, password}). */
    authBox: text("auth_box"),
    format: text("format", { enum: ["standard", "cloudevents"] }).notNull(),
    signature: text("signature", { enum: ["standard", "hmac-sha256-hex", "timestamped-hex"] }).notNull(),
    ordering: text("ordering", { enum: ["none", "fifo"] }).notNull(),
    rateLimit: integer("rate_limit"),
    timeoutMs: integer("timeout_ms").notNull(),
    retrySchedule: text("retry_schedule", { mode: "json" }).$type<number[]>(),
    /** The circuit breaker's settings as the API shows them (DESIGN.md "Delivery rules": circuit breaker). */
    circuit: text("circuit", { mode: "json" }).$type<CircuitConfig>().notNull().default(DEFAULT_CIRCUIT),
    /**
     * The circuit as the delivery consumer last mirrored it from the TenantLog (which decides):
     * written when a circuit opens or closes, without bumping `version`. Read-only in the API,
     * which shows `half_open` once an open circuit's `circuit_open_until` has passed.
     */
    circuitState: text("circuit_state", { enum: ["closed", "open"] }).notNull().default("closed"),
    /** When an open circuit lets its probe through (ms); null while closed. */
    circuitOpenUntil: integer("circuit_open_until"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deletedAt: integer("deleted_at"),
    /**
     * Bumped by every change to the row or its secrets: data plane v2's TenantLog carries
     * it, and the delivery consumer caches how to send per (endpoint, version).
     */
    version: integer("version").notNull().default(1),
  },
  (t) => [
    index("endpoints_tenant").on(t.tenantId, t.id),
    // The operator console's "needs attention" list and counts read only these rows. Partial,
    // so an entry is written only while an endpoint is failing, open or disabled (rare), never
    // on the changes of a healthy one. Queries repeat ENDPOINT_ATTENTION verbatim so SQLite uses it.
    index("endpoints_attention").on(t.id).where(sql`deleted_at IS NULL AND ${sql.raw(ENDPOINT_ATTENTION)}`),
  ],
);

export const endpointSecrets = sqliteTable(
  "endpoint_secrets",
  {
    seq: integer("seq").primaryKey(),
    endpointId: text("endpoint_id").notNull(),
    /** AES-GCM box of the secret. */
    secretBox: text("secret_box").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Null for the current secret; set on rotation to the end of the grace period. */
    expiresAt: integer("expires_at"),
  },
  (t) => [index("endpoint_secrets_endpoint").on(t.endpointId)],
);

export type DeliveryStatus = "pending" | "delivered" | "failed";
export type DeliveryReason =
  | "retries_exhausted"
  | "non_retryable_status"
  | "endpoint_disabled"
  | "url_not_allowed"
  | "expired"
  | "consumer_error";

export const deadLetters = sqliteTable(
  "dead_letters",
  {
    /** Public id is `dl_` + this, encoded. */
    // AUTOINCREMENT: replaying a dead letter deletes it, and a plain rowid would hand its id
    // to the next dead letter (a retried DELETE could then remove the wrong one). Dead
    // letters are rare, so the extra sqlite_sequence write is cheap here.
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id").notNull(),
    endpointId: text("endpoint_id"),
    /** The delivery's public id (domain/ids `logDeliveryId`), as its TenantLog minted it. */
    deliveryId: text("delivery_id"),
    eventId: text("event_id"),
    eventType: text("event_type"),
    reason: text("reason").$type<DeliveryReason>().notNull(),
    attempts: integer("attempts").notNull(),
    lastResponseStatus: integer("last_response_status"),
    /** `deliveries` when the delivery gave up after its messages kept reaching the DLQ (`consumer_error`). */
    queue: text("queue").$type<"deliveries">(),
    createdAt: integer("created_at").notNull(),
    /**
     * Data plane v2 (docs/data-plane-v2.md): the delivery's key in its TenantLog — tenant
     * seq, event seq, endpoint ordinal — and the generation that failed. A TenantLog's outbox
     * inserts conditional on it, so a flush retried any number of times stores one row.
     */
    tenantSeq: integer("tenant_seq"),
    logEventSeq: integer("log_event_seq"),
    endpointOrdinal: integer("endpoint_ordinal"),
    generation: integer("generation"),
  },
  (t) => [
    uniqueIndex("dead_letters_log_key").on(t.tenantSeq, t.logEventSeq, t.endpointOrdinal, t.generation).where(sql`tenant_seq IS NOT NULL`),
    index("dead_letters_tenant").on(t.tenantId),
    index("dead_letters_endpoint").on(t.endpointId).where(sql`endpoint_id IS NOT NULL`),
    index("dead_letters_created").on(t.createdAt),
  ],
);

export const portalSessions = sqliteTable(
  "portal_sessions",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    readOnly: integer("read_only", { mode: "boolean" }).notNull(),
    /** SHA-256 of the one-time magic-link token. */
    linkHash: text("link_hash").notNull(),
    linkExpiresAt: integer("link_expires_at").notNull(),
    /** Set when the link is used; a used link never starts a second session. */
    usedAt: integer("used_at"),
    /** SHA-256 of the session cookie's token, once the link was used. */
    sessionHash: text("session_hash"),
    sessionExpiresAt: integer("session_expires_at"),
    /** The session's CSRF token (compared with each write's form field). */
    csrfToken: text("csrf_token"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("portal_sessions_link").on(t.linkHash), uniqueIndex("portal_sessions_session").on(t.sessionHash).where(sql`session_hash IS NOT NULL`)],
);

/**
 * Each tenant's delivery figures hour by hour, for the operator console's cross-tenant views
 * (DESIGN.md "Operator console"): written by the tenants' TenantLogs through their outbox, at
 * most once a minute per tenant, as the hour's whole totals (so a repeated flush changes
 * nothing), never a row per delivery. `WITHOUT ROWID`: the key is the only index.
 */
export const tenantHours = sqliteTable(
  "tenant_hours",
  {
    tenantSeq: integer("tenant_seq").notNull(),
    /** floor(created_at / 3 600 000) of the deliveries counted. */
    hour: integer("hour").notNull(),
    created: integer("created").notNull(),
    delivered: integer("delivered").notNull(),
    failed: integer("failed").notNull(),
    /** Attempt durations: counts per bucket of domain/latency-histogram. */
    latency: text("latency", { mode: "json" }).$type<number[]>().notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantSeq, t.hour] }), index("tenant_hours_hour").on(t.hour)],
);
