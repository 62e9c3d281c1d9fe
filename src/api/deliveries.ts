/**
 * @module Deliveries: the endpoint's log, one delivery with its attempts, retry, replay.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as deliveries from "../core/deliveries";
import type { DeliveryView } from "../core/deliveries";
import { bodyFor } from "../outbound/request";
import { deps, requireTenant, type AppEnv } from "./context";
import { EndpointParams } from "./endpoints";
import { decodeCursor, encodeCursor, iso, IsoInstant, jsonBody, jsonResponse, ListQuery, listOf, TenantParams, Timestamp, problems } from "./schemas";

const Status = z.enum(["pending", "delivered", "failed"]);
/** Why a delivery failed (also a dead letter's reason). */
export const Reason = z.enum(["retries_exhausted", "non_retryable_status", "endpoint_disabled", "url_not_allowed", "expired", "consumer_error"]);

export const Delivery = z
  .object({
    id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    endpoint_id: z.string(),
    status: Status,
    reason: Reason.nullable(),
    attempts: z.number().int(),
    test: z.boolean(),
    created_at: Timestamp,
    last_attempt_at: Timestamp.nullable(),
    next_attempt_at: Timestamp.nullable(),
    response_status: z.number().int().nullable(),
  })
  .openapi("Delivery");

const Attempt = z
  .object({
    n: z.number().int(),
    started_at: Timestamp,
    duration_ms: z.number().int(),
    response_status: z.number().int().nullable(),
    response_body: z.string().nullable(),
    error: z.string().nullable(),
    location: z.string().nullable(),
  })
  .openapi("Attempt");

// Its own object, not `Delivery.extend`: the generator would emit allOf[Delivery, …] and
// `attempts` would read as integer and array at once.
const DeliveryDetail = z
  .object({
    ...Delivery.shape,
    request: z.object({ method: z.string(), url: z.string(), headers: z.record(z.string(), z.string()), body: z.string() }),
    attempts: z.array(Attempt),
  })
  .openapi("DeliveryDetail");

export const toDelivery = (d: DeliveryView) => ({
  id: d.id,
  event_id: d.eventId,
  event_type: d.eventType,
  endpoint_id: d.endpointId,
  status: d.status,
  reason: d.reason,
  attempts: d.attempts,
  test: d.test,
  created_at: iso(d.createdAt)!,
  last_attempt_at: iso(d.lastAttemptAt),
  next_attempt_at: iso(d.nextAttemptAt),
  response_status: d.responseStatus,
});

const DeliveryParams = TenantParams.extend({ did: z.string().openapi({ param: { name: "did", in: "path" } }) });

export function registerDeliveries(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/endpoints/{eid}/deliveries",
      operationId: "listDeliveries",
      tags: ["Deliveries"],
      summary: "The endpoint's delivery log, newest first",
      request: {
        params: EndpointParams,
        query: ListQuery.extend({ status: Status.optional(), type: z.string().optional(), since: IsoInstant.optional(), until: IsoInstant.optional() }),
      },
      responses: { 200: jsonResponse(listOf(Delivery, "DeliveryList"), "Deliveries"), ...problems(401, 403, 404, 422, 503) },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      const { limit, cursor, status, type, since, until } = c.req.valid("query");
      const p = await deliveries.listDeliveries(deps(c), tid, eid, { status, type, since, until, before: decodeCursor<number>(cursor, "number"), limit });
      return c.json({ data: p.items.map(toDelivery), next_cursor: p.next === null ? null : encodeCursor(p.next) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/deliveries/{did}",
      operationId: "getDelivery",
      tags: ["Deliveries"],
      summary: "One delivery with the request as sent (secrets redacted) and every attempt",
      request: { params: DeliveryParams },
      responses: { 200: jsonResponse(DeliveryDetail, "The delivery"), ...problems(401, 403, 404, 503) },
    }),
    async (c) => {
      const { tid, did } = c.req.valid("param");
      requireTenant(c, tid);
      const d = deps(c);
      const found = await deliveries.getDelivery(d, tid, did);
      const last = found.attempts[found.attempts.length - 1];
      return c.json(
        {
          ...toDelivery(found.delivery),
          request: {
            method: last?.requestMethod ?? found.endpoint.method,
            url: last?.requestUrl ?? found.endpoint.url,
            headers: last?.requestHeaders ?? {},
            body: bodyFor(d.config, found.endpoint, found.event),
          },
          attempts: found.attempts.map((a) => ({
            n: a.n,
            started_at: iso(a.startedAt)!,
            duration_ms: a.durationMs,
            response_status: a.responseStatus,
            response_body: a.responseBody,
            error: a.error,
            location: a.location,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/deliveries/{did}/retry",
      operationId: "retryDelivery",
      tags: ["Deliveries"],
      summary: "Retry now with a fresh schedule (a delivered one is sent once more)",
      request: { params: DeliveryParams },
      responses: { 202: { description: "Retry started" }, ...problems(401, 403, 404, 409, 410, 413, 422, 503) },
    }),
    async (c) => {
      const { tid, did } = c.req.valid("param");
      requireTenant(c, tid);
      await deliveries.retryDelivery(deps(c), tid, did);
      return c.body(null, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/endpoints/{eid}/replay",
      operationId: "replayEndpoint",
      tags: ["Deliveries"],
      summary: "Retry every delivery of the endpoint whose event was created in [since, until) with the given status, in event order",
      request: {
        params: EndpointParams,
        body: jsonBody(z.strictObject({ since: IsoInstant, until: IsoInstant.optional(), status: z.enum(["failed", "delivered"]).default("failed") })),
      },
      responses: { 202: jsonResponse(z.object({ count: z.number().int() }).openapi("ReplayCount"), "Replay started"), ...problems(400, 401, 403, 404, 409, 413, 415, 422, 503) },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      const count = await deliveries.replayEndpoint(deps(c), tid, eid, c.req.valid("json"));
      return c.json({ count }, 202);
    },
  );
}
