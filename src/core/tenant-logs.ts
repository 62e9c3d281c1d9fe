/**
 * @module How the verbs reach a tenant's log (data plane v2, docs/data-plane-v2.md): the
 * TenantLog named by the tenant's never-reused seq, and the endpoint snapshot it keeps.
 * Every change to an endpoint commits in D1 first, then reaches the log through
 * `syncEndpoint` before the API answers.
 */
import type { Deps } from "./deps";
import type { EndpointRow } from "../db/queries/endpoints";
import { DEFAULT_CIRCUIT } from "../domain/circuit";
import type { EndpointSnapshot } from "../tenant-log/types";

export type TenantLogStub = ReturnType<Env["TENANT_LOG"]["getByName"]>;

/** The tenant's log (its name is `tenants.seq`, so a re-created tenant never meets an old log). */
export function tenantLogOf(env: Pick<Env, "TENANT_LOG">, tenantSeq: number): TenantLogStub {
  return env.TENANT_LOG.getByName(String(tenantSeq));
}

/** What decides whether and when the endpoint is sent to; how to send stays in D1. */
export function snapshotOf(endpoint: EndpointRow): EndpointSnapshot {
  const circuit = endpoint.circuit ?? DEFAULT_CIRCUIT;
  return {
    id: endpoint.id,
    version: endpoint.version,
    status: endpoint.status,
    filter: endpoint.filter,
    ordering: endpoint.ordering,
    rateLimit: endpoint.rateLimit,
    circuit: { enabled: circuit.enabled, openAfter: circuit.open_after, coolOffS: circuit.cool_off_s },
    deleted: endpoint.deletedAt !== null,
  };
}

/**
 * Brings the endpoint's snapshot into its tenant's log and answers its ordinal there. An
 * unchanged version writes nothing, so readers call this to learn the ordinal (and heal a
 * sync an earlier request lost between D1 and the log).
 */
export async function syncEndpoint(deps: Pick<Deps, "env">, tenantSeq: number, endpoint: EndpointRow): Promise<{ log: TenantLogStub; ordinal: number }> {
  const log = tenantLogOf(deps.env, tenantSeq);
  return { log, ordinal: await log.syncEndpoint(snapshotOf(endpoint)) };
}
