/**
 * @module Event rows: the payload is stored once, here.
 */
import { and, asc, desc, eq, gte, lt, sql } from "drizzle-orm";
import type { Db } from "../client";
import { deliveries, events } from "../schema";
import { DELIVERY_KEYS_PER_EVENT } from "./deliveries";

export type EventRow = typeof events.$inferSelect;
export type NewEvent = typeof events.$inferInsert;

/** Inserts unless the id or idempotency key exists; undefined when it did. */
export async function insertEvent(db: Db, row: NewEvent): Promise<EventRow | undefined> {
  return db.insert(events).values(row).onConflictDoNothing().returning().get();
}

export async function findEventById(db: Db, tenantId: string, id: string): Promise<EventRow | undefined> {
  return db.select().from(events).where(and(eq(events.tenantId, tenantId), eq(events.id, id))).get();
}

export async function findEventByIdempotencyKey(db: Db, tenantId: string, key: string): Promise<EventRow | undefined> {
  return db
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenantId), eq(events.idempotencyKey, key), sql`idempotency_key IS NOT NULL`))
    .get();
}

export async function findEventBySeq(db: Db, seq: number): Promise<EventRow | undefined> {
  return db.select().from(events).where(eq(events.seq, seq)).get();
}

export async function deleteEvent(db: Db, seq: number): Promise<void> {
  await db.delete(events).where(eq(events.seq, seq)).run();
}

export async function listEvents(
  db: Db,
  tenantId: string,
  options: { type?: string; since?: number; until?: number; beforeSeq?: number; limit: number },
) {
  return db
    .select({ seq: events.seq, id: events.id, type: events.type, occurredAt: events.occurredAt, createdAt: events.createdAt })
    .from(events)
    .where(
      and(
        eq(events.tenantId, tenantId),
        sql`test = 0`,
        options.type === undefined ? undefined : eq(events.type, options.type),
        options.since === undefined ? undefined : gte(events.createdAt, options.since),
        options.until === undefined ? undefined : lt(events.createdAt, options.until),
        options.beforeSeq === undefined ? undefined : lt(events.seq, options.beforeSeq),
      ),
    )
    .orderBy(desc(events.seq))
    .limit(options.limit + 1)
    .all();
}

/** The deliveries of one event, for the event detail. */
export async function deliveriesOfEvent(db: Db, eventSeq: number) {
  return db
    .select({ seq: deliveries.seq, endpointId: deliveries.endpointId, status: deliveries.status, attempts: deliveries.attempts })
    .from(deliveries)
    // An event's deliveries are a key range (seq = event seq * 65536 + i): no event_seq index.
    .where(and(gte(deliveries.seq, eventSeq * DELIVERY_KEYS_PER_EVENT), lt(deliveries.seq, (eventSeq + 1) * DELIVERY_KEYS_PER_EVENT)))
    .orderBy(asc(deliveries.seq))
    .all();
}
