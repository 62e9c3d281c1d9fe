/**
 * @module /v1/dead-letters (admin; tenant keys see their own tenant's).
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as deadLetters from "../core/dead-letters";
import { seqId } from "../domain/ids";
import type { DeadLetterRow } from "../db/queries/dead-letters";
import { deps, scopedTenant, type AppEnv } from "./context";
import { Reason } from "./deliveries";
import { decodeCursor, iso, IsoInstant, jsonBody, jsonResponse, ListQuery, listOf, page, Timestamp, problems } from "./schemas";

const DeadLetter = z
  .object({
    id: z.string(),
    delivery_id: z.string().nullable(),
    event_id: z.string().nullable(),
    tenant_id: z.string(),
    endpoint_id: z.string().nullable(),
    event_type: z.string().nullable(),
    reason: Reason,
    attempts: z.number().int(),
    last_response_status: z.number().int().nullable(),
    created_at: Timestamp,
    queue: z.enum(["deliveries"]).nullable(),
  })
  .openapi("DeadLetter");

const toDeadLetter = (d: DeadLetterRow) => ({
  id: seqId("dl", d.seq),
  delivery_id: d.deliveryId,
  event_id: d.eventId,
  tenant_id: d.tenantId,
  endpoint_id: d.endpointId,
  event_type: d.eventType,
  reason: d.reason,
  attempts: d.attempts,
  last_response_status: d.lastResponseStatus,
  created_at: iso(d.createdAt)!,
  queue: d.queue,
});

const IdParams = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

export function registerDeadLetters(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/dead-letters",
      operationId: "listDeadLetters",
      tags: ["Dead letters"],
      summary: "List dead letters, newest first",
      request: {
        query: ListQuery.extend({ tenant_id: z.string().optional(), endpoint_id: z.string().optional(), since: IsoInstant.optional(), until: IsoInstant.optional() }),
      },
      responses: { 200: jsonResponse(listOf(DeadLetter, "DeadLetterList"), "Dead letters"), ...problems(401, 403, 422, 503) },
    }),
    async (c) => {
      const { limit, cursor, tenant_id, endpoint_id, since, until } = c.req.valid("query");
      const rows = await deadLetters.listDeadLetters(deps(c), { tenantId: scopedTenant(c) }, {
        tenantId: tenant_id,
        endpointId: endpoint_id,
        since,
        until,
        beforeSeq: decodeCursor<number>(cursor, "number"),
        limit,
      });
      const p = page(rows, limit, (d) => d.seq);
      return c.json({ data: p.data.map(toDeadLetter), next_cursor: p.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/dead-letters/replay",
      operationId: "replayDeadLetters",
      tags: ["Dead letters"],
      summary: "Replay every dead letter matching the filter",
      request: {
        body: jsonBody(z.strictObject({ tenant_id: z.string().optional(), endpoint_id: z.string().optional(), since: IsoInstant.optional(), until: IsoInstant.optional() })),
      },
      responses: { 202: jsonResponse(z.object({ count: z.number().int() }), "Replay started"), ...problems(400, 401, 403, 413, 415, 422, 503) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const count = await deadLetters.replayDeadLetters(deps(c), { tenantId: scopedTenant(c) }, {
        tenantId: body.tenant_id,
        endpointId: body.endpoint_id,
        since: body.since,
        until: body.until,
      });
      return c.json({ count }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/dead-letters/{id}",
      operationId: "getDeadLetter",
      tags: ["Dead letters"],
      summary: "Get a dead letter",
      request: { params: IdParams },
      responses: { 200: jsonResponse(DeadLetter, "The dead letter"), ...problems(401, 404, 503) },
    }),
    async (c) => c.json(toDeadLetter(await deadLetters.getDeadLetter(deps(c), { tenantId: scopedTenant(c) }, c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/dead-letters/{id}/replay",
      operationId: "replayDeadLetter",
      tags: ["Dead letters"],
      summary: "Replay a dead letter (retry its delivery, or re-run its fan-out)",
      request: { params: IdParams },
      responses: { 202: { description: "Replay started" }, ...problems(401, 404, 409, 410, 413, 422, 503) },
    }),
    async (c) => {
      await deadLetters.replayDeadLetter(deps(c), { tenantId: scopedTenant(c) }, c.req.valid("param").id);
      return c.body(null, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/dead-letters/{id}",
      operationId: "deleteDeadLetter",
      tags: ["Dead letters"],
      summary: "Delete a dead letter (the delivery stays failed)",
      request: { params: IdParams },
      responses: { 204: { description: "Deleted" }, ...problems(401, 404, 413, 503) },
    }),
    async (c) => {
      await deadLetters.deleteDeadLetter(deps(c), { tenantId: scopedTenant(c) }, c.req.valid("param").id);
      return c.body(null, 204);
    },
  );
}
