/**
 * @module Event type rows.
 */
import { and, asc, eq, gt, isNull } from "drizzle-orm";
import type { Db } from "../client";
import { eventTypes } from "../schema";

export type EventTypeRow = typeof eventTypes.$inferSelect;

export async function findEventType(db: Db, name: string): Promise<EventTypeRow | undefined> {
  return db.select().from(eventTypes).where(eq(eventTypes.name, name)).get();
}

export async function insertEventType(db: Db, row: EventTypeRow): Promise<boolean> {
  const r = await db.insert(eventTypes).values(row).onConflictDoNothing().returning({ name: eventTypes.name }).get();
  return r !== undefined;
}

export async function updateEventType(db: Db, name: string, patch: Partial<EventTypeRow>): Promise<EventTypeRow | undefined> {
  return db.update(eventTypes).set(patch).where(eq(eventTypes.name, name)).returning().get();
}

export async function listEventTypes(
  db: Db,
  options: { group?: string; includeArchived: boolean; afterName?: string; limit: number },
): Promise<EventTypeRow[]> {
  return db
    .select()
    .from(eventTypes)
    .where(
      and(
        options.group === undefined ? undefined : eq(eventTypes.group, options.group),
        options.includeArchived ? undefined : isNull(eventTypes.archivedAt),
        options.afterName === undefined ? undefined : gt(eventTypes.name, options.afterName),
      ),
    )
    .orderBy(asc(eventTypes.name))
    .limit(options.limit + 1)
    .all();
}
