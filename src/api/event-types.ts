/**
 * @module /v1/event-types
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as eventTypes from "../core/event-types";
import type { EventTypeRow } from "../db/queries/event-types";
import { deps, requireAdmin, type AppEnv } from "./context";
import { decodeCursor, iso, jsonBody, jsonResponse, ListQuery, listOf, page, Timestamp, problems } from "./schemas";

const EventType = z
  .object({
    name: z.string().openapi({ example: "report.completed" }),
    description: z.string(),
    group: z.string().nullable(),
    schema: z.record(z.string(), z.unknown()).nullable(),
    example: z.unknown().nullable(),
    archived: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("EventType");

const Group = z.string().min(1).max(64).regex(/^[a-z0-9_-]+$/, "must be [a-z0-9_-]");
const JsonSchema = z.record(z.string(), z.unknown()).openapi({ description: "A JSON Schema (2020-12) for the event's data" });

const EventTypeCreate = z.strictObject({
  name: z.string().max(128),
  description: z.string().max(1000).optional(),
  group: Group.nullable().optional(),
  schema: JsonSchema.nullable().optional(),
  example: z.unknown().optional(),
});
const EventTypePatch = EventTypeCreate.omit({ name: true });
const NameParams = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" }, example: "report.completed" }) });

const toEventType = (t: EventTypeRow) => ({
  name: t.name,
  description: t.description,
  group: t.group,
  schema: t.schema,
  example: t.example ?? null,
  archived: t.archivedAt !== null,
  created_at: iso(t.createdAt)!,
  updated_at: iso(t.updatedAt)!,
});

export function registerEventTypes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/event-types",
      operationId: "createEventType",
      tags: ["Event types"],
      summary: "Create an event type (admin)",
      request: { body: jsonBody(EventTypeCreate) },
      responses: { 201: jsonResponse(EventType, "Created"), ...problems(400, 401, 403, 409, 413, 415, 422, 503) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(toEventType(await eventTypes.createEventType(deps(c), c.req.valid("json"))), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/event-types",
      operationId: "listEventTypes",
      tags: ["Event types"],
      summary: "List event types by name",
      request: {
        query: ListQuery.extend({
          group: z.string().optional(),
          include_archived: z.enum(["true", "false"]).optional(),
        }),
      },
      responses: { 200: jsonResponse(listOf(EventType, "EventTypeList"), "Event types by name"), ...problems(401, 422, 503) },
    }),
    async (c) => {
      const { limit, cursor, group, include_archived } = c.req.valid("query");
      const rows = await eventTypes.listEventTypes(deps(c), {
        group,
        includeArchived: include_archived === "true",
        after: decodeCursor<string>(cursor, "string"),
        limit,
      });
      const p = page(rows, limit, (t) => t.name);
      return c.json({ data: p.data.map(toEventType), next_cursor: p.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/event-types/{name}",
      operationId: "getEventType",
      tags: ["Event types"],
      summary: "Get an event type",
      request: { params: NameParams },
      responses: { 200: jsonResponse(EventType, "The event type"), ...problems(401, 404, 503) },
    }),
    async (c) => c.json(toEventType(await eventTypes.getEventType(deps(c), c.req.valid("param").name)), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/event-types/{name}",
      operationId: "updateEventType",
      tags: ["Event types"],
      summary: "Update an event type (admin)",
      request: { params: NameParams, body: jsonBody(EventTypePatch) },
      responses: { 200: jsonResponse(EventType, "The event type"), ...problems(400, 401, 403, 404, 409, 413, 415, 422, 503) },
    }),
    async (c) => {
      requireAdmin(c);
      return c.json(toEventType(await eventTypes.updateEventType(deps(c), c.req.valid("param").name, c.req.valid("json"))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/event-types/{name}",
      operationId: "archiveEventType",
      tags: ["Event types"],
      summary: "Archive an event type (admin): new events of it are refused, history is kept",
      request: { params: NameParams },
      responses: { 204: { description: "Archived" }, ...problems(401, 403, 404, 409, 413, 503) },
    }),
    async (c) => {
      requireAdmin(c);
      await eventTypes.archiveEventType(deps(c), c.req.valid("param").name);
      return c.body(null, 204);
    },
  );
}
