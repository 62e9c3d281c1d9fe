/**
 * @module Helpers of the TenantLog tests: what the API will sync into a tenant's log.
 */
import type { EndpointSnapshot } from "../../src/tenant-log/types";

/** An active, catch-all, unordered endpoint snapshot at version 1 with the default circuit, with `over` applied. */
export const endpointSnapshot = (id: string, over: Partial<EndpointSnapshot> = {}): EndpointSnapshot => ({
  id,
  version: 1,
  status: "active",
  filter: { types: [], exclude: [], groups: [] },
  ordering: "none",
  rateLimit: null,
  circuit: { enabled: true, openAfter: 3, coolOffS: 60 },
  deleted: false,
  ...over,
});
