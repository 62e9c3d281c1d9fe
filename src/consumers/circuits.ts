/**
 * @module What the delivery consumer does with the circuit changes a tenant's `record`
 * answered (DESIGN.md "Delivery rules": circuit breaker). The TenantLog decides and keeps
 * the state; this only mirrors it:
 * - D1's endpoint row gets `circuit_state` / `circuit_open_until` (the API, the portal and
 *   the console read them; the API shows `half_open` once `circuit_open_until` has passed),
 *   one statement per changed endpoint in one batch, never bumping `version` (that would
 *   invalidate every isolate's send-settings cache for a change they do not need);
 * - each opening (closed → open, not a re-opening after a failed probe: the same outage) is
 *   reported once to `_operator` as `switchyard.endpoint.circuit_opened`, under an id made
 *   of the endpoint and the time it opened, so a repeated emission stores nothing twice.
 *   `_operator`'s own endpoints report nothing (no loops).
 *
 * Never throws: a failed D1 write is logged and the endpoint's next change writes its row
 * again (as ./endpoint-health does); the emission is retried in process first, since the
 * opening is reported from here only. The row write is not ordered against another
 * invocation's: an opening's write landing after the close that followed it would need a
 * delay longer than the cool-off (≥ 10 s) between `record` and this write; the next change
 * repairs it. An endpoint whose circuit is switched off closes in the log without a change
 * here: the API writes `closed` with the PATCH.
 */
import type { Deps } from "../core/deps";
import { CIRCUIT_OPENED_TYPE } from "../core/event-types";
import { emitOperational } from "../core/operational";
import { OPERATOR_TENANT } from "../core/tenants";
import { writeWithRetries } from "../core/deps";
import type { CircuitChange } from "../tenant-log/types";

/** The id of an opening's operational event: deterministic, so a repeat is a duplicate. */
export const circuitOpenedId = (endpointId: string, openedAt: number): string => `evt_circuit_${endpointId}_${openedAt}`;

export async function mirrorCircuits(
  deps: Deps,
  tenant: { t: number; tenantId: string },
  changes: readonly CircuitChange[],
  urlOf: (endpointId: string) => Promise<string | null>,
): Promise<void> {
  if (changes.length === 0) return;
  await Promise.all([writeRows(deps, changes), tenant.tenantId === OPERATOR_TENANT ? undefined : reportOpenings(deps, tenant.tenantId, changes, urlOf)]);
}

/** The latest change of each endpoint onto its D1 row. */
async function writeRows(deps: Deps, changes: readonly CircuitChange[]): Promise<void> {
  const latest = new Map<string, CircuitChange>();
  for (const c of changes) latest.set(c.endpointId, c);
  const d1 = deps.db.$client;
  try {
    await d1.batch([...latest.values()].map((c) => d1.prepare(`UPDATE endpoints SET circuit_state = ?, circuit_open_until = ? WHERE id = ?`).bind(c.state, c.openUntil, c.endpointId)));
  } catch (err) {
    console.error(`mirroring circuit changes of ${[...latest.keys()].join(", ")} to D1 failed; their next change writes them again`, err);
  }
}

async function reportOpenings(deps: Deps, tenantId: string, changes: readonly CircuitChange[], urlOf: (endpointId: string) => Promise<string | null>): Promise<void> {
  const openings = changes.filter((c) => c.state === "open" && !c.reopened && c.openedAt !== null && c.openUntil !== null);
  if (openings.length === 0) return;
  try {
    await writeWithRetries(async () => {
      const events = await Promise.all(
        openings.map(async (c) => ({
          type: CIRCUIT_OPENED_TYPE,
          id: circuitOpenedId(c.endpointId, c.openedAt!),
          dataJson: JSON.stringify({ tenant_id: tenantId, endpoint_id: c.endpointId, url: await urlOf(c.endpointId), consecutive_failures: c.failures, open_until: new Date(c.openUntil!).toISOString() }),
          occurredAt: c.openedAt,
        })),
      );
      await emitOperational({ ...deps, now: Date.now() }, events);
    });
  } catch (err) {
    console.error(`reporting circuit openings of ${openings.map((c) => c.endpointId).join(", ")} to _operator failed`, err);
  }
}
