/**
 * @module Event ingest and reads.
 *
 * Ingest stores the event with `fanned_out = 0` and awaits the `fanout` send before it
 * answers: an accepted event is never lost before fan-out (DESIGN, Architecture).
 */
import type { Deps } from "../api/context";
import { sha256Hex } from "../domain/constant-time";
import { HOST_ID_PATTERN, newId } from "../domain/ids";
import { ALTERED_NUMBER_MESSAGE, findAlteredNumbers } from "../domain/safe-json";
import { MAX_JSON_DEPTH, nestsDeeperThan, TOO_DEEP_MESSAGE } from "../domain/json-depth";
import { AppError, conflict, invalid, notFound, type FieldError } from "../errors";
import * as q from "../db/queries/events";
import type { EventRow } from "../db/queries/events";
import { armSweeper } from "../pipeline/sweeper-client";
import { enqueueFanouts } from "../pipeline/messages";
import { isCalendarDate } from "./dates";
import { findEventType, isReservedType } from "./event-types";
import { validateAgainst } from "./json-schema";
import { getTenant } from "./tenants";

export interface IngestResult {
  status: 200 | 202;
  event: EventRow;
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
  const eventType = isReservedType(type) ? undefined : await findEventType(deps, type);
  if (!eventType) throw invalid([{ path: "type", message: `unknown event type ${type}` }]);
  if (eventType.archivedAt !== null) throw invalid([{ path: "type", message: `event type ${type} is archived` }]);
  if (eventType.schema) {
    const schemaErrors = validateAgainst(eventType.schema, b.data, "data");
    if (schemaErrors.length) throw invalid(schemaErrors, `data does not match the schema of ${type}.`);
  }
  return { type, data: b.data, dataJson: JSON.stringify(b.data), id: b.id as string | undefined, occurredAt };
}

/** Accepts one event for the tenant (see module doc for the ordering of writes). */
export async function ingestEvent(deps: Deps, tenantId: string, bodyText: string, idempotencyHeader: string | undefined): Promise<IngestResult> {
  await getTenant(deps, tenantId);
  if (idempotencyHeader !== undefined && (idempotencyHeader.length === 0 || idempotencyHeader.length > 255)) {
    throw invalid([{ path: "Idempotency-Key", message: "must be 1–255 characters" }]);
  }
  const parsed = await parseEventBody(deps, bodyText);
  const bodyHash = await sha256Hex(`${parsed.type}\n${parsed.dataJson}`);
  const keyed = parsed.id !== undefined || idempotencyHeader !== undefined;
  const findExisting = () =>
    parsed.id !== undefined
      ? q.findEventById(deps.db, tenantId, parsed.id)
      : idempotencyHeader !== undefined
        ? q.findEventByIdempotencyKey(deps.db, tenantId, idempotencyHeader)
        : Promise.resolve(undefined);

  const repeat = async (existing: EventRow): Promise<IngestResult> => {
    if (existing.bodyHash !== bodyHash) throw conflict("This idempotency key was used with a different type or data.");
    // The first post may have answered 503; its fan-out still has to run.
    if (existing.fannedOut === 0) await sendFanout(deps, existing, true);
    return { status: 200, event: existing };
  };

  // Insert first (ON CONFLICT DO NOTHING RETURNING): a first post costs one round trip, and
  // only a repeat, which inserts nothing, looks up the row it collided with.
  const inserted = await q.insertEvent(deps.db, {
    id: parsed.id ?? newId("evt", deps.now),
    tenantId,
    type: parsed.type,
    data: parsed.dataJson,
    occurredAt: parsed.occurredAt,
    createdAt: deps.now,
    idempotencyKey: parsed.id === undefined ? (idempotencyHeader ?? null) : null,
    bodyHash,
    fannedOut: 0,
    test: false,
  });
  if (!inserted) {
    // A repeat, or a concurrent first post that won the unique index: answer as a repeat of it.
    const winner = await findExisting();
    if (!winner) throw conflict("An event with this id already exists.");
    return repeat(winner);
  }
  await sendFanout(deps, inserted, keyed);
  return { status: 202, event: inserted };
}

/**
 * Sends the fan-out message. When the queue refuses: a keyed event stays (a repeat or the
 * Sweeper fans it out); an unkeyed one is removed first so a client retry cannot double it.
 */
async function sendFanout(deps: Deps, event: EventRow, keyed: boolean): Promise<void> {
  try {
    await enqueueFanouts(deps.env.FANOUT_QUEUE, [event.seq]);
  } catch (err) {
    console.error("fanout send refused", err);
    if (!keyed) await q.deleteEvent(deps.db, event.seq);
    throw new AppError(503, "The event queue refused the event; retry later.", { retryAfter: 5 });
  } finally {
    await armSweeper(deps.env, deps.now);
  }
}

export async function listEvents(deps: Deps, tenantId: string, options: { type?: string; since?: number; until?: number; before?: number; limit: number }) {
  await getTenant(deps, tenantId);
  return q.listEvents(deps.db, tenantId, { ...options, beforeSeq: options.before });
}

export async function getEvent(deps: Deps, tenantId: string, eventId: string) {
  await getTenant(deps, tenantId);
  const event = await q.findEventById(deps.db, tenantId, eventId);
  if (!event || event.test) throw notFound(`Event ${eventId}`);
  return { event, deliveries: await q.deliveriesOfEvent(deps.db, event.seq) };
}
