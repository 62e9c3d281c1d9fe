/**
 * @module Endpoint tools: POST .../test and GET .../stats.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import * as tools from "../core/endpoint-tools";
import { deps, requireTenant, type AppEnv } from "./context";
import { EndpointParams } from "./endpoints";
import { iso, IsoInstant, jsonBody, jsonResponse, Timestamp, problems } from "./schemas";

const TestResult = z
  .object({
    delivery_id: z.string(),
    response_status: z.number().int().nullable(),
    duration_ms: z.number().int().nullable(),
    error: z.string().nullable(),
    response_body: z.string().nullable(),
  })
  .openapi("TestSendResult");

const Stats = z
  .object({
    since: Timestamp,
    until: Timestamp,
    counts: z.object({ pending: z.number().int(), delivered: z.number().int(), failed: z.number().int() }),
    success_rate: z.number().nullable(),
    latency_ms: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
  })
  .openapi("EndpointStats");

export function registerEndpointTools(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tid}/endpoints/{eid}/test",
      operationId: "sendTestEvent",
      tags: ["Endpoints"],
      summary: "Send one signed test event now and return the receiver's answer",
      request: { params: EndpointParams, body: jsonBody(z.strictObject({ type: z.string(), data: z.unknown().optional() })) },
      // 503: SECRETS_KEY missing (nothing is sent or recorded), or a dependency refused.
      responses: { 200: jsonResponse(TestResult, "What the receiver answered (whatever it was)"), ...problems(400, 401, 403, 404, 413, 415, 422, 503) },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      const r = await tools.sendTestEvent(deps(c), tid, eid, c.req.valid("json"), { text: await c.req.text(), root: "" });
      return c.json(
        { delivery_id: r.deliveryId, response_status: r.responseStatus, duration_ms: r.durationMs, error: r.error, response_body: r.responseBody },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tid}/endpoints/{eid}/stats",
      operationId: "getEndpointStats",
      tags: ["Endpoints"],
      summary: "Counts, success rate and attempt latency of deliveries created in the window (default: the last 24 h)",
      request: { params: EndpointParams, query: z.object({ since: IsoInstant.optional(), until: IsoInstant.optional() }) },
      responses: { 200: jsonResponse(Stats, "Stats"), ...problems(401, 403, 404, 422, 503) },
    }),
    async (c) => {
      const { tid, eid } = c.req.valid("param");
      requireTenant(c, tid);
      const s = await tools.endpointStats(deps(c), tid, eid, c.req.valid("query"));
      return c.json({ since: iso(s.since)!, until: iso(s.until)!, counts: s.counts, success_rate: s.successRate, latency_ms: s.latency }, 200);
    },
  );
}
