/**
 * @module Which tenants a batch's messages name are live, per isolate (DESIGN.md "Storage and
 * retention": deleting a tenant calls its TenantLog's `deleteAll()`, and nothing calls a
 * deleted tenant's object afterwards — a call would re-create it). A tenant's seq is never
 * reused (`tenants.seq` is AUTOINCREMENT), so "gone" could be remembered for good
 * (GONE_TTL_MS only bounds the memory's age); "live" is re-read after LIVE_TTL_MS, in one D1
 * statement for every tenant of the batch that needs it. The hot path reads D1 only to
 * refill this.
 */
import type { Db } from "../db/client";

/** How long a live answer is trusted: a tenant deleted meanwhile may see one more call. */
const LIVE_TTL_MS = 10_000;
const GONE_TTL_MS = 600_000;
/** Entries kept per isolate; the oldest goes first. */
const CAPACITY = 10_000;

/** A live tenant's id (operational events name it); null when the tenant is deleted or never existed. */
export type TenantIdentity = { tenantId: string } | null;

const known = new Map<number, { identity: TenantIdentity; at: number }>();

function remember(seq: number, identity: TenantIdentity, at: number): void {
  known.delete(seq);
  known.set(seq, { identity, at });
  if (known.size > CAPACITY) known.delete(known.keys().next().value!);
}

/**
 * Each seq's identity. Throws when D1 cannot answer (our own trouble: the caller retries
 * the messages rather than guess).
 */
export async function tenantsBySeq(db: Db, seqs: Iterable<number>, now = Date.now()): Promise<Map<number, TenantIdentity>> {
  const answer = new Map<number, TenantIdentity>();
  const ask: number[] = [];
  for (const seq of new Set(seqs)) {
    const entry = known.get(seq);
    if (entry && now - entry.at < (entry.identity === null ? GONE_TTL_MS : LIVE_TTL_MS)) answer.set(seq, entry.identity);
    else ask.push(seq);
  }
  if (ask.length > 0) {
    const { results } = await db.$client
      .prepare(`SELECT seq, id FROM tenants WHERE seq IN (SELECT value FROM json_each(?)) AND deleted_at IS NULL`)
      .bind(JSON.stringify(ask))
      .all<{ seq: number; id: string }>();
    const live = new Map(results.map((r) => [r.seq, r.id]));
    for (const seq of ask) {
      const id = live.get(seq);
      const identity = id === undefined ? null : { tenantId: id };
      remember(seq, identity, now);
      answer.set(seq, identity);
    }
  }
  return answer;
}
