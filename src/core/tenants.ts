/**
 * @module Tenant verbs: create, read, list, update, delete.
 */
import type { Deps } from "./deps";
import { conflict, notFound } from "../errors";
import { newId } from "../domain/ids";
import * as q from "../db/queries/tenants";
import { ValueCache } from "../domain/async-cache";
import { INGEST_CACHE_TTL_MS } from "./event-types";
import { tenantLogOf } from "./tenant-logs";

export const OPERATOR_TENANT = "_operator";

export async function createTenant(deps: Deps, input: { name: string; id?: string; metadata?: Record<string, unknown> }) {
  const id = input.id ?? newId("ten", deps.now);
  const row = await q.insertTenant(deps.db, {
    id,
    name: input.name,
    metadata: input.metadata ?? {},
    createdAt: deps.now,
    updatedAt: deps.now,
  });
  if (!row) {
    const existing = await q.findTenantAnyState(deps.db, id);
    throw conflict(existing?.deletedAt ? `Tenant ${id} is being deleted; its id can be reused once the purge ends.` : `Tenant ${id} already exists.`);
  }
  return row;
}

/** The live tenant or a 404. */
export async function getTenant(deps: Deps, tenantId: string) {
  const row = await q.findTenant(deps.db, tenantId);
  if (!row) throw notFound(`Tenant ${tenantId}`);
  return row;
}

/** Live tenants ingest read, per isolate (docs/decisions.md "Ingest caches"; a deleted tenant's log refuses events itself). */
const ingestTenants = new ValueCache<q.TenantRow>(10_000, INGEST_CACHE_TTL_MS);

/** `getTenant` for ingest, cached for INGEST_CACHE_TTL_MS. A miss or a failed read is not cached: a tenant created elsewhere is seen at once. */
export async function getTenantForIngest(deps: Deps, tenantId: string) {
  return ingestTenants.get(tenantId, () => getTenant(deps, tenantId), deps.now);
}

export async function listTenants(deps: Deps, limit: number, cursor?: number) {
  return q.listTenants(deps.db, limit, cursor);
}

export async function updateTenant(deps: Deps, tenantId: string, patch: { name?: string; metadata?: Record<string, unknown> | null }) {
  const row = await q.updateTenant(deps.db, tenantId, {
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.metadata !== undefined ? { metadata: patch.metadata ?? {} } : {}),
    updatedAt: deps.now,
  });
  if (!row) throw notFound(`Tenant ${tenantId}`);
  return row;
}

/**
 * Marks the tenant deleted (it answers 404 at once), empties its TenantLog, and leaves its
 * D1 rows (endpoints, dead letters) to the retention job's bounded batches. Nothing calls
 * the log afterwards: messages naming the tenant are dropped unread.
 */
export async function deleteTenant(deps: Deps, tenantId: string) {
  if (tenantId === OPERATOR_TENANT) throw conflict("The _operator tenant cannot be deleted.");
  ingestTenants.delete(tenantId);
  const row = await q.updateTenant(deps.db, tenantId, { deletedAt: deps.now });
  if (!row) throw notFound(`Tenant ${tenantId}`);
  await q.retireTenantEndpoints(deps.db, tenantId, deps.now);
  await tenantLogOf(deps.env, row.seq).deleteAll();
}
