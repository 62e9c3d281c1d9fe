/**
 * @module Event type verbs, and the built-in `switchyard.*` operational types.
 */
import type { Deps } from "./deps";
import { isEventTypeName } from "../domain/ids";
import { conflict, invalid, notFound, type FieldError } from "../errors";
import * as q from "../db/queries/event-types";
import type { EventTypeRow } from "../db/queries/event-types";
import { ValueCache } from "../domain/async-cache";
import { checkJsonSchema, validateAgainst } from "./json-schema";

export const RESERVED_PREFIX = "switchyard.";

/** The operational event every failed delivery reports (DESIGN.md "Operational events"). */
export const DELIVERY_FAILED_TYPE = "switchyard.delivery.failed";

/** DESIGN.md "Operational events": data `{tenant_id, endpoint_id, url, disabled_reason, failing_since}`. */
export const ENDPOINT_DISABLED_TYPE = "switchyard.endpoint.disabled";

/**
 * DESIGN.md "Delivery rules" (circuit breaker), once per opening: data `{tenant_id,
 * endpoint_id, url, consecutive_failures, open_until}`.
 */
export const CIRCUIT_OPENED_TYPE = "switchyard.endpoint.circuit_opened";

/** Operational events: built in, delivered to the `_operator` tenant, never posted through the API. */
export const BUILT_IN_EVENT_TYPES: readonly EventTypeRow[] = [
  {
    name: DELIVERY_FAILED_TYPE,
    description: "A delivery ended failed (retries exhausted, a final status, URL refused, expired, or a consumer error).",
    group: "switchyard",
    schema: null,
    example: {
      tenant_id: "acme",
      endpoint_id: "ep_01example",
      delivery_id: "dlv_00000000001",
      event_id: "evt_01example",
      event_type: "report.completed",
      reason: "retries_exhausted",
      attempts: 8,
      last_response_status: 503,
    },
    archivedAt: null,
    createdAt: 0,
    updatedAt: 0,
  },
  {
    name: ENDPOINT_DISABLED_TYPE,
    description: "An endpoint was disabled after failing for AUTO_DISABLE_AFTER_S seconds.",
    group: "switchyard",
    schema: null,
    example: {
      tenant_id: "acme",
      endpoint_id: "ep_01example",
      url: "https://example.com/webhooks",
      disabled_reason: "failing since 2026-11-18T12:00:00.000Z",
      failing_since: "2026-11-18T12:00:00.000Z",
    },
    archivedAt: null,
    createdAt: 0,
    updatedAt: 0,
  },
  {
    name: CIRCUIT_OPENED_TYPE,
    description:
      "An endpoint's circuit breaker opened: its receiver timed out or refused connections several times in a row, so its deliveries wait (spending no attempt) until open_until, when one is sent as a probe. Emitted once per opening.",
    group: "switchyard",
    schema: null,
    example: {
      tenant_id: "acme",
      endpoint_id: "ep_01example",
      url: "https://example.com/webhooks",
      consecutive_failures: 3,
      open_until: "2026-11-18T12:01:00.000Z",
    },
    archivedAt: null,
    createdAt: 0,
    updatedAt: 0,
  },
];

export const isReservedType = (name: string) => name.startsWith(RESERVED_PREFIX);

function checkSchemaAndExample(schema: unknown, example: unknown): FieldError[] {
  if (schema === null || schema === undefined) return [];
  const errors = checkJsonSchema(schema);
  if (errors.length) return errors;
  return example === undefined || example === null ? [] : validateAgainst(schema, example, "example");
}

export async function createEventType(
  deps: Deps,
  input: { name: string; description?: string; group?: string | null; schema?: Record<string, unknown> | null; example?: unknown },
) {
  if (!isEventTypeName(input.name)) {
    throw invalid([{ path: "name", message: "must be two or more dot-separated segments of [a-z0-9_]" }]);
  }
  if (isReservedType(input.name)) throw invalid([{ path: "name", message: "switchyard.* names are reserved" }]);
  const errors = checkSchemaAndExample(input.schema, input.example);
  if (errors.length) throw invalid(errors);
  const row: EventTypeRow = {
    name: input.name,
    description: input.description ?? "",
    group: input.group ?? null,
    schema: input.schema ?? null,
    example: input.example ?? null,
    archivedAt: null,
    createdAt: deps.now,
    updatedAt: deps.now,
  };
  if (!(await q.insertEventType(deps.db, row))) throw conflict(`Event type ${input.name} already exists.`);
  ingestTypes.delete(input.name);
  return row;
}

/** A built-in or stored event type, archived ones included, or a 404. */
export async function getEventType(deps: Deps, name: string): Promise<EventTypeRow> {
  const row = await findEventType(deps, name);
  if (!row) throw notFound(`Event type ${name}`);
  return row;
}

/** The event type, or undefined when there is none. A failed read throws: it never reads as "unknown". */
export async function findEventType(deps: Deps, name: string): Promise<EventTypeRow | undefined> {
  return BUILT_IN_EVENT_TYPES.find((t) => t.name === name) ?? (await q.findEventType(deps.db, name));
}

/**
 * How long ingest trusts an event type it read (per isolate): ingest then reads D1 for
 * neither type nor tenant on the hot path (docs/decisions.md "Ingest caches"). A change
 * made through this isolate is seen at once; one made through another within this time.
 */
export const INGEST_CACHE_TTL_MS = 10_000;

const ingestTypes = new ValueCache<EventTypeRow>(1000, INGEST_CACHE_TTL_MS);

/** No such event type: not cached, so a type created through another isolate is seen at once. */
class UnknownType extends Error {}

/** `findEventType` for ingest, cached. A miss or a failed read is not cached. */
export async function findEventTypeForIngest(deps: Deps, name: string): Promise<EventTypeRow | undefined> {
  try {
    return await ingestTypes.get(
      name,
      async () => {
        const row = await findEventType(deps, name);
        if (!row) throw new UnknownType(name);
        return row;
      },
      deps.now,
    );
  } catch (err) {
    if (err instanceof UnknownType) return undefined;
    throw err;
  }
}

/** The group of an event type; null when it has none or has no row (types are archived, never deleted). Read errors propagate. */
export async function groupOfEventType(deps: Deps, name: string): Promise<string | null> {
  return (await findEventType(deps, name))?.group ?? null;
}

export async function listEventTypes(deps: Deps, options: { group?: string; includeArchived: boolean; after?: string; limit: number }) {
  const stored = await q.listEventTypes(deps.db, { ...options, afterName: options.after });
  const builtIn = BUILT_IN_EVENT_TYPES.filter(
    (t) => (options.group === undefined || t.group === options.group) && (options.after === undefined || t.name > options.after),
  );
  return [...stored, ...builtIn].sort((a, b) => (a.name < b.name ? -1 : 1)).slice(0, options.limit + 1);
}

export async function updateEventType(
  deps: Deps,
  name: string,
  patch: { description?: string; group?: string | null; schema?: Record<string, unknown> | null; example?: unknown },
) {
  if (isReservedType(name)) throw conflict("Built-in event types cannot be changed.");
  const current = await getEventType(deps, name);
  const schema = patch.schema !== undefined ? patch.schema : current.schema;
  const example = patch.example !== undefined ? patch.example : current.example;
  const errors = checkSchemaAndExample(schema, example);
  if (errors.length) throw invalid(errors);
  ingestTypes.delete(name);
  const row = await q.updateEventType(deps.db, name, {
    ...(patch.description !== undefined ? { description: patch.description } : {}),
    ...(patch.group !== undefined ? { group: patch.group } : {}),
    ...(patch.schema !== undefined ? { schema: patch.schema } : {}),
    ...(patch.example !== undefined ? { example: patch.example } : {}),
    updatedAt: deps.now,
  });
  if (!row) throw notFound(`Event type ${name}`);
  return row;
}

/** Archives: new events of the type are refused, history is kept. */
export async function archiveEventType(deps: Deps, name: string) {
  if (isReservedType(name)) throw conflict("Built-in event types cannot be archived.");
  const current = await getEventType(deps, name);
  ingestTypes.delete(name);
  if (current.archivedAt === null) await q.updateEventType(deps.db, name, { archivedAt: deps.now, updatedAt: deps.now });
}
