/**
 * @module The TenantLog's fixed tables (docs/data-plane-v2.md). Drizzle-kit generates their
 * migrations into src/tenant-log/migrations (drizzle.tenant-log.config.ts), never into
 * migrations/, which wrangler applies to D1. Log migrations are additive only: an object
 * that holds gigabytes must never rebuild a table. The day-bucketed log tables are not
 * here: drizzle cannot name a table at run time, so src/tenant-log/day-tables.ts creates them.
 */
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { StoredFilter } from "../db/schema";
import type { CircuitSettings } from "./types";

/**
 * What decides whether and when an endpoint is sent to, synced from D1 by the API before
 * it answers (conditional on `version`). How to send stays in D1.
 */
export const endpoints = sqliteTable("endpoints", {
  /** Small and never reused in this log: messages and delivery keys carry it, not the id. */
  ordinal: integer("ordinal").primaryKey(),
  id: text("id").notNull().unique(),
  version: integer("version").notNull(),
  status: text("status", { enum: ["active", "paused", "disabled"] }).notNull(),
  filter: text("filter", { mode: "json" }).$type<StoredFilter>().notNull(),
  ordering: text("ordering", { enum: ["none", "fifo"] }).notNull(),
  rateLimit: integer("rate_limit"),
  deleted: integer("deleted", { mode: "boolean" }).notNull(),
  /** The circuit breaker's settings (migration 0007); NULL in rows synced before it reads as the default. */
  circuit: text("circuit", { mode: "json" }).$type<CircuitSettings>(),
});

/** The UTC days whose log tables exist (day = floor(ms / 86 400 000)), with the first event seq of each. */
export const days = sqliteTable("days", {
  day: integer("day").primaryKey(),
  /** Seqs increase across days, so an event's day is found from its seq alone. */
  firstSeq: integer("first_seq").notNull(),
});

/** Single values the log keeps: `tenant_seq`, the name it was opened under (messages carry it). */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: integer("value").notNull(),
});

/**
 * Hourly figures per endpoint, by the hour its deliveries were created (their event's
 * acceptance): the stats read these, never the deliveries. Kept in memory and flushed at
 * most once a minute per endpoint, so a delivery costs no row here. `WITHOUT ROWID` is
 * added by hand in migration 0002 (drizzle cannot express it): keep it if regenerated.
 */
export const rollups = sqliteTable(
  "rollups",
  {
    ordinal: integer("ordinal").notNull(),
    /** floor(created_at / 3 600 000). */
    hour: integer("hour").notNull(),
    created: integer("created").notNull(),
    delivered: integer("delivered").notNull(),
    failed: integer("failed").notNull(),
    /** Attempt durations: counts per bucket of domain/latency-histogram. */
    latency: text("latency", { mode: "json" }).$type<number[]>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.ordinal, t.hour] })],
);

/**
 * Effects that must also be seen outside the log, written in the same transaction as the
 * change and handed over by the alarm in batches (dead letters to D1, one statement per
 * flush, idempotent by their log key), and the tenant's hour totals for the console (at
 * most once a minute, not per delivery).
 */
export const outbox = sqliteTable("outbox", {
  seq: integer("seq").primaryKey(),
  /** `tenant_hour`: `{hour}`, an hour whose tenant totals D1 has yet to get (summed when handed over). */
  kind: text("kind", { enum: ["dead_letter", "tenant_hour"] }).notNull(),
  body: text("body", { mode: "json" }).$type<unknown>().notNull(),
});

/**
 * Dead-lettered deliveries copied out of a day before it is dropped, so a dead letter stays
 * replayable for `DEAD_LETTER_DAYS` although its day lives `RETENTION_DAYS`. Failures only,
 * so its rows are few. `WITHOUT ROWID` is added by hand in migration 0004.
 */
export const kept = sqliteTable(
  "kept",
  {
    ordinal: integer("ordinal").notNull(),
    eventSeq: integer("event_seq").notNull(),
    /** The event row as it was: id, type, data, occurred_at, created_at. */
    event: text("event", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    /** The delivery row as it was, its inline first attempt included. */
    delivery: text("delivery", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.ordinal, t.eventSeq] })],
);

/** Replays in progress, one per endpoint: the alarm continues each from `after` (an event seq). */
export const replays = sqliteTable("replays", {
  ordinal: integer("ordinal").primaryKey(),
  since: integer("since").notNull(),
  until: integer("until").notNull(),
  status: text("status", { enum: ["failed", "delivered"] }).notNull(),
  after: integer("after").notNull(),
});

/**
 * Keyed events whose first `deliveries` send failed (the API answered 503): the alarm sends
 * their untried deliveries at `due_at` even if the client never comes back
 * (docs/data-plane-v2.md "The outbox, rollups, alarm, retention"). Rare rows: an INTEGER key, one row written each way.
 */
export const unsent = sqliteTable("unsent", {
  seq: integer("seq").primaryKey(),
  dueAt: integer("due_at").notNull(),
});

/**
 * Endpoints whose pending deliveries are still being failed `endpoint_disabled`: a chunk
 * per call, the rest continued by the alarm. Stored, so an eviction does not strand them.
 */
export const disabling = sqliteTable("disabling", {
  ordinal: integer("ordinal").primaryKey(),
});

/**
 * Each endpoint's circuit breaker (DESIGN.md "Delivery rules": circuit breaker), only while
 * it is not pristine: consecutive unreachable attempts counted, open (half-open once
 * `open_until` has passed), a probe out, or parked deliveries still to release after it
 * closed. A closed circuit with nothing counted has no row, so the success path writes
 * nothing here; a row is written when an unreachable attempt is counted and at each change
 * of state (rare rows). Loaded into memory with the endpoints.
 */
export const circuits = sqliteTable("circuits", {
  ordinal: integer("ordinal").primaryKey(),
  state: text("state", { enum: ["closed", "open"] }).notNull(),
  /** Consecutive attempts that timed out or could not connect. */
  failures: integer("failures").notNull(),
  /** When an open circuit lets one probe through. */
  openUntil: integer("open_until"),
  /** When this outage's circuit opened (its `switchyard.endpoint.circuit_opened` is named by it). */
  openedAt: integer("opened_at"),
  /** Re-openings after failed probes in a row: each doubles the cool-off (≤ 3 600 s). */
  reopenings: integer("reopenings").notNull(),
  /** The probe's event seq: released by the alarm (not started) or admitted by a claim (started). */
  probeSeq: integer("probe_seq"),
  /** Until when the probe holds the endpoint; then another delivery may probe. */
  probeUntil: integer("probe_until"),
  probeStarted: integer("probe_started", { mode: "boolean" }).notNull(),
  /** Closed with parked deliveries still to release: the alarm continues in chunks. */
  draining: integer("draining", { mode: "boolean" }).notNull(),
});
