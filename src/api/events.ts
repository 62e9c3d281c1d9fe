/**
 * @module /v1/tenants/{tid}/events: ingest and reads.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as events from "../core/events";
import { AppError } from "../errors";
import { deps, requireTenant, type AppContext, type AppEnv } from "./context";
import {
  decodeCursor,
  encodeCursor,
  iso,
  IsoInstant,
  jsonResponse,
  ListQuery,
  listOf,
  TenantParams,
  Timestamp,
  problems,
} from "./schemas";

const EventAccepted = z.object({ id: z.string(), type: z.string(), created_at: Timestamp }).openapi("EventAccepted");
const EventSummary = z
  .object({ id: z.string(), type: z.string(), occurred_at: Timestamp.nullable(), created_at: Timestamp })
  .openapi("EventSummary");
const EventDetail = EventSummary.extend({
  data: z.unknown(),
  deliveries: z.array(z.object({ delivery_id: z.string(), endpoint_id: z.string(), status: z.enum(["pending", "delivered", "failed"]), attempts: z.number().int() })),
}).openapi("Event");

const EventCreate = z
  .object({
    type: z.string().openapi({ example: "report.completed" }),
    // Required (ingest answers 422 without it); z.unknown() alone would read as optional.
    data: z.unknown().refine((v) => v !== undefined, "is required").openapi({ description: "Validated against the event type's JSON Schema. A number whose value would change when re-serialised (an integer beyond 2^53 in any spelling, a value beyond a double's range or precision) is refused with 422: send such numbers as strings" }),
    id: z.string().optional().openapi({ description: "Your id for the event; also its idempotency key" }),
    occurred_at: Timestamp.optional(),
  })
  .openapi("EventCreate");

/** Reads at most `max` bytes of the body; more is a 413, decided before parsing. */
async function readBodyWithLimit(c: AppContext, max: number): Promise<string> {
  const declared = Number(c.req.header("content-length"));
  if (Number.isFinite(declared) && declared > max) throw new AppError(413, `The body is larger than ${max} bytes.`);
  const reader = c.req.raw.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new AppError(413, `The body is larger than ${max} bytes.`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

export function registerEvents(app: OpenAPIHono<AppEnv>) {
  // Documented here, handled by a plain route: a validator would parse the body before
  // the size limit is checked (413 must come before parsing).
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/tenants/{tid}/events",
    operationId: "sendEvent",
    tags: ["Events"],
    summary: "Post an event (admin): it is fanned out to every subscribed endpoint",
    request: {
      params: TenantParams,
      headers: z.object({ "idempotency-key": z.string().optional() }),
      body: { content: { "application/json": { schema: EventCreate } }, required: true },
    },
    responses: {
      202: jsonResponse(EventAccepted, "Accepted"),
      200: jsonResponse(EventAccepted, "The same idempotency key and body were already accepted"),
      ...problems(400, 401, 403, 404, 409, 413, 422, 503),
    },
  });
  app.post("/v1/tenants/:tid/events", async (c) => {
    const tid = c.req.param("tid");
    requireTenant(c, tid, { adminOnly: true });
    const d = deps(c);
    const body = await readBodyWithLimit(c, d.config.maxPayloadBytes);
    const { status, event } = await events.ingestEvent(d, tid, body, c.req.header("idempotency-key"));
    return c.json({ id: event.id, type: event.type, created_at: iso(event.createdAt)! }, status);
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/events",
      operationId: "listEvents",
      tags: ["Events"],
      summary: "List events, newest first (items omit data)",
      request: { params: TenantParams, query: ListQuery.extend({ type: z.string().optional(), since: IsoInstant.optional(), until: IsoInstant.optional() }) },
      responses: { 200: jsonResponse(listOf(EventSummary, "EventList"), "Events"), ...problems(401, 403, 404, 422, 503) },
    }),
    async (c) => {
      const { tid } = c.req.valid("param");
      requireTenant(c, tid);
      const { limit, cursor, type, since, until } = c.req.valid("query");
      const p = await events.listEvents(deps(c), tid, { type, since, until, before: decodeCursor<number>(cursor, "number"), limit });
      return c.json(
        { data: p.items.map((e) => ({ id: e.id, type: e.type, occurred_at: iso(e.occurredAt), created_at: iso(e.createdAt)! })), next_cursor: p.next === null ? null : encodeCursor(p.next) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/events/{evid}",
      operationId: "getEvent",
      tags: ["Events"],
      summary: "Get an event with its deliveries",
      request: { params: TenantParams.extend({ evid: z.string().openapi({ param: { name: "evid", in: "path" } }) }) },
      responses: { 200: jsonResponse(EventDetail, "The event"), ...problems(401, 403, 404, 503) },
    }),
    async (c) => {
      const { tid, evid } = c.req.valid("param");
      requireTenant(c, tid);
      const { event, deliveries } = await events.getEvent(deps(c), tid, evid);
      return c.json(
        {
          id: event.id,
          type: event.type,
          data: JSON.parse(event.dataJson) as unknown,
          occurred_at: iso(event.occurredAt),
          created_at: iso(event.createdAt)!,
          deliveries: deliveries.map((d) => ({ delivery_id: d.id, endpoint_id: d.endpointId, status: d.status, attempts: d.attempts })),
        },
        200,
      );
    },
  );
}
