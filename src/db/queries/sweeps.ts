/**
 * @module Queries of the Sweeper and the retention job.
 */
import type { Db } from "../client";

/** Seqs of events not fanned out and accepted before `before` (the partial index keeps this small). */
export async function unfannedEventsBefore(db: Db, before: number, limit: number): Promise<number[]> {
  const { results } = await db.$client
    .prepare(`SELECT seq FROM events WHERE fanned_out = 0 AND created_at < ? ORDER BY seq LIMIT ?`)
    .bind(before, limit)
    .all<{ seq: number }>();
  return results.map((r) => r.seq);
}

export async function hasUnfannedEvents(db: Db): Promise<boolean> {
  return (await db.$client.prepare(`SELECT 1 AS x FROM events WHERE fanned_out = 0 LIMIT 1`).first()) !== null;
}
