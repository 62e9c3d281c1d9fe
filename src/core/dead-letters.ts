/**
 * @module Dead letter verbs. Tenant keys see only their own tenant's.
 */
import type { Deps } from "./deps";
import { parseSeqId, seqId } from "../domain/ids";
import { AppError, conflict, forbidden, notFound } from "../errors";
import * as q from "../db/queries/dead-letters";
import type { DeadLetterRow } from "../db/queries/dead-letters";
import { findEndpointById } from "../db/queries/endpoints";
import { retryByKey } from "./deliveries";

/** Dead letters replayed per chunk (each a few subrequests); the rest continue through the queue. */
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

/** Replays one: the same as retrying its delivery (410 once the delivery expired from the log). */
export async function replayDeadLetter(deps: Deps, scope: Scope, id: string): Promise<void> {
  await replayRow(deps, await getDeadLetter(deps, scope, id), id);
}

async function replayRow(deps: Deps, dl: DeadLetterRow, label: string): Promise<void> {
  if (dl.tenantSeq === null || dl.logEventSeq === null || dl.endpointOrdinal === null || dl.endpointId === null) throw conflict("This dead letter has nothing to replay.");
  const endpoint = await findEndpointById(deps.db, dl.endpointId);
  if (!endpoint || endpoint.deletedAt !== null) throw notFound(`Dead letter ${label}`);
  await retryByKey(deps, dl.tenantSeq, endpoint, dl.endpointOrdinal, dl.logEventSeq, label);
}

export async function deleteDeadLetter(deps: Deps, scope: Scope, id: string): Promise<void> {
  const row = await getDeadLetter(deps, scope, id);
  await q.deleteDeadLetter(deps.db, row.seq);
}

/** Counts the matches and starts a replay that continues in chunks through the deliveries queue. */
export async function replayDeadLetters(
  deps: Deps,
  scope: Scope,
  f: { tenantId?: string; endpointId?: string; since?: number; until?: number },
): Promise<number> {
  const tenantId = scopedTenantFilter(scope, f.tenantId) ?? null;
  const until = f.until ?? deps.now + 1;
  const count = await q.countDeadLetters(deps.db, { tenantId: tenantId ?? undefined, endpointId: f.endpointId, since: f.since, until });
  if (count > 0) {
    const msg: DeadLetterReplayMessage = { kind: "replay-dead-letters", tenantId, endpointId: f.endpointId ?? null, since: f.since ?? null, until, after: 0 };
    await deps.env.DELIVERY_QUEUE.send(msg);
  }
  return count;
}

/** A bulk dead-letter replay on the deliveries queue: each message replays one chunk and sends the next. */
export interface DeadLetterReplayMessage {
  kind: "replay-dead-letters";
  tenantId: string | null;
  endpointId: string | null;
  since: number | null;
  until: number;
  /** The dead letter seq the previous chunk ended at. */
  after: number;
}

/** One chunk, oldest first; dead letters of disabled, deleted or expired deliveries stay. */
export async function continueDeadLetterReplay(deps: Deps, msg: DeadLetterReplayMessage): Promise<void> {
  const rows = await q.listDeadLetters(deps.db, {
    tenantId: msg.tenantId ?? undefined,
    endpointId: msg.endpointId ?? undefined,
    since: msg.since ?? undefined,
    until: msg.until,
    afterSeq: msg.after,
    limit: DEAD_LETTER_REPLAY_CHUNK,
  });
  for (const dl of rows) {
    try {
      await replayRow(deps, dl, seqId("dl", dl.seq));
    } catch (err) {
      // A 4xx-kind refusal (disabled, deleted, gone) leaves that one dead; our own trouble retries the chunk.
      if (!(err instanceof AppError)) throw err;
    }
  }
  if (rows.length === DEAD_LETTER_REPLAY_CHUNK) await deps.env.DELIVERY_QUEUE.send({ ...msg, after: rows[rows.length - 1]!.seq });
}
