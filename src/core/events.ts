/**
 * @module Event ingest and reads.
 *
 * Ingest stores the event in the tenant's TenantLog and awaits the `deliveries` send before
 * it answers: an accepted event is never lost (DESIGN.md "Architecture — data plane v2").
 */
import type { Deps } from "./deps";
import { sha256Hex } from "../domain/constant-time";
import { HOST_ID_PATTERN } from "../domain/ids";
import { ALTERED_NUMBER_MESSAGE, findAlteredNumbers } from "../domain/safe-json";
import { MAX_JSON_DEPTH, nestsDeeperThan, TOO_DEEP_MESSAGE } from "../domain/json-depth";
import { AppError, conflict, invalid, notFound, type FieldError } from "../errors";
import type { LoggedEvent } from "../tenant-log/types";
import { deliveryView } from "./deliveries";
import { sendJobs } from "./jobs";
import { tenantLogOf } from "./tenant-logs";
import { isCalendarDate } from "./dates";
import { findEventTypeForIngest, isReservedType } from "./event-types";
import { validateAgainst } from "./json-schema";
import { getTenant, getTenantForIngest } from "./tenants";

export interface IngestResult {
  status: 200 | 202;
  event: LoggedEvent;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Validates the parsed body of `POST /events`; the returned `dataJson` is what receivers get. */
export async function parseEventBody(deps: Deps, bodyText: string) {
  if (nestsDeeperThan(bodyText, MAX_JSON_DEPTH)) throw invalid([{ path: "data", message: TOO_DEEP_MESSAGE }]);
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    throw new AppError(400, "The body is not valid JSON.");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid([{ path: "(body)", message: "must be a JSON object" }]);
  const b = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of Object.keys(b)) {
    if (!["type", "data", "id", "occurred_at"].includes(key)) errors.push({ path: key, message: "is not a known field" });
  }
  if (typeof b.type !== "string") errors.push({ path: "type", message: "is required and must be a string" });
  if (!("data" in b)) errors.push({ path: "data", message: "is required" });
  if (b.id !== undefined && (typeof b.id !== "string" || !HOST_ID_PATTERN.test(b.id))) {
    errors.push({ path: "id", message: "must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$" });
  }
  let occurredAt: number | null = null;
  if (b.occurred_at !== undefined && b.occurred_at !== null) {
    if (typeof b.occurred_at !== "string" || !ISO_INSTANT.test(b.occurred_at) || !isCalendarDate(b.occurred_at) || Number.isNaN(Date.parse(b.occurred_at))) {
      errors.push({ path: "occurred_at", message: "must be an ISO-8601 date-time" });
    } else occurredAt = Date.parse(b.occurred_at);
  }
  // Receivers get JSON.stringify of the parsed data: refuse a number whose value that would change.
  for (const path of findAlteredNumbers(bodyText, "")) {
    errors.push({ path, message: ALTERED_NUMBER_MESSAGE });
  }
  if (errors.length) throw invalid(errors);
  const type = b.type as string;
  // A failed read throws (503): our trouble never answers "unknown event type".
  const eventType = isReservedType(type) ? undefined : await findEventTypeForIngest(deps, type);
  if (!eventType) throw invalid([{ path: "type", message: `unknown event type ${type}` }]);
  if (eventType.archivedAt !== null) throw invalid([{ path: "type", message: `event type ${type} is archived` }]);
  if (eventType.schema) {
    const schemaErrors = validateAgainst(eventType.schema, b.data, "data");
    if (schemaErrors.length) throw invalid(schemaErrors, `data does not match the schema of ${type}.`);
  }
  return { type, group: eventType.group, data: b.data, dataJson: JSON.stringify(b.data), id: b.id as string | undefined, occurredAt };
}

/**
 * Accepts one event for the tenant: ONE TenantLog call dedupes, matches and stores it, then
 * its delivery jobs are sent before the answer (DESIGN.md "No accepted event is lost").
 */
export async function ingestEvent(deps: Deps, tenantId: string, bodyText: string, idempotencyHeader: string | undefined): Promise<IngestResult> {
  const tenant = await getTenantForIngest(deps, tenantId);
  if (idempotencyHeader !== undefined && (idempotencyHeader.length === 0 || idempotencyHeader.length > 255)) {
    throw invalid([{ path: "Idempotency-Key", message: "must be 1–255 characters" }]);
  }
  const parsed = await parseEventBody(deps, bodyText);
  const idemKey = parsed.id ?? idempotencyHeader ?? null;
  const log = tenantLogOf(deps.env, tenant.seq);
  const result = await log.ingest({
    tenantSeq: tenant.seq,
    id: parsed.id ?? null,
    type: parsed.type,
    group: parsed.group,
    dataJson: parsed.dataJson,
    occurredAt: parsed.occurredAt,
    idemKey,
    bodyHash: await sha256Hex(`${parsed.type}\n${parsed.dataJson}`),
    now: deps.now,
    fullBytes: deps.config.tenantLogFullBytes,
  });
  if (result.kind === "full") {
    throw new AppError(503, "This tenant's log is full; events are refused until retention frees space.", { retryAfter: 3600, problem: "tenant-log-full" });
  }
  if (result.kind === "conflict") throw conflict("This idempotency key was used with a different type or data.");
  if (result.kind === "gone") throw notFound(`Tenant ${tenantId}`);
  try {
    await sendJobs(deps.env, tenant.seq, result.jobs);
  } catch (err) {
    console.error("deliveries send refused", err);
    // A keyed event stays: a repeat re-sends it, and the log's alarm sends it within a
    // minute anyway. An unkeyed one is removed, so the client's retry cannot double it.
    if (idemKey !== null) await log.unsent(result.event.seq, deps.now);
    else await log.forget(result.event.seq);
    throw new AppError(503, "The event queue refused the event; retry later.", { retryAfter: 5 });
  }
  return { status: result.kind === "duplicate" ? 200 : 202, event: result.event };
}

export async function listEvents(deps: Deps, tenantId: string, q: { type?: string; since?: number; until?: number; before?: number; limit: number }) {
  const tenant = await getTenant(deps, tenantId);
  return tenantLogOf(deps.env, tenant.seq).listEvents(q);
}

export async function getEvent(deps: Deps, tenantId: string, eventId: string) {
  const tenant = await getTenant(deps, tenantId);
  const log = tenantLogOf(deps.env, tenant.seq);
  const seq = await log.findEventSeq(eventId);
  const event = seq === undefined ? undefined : await log.getEvent(seq);
  // A test send's event has a `newId` id, which no lookup by id finds: it is not an event the host posted.
  if (!event) throw notFound(`Event ${eventId}`);
  return { event, deliveries: event.deliveries.map((d) => deliveryView(tenant.seq, d)) };
}
