/**
 * @module Dead letter reads and deletes.
 */
import type { Db } from "../client";
import type { DeliveryReason } from "../schema";

export interface DeadLetterRow {
  seq: number;
  tenantId: string;
  endpointId: string | null;
  deliverySeq: number | null;
  eventSeq: number | null;
  eventId: string | null;
  eventType: string | null;
  reason: DeliveryReason;
  attempts: number;
  lastResponseStatus: number | null;
  queue: "fanout" | "deliveries" | null;
  createdAt: number;
}

const COLUMNS = "seq, tenant_id, endpoint_id, delivery_seq, event_seq, event_id, event_type, reason, attempts, last_response_status, queue, created_at";

function toRow(r: Record<string, unknown>): DeadLetterRow {
  return {
    seq: r.seq as number,
    tenantId: r.tenant_id as string,
    endpointId: (r.endpoint_id as string | null) ?? null,
    deliverySeq: (r.delivery_seq as number | null) ?? null,
    eventSeq: (r.event_seq as number | null) ?? null,
    eventId: (r.event_id as string | null) ?? null,
    eventType: (r.event_type as string | null) ?? null,
    reason: r.reason as DeliveryReason,
    attempts: r.attempts as number,
    lastResponseStatus: (r.last_response_status as number | null) ?? null,
    queue: (r.queue as DeadLetterRow["queue"]) ?? null,
    createdAt: r.created_at as number,
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

/** Re-runs a failed fan-out: the event goes back to `fanned_out = 0` and its dead letter is removed. */
export async function reopenFanout(db: Db, dl: DeadLetterRow): Promise<boolean> {
  const [reopened] = await db.$client.batch([
    db.$client.prepare(`UPDATE events SET fanned_out = 0 WHERE seq = ? AND fanned_out = 2`).bind(dl.eventSeq),
    db.$client.prepare(`DELETE FROM dead_letters WHERE seq = ?`).bind(dl.seq),
  ]);
  return (reopened?.meta.changes ?? 0) > 0;
}
