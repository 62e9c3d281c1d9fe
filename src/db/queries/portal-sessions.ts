/**
 * @module Portal session rows (hashes of the link and session tokens only).
 */
import { and, eq, isNull, lt, or } from "drizzle-orm";
import type { Db } from "../client";
import { portalSessions } from "../schema";

export type PortalSessionRow = typeof portalSessions.$inferSelect;

export async function insertPortalSession(db: Db, row: PortalSessionRow): Promise<void> {
  await db.insert(portalSessions).values(row).run();
}

export async function findByLinkHash(db: Db, linkHash: string): Promise<PortalSessionRow | undefined> {
  return db.select().from(portalSessions).where(eq(portalSessions.linkHash, linkHash)).get();
}

export async function findBySessionHash(db: Db, sessionHash: string): Promise<PortalSessionRow | undefined> {
  return db.select().from(portalSessions).where(eq(portalSessions.sessionHash, sessionHash)).get();
}

/** Marks the link used and starts its session; false when another open got there first. */
export async function startSession(
  db: Db,
  id: string,
  values: { usedAt: number; sessionHash: string; sessionExpiresAt: number; csrfToken: string },
): Promise<boolean> {
  const started = await db
    .update(portalSessions)
    .set(values)
    .where(and(eq(portalSessions.id, id), isNull(portalSessions.usedAt)))
    .returning({ id: portalSessions.id })
    .get();
  return started !== undefined;
}

export async function endSession(db: Db, id: string, now: number): Promise<void> {
  await db.update(portalSessions).set({ sessionExpiresAt: now }).where(eq(portalSessions.id, id)).run();
}

/** Deletes ended sessions and links that expired unused (bounded). */
export async function purgeExpiredPortalSessions(db: Db, now: number, limit: number): Promise<number> {
  const expired = or(lt(portalSessions.sessionExpiresAt, now), and(isNull(portalSessions.usedAt), lt(portalSessions.linkExpiresAt, now)));
  const rows = await db.select({ id: portalSessions.id }).from(portalSessions).where(expired).limit(limit).all();
  for (const r of rows) await db.delete(portalSessions).where(eq(portalSessions.id, r.id)).run();
  return rows.length;
}
