/**
 * @module Operational events: `switchyard.*` events posted to the `_operator` tenant
 * through the same pipeline as any other event.
 *
 * Each is inserted in the same D1 transaction as the change it reports, under a
 * deterministic id, so a duplicate writer adds nothing; its fan-out message is sent
 * after the transaction (the Sweeper covers a refused send).
 */
import { DELIVERY_FAILED_TYPE } from "../core/event-types";
import { seqId } from "../domain/ids";
import { OPERATOR_TENANT } from "../core/tenants";
import type { Db } from "../db/client";
import type { DeliveryReason } from "../db/schema";

export interface DeliveryFailedData {
  tenant_id: string;
  endpoint_id: string;
  delivery_id: string;
  event_id: string;
  event_type: string;
  reason: DeliveryReason;
  attempts: number;
  last_response_status: number | null;
}

/** Whether a failure emits `switchyard.delivery.failed` (no loops, no floods). */
export function emitsDeliveryFailed(input: { tenantId: string; test: boolean; reason: DeliveryReason }): boolean {
  return input.tenantId !== OPERATOR_TENANT && !input.test && input.reason !== "endpoint_disabled";
}

function insertOperatorEvent(db: Db, id: string, type: string, data: unknown, now: number, guardSql: string, guardParams: unknown[]): D1PreparedStatement {
  const dataJson = JSON.stringify(data);
  return db.$client
    .prepare(
      `INSERT INTO events (id, tenant_id, type, data, occurred_at, created_at, idempotency_key, body_hash, fanned_out, test)
       SELECT ?1, '${OPERATOR_TENANT}', ?2, ?3, ?4, ?4, NULL, '', 0, 0 WHERE ${guardSql}
       ON CONFLICT DO NOTHING RETURNING seq`,
    )
    .bind(id, type, dataJson, now, ...guardParams);
}

/** `switchyard.delivery.failed`, inserted only if the delivery is now failed with this attempt count. */
export function deliveryFailedStatement(db: Db, data: Omit<DeliveryFailedData, "delivery_id"> & { deliverySeq: number }, generation: number, now: number): D1PreparedStatement {
  const { deliverySeq, ...rest } = data;
  const payload: DeliveryFailedData = { ...rest, delivery_id: seqId("dlv", deliverySeq) };
  return insertOperatorEvent(
    db,
    `evt_failed_${deliverySeq}_${generation}_${data.attempts}`,
    DELIVERY_FAILED_TYPE,
    payload,
    now,
    "EXISTS (SELECT 1 FROM deliveries WHERE seq = ?5 AND status = 'failed' AND generation = ?6 AND attempts = ?7)",
    [deliverySeq, generation, data.attempts],
  );
}

/** `switchyard.endpoint.disabled`, once per disable (keyed by the failure that started it). */
export function endpointDisabledStatement(
  db: Db,
  data: { tenant_id: string; endpoint_id: string; url: string; disabled_reason: string; failing_since: string },
  failingSince: number,
  now: number,
): D1PreparedStatement {
  return insertOperatorEvent(
    db,
    `evt_disabled_${data.endpoint_id}_${failingSince}`,
    "switchyard.endpoint.disabled",
    data,
    now,
    "EXISTS (SELECT 1 FROM endpoints WHERE id = ?5 AND status = 'disabled')",
    [data.endpoint_id],
  );
}

/** The seqs of operational events a batch inserted (from their RETURNING rows). */
export function insertedEventSeqs(results: (D1Result | undefined)[]): number[] {
  return results.flatMap((r) => ((r?.results ?? []) as { seq?: number }[]).map((x) => x.seq).filter((s): s is number => typeof s === "number"));
}
