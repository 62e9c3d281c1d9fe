/**
 * @module FIFO line queries, used by EndpointDO.
 */
import type { Db } from "../client";
import { EVENT_RANGE } from "./deliveries";

export interface LineHead {
  seq: number;
  generation: number;
  eventSeq: number;
  tenantId: string;
  nextAttemptAt: number | null;
  /** Attempts recorded so far: lets the DO tell a stale copy of a message from the live one. */
  attempts: number;
}

/** The first pending delivery in the endpoint's line (`line_seq`, then creation order). */
export async function lineHead(db: Db, endpointId: string): Promise<LineHead | null> {
  const r = await db.$client
    .prepare(
      `SELECT seq, generation, event_seq, tenant_id, next_attempt_at, attempts FROM deliveries
       WHERE endpoint_id = ? AND status = 'pending' AND line_seq IS NOT NULL ORDER BY line_seq, seq LIMIT 1`,
    )
    .bind(endpointId)
    .first<{ seq: number; generation: number; event_seq: number; tenant_id: string; next_attempt_at: number | null; attempts: number }>();
  return r
    ? { seq: r.seq, generation: r.generation, eventSeq: r.event_seq, tenantId: r.tenant_id, nextAttemptAt: r.next_attempt_at, attempts: r.attempts }
    : null;
}

/** Whether an event of the tenant accepted before `eventSeq` is still waiting for its fan-out. */
export async function earlierEventUnfanned(db: Db, tenantId: string, eventSeq: number): Promise<boolean> {
  const r = await db.$client
    .prepare(`SELECT 1 AS x FROM events WHERE tenant_id = ? AND fanned_out = 0 AND seq < ? LIMIT 1`)
    .bind(tenantId, eventSeq)
    .first();
  return r !== null;
}

/** Starts a parked head: due now, new generation. Null if someone else already did. */
export async function startHead(db: Db, seq: number, now: number): Promise<number | null> {
  const r = await db.$client
    .prepare(
      `UPDATE deliveries SET next_attempt_at = ?2, generation = generation + 1
       WHERE seq = ?1 AND status = 'pending' AND next_attempt_at IS NULL RETURNING generation`,
    )
    .bind(seq, now)
    .first<{ generation: number }>();
  return r?.generation ?? null;
}

/** Whether the endpoint still has pending deliveries in a FIFO line. */
export async function hasLine(db: Db, endpointId: string): Promise<boolean> {
  const r = await db.$client
    .prepare(`SELECT 1 AS x FROM deliveries WHERE endpoint_id = ? AND status = 'pending' AND line_seq IS NOT NULL LIMIT 1`)
    .bind(endpointId)
    .first();
  return r !== null;
}

/** Endpoints with a pending FIFO delivery for this event (to wake after a retried fan-out). */
export async function lineEndpointsOfEvent(db: Db, eventSeq: number): Promise<string[]> {
  const { results } = await db.$client
    .prepare(`SELECT endpoint_id FROM deliveries WHERE ${EVENT_RANGE("seq", "?1")} AND +status = 'pending' AND line_seq IS NOT NULL`)
    .bind(eventSeq)
    .all<{ endpoint_id: string }>();
  return results.map((r) => r.endpoint_id);
}
