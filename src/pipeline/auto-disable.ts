/**
 * @module Auto-disable: an endpoint failing for AUTO_DISABLE_AFTER_S becomes `disabled`,
 * its pending deliveries fail with `endpoint_disabled` (with dead letters), and
 * `switchyard.endpoint.disabled` is emitted once.
 */
import type { Deps } from "../api/context";
import type { EndpointRow } from "../db/queries/endpoints";
import { runBatch } from "../db/queries/deliveries";
import { enqueueFanouts } from "./messages";
import { endpointDisabledStatement, insertedEventSeqs } from "./operational";

export async function disableEndpoint(deps: Deps, endpoint: EndpointRow, failingSince: number): Promise<void> {
  const d1 = deps.db.$client;
  const reason = `failing since ${new Date(failingSince).toISOString()}`;
  const [disabled] = await runBatch(deps.db, [
    d1
      .prepare(`UPDATE endpoints SET status = 'disabled', disabled_reason = ?2, updated_at = ?3, version = version + 1 WHERE id = ?1 AND status = 'active' RETURNING id`)
      .bind(endpoint.id, reason, deps.now),
  ]);
  if (!disabled?.results.length) return; // someone else disabled, paused or fixed it
  const results = await runBatch(deps.db, [
    d1
      .prepare(`UPDATE deliveries SET status = 'failed', reason = 'endpoint_disabled', next_attempt_at = NULL WHERE endpoint_id = ? AND status = 'pending' AND test = 0`)
      .bind(endpoint.id),
    d1
      .prepare(
        `INSERT INTO dead_letters (tenant_id, endpoint_id, delivery_seq, event_seq, event_id, event_type, reason, attempts, last_response_status, queue, created_at)
         SELECT d.tenant_id, d.endpoint_id, d.seq, d.event_seq, e.id, d.event_type, d.reason, d.attempts, d.response_status, NULL, ?2
         FROM deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.endpoint_id = ?1 AND d.status = 'failed' AND d.reason = 'endpoint_disabled'
           AND NOT EXISTS (SELECT 1 FROM dead_letters x WHERE x.delivery_seq = d.seq)
         ON CONFLICT DO NOTHING`,
      )
      .bind(endpoint.id, deps.now),
    endpointDisabledStatement(
      deps.db,
      {
        tenant_id: endpoint.tenantId,
        endpoint_id: endpoint.id,
        url: endpoint.url,
        disabled_reason: reason,
        failing_since: new Date(failingSince).toISOString(),
      },
      failingSince,
      deps.now,
    ),
  ]);
  const seqs = insertedEventSeqs(results);
  if (seqs.length) await enqueueFanouts(deps.env.FANOUT_QUEUE, seqs).catch((err) => console.error("operational fanout send failed; the Sweeper will retry", err));
}
