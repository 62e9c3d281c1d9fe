/**
 * @module D1 schema: the record of everything a reader sees.
 *
 * Times are integer milliseconds since the epoch. Log tables (events, deliveries,
 * attempts, dead letters) use INTEGER primary keys: D1 bills every index row written,
 * and a TEXT key costs an extra autoindex row on each insert.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable(
  "tenants",
  {
    seq: integer("seq").primaryKey(),
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
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    deletedAt: integer("deleted_at"),
    /**
     * Bumped by every change to the row or its secrets: data plane v2's TenantLog carries
     * it, and the delivery consumer caches how to send per (endpoint, version).
     */
    version: integer("version").notNull().default(1),
  },
  (t) => [index("endpoints_tenant").on(t.tenantId, t.id)],
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

export const events = sqliteTable(
  "events",
  {
    /** Acceptance order: increasing, assigned when the row is committed. */
    seq: integer("seq").primaryKey(),
    id: text("id").notNull(),
    tenantId: text("tenant_id").notNull(),
    type: text("type").notNull(),
    /** The `data` JSON text exactly as it is sent. */
    data: text("data").notNull(),
    occurredAt: integer("occurred_at"),
    createdAt: integer("created_at").notNull(),
    /** The Idempotency-Key header when no `id` was given (an `id` is its own key). */
    idempotencyKey: text("idempotency_key"),
    /** SHA-256 of type + data: a repeated key with another body is a conflict. */
    bodyHash: text("body_hash").notNull(),
    /** 0 not yet, 1 done, 2 failed (reached the fan-out DLQ). */
    fannedOut: integer("fanned_out").notNull(),
    test: integer("test", { mode: "boolean" }).notNull(),
  },
  (t) => [
    uniqueIndex("events_tenant_id").on(t.tenantId, t.id),
    uniqueIndex("events_tenant_idempotency").on(t.tenantId, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    // (tenant_id, seq): rowid is the implicit last column.
    index("events_tenant_list").on(t.tenantId).where(sql`test = 0`),
    // Sweeper and the FIFO "earlier event still un-fanned" check; small, since rows leave it at fan-out.
    index("events_unfanned").on(t.tenantId).where(sql`fanned_out = 0`),
  ],
);

export type DeliveryStatus = "pending" | "delivered" | "failed";
export type DeliveryReason =
  | "retries_exhausted"
  | "non_retryable_status"
  | "endpoint_disabled"
  | "url_not_allowed"
  | "expired"
  | "consumer_error";

export const deliveries = sqliteTable(
  "deliveries",
  {
    /**
     * Public id is `dlv_` + this, encoded (domain/ids seqId). Derived, never auto-assigned:
     * `event_seq * 65536 + i` (i = the endpoint's place in the event's matched list sorted by
     * endpoint id; a test send is `event_seq * 65536`), so an event's deliveries are the key
     * range [e * 65536, (e + 1) * 65536) and need no (event_seq, endpoint_id) index.
     */
    seq: integer("seq").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    endpointId: text("endpoint_id").notNull(),
    eventSeq: integer("event_seq").notNull(),
    eventType: text("event_type").notNull(),
    status: text("status").$type<DeliveryStatus>().notNull(),
    reason: text("reason").$type<DeliveryReason>(),
    attempts: integer("attempts").notNull(),
    /** Attempt count when the current run (creation, retry or replay) began: the schedule restarts per run. */
    runStart: integer("run_start").notNull(),
    /** Bumped by retry, replay and the Sweeper so that older queue messages go stale. */
    generation: integer("generation").notNull(),
    /** Null while parked (paused endpoint, waiting in a FIFO line). */
    nextAttemptAt: integer("next_attempt_at"),
    lastAttemptAt: integer("last_attempt_at"),
    responseStatus: integer("response_status"),
    /** Place in the endpoint's FIFO line; null when the delivery was created for a non-FIFO endpoint. */
    lineSeq: integer("line_seq"),
    test: integer("test", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    // The log, newest first by (created_at, seq) — seq is the implicit last column — and
    // the stats window, counted by index range without scanning older history.
    index("deliveries_endpoint_created").on(t.endpointId, t.createdAt),
    // Status first: one index serves the log's status filter and stats (status, endpoint_id,
    // created_at), the FIFO line head (status = 'pending', endpoint_id) and the Sweeper's
    // overdue scan (the status = 'pending' range, next_attempt_at filtered).
    index("deliveries_status_endpoint_created").on(t.status, t.endpointId, t.createdAt),
  ],
);

/**
 * Keyed by (delivery_seq, n) and stored WITHOUT ROWID: one row written per attempt (the
 * b-tree row is the key), where a rowid table plus a unique index wrote two. Drizzle cannot
 * express WITHOUT ROWID, so migration 0004_attempts_without_rowid adds it by hand; keep it
 * there if this table is ever regenerated.
 */
export const attempts = sqliteTable(
  "attempts",
  {
    deliverySeq: integer("delivery_seq").notNull(),
    n: integer("n").notNull(),
    startedAt: integer("started_at").notNull(),
    durationMs: integer("duration_ms").notNull(),
    responseStatus: integer("response_status"),
    responseBody: text("response_body"),
    error: text("error"),
    location: text("location"),
    requestMethod: text("request_method").notNull(),
    requestUrl: text("request_url").notNull(),
    /** Headers as sent, with auth values and signatures redacted. */
    requestHeaders: text("request_headers", { mode: "json" }).$type<Record<string, string>>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.deliverySeq, t.n] })],
);

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
    deliverySeq: integer("delivery_seq"),
    eventSeq: integer("event_seq"),
    eventId: text("event_id"),
    eventType: text("event_type"),
    reason: text("reason").$type<DeliveryReason>().notNull(),
    attempts: integer("attempts").notNull(),
    lastResponseStatus: integer("last_response_status"),
    queue: text("queue").$type<"fanout" | "deliveries">(),
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
    uniqueIndex("dead_letters_delivery").on(t.deliverySeq).where(sql`delivery_seq IS NOT NULL`),
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
