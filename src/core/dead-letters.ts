/**
 * @module Dead letter verbs. Tenant keys see only their own tenant's.
 */
import type { Deps } from "../api/context";
import { parseSeqId, seqId } from "../domain/ids";
import { conflict, forbidden, notFound } from "../errors";
import * as q from "../db/queries/dead-letters";
import type { DeadLetterRow } from "../db/queries/dead-letters";
import { findEndpointById } from "../db/queries/endpoints";
import { enqueueFanouts, enqueueReplay, type DeadLetterReplayMessage } from "../pipeline/messages";
import { retryDelivery } from "./deliveries";

/** Dead letters replayed per chunk; the rest continue through the queue. */
export const DEAD_LETTER_REPLAY_CHUNK = 100;

export interface Scope {
  /** The tenant a tenant key is bound to; null for the admin. */
  tenantId: string | null;
}

/** A tenant key may name only its own tenant in a query (another tenant's id is a 403). */
function scopedTenantFilter(scope: Scope, tenantId: string | undefined): string | undefined {
  if (scope.tenantId === null) return tenantId;
  if (tenantId !== undefined && tenantId !== scope.tenantId) throw forbidden("This API key belongs to another tenant.");
  return scope.tenantId;
}

export async function listDeadLetters(deps: Deps, scope: Scope, f: Omit<q.DeadLetterFilter, "afterSeq">) {
  return q.listDeadLetters(deps.db, { ...f, tenantId: scopedTenantFilter(scope, f.tenantId) });
}

/** The dead letter, or a 404 (also for another tenant's). */
export async function getDeadLetter(deps: Deps, scope: Scope, id: string): Promise<DeadLetterRow> {
  const seq = parseSeqId("dl", id);
  const row = seq === null ? undefined : await q.findDeadLetter(deps.db, seq);
  if (!row || (scope.tenantId !== null && row.tenantId !== scope.tenantId)) throw notFound(`Dead letter ${id}`);
  return row;
}

/** Replays one: the same as retrying its delivery, or re-running its fan-out. */
export async function replayDeadLetter(deps: Deps, scope: Scope, id: string): Promise<void> {
  await replayRow(deps, await getDeadLetter(deps, scope, id));
}

async function replayRow(deps: Deps, dl: DeadLetterRow): Promise<void> {
  if (dl.deliverySeq !== null) {
    await retryDelivery(deps, dl.tenantId, seqId("dlv", dl.deliverySeq));
    return;
  }
  if (dl.eventSeq === null) throw conflict("This dead letter has nothing to replay.");
  if (await q.reopenFanout(deps.db, dl)) await enqueueFanouts(deps.env.FANOUT_QUEUE, [dl.eventSeq]);
}

export async function deleteDeadLetter(deps: Deps, scope: Scope, id: string): Promise<void> {
  const row = await getDeadLetter(deps, scope, id);
  await q.deleteDeadLetter(deps.db, row.seq);
}

/** Counts the matches and starts a replay that continues in chunks through the queue. */
export async function replayDeadLetters(
  deps: Deps,
  scope: Scope,
  f: { tenantId?: string; endpointId?: string; since?: number; until?: number },
): Promise<number> {
  const tenantId = scopedTenantFilter(scope, f.tenantId) ?? null;
  const until = f.until ?? deps.now + 1;
  const count = await q.countDeadLetters(deps.db, { tenantId: tenantId ?? undefined, endpointId: f.endpointId, since: f.since, until });
  if (count > 0) {
    await enqueueReplay(deps.env.FANOUT_QUEUE, {
      kind: "replay-dead-letters",
      tenantId,
      endpointId: f.endpointId ?? null,
      since: f.since ?? null,
      until,
      after: 0,
    });
  }
  return count;
}

export async function continueDeadLetterReplay(deps: Deps, msg: DeadLetterReplayMessage): Promise<void> {
  const rows = await q.listDeadLetters(deps.db, {
    tenantId: msg.tenantId ?? undefined,
    endpointId: msg.endpointId ?? undefined,
    since: msg.since ?? undefined,
    until: msg.until ?? undefined,
    afterSeq: msg.after,
    limit: DEAD_LETTER_REPLAY_CHUNK,
  });
  for (const dl of rows) {
    const endpoint = dl.endpointId ? await findEndpointById(deps.db, dl.endpointId) : null;
    // Deliveries of disabled or deleted endpoints stay dead until the endpoint is back.
    if (endpoint && (endpoint.status === "disabled" || endpoint.deletedAt !== null)) continue;
    await replayRow(deps, dl);
  }
  if (rows.length === DEAD_LETTER_REPLAY_CHUNK) await enqueueReplay(deps.env.FANOUT_QUEUE, { ...msg, after: rows[rows.length - 1]!.seq });
}
