/**
 * @module Operational events in data plane v2 (DESIGN.md "Operational events"): `switchyard.*`
 * events posted to the reserved tenant `_operator` through the same pipeline as any other
 * event — ONE `ingestMany` call on `_operator`'s TenantLog per emission, each event under a
 * deterministic id that is also its idempotency key (so a repeated emission adds nothing),
 * then ONE send of the delivery jobs it answers. The TenantLog's outbox builds its
 * `switchyard.delivery.failed` events the same way (`#reportFailures`).
 */
import type { Deps } from "./deps";
import type { Db } from "../db/client";
import { sha256Hex } from "../domain/constant-time";
import type { DeliveryJob, IngestInput } from "../tenant-log/types";
import { sendJobs } from "./jobs";
import { BUILT_IN_EVENT_TYPES } from "./event-types";
import { tenantLogOf } from "./tenant-logs";
import { OPERATOR_TENANT } from "./tenants";



export interface OperationalEvent {
  /** A built-in `switchyard.*` type (its group is the built-in one). */
  type: string;
  dataJson: string;
  /** Deterministic: the same occurrence always gets the same id, so a repeat is a duplicate. */
  id: string;
  occurredAt: number | null;
}

/**
 * `_operator`'s seq never changes (it cannot be deleted): read once per isolate. The value,
 * not the read's promise, is kept: one request may not await another's D1 read.
 */
let operatorSeq: number | null = null;

/** The seq naming `_operator`'s TenantLog. A failed read throws and is asked again next time. */
export async function operatorSeqOf(db: Db): Promise<number> {
  if (operatorSeq !== null) return operatorSeq;
  const row = await db.$client.prepare(`SELECT seq FROM tenants WHERE id = ?`).bind(OPERATOR_TENANT).first<{ seq: number }>();
  if (!row) throw new Error("the _operator tenant is missing from D1 (migration 0001 seeds it)");
  operatorSeq = row.seq;
  return row.seq;
}

/**
 * Posts `events` to `_operator` in one TenantLog call and enqueues their deliveries in one
 * send. Idempotent: an event whose id was stored before answers `duplicate`. If the send
 * fails, the events are recorded unsent (the log's alarm sends them within a minute) and
 * the error is thrown: the caller retries the whole emission. Returns how many events
 * were new.
 */
export async function emitOperational(deps: Pick<Deps, "db" | "env" | "config" | "now">, events: readonly OperationalEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const seq = await operatorSeqOf(deps.db);
  const inputs: IngestInput[] = await Promise.all(
    events.map(async (ev) => ({
      tenantSeq: seq,
      id: ev.id,
      type: ev.type,
      group: BUILT_IN_EVENT_TYPES.find((t) => t.name === ev.type)?.group ?? null,
      dataJson: ev.dataJson,
      occurredAt: ev.occurredAt,
      idemKey: ev.id,
      bodyHash: await sha256Hex(`${ev.type}\n${ev.dataJson}`),
      now: deps.now,
      fullBytes: deps.config.tenantLogFullBytes,
    })),
  );
  const results = await tenantLogOf(deps.env, seq).ingestMany(inputs);
  const jobs: DeliveryJob[] = [];
  let added = 0;
  results.forEach((r, i) => {
    if (r.kind === "accepted") added++;
    if (r.kind === "accepted" || r.kind === "duplicate") jobs.push(...r.jobs);
    // Neither is our trouble to retry: a different body under the same id, or a full log.
    else console.error(`operational event ${events[i]!.id} refused by _operator's log: ${r.kind}`);
  });
  try {
    await sendJobs(deps.env, seq, jobs);
  } catch (err) {
    // A repeat of these events would answer `duplicate` with no jobs: the log's alarm sends them.
    const log = tenantLogOf(deps.env, seq);
    await Promise.all([...new Set(jobs.map((j) => j.e))].map((e) => log.unsent(e, deps.now)));
    throw err;
  }
  return added;
}
