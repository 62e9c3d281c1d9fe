/**
 * @module Dead letter reads and deletes.
 */
import type { Db } from "../client";
import type { DeliveryReason } from "../schema";

export interface DeadLetterRow {
  seq: number;
  tenantId: string;
  endpointId: string | null;
  deliveryId: string | null;
  eventId: string | null;
  eventType: string | null;
  reason: DeliveryReason;
  attempts: number;
  lastResponseStatus: number | null;
  queue: "deliveries" | null;
  createdAt: number;
  /** The delivery's key in its TenantLog: tenant seq, event seq, endpoint ordinal. */
  tenantSeq: number | null;
  logEventSeq: number | null;
  endpointOrdinal: number | null;
}

const COLUMNS = "seq, tenant_id, endpoint_id, delivery_id, event_id, event_type, reason, attempts, last_response_status, queue, created_at, tenant_seq, log_event_seq, endpoint_ordinal";

function toRow(r: Record<string, unknown>): DeadLetterRow {
  return {
    seq: r.seq as number,
    tenantId: r.tenant_id as string,
    endpointId: (r.endpoint_id as string | null) ?? null,
    deliveryId: (r.delivery_id as string | null) ?? null,
    eventId: (r.event_id as string | null) ?? null,
    eventType: (r.event_type as string | null) ?? null,
    reason: r.reason as DeliveryReason,
    attempts: r.attempts as number,
    lastResponseStatus: (r.last_response_status as number | null) ?? null,
    queue: (r.queue as DeadLetterRow["queue"]) ?? null,
    createdAt: r.created_at as number,
    tenantSeq: (r.tenant_seq as number | null) ?? null,
    logEventSeq: (r.log_event_seq as number | null) ?? null,
    endpointOrdinal: (r.endpoint_ordinal as number | null) ?? null,
  };
}

export interface DeadLetterFilter {
  tenantId?: string;
  endpointId?: string;
  since?: number;
  until?: number;
  beforeSeq?: number;
  afterSeq?: number;
  limit: number;
}

/** Newest first (or oldest first after `afterSeq`, for replays); indexed by tenant or endpoint. */
export function deadLetterListQuery(f: DeadLetterFilter): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.tenantId !== undefined) (where.push("tenant_id = ?"), params.push(f.tenantId));
  if (f.endpointId !== undefined) (where.push("endpoint_id = ?"), params.push(f.endpointId));
  if (f.since !== undefined) (where.push("created_at >= ?"), params.push(f.since));
  if (f.until !== undefined) (where.push("created_at < ?"), params.push(f.until));
  if (f.beforeSeq !== undefined) (where.push("seq < ?"), params.push(f.beforeSeq));
  if (f.afterSeq !== undefined) (where.push("seq > ?"), params.push(f.afterSeq));
  params.push(f.limit + (f.afterSeq === undefined ? 1 : 0));
  return {
    sql: `SELECT ${COLUMNS} FROM dead_letters ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${f.afterSeq === undefined ? "DESC" : "ASC"} LIMIT ?`,
    params,
  };
}

export async function listDeadLetters(db: Db, f: DeadLetterFilter): Promise<DeadLetterRow[]> {
  const { sql, params } = deadLetterListQuery(f);
  const { results } = await db.$client.prepare(sql).bind(...params).all<Record<string, unknown>>();
  return results.map(toRow);
}

export async function countDeadLetters(db: Db, f: Omit<DeadLetterFilter, "limit">): Promise<number> {
  const { sql, params } = deadLetterListQuery({ ...f, limit: 0 });
  const countSql = `SELECT COUNT(*) AS n FROM (${sql.replace(/ORDER BY .*$/, "")})`;
  const r = await db.$client.prepare(countSql).bind(...params.slice(0, -1)).first<{ n: number }>();
  return r?.n ?? 0;
}

export async function findDeadLetter(db: Db, seq: number): Promise<DeadLetterRow | undefined> {
  const r = await db.$client.prepare(`SELECT ${COLUMNS} FROM dead_letters WHERE seq = ?`).bind(seq).first<Record<string, unknown>>();
  return r ? toRow(r) : undefined;
}

export async function deleteDeadLetter(db: Db, seq: number): Promise<void> {
  await db.$client.prepare(`DELETE FROM dead_letters WHERE seq = ?`).bind(seq).run();
}

/**
 * A retried delivery has no dead letter any more (DESIGN.md "Deliveries": retry), whatever
 * its generation: the endpoint's dead letters of events `first`..`last` (one event, or a
 * replay's range of failed deliveries). Through the log-key index.
 */
export async function deleteLogDeadLetters(db: Db, tenantSeq: number, ordinal: number, events: { first: number; last: number }): Promise<void> {
  await db.$client
    .prepare(`DELETE FROM dead_letters WHERE tenant_seq = ? AND log_event_seq BETWEEN ? AND ? AND endpoint_ordinal = ?`)
    .bind(tenantSeq, events.first, events.last, ordinal)
    .run();
}

/** A dead letter a TenantLog's outbox hands to D1 (data plane v2, docs/data-plane-v2.md). */
export interface LogDeadLetter {
  /** The delivery's public id (domain/ids `logDeliveryId`). */
  deliveryId: string;
  endpointId: string;
  eventSeq: number;
  ordinal: number;
  generation: number;
  eventId: string;
  eventType: string;
  reason: DeliveryReason;
  attempts: number;
  lastResponseStatus: number | null;
  createdAt: number;
  /** The queue whose trouble ended it (`deliveries` for a `consumer_error`); absent otherwise. */
  queue?: "deliveries";
}

/**
 * Stores one outbox flush of a tenant's dead letters in ONE statement (the rows travel as
 * one JSON parameter: D1 takes at most 100 bound parameters). Conditional on the log key,
 * so a flush retried after it landed stores nothing twice; a deleted tenant's rows vanish.
 */
export async function insertLogDeadLetters(db: Db, tenantSeq: number, rows: LogDeadLetter[]): Promise<void> {
  if (rows.length === 0) return;
  const field = (name: keyof LogDeadLetter) => `json_extract(j.value, '$.${name}')`;
  await db.$client
    .prepare(
      `INSERT INTO dead_letters (tenant_id, endpoint_id, delivery_id, event_id, event_type, reason, attempts, last_response_status, queue, created_at, tenant_seq, log_event_seq, endpoint_ordinal, generation)
       SELECT t.id, ${field("endpointId")}, ${field("deliveryId")}, ${field("eventId")}, ${field("eventType")}, ${field("reason")}, ${field("attempts")}, ${field("lastResponseStatus")}, ${field("queue")}, ${field("createdAt")},
              t.seq, ${field("eventSeq")}, ${field("ordinal")}, ${field("generation")}
       FROM json_each(?1) j JOIN tenants t ON t.seq = ?2 AND t.deleted_at IS NULL
       WHERE true
       ON CONFLICT DO NOTHING`,
    )
    .bind(JSON.stringify(rows), tenantSeq)
    .run();
}
