/**
 * @module Reads of the delivery log and dead letters, and the retry/replay writes.
 * Every function takes the tenant id, so the log can later be sharded per tenant.
 */
import type { Db } from "../client";
import type { DeliveryStatus } from "../schema";
import { DELIVERY_COLUMNS, DELIVERY_KEYS_PER_EVENT, toDeliveryRow, toDeliveryEvent, type AttemptRecord, type DeliveryRow } from "./deliveries";

export interface DeliveryListItem extends DeliveryRow {
  eventId: string;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  type?: string;
  since?: number;
  until?: number;
  /** Keyset cursor: rows strictly older than this (created_at, seq). */
  before?: { createdAt: number; seq: number };
  limit: number;
}

/** The endpoint's log, newest first by (created_at, seq): the (endpoint_id, created_at) and (status, endpoint_id, created_at) indexes, seq implicit. */
export function deliveryListQuery(tenantId: string, endpointId: string, f: DeliveryFilter): { sql: string; params: unknown[] } {
  const where = ["d.endpoint_id = ?", "d.tenant_id = ?"];
  const params: unknown[] = [endpointId, tenantId];
  if (f.status) (where.push("d.status = ?"), params.push(f.status));
  if (f.type) (where.push("d.event_type = ?"), params.push(f.type));
  if (f.since !== undefined) (where.push("d.created_at >= ?"), params.push(f.since));
  if (f.until !== undefined) (where.push("d.created_at < ?"), params.push(f.until));
  if (f.before !== undefined) {
    where.push("(d.created_at < ? OR (d.created_at = ? AND d.seq < ?))");
    params.push(f.before.createdAt, f.before.createdAt, f.before.seq);
  }
  params.push(f.limit + 1);
  return {
    sql: `SELECT ${DELIVERY_COLUMNS}, e.id AS event_id FROM deliveries d JOIN events e ON e.seq = d.event_seq
          WHERE ${where.join(" AND ")} ORDER BY d.created_at DESC, d.seq DESC LIMIT ?`,
    params,
  };
}

export async function listDeliveries(db: Db, tenantId: string, endpointId: string, f: DeliveryFilter): Promise<DeliveryListItem[]> {
  const { sql, params } = deliveryListQuery(tenantId, endpointId, f);
  const { results } = await db.$client.prepare(sql).bind(...params).all<Record<string, unknown>>();
  return results.map((r) => ({ ...toDeliveryRow(r), eventId: r.event_id as string }));
}

export async function findDelivery(db: Db, tenantId: string, seq: number) {
  const r = await db.$client
    .prepare(
      `SELECT ${DELIVERY_COLUMNS}, e.id AS event_id, e.id AS ev_id, e.type AS ev_type, e.data AS ev_data, e.occurred_at AS ev_occurred_at, e.created_at AS ev_created_at
       FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.seq = ? AND d.tenant_id = ?`,
    )
    .bind(seq, tenantId)
    .first<Record<string, unknown>>();
  if (!r) return undefined;
  return {
    delivery: { ...toDeliveryRow(r), eventId: r.event_id as string },
    event: toDeliveryEvent(r),
  };
}

/** An attempt as the log keeps it (the shape the consumer records). */
export type AttemptRow = AttemptRecord;

export async function attemptsOf(db: Db, deliverySeq: number): Promise<AttemptRow[]> {
  const { results } = await db.$client
    .prepare(
      `SELECT n, started_at, duration_ms, response_status, response_body, error, location, request_method, request_url, request_headers
       FROM attempts WHERE delivery_seq = ? ORDER BY n`,
    )
    .bind(deliverySeq)
    .all<Record<string, unknown>>();
  return results.map((r) => ({
    n: r.n as number,
    startedAt: r.started_at as number,
    durationMs: r.duration_ms as number,
    responseStatus: (r.response_status as number | null) ?? null,
    responseBody: (r.response_body as string | null) ?? null,
    error: (r.error as string | null) ?? null,
    location: (r.location as string | null) ?? null,
    requestMethod: r.request_method as string,
    requestUrl: r.request_url as string,
    requestHeaders: JSON.parse(r.request_headers as string) as Record<string, string>,
  }));
}

/**
 * Starts a new run for deliveries (retry, replay): pending, schedule restarted, a new
 * generation, dead letter removed. FIFO deliveries take `lineBase + i` (the back of the
 * line, in the given order) and wait parked for their DO; the rest are due now, or
 * parked when the endpoint is paused. Returns the rows to enqueue.
 */
export async function restartDeliveries(
  db: Db,
  tenantId: string,
  items: { seq: number; generation: number }[],
  options: { fifo: boolean; paused: boolean; now: number },
): Promise<{ d: number; g: number }[]> {
  if (!items.length) return [];
  const d1 = db.$client;
  const base = options.fifo
    ? ((await d1.prepare(`SELECT COALESCE(MAX(seq), 0) AS m FROM events`).first<{ m: number }>())?.m ?? 0)
    : 0;
  const next = options.fifo || options.paused ? null : options.now;
  const stmts = items.flatMap((it, i) => [
    d1
      .prepare(
        `UPDATE deliveries SET status = 'pending', reason = NULL, run_start = attempts, generation = generation + 1,
           next_attempt_at = ?1, line_seq = CASE WHEN ?2 THEN ?3 ELSE line_seq END
         WHERE seq = ?4 AND tenant_id = ?5 AND generation = ?6 RETURNING seq, generation`,
      )
      .bind(next, options.fifo ? 1 : 0, base + i + 1, it.seq, tenantId, it.generation),
    d1.prepare(`DELETE FROM dead_letters WHERE delivery_seq = ? AND tenant_id = ?`).bind(it.seq, tenantId),
  ]);
  const results = await d1.batch(stmts);
  if (next === null) return [];
  return results.flatMap((r) => (r.results as { seq?: number; generation?: number }[]).filter((x) => x.seq !== undefined).map((x) => ({ d: x.seq!, g: x.generation! })));
}

/** Deliveries of an endpoint to replay, by event order after `afterEventSeq`. */
export async function replayCandidates(
  db: Db,
  tenantId: string,
  endpointId: string,
  f: { status: "failed" | "delivered"; since: number; until: number; afterEventSeq: number; limit: number },
): Promise<{ seq: number; generation: number; eventSeq: number }[]> {
  const { results } = await db.$client
    .prepare(
      `SELECT d.seq, d.generation, d.event_seq FROM deliveries d JOIN events e ON e.seq = d.event_seq
       WHERE d.endpoint_id = ? AND d.tenant_id = ? AND d.status = ? AND d.test = 0 AND e.created_at >= ? AND e.created_at < ? AND d.seq >= (? + 1) * ${DELIVERY_KEYS_PER_EVENT}
       ORDER BY d.seq LIMIT ?`,
    )
    .bind(endpointId, tenantId, f.status, f.since, f.until, f.afterEventSeq, f.limit)
    .all<{ seq: number; generation: number; event_seq: number }>();
  return results.map((r) => ({ seq: r.seq, generation: r.generation, eventSeq: r.event_seq }));
}

export async function countReplayCandidates(db: Db, tenantId: string, endpointId: string, f: { status: "failed" | "delivered"; since: number; until: number }): Promise<number> {
  const r = await db.$client
    .prepare(
      `SELECT COUNT(*) AS n FROM deliveries d JOIN events e ON e.seq = d.event_seq
       WHERE d.endpoint_id = ? AND d.tenant_id = ? AND d.status = ? AND d.test = 0 AND e.created_at >= ? AND e.created_at < ?`,
    )
    .bind(endpointId, tenantId, f.status, f.since, f.until)
    .first<{ n: number }>();
  return r?.n ?? 0;
}

/** Counts by status of the endpoint's deliveries created in [since, until): an index range scan of the window only. */
export async function countByStatus(db: Db, endpointId: string, since: number, until: number): Promise<Record<DeliveryStatus, number>> {
  const { results } = await db.$client
    .prepare(
      `SELECT status, COUNT(*) AS n FROM deliveries INDEXED BY deliveries_status_endpoint_created
       WHERE endpoint_id = ? AND status IN ('pending', 'delivered', 'failed') AND created_at >= ? AND created_at < ? AND test = 0 GROUP BY status`,
    )
    .bind(endpointId, since, until)
    .all<{ status: DeliveryStatus; n: number }>();
  const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
  for (const r of results) counts[r.status] = r.n;
  return counts;
}

/** Durations of the most recent attempts of deliveries created in the window (bounded sample). */
export async function attemptDurations(db: Db, endpointId: string, since: number, until: number, sample: number): Promise<number[]> {
  const { results } = await db.$client
    .prepare(
      `SELECT a.duration_ms AS ms FROM deliveries d INDEXED BY deliveries_endpoint_created JOIN attempts a ON a.delivery_seq = d.seq
       WHERE d.endpoint_id = ? AND d.created_at >= ? AND d.created_at < ? AND d.test = 0
       ORDER BY d.created_at DESC LIMIT ?`,
    )
    .bind(endpointId, since, until, sample)
    .all<{ ms: number }>();
  return results.map((r) => r.ms);
}
