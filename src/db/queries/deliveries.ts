/**
 * @module Delivery, attempt and dead-letter writes of the pipeline's hot path.
 *
 * Raw D1 statements, batched: a delivery costs one round trip to load (shared by the
 * batch) and one to record its outcome. Outcome writes are conditional on the
 * generation and attempt count the consumer saw, so a stale or duplicate message
 * records nothing.
 */
import type { Db } from "../client";
import type { DeliveryReason, DeliveryStatus } from "../schema";
import type { EndpointRow } from "./endpoints";

export interface DeliveryRow {
  seq: number;
  tenantId: string;
  endpointId: string;
  eventSeq: number;
  eventType: string;
  status: DeliveryStatus;
  reason: DeliveryReason | null;
  attempts: number;
  runStart: number;
  generation: number;
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  responseStatus: number | null;
  lineSeq: number | null;
  test: boolean;
  createdAt: number;
}

export interface DeliveryEvent {
  seq: number;
  id: string;
  type: string;
  data: string;
  occurredAt: number | null;
  createdAt: number;
}

/** Everything the delivery consumer needs for one message. */
export interface DeliveryContext {
  delivery: DeliveryRow;
  event: DeliveryEvent;
  endpoint: EndpointRow;
  /** Sealed secrets, current first. */
  secretBoxes: string[];
}

type Raw = Record<string, unknown>;

/** Delivery keys per event: a delivery's seq is `eventSeq * DELIVERY_KEYS_PER_EVENT + i`. */
export const DELIVERY_KEYS_PER_EVENT = 65536;
/** The widest fan-out an event may have (docs/decisions.md): i runs 0 … MAX_FANOUT - 1. */
export const MAX_FANOUT = 65535;

/** The key of the event's i-th delivery (i-th matched endpoint by id). */
export function deliverySeqOf(eventSeq: number, i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_FANOUT) throw new RangeError(`fan-out position ${i} is out of range`);
  return eventSeq * DELIVERY_KEYS_PER_EVENT + i;
}

/**
 * SQL for "the deliveries of event `param`", as a primary-key range. `status` is compared
 * with a unary + in callers so the planner takes the key range, not the status index.
 */
export const EVENT_RANGE = (col: string, param: string) => `${col} >= ${param} * ${DELIVERY_KEYS_PER_EVENT} AND ${col} < (${param} + 1) * ${DELIVERY_KEYS_PER_EVENT}`;

export const DELIVERY_COLUMNS =
  "d.seq, d.tenant_id, d.endpoint_id, d.event_seq, d.event_type, d.status, d.reason, d.attempts, d.run_start, d.generation, d.next_attempt_at, d.last_attempt_at, d.response_status, d.line_seq, d.test, d.created_at";

/** The event part of a row selected with `e.id AS ev_id, e.type AS ev_type, …` (see LOAD_SQL). */
export function toDeliveryEvent(r: Raw): DeliveryEvent {
  return {
    seq: r.event_seq as number,
    id: r.ev_id as string,
    type: r.ev_type as string,
    data: r.ev_data as string,
    occurredAt: (r.ev_occurred_at as number | null) ?? null,
    createdAt: r.ev_created_at as number,
  };
}

export function toDeliveryRow(r: Raw): DeliveryRow {
  return {
    seq: r.seq as number,
    tenantId: r.tenant_id as string,
    endpointId: r.endpoint_id as string,
    eventSeq: r.event_seq as number,
    eventType: r.event_type as string,
    status: r.status as DeliveryStatus,
    reason: (r.reason as DeliveryReason | null) ?? null,
    attempts: r.attempts as number,
    runStart: r.run_start as number,
    generation: r.generation as number,
    nextAttemptAt: (r.next_attempt_at as number | null) ?? null,
    lastAttemptAt: (r.last_attempt_at as number | null) ?? null,
    responseStatus: (r.response_status as number | null) ?? null,
    lineSeq: (r.line_seq as number | null) ?? null,
    test: r.test === 1,
    createdAt: r.created_at as number,
  };
}

function toEndpointRow(r: Raw): EndpointRow {
  const json = <T>(v: unknown): T => JSON.parse(v as string) as T;
  return {
    id: r.ep_id as string,
    tenantId: r.ep_tenant_id as string,
    url: r.ep_url as string,
    description: r.ep_description as string,
    status: r.ep_status as EndpointRow["status"],
    disabledReason: (r.ep_disabled_reason as string | null) ?? null,
    failingSince: (r.ep_failing_since as number | null) ?? null,
    filter: json(r.ep_filter),
    method: r.ep_method as EndpointRow["method"],
    headers: json(r.ep_headers),
    authType: (r.ep_auth_type as EndpointRow["authType"]) ?? null,
    authBox: (r.ep_auth_box as string | null) ?? null,
    format: r.ep_format as EndpointRow["format"],
    signature: r.ep_signature as EndpointRow["signature"],
    ordering: r.ep_ordering as EndpointRow["ordering"],
    rateLimit: (r.ep_rate_limit as number | null) ?? null,
    timeoutMs: r.ep_timeout_ms as number,
    retrySchedule: r.ep_retry_schedule === null ? null : json(r.ep_retry_schedule),
    createdAt: r.ep_created_at as number,
    updatedAt: r.ep_updated_at as number,
    deletedAt: (r.ep_deleted_at as number | null) ?? null,
    version: r.ep_version as number,
  };
}

const LOAD_SQL = `SELECT ${DELIVERY_COLUMNS},
  e.id AS ev_id, e.type AS ev_type, e.data AS ev_data, e.occurred_at AS ev_occurred_at, e.created_at AS ev_created_at,
  ep.id AS ep_id, ep.tenant_id AS ep_tenant_id, ep.url AS ep_url, ep.description AS ep_description, ep.status AS ep_status,
  ep.disabled_reason AS ep_disabled_reason, ep.failing_since AS ep_failing_since, ep.filter AS ep_filter, ep.method AS ep_method,
  ep.headers AS ep_headers, ep.auth_type AS ep_auth_type, ep.auth_box AS ep_auth_box, ep.format AS ep_format,
  ep.signature AS ep_signature, ep.ordering AS ep_ordering, ep.rate_limit AS ep_rate_limit, ep.timeout_ms AS ep_timeout_ms,
  ep.retry_schedule AS ep_retry_schedule, ep.created_at AS ep_created_at, ep.updated_at AS ep_updated_at, ep.deleted_at AS ep_deleted_at, ep.version AS ep_version,
  (SELECT json_group_array(secret_box) FROM (SELECT secret_box FROM endpoint_secrets s
     WHERE s.endpoint_id = d.endpoint_id AND (s.expires_at IS NULL OR s.expires_at > ?2) ORDER BY s.seq DESC)) AS secret_boxes
FROM deliveries d JOIN events e ON e.seq = d.event_seq JOIN endpoints ep ON ep.id = d.endpoint_id
WHERE d.seq = ?1`;

/** Loads the contexts of many deliveries in one round trip. */
export async function loadDeliveryContexts(db: Db, seqs: number[], now: number): Promise<Map<number, DeliveryContext>> {
  const d1 = db.$client;
  const unique = [...new Set(seqs)];
  const out = new Map<number, DeliveryContext>();
  if (unique.length === 0) return out;
  const results = await d1.batch(unique.map((seq) => d1.prepare(LOAD_SQL).bind(seq, now)));
  for (const result of results) {
    const r = result.results[0] as Raw | undefined;
    if (!r) continue;
    out.set(r.seq as number, {
      delivery: toDeliveryRow(r),
      event: toDeliveryEvent(r),
      endpoint: toEndpointRow(r),
      secretBoxes: JSON.parse(r.secret_boxes as string) as string[],
    });
  }
  return out;
}

export interface AttemptRecord {
  n: number;
  startedAt: number;
  durationMs: number;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
  location: string | null;
  requestMethod: string;
  requestUrl: string;
  requestHeaders: Record<string, string>;
}

export interface OutcomeWrite {
  deliverySeq: number;
  generation: number;
  /** Attempts before this one: the write applies only if D1 still says so. */
  attemptsBefore: number;
  attempt: AttemptRecord | null;
  status: DeliveryStatus;
  reason: DeliveryReason | null;
  nextAttemptAt: number | null;
  now: number;
  /** Test sends keep no dead letter. */
  test?: boolean;
}

/** Statements that record one attempt and its outcome, conditional on what the consumer saw. */
export function outcomeStatements(db: Db, w: OutcomeWrite): D1PreparedStatement[] {
  const d1 = db.$client;
  const attempts = w.attemptsBefore + (w.attempt ? 1 : 0);
  const stmts: D1PreparedStatement[] = [];
  if (w.attempt) {
    const a = w.attempt;
    stmts.push(
      d1
        .prepare(
          `INSERT INTO attempts (delivery_seq, n, started_at, duration_ms, response_status, response_body, error, location, request_method, request_url, request_headers)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
           WHERE EXISTS (SELECT 1 FROM deliveries WHERE seq = ?1 AND generation = ?12 AND attempts = ?13 AND status = 'pending')
           ON CONFLICT DO NOTHING`,
        )
        .bind(w.deliverySeq, a.n, a.startedAt, a.durationMs, a.responseStatus, a.responseBody, a.error, a.location, a.requestMethod, a.requestUrl, JSON.stringify(a.requestHeaders), w.generation, w.attemptsBefore),
    );
  }
  stmts.push(
    d1
      .prepare(
        `UPDATE deliveries SET status = ?1, reason = ?2, attempts = ?3, next_attempt_at = ?4,
           last_attempt_at = COALESCE(?5, last_attempt_at), response_status = COALESCE(?6, response_status)
         WHERE seq = ?7 AND generation = ?8 AND attempts = ?9 AND status = 'pending'`,
      )
      .bind(w.status, w.reason, attempts, w.nextAttemptAt, w.attempt?.startedAt ?? null, w.attempt?.responseStatus ?? null, w.deliverySeq, w.generation, w.attemptsBefore),
  );
  if (w.status === "failed" && !w.test) stmts.push(deadLetterForDelivery(db, w.deliverySeq, null, w.now, { generation: w.generation, attempts }));
  return stmts;
}

/**
 * A dead letter for a delivery that is now failed; at most one per delivery.
 * `guard` pins the generation and attempt count so a stale writer adds nothing.
 */
export function deadLetterForDelivery(
  db: Db,
  deliverySeq: number,
  queue: "fanout" | "deliveries" | null,
  now: number,
  guard?: { generation: number; attempts: number },
): D1PreparedStatement {
  return db.$client
    .prepare(
      `INSERT INTO dead_letters (tenant_id, endpoint_id, delivery_seq, event_seq, event_id, event_type, reason, attempts, last_response_status, queue, created_at)
       SELECT d.tenant_id, d.endpoint_id, d.seq, d.event_seq, e.id, d.event_type, d.reason, d.attempts, d.response_status, ?2, ?3
       FROM deliveries d JOIN events e ON e.seq = d.event_seq
       WHERE d.seq = ?1 AND d.status = 'failed' AND (?4 IS NULL OR (d.generation = ?4 AND d.attempts = ?5))
       ON CONFLICT DO NOTHING`,
    )
    .bind(deliverySeq, queue, now, guard?.generation ?? null, guard?.attempts ?? null);
}

/** True when this very attempt (same `n` and start time) is recorded: its outcome write committed. */
export async function attemptRecorded(db: Db, deliverySeq: number, attempt: Pick<AttemptRecord, "n" | "startedAt">): Promise<boolean> {
  const row = await db.$client
    .prepare(`SELECT 1 AS yes FROM attempts WHERE delivery_seq = ? AND n = ? AND started_at = ?`)
    .bind(deliverySeq, attempt.n, attempt.startedAt)
    .first();
  return row !== null;
}

/** Runs statements as one transaction; returns each statement's result. */
export async function runBatch(db: Db, stmts: D1PreparedStatement[]): Promise<D1Result[]> {
  return stmts.length ? db.$client.batch(stmts) : [];
}

/** Parks a pending delivery (`next_attempt_at = NULL`): whoever frees it enqueues it. */
export async function parkDelivery(db: Db, seq: number, generation: number): Promise<void> {
  await db.$client
    .prepare(`UPDATE deliveries SET next_attempt_at = NULL WHERE seq = ? AND generation = ? AND status = 'pending' AND next_attempt_at IS NOT NULL`)
    .bind(seq, generation)
    .run();
}

/**
 * Wakes the parked deliveries of an endpoint (resume) that are not in a FIFO line (the
 * EndpointDO starts those, in order): each gets a new generation and is due now. Returns `(seq, generation)` to enqueue; bounded per call.
 */
export async function wakeParked(db: Db, endpointId: string, now: number, limit: number): Promise<{ d: number; g: number }[]> {
  const { results } = await db.$client
    .prepare(
      `UPDATE deliveries SET next_attempt_at = ?2, generation = generation + 1
       WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_id = ?1 AND status = 'pending' AND next_attempt_at IS NULL AND line_seq IS NULL ORDER BY seq LIMIT ?3)
       RETURNING seq, generation`,
    )
    .bind(endpointId, now, limit)
    .all<{ seq: number; generation: number }>();
  return results.map((r) => ({ d: r.seq, g: r.generation }));
}

/**
 * Re-arms pending deliveries whose message may be lost (due more than `graceMs` ago):
 * bumps their generation so any surviving message goes stale. Bounded per call.
 */
export async function rearmOverdue(db: Db, now: number, graceMs: number, limit: number): Promise<{ d: number; g: number }[]> {
  const { results } = await db.$client
    .prepare(
      `UPDATE deliveries SET next_attempt_at = ?1, generation = generation + 1
       WHERE seq IN (SELECT seq FROM deliveries WHERE status = 'pending' AND next_attempt_at IS NOT NULL AND next_attempt_at < ?2 LIMIT ?3)
       RETURNING seq, generation`,
    )
    .bind(now, now - graceMs, limit)
    .all<{ seq: number; generation: number }>();
  return results.map((r) => ({ d: r.seq, g: r.generation }));
}

/** Whether any pending delivery is waiting for a message (not parked). */
export async function hasScheduledDeliveries(db: Db): Promise<boolean> {
  const row = await db.$client
    .prepare(`SELECT 1 AS x FROM deliveries WHERE status = 'pending' AND next_attempt_at IS NOT NULL LIMIT 1`)
    .first<{ x: number }>();
  return row !== null;
}

export interface NewDelivery {
  /** {@link deliverySeqOf} */
  seq: number;
  tenantId: string;
  endpointId: string;
  eventSeq: number;
  eventType: string;
  status: "pending" | "failed";
  reason: DeliveryReason | null;
  nextAttemptAt: number | null;
  lineSeq: number | null;
  test: boolean;
  createdAt: number;
}

/** Bound parameters per inserted delivery row. */
const INSERT_COLUMNS = 11;

/**
 * Inserts an event's deliveries and marks it fanned out, in one transaction (multi-row
 * inserts chunked under D1's 100 bound parameters). Every insert runs only while the event
 * is still un-fanned, so a redelivered fan-out adds nothing and the derived keys are never
 * reused; a key conflict can only come from a concurrent duplicate (ignored). Returns the
 * rows this call inserted.
 */
export async function insertDeliveriesAndMarkFannedOut(
  db: Db,
  eventSeq: number,
  rows: NewDelivery[],
  now: number,
): Promise<{ seq: number; generation: number; status: string; endpointId: string }[]> {
  const d1 = db.$client;
  const stmts: D1PreparedStatement[] = [];
  const perStatement = Math.floor((100 - 1) / INSERT_COLUMNS);
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement);
    const values = chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, 0, 0, 1, ?, ?, ?, ?)").join(", ");
    const params = chunk.flatMap((r) => [r.seq, r.tenantId, r.endpointId, r.eventSeq, r.eventType, r.status, r.reason, r.nextAttemptAt, r.lineSeq, r.test ? 1 : 0, r.createdAt]);
    stmts.push(
      d1
        .prepare(
          `INSERT INTO deliveries (seq, tenant_id, endpoint_id, event_seq, event_type, status, reason, attempts, run_start, generation, next_attempt_at, line_seq, test, created_at)
           SELECT * FROM (VALUES ${values}) WHERE EXISTS (SELECT 1 FROM events WHERE seq = ? AND fanned_out = 0)
           ON CONFLICT DO NOTHING RETURNING seq, generation, status, endpoint_id`,
        )
        .bind(...params, eventSeq),
    );
  }
  const inserts = stmts.length;
  for (const r of rows) if (r.status === "failed") stmts.push(deadLetterForDelivery(db, r.seq, null, now));
  stmts.push(d1.prepare(`UPDATE events SET fanned_out = 1 WHERE seq = ? AND fanned_out = 0`).bind(eventSeq));
  const results = await d1.batch(stmts);
  return results
    .slice(0, inserts)
    .flatMap((r) => r.results as { seq: number; generation: number; status: string; endpoint_id: string }[])
    .map((r) => ({ seq: r.seq, generation: r.generation, status: r.status, endpointId: r.endpoint_id }));
}

/** Pending, never-attempted, scheduled deliveries of an event: re-sent when a fan-out is retried. */
export async function untriedDeliveriesOfEvent(db: Db, eventSeq: number): Promise<{ d: number; g: number }[]> {
  const { results } = await db.$client
    .prepare(`SELECT seq, generation FROM deliveries WHERE ${EVENT_RANGE("seq", "?1")} AND +status = 'pending' AND attempts = 0 AND next_attempt_at IS NOT NULL`)
    .bind(eventSeq)
    .all<{ seq: number; generation: number }>();
  return results.map((r) => ({ d: r.seq, g: r.generation }));
}

/** Stores a test send's event (never listed) and its delivery (seq = event seq * 65536), parked; returns their seqs. */
export async function insertTestDelivery(
  db: Db,
  row: { eventId: string; tenantId: string; endpointId: string; type: string; data: string; now: number },
): Promise<{ eventSeq: number; deliverySeq: number }> {
  const d1 = db.$client;
  const [event, delivery] = await d1.batch<{ seq: number }>([
    d1
      .prepare(
        `INSERT INTO events (id, tenant_id, type, data, occurred_at, created_at, idempotency_key, body_hash, fanned_out, test)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, NULL, '', 1, 1) RETURNING seq`,
      )
      .bind(row.eventId, row.tenantId, row.type, row.data, row.now),
    d1
      .prepare(
        `INSERT INTO deliveries (seq, tenant_id, endpoint_id, event_seq, event_type, status, reason, attempts, run_start, generation, next_attempt_at, line_seq, test, created_at)
         SELECT seq * ${DELIVERY_KEYS_PER_EVENT}, ?1, ?2, seq, ?3, 'pending', NULL, 0, 0, 1, NULL, NULL, 1, ?4 FROM events WHERE tenant_id = ?1 AND id = ?5 RETURNING seq`,
      )
      .bind(row.tenantId, row.endpointId, row.type, row.now, row.eventId),
  ]);
  return { eventSeq: event!.results[0]!.seq, deliverySeq: delivery!.results[0]!.seq };
}
