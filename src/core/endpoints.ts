/**
 * @module Endpoint verbs: create, read, list, update, delete, secrets.
 */
import type { Deps } from "./deps";
import { CIRCUIT_LIMITS, DEFAULT_CIRCUIT, type CircuitConfig } from "../domain/circuit";
import { checkCustomHeaders, isSendableHeaderValue } from "../domain/custom-headers";
import { isFilterPattern, type EndpointFilter } from "../domain/filter";
import { newId } from "../domain/ids";
import { generateSecret, isHexProfileSecret, isStandardSecret, type SignatureProfile } from "../domain/signature";
import { checkEndpointUrl } from "../domain/url-policy";
import { invalid, notFound, type FieldError } from "../errors";
import * as q from "../db/queries/endpoints";
import type { EndpointRow } from "../db/queries/endpoints";
import { sendJobs } from "./jobs";
import { seal, unseal } from "./secrets";
import { syncEndpoint, type TenantLogStub } from "./tenant-logs";
import { getTenant } from "./tenants";

export type EndpointAuth = { type: "bearer"; token: string } | { type: "basic"; username: string; password: string };

export interface EndpointInput {
  url: string;
  description?: string;
  status?: "active" | "paused";
  filter?: Partial<EndpointFilter> | null;
  method?: "POST" | "PUT";
  headers?: Record<string, string> | null;
  auth?: EndpointAuth | null;
  format?: "standard" | "cloudevents";
  signature?: SignatureProfile;
  ordering?: "none" | "fifo";
  rate_limit?: number | null;
  timeout_ms?: number;
  retry_schedule?: number[] | null;
  /** Replaced whole: a member left out takes its default (not the stored value); null is every default. */
  circuit?: Partial<CircuitConfig> | null;
  secret?: string;
}

export type EndpointPatch = Partial<Omit<EndpointInput, "secret">>;

/** Bounds of an endpoint's fields: the API schemas and the portal's forms read them from here. */
export const ENDPOINT_LIMITS = {
  descriptionMax: 1000,
  rateLimitMax: 250,
  timeoutMinMs: 1000,
  timeoutMaxMs: 30_000,
  retryEntriesMax: 20,
  retryWaitMaxS: 86_400,
} as const;

/** The circuit as stored: the given members, the defaults for the rest (DESIGN: a named field is replaced whole). */
export const normalizeCircuit = (c: Partial<CircuitConfig> | null | undefined): CircuitConfig => ({
  enabled: c?.enabled ?? DEFAULT_CIRCUIT.enabled,
  open_after: c?.open_after ?? DEFAULT_CIRCUIT.open_after,
  cool_off_s: c?.cool_off_s ?? DEFAULT_CIRCUIT.cool_off_s,
});

function checkCircuit(c: CircuitConfig): FieldError[] {
  const errors: FieldError[] = [];
  const { openAfter, coolOffS } = CIRCUIT_LIMITS;
  if (typeof c.enabled !== "boolean") errors.push({ path: "circuit.enabled", message: "must be true or false" });
  if (!Number.isInteger(c.open_after) || c.open_after < openAfter.min || c.open_after > openAfter.max) {
    errors.push({ path: "circuit.open_after", message: `must be an integer from ${openAfter.min} to ${openAfter.max}` });
  }
  if (!Number.isInteger(c.cool_off_s) || c.cool_off_s < coolOffS.min || c.cool_off_s > coolOffS.max) {
    errors.push({ path: "circuit.cool_off_s", message: `must be an integer from ${coolOffS.min} to ${coolOffS.max}` });
  }
  return errors;
}

/**
 * The circuit as readers see it (`circuit_state`): D1 holds what the delivery consumer last
 * mirrored from the TenantLog (closed or open, and until when); an open circuit whose
 * cool-off has passed is `half_open` (its probe may go, or is on its way). A breaker that is
 * turned off is never open.
 */
export function circuitStateOf(e: Pick<EndpointRow, "circuit" | "circuitState" | "circuitOpenUntil">, now: number): "closed" | "open" | "half_open" {
  if (!e.circuit.enabled || e.circuitState !== "open") return "closed";
  return e.circuitOpenUntil !== null && e.circuitOpenUntil <= now ? "half_open" : "open";
}

/** The bounds above, checked here too so every caller (API, portal) gets one set of rules. */
function checkLimits(e: Pick<EndpointRow, "description" | "rateLimit" | "timeoutMs" | "retrySchedule" | "circuit">): FieldError[] {
  const L = ENDPOINT_LIMITS;
  const errors: FieldError[] = [];
  if (e.description.length > L.descriptionMax) errors.push({ path: "description", message: `must be at most ${L.descriptionMax} characters` });
  if (e.rateLimit !== null && (!Number.isInteger(e.rateLimit) || e.rateLimit < 1 || e.rateLimit > L.rateLimitMax)) {
    errors.push({ path: "rate_limit", message: `must be an integer from 1 to ${L.rateLimitMax}, or null` });
  }
  if (!Number.isInteger(e.timeoutMs) || e.timeoutMs < L.timeoutMinMs || e.timeoutMs > L.timeoutMaxMs) {
    errors.push({ path: "timeout_ms", message: `must be an integer from ${L.timeoutMinMs} to ${L.timeoutMaxMs}` });
  }
  if (e.retrySchedule !== null) {
    if (e.retrySchedule.length > L.retryEntriesMax) errors.push({ path: "retry_schedule", message: `must have at most ${L.retryEntriesMax} entries` });
    e.retrySchedule.forEach((s, i) => {
      if (!Number.isInteger(s) || s < 1 || s > L.retryWaitMaxS) errors.push({ path: `retry_schedule[${i}]`, message: `must be an integer from 1 to ${L.retryWaitMaxS}` });
    });
  }
  errors.push(...checkCircuit(e.circuit));
  return errors;
}

const normalizeFilter = (f: Partial<EndpointFilter> | null | undefined): EndpointFilter => ({
  types: f?.types ?? [],
  exclude: f?.exclude ?? [],
  groups: f?.groups ?? [],
});

function checkFilter(filter: EndpointFilter): FieldError[] {
  const errors: FieldError[] = [];
  for (const key of ["types", "exclude"] as const) {
    filter[key].forEach((p, i) => {
      if (!isFilterPattern(p)) errors.push({ path: `filter.${key}[${i}]`, message: "must be an event type name, prefix.*, or *" });
    });
  }
  return errors;
}

/**
 * A bearer token goes into the Authorization header as is: one fetch refuses (CR, LF, NUL)
 * or a receiver rejects (other controls) would fail every delivery with a connection
 * error, so it is refused here. Basic credentials are base64-encoded and always sendable.
 */
function checkAuth(auth: EndpointAuth | null | undefined): FieldError[] {
  if (auth?.type !== "bearer" || isSendableHeaderValue(auth.token)) return [];
  return [{ path: "auth.token", message: "must be printable characters (up to U+00FF) without control characters or surrounding spaces" }];
}

export function checkSecret(signature: SignatureProfile, secret: string, path = "secret"): FieldError[] {
  if (signature === "standard") {
    return isStandardSecret(secret) ? [] : [{ path, message: "must be whsec_ followed by base64 of a 24–64 byte key for signature standard" }];
  }
  return isHexProfileSecret(secret) ? [] : [{ path, message: "must be at least 24 characters" }];
}

/** Everything about an endpoint that the API validates beyond its shape. */
function checkRules(
  deps: Deps,
  e: Pick<EndpointRow, "url" | "filter" | "headers" | "description" | "rateLimit" | "timeoutMs" | "retrySchedule" | "circuit">,
  hasAuth: boolean,
): FieldError[] {
  const errors: FieldError[] = checkLimits(e);
  const url = checkEndpointUrl(e.url, deps.config.allowPrivateUrls);
  if (!url.ok) errors.push({ path: "url", message: url.message });
  errors.push(...checkFilter(e.filter));
  errors.push(...checkCustomHeaders(e.headers, { prefix: deps.config.headerPrefix, hasAuth }));
  return errors;
}

export async function createEndpoint(deps: Deps, tenantId: string, input: EndpointInput) {
  await getTenant(deps, tenantId);
  const signature = input.signature ?? "standard";
  const secret = input.secret ?? generateSecret();
  const row: EndpointRow = {
    id: newId("ep", deps.now),
    tenantId,
    url: input.url,
    description: input.description ?? "",
    status: input.status ?? "active",
    disabledReason: null,
    failingSince: null,
    filter: normalizeFilter(input.filter),
    method: input.method ?? "POST",
    headers: input.headers ?? {},
    authType: input.auth?.type ?? null,
    authBox: null,
    format: input.format ?? "standard",
    signature,
    ordering: input.ordering ?? "none",
    rateLimit: input.rate_limit ?? null,
    timeoutMs: input.timeout_ms ?? 15_000,
    retrySchedule: input.retry_schedule ?? null,
    circuit: normalizeCircuit(input.circuit),
    circuitState: "closed",
    circuitOpenUntil: null,
    createdAt: deps.now,
    updatedAt: deps.now,
    deletedAt: null,
    version: 1,
  };
  const errors = [...checkRules(deps, row, !!input.auth), ...checkAuth(input.auth), ...(input.secret !== undefined ? checkSecret(signature, secret) : [])];
  if (errors.length) throw invalid(errors);
  const urlCheck = checkEndpointUrl(row.url, deps.config.allowPrivateUrls);
  if (urlCheck.ok) row.url = urlCheck.url;
  row.authBox = input.auth ? await seal(deps.config, JSON.stringify(input.auth)) : null;
  await q.insertEndpointWithSecret(deps.db, row, await seal(deps.config, secret));
  await syncEndpoint(deps, (await getTenant(deps, tenantId)).seq, row);
  return { row, secret };
}

/** A live endpoint of the tenant or a 404. */
export async function getEndpoint(deps: Deps, tenantId: string, endpointId: string): Promise<EndpointRow> {
  await getTenant(deps, tenantId);
  const row = await q.findEndpoint(deps.db, tenantId, endpointId);
  if (!row) throw notFound(`Endpoint ${endpointId}`);
  return row;
}

export async function listEndpoints(deps: Deps, tenantId: string, options: { status?: EndpointRow["status"]; before?: string; limit: number }) {
  await getTenant(deps, tenantId);
  return q.listEndpoints(deps.db, tenantId, { status: options.status, beforeId: options.before, limit: options.limit });
}

/**
 * Replaces each named top-level field whole (`null` clears). Returns the row before and
 * after, so the caller can act on a status change (resume wakes parked deliveries).
 */
export async function updateEndpoint(deps: Deps, tenantId: string, endpointId: string, patch: EndpointPatch) {
  const before = await getEndpoint(deps, tenantId, endpointId);
  const next: EndpointRow = { ...before, updatedAt: deps.now };
  if (patch.url !== undefined) next.url = patch.url;
  if (patch.description !== undefined) next.description = patch.description;
  if (patch.filter !== undefined) next.filter = normalizeFilter(patch.filter);
  if (patch.method !== undefined) next.method = patch.method;
  if (patch.headers !== undefined) next.headers = patch.headers ?? {};
  if (patch.format !== undefined) next.format = patch.format;
  if (patch.signature !== undefined) next.signature = patch.signature;
  if (patch.ordering !== undefined) next.ordering = patch.ordering;
  if (patch.rate_limit !== undefined) next.rateLimit = patch.rate_limit;
  if (patch.timeout_ms !== undefined) next.timeoutMs = patch.timeout_ms;
  if (patch.retry_schedule !== undefined) next.retrySchedule = patch.retry_schedule;
  if (patch.circuit !== undefined) next.circuit = normalizeCircuit(patch.circuit);
  if (patch.auth !== undefined) next.authType = patch.auth?.type ?? null;
  if (patch.status !== undefined) {
    next.status = patch.status;
    if (patch.status === "active") {
      // Re-enabling (or resuming) starts a fresh failure clock.
      next.disabledReason = null;
      next.failingSince = null;
    }
  }
  const errors = [...checkRules(deps, next, next.authType !== null), ...checkAuth(patch.auth)];
  if (patch.signature !== undefined && patch.signature !== before.signature) {
    const [current] = await q.validSecrets(deps.db, endpointId, deps.now);
    if (current) errors.push(...checkSecret(next.signature, await unseal(deps.config, current.secretBox), "signature").map((e) => ({ ...e, message: `the current secret ${e.message}; rotate to a fitting secret first` })));
  }
  if (errors.length) throw invalid(errors);
  const urlCheck = checkEndpointUrl(next.url, deps.config.allowPrivateUrls);
  if (urlCheck.ok) next.url = urlCheck.url;
  if (patch.auth !== undefined) next.authBox = patch.auth ? await seal(deps.config, JSON.stringify(patch.auth)) : null;
  // The circuit's state is the delivery consumer's to write (mirrored from the TenantLog): an
  // update never writes back what it read, except that a breaker turned off is closed.
  const { id: _id, tenantId: _t, createdAt: _c, circuitState: _s, circuitOpenUntil: _u, ...changes } = next;
  const closeCircuit = !next.circuit.enabled && before.circuitState !== "closed" ? { circuitState: "closed" as const, circuitOpenUntil: null } : {};
  const after = await q.updateEndpoint(deps.db, tenantId, endpointId, { ...changes, ...closeCircuit });
  if (!after) throw notFound(`Endpoint ${endpointId}`);
  const tenantSeq = (await getTenant(deps, tenantId)).seq;
  const { log, ordinal } = await syncEndpoint(deps, tenantSeq, after);
  if (after.status === "active" && before.status !== "active") await resume(deps, log, ordinal, tenantSeq);
  return { before, after };
}

/** A pause or disable ended: the deliveries parked meanwhile go out (a FIFO line from its head), chunk by chunk. */
async function resume(deps: Deps, log: TenantLogStub, ordinal: number, tenantSeq: number): Promise<void> {
  for (;;) {
    const { jobs, more } = await log.resume(ordinal, deps.now);
    await sendJobs(deps.env, tenantSeq, jobs);
    if (!more) return;
  }
}

/** Soft-deletes; pending deliveries are cancelled and the log purged in the background. */
export async function deleteEndpoint(deps: Deps, tenantId: string, endpointId: string) {
  await getEndpoint(deps, tenantId, endpointId);
  const deleted = await q.updateEndpoint(deps.db, tenantId, endpointId, { deletedAt: deps.now, updatedAt: deps.now });
  // The log forgets its line, rate and circuit state; messages for it are acked and dropped.
  if (deleted) await syncEndpoint(deps, (await getTenant(deps, tenantId)).seq, deleted);
}

/** Plain-text secrets, current first, then those in their grace period. */
export async function endpointSecrets(deps: Deps, endpointId: string) {
  const rows = await q.validSecrets(deps.db, endpointId, deps.now);
  return Promise.all(rows.map(async (r) => ({ secret: await unseal(deps.config, r.secretBox), expiresAt: r.expiresAt })));
}

export async function getSecrets(deps: Deps, tenantId: string, endpointId: string) {
  await getEndpoint(deps, tenantId, endpointId);
  return endpointSecrets(deps, endpointId);
}

export async function rotateSecret(deps: Deps, tenantId: string, endpointId: string, input: { secret?: string; grace_seconds?: number }) {
  const endpoint = await getEndpoint(deps, tenantId, endpointId);
  const secret = input.secret ?? generateSecret();
  const errors = input.secret !== undefined ? checkSecret(endpoint.signature, secret) : [];
  if (errors.length) throw invalid(errors);
  const graceMs = (input.grace_seconds ?? 86_400) * 1000;
  await q.rotateSecret(deps.db, endpointId, await seal(deps.config, secret), deps.now, deps.now + graceMs);
  // The new version tells every consumer's settings cache to read the new secrets.
  await syncEndpoint(deps, (await getTenant(deps, tenantId)).seq, await getEndpoint(deps, tenantId, endpointId));
  return endpointSecrets(deps, endpointId);
}

/** The decrypted auth of an endpoint, for the outbound request. */
export async function endpointAuth(deps: Pick<Deps, "config">, endpoint: Pick<EndpointRow, "authBox">): Promise<EndpointAuth | null> {
  return endpoint.authBox ? (JSON.parse(await unseal(deps.config, endpoint.authBox)) as EndpointAuth) : null;
}

