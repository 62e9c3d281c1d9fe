/**
 * @module Helpers of the hardening tests (hostile input, tenant isolation, SSRF, secrets):
 * raw calls to the Worker, the route list of /openapi.json, D1 snapshots, a seeded
 * "world" of one tenant's objects, and waiting until the background consumers are idle.
 *
 * The receiver is shared by every test file, so every path used here carries a unique
 * prefix, and `/_reset` is never called.
 */
import { env, exports } from "cloudflare:workers";
import { expect, inject } from "vitest";
import type { Deps } from "../../src/api/context";
import type { Config } from "../../src/config";
import { ingestEvent } from "../../src/core/events";
import { loadDeliveryContexts } from "../../src/db/queries/deliveries";
import { processDelivery } from "../../src/pipeline/deliver";
import { pipelineDeps } from "../../src/pipeline/deps";
import { fanOutEvent } from "../../src/pipeline/fanout";
import { ADMIN_TOKEN, runDelivery, runFanout, uid, uniqueTypeName, waitFor } from "./helpers";

export { ADMIN_TOKEN };

export const receiverUrl = (): string => inject("receiverUrl");

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  json: any;
}

export interface RawInit {
  /** Bearer token; the admin token by default, null for none. */
  token?: string | null;
  /** An object is sent as JSON text; a string is sent exactly as is. */
  body?: unknown;
  /** The content-type header; application/json by default when there is a body, null for none. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

/** Calls the Worker's fetch handler and never throws on odd answers (it records them). */
export async function call(method: string, path: string, init: RawInit = {}): Promise<RawResponse> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    const ct = init.contentType === undefined ? "application/json" : init.contentType;
    if (ct !== null) headers.set("content-type", ct);
  }
  const res = await exports.default.fetch(new Request(`http://x${path}`, { method, headers, body }));
  const text = await res.text();
  let json: unknown;
  if ((res.headers.get("content-type") ?? "").includes("json") && text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Why a response is not a proper RFC 9457 problem document, or null when it is one. */
export function problemDefect(res: RawResponse): string | null {
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json")) return `content-type is ${JSON.stringify(type)}, not application/problem+json`;
  const p = res.json as Record<string, unknown> | undefined;
  if (!p || typeof p !== "object") return "the body is not a JSON object";
  for (const k of ["type", "title", "detail"]) if (typeof p[k] !== "string" || (p[k] as string).length === 0) return `${k} is missing or empty`;
  if (p.status !== res.status) return `status ${String(p.status)} differs from the HTTP status ${res.status}`;
  // Linear checks only: responses may echo 300 kB inputs, and a backtracking regex over
  // them would stall the test.
  if (res.text.includes("\n    at ") || /\.(?:ts|js):\d+:\d+/.test(res.text)) return "the body carries a stack trace";
  return null;
}

// ---------------------------------------------------------------------------------------
// The OpenAPI document

export interface Route {
  method: string;
  /** OpenAPI path, e.g. /v1/tenants/{tid}/endpoints/{eid} */
  path: string;
  /** "GET /v1/tenants/{tid}" */
  label: string;
  pathParams: string[];
  queryParams: string[];
  /** The JSON request body schema with $refs resolved, or null. */
  bodySchema: any;
  security: unknown;
}

export async function openapiDocument(): Promise<any> {
  const res = await call("GET", "/openapi.json", { token: null });
  expect(res.status).toBe(200);
  return res.json;
}

/** Resolves local `$ref`s (one level at a time, cycles cut at depth 12). */
export function resolveRefs(doc: any, node: any, depth = 0): any {
  if (depth > 12 || node === null || typeof node !== "object") return node;
  if (Array.isArray(node)) return node.map((n) => resolveRefs(doc, n, depth + 1));
  if (typeof node.$ref === "string" && node.$ref.startsWith("#/")) {
    const target = node.$ref
      .slice(2)
      .split("/")
      .reduce((o: any, k: string) => o?.[k.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
    return resolveRefs(doc, target, depth + 1);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolveRefs(doc, v, depth + 1)]));
}

/** Every operation of /openapi.json. */
export async function openapiRoutes(): Promise<Route[]> {
  const doc = await openapiDocument();
  const routes: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const params = (op.parameters ?? []).map((p: any) => resolveRefs(doc, p));
      const schema = op.requestBody?.content?.["application/json"]?.schema;
      routes.push({
        method: method.toUpperCase(),
        path,
        label: `${method.toUpperCase()} ${path}`,
        pathParams: params.filter((p: any) => p.in === "path").map((p: any) => p.name as string),
        queryParams: params.filter((p: any) => p.in === "query").map((p: any) => p.name as string),
        bodySchema: schema ? resolveRefs(doc, schema) : null,
        security: op.security ?? doc.security,
      });
    }
  }
  return routes;
}

/** Fills an OpenAPI path template; each value is URL-encoded. */
export function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for path parameter {${name}} of ${template}`);
    return encodeURIComponent(v);
  });
}

// ---------------------------------------------------------------------------------------
// D1 snapshots

/** The application's D1 tables (not D1's own bookkeeping). */
export async function dbTables(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name`,
  ).all<{ name: string }>();
  return results.map((r) => r.name);
}

export type Snapshot = Record<string, string[]>;

/** Every row of every table, each row as its JSON text, in primary-key order. */
export async function snapshotDb(): Promise<Snapshot> {
  const tables = await dbTables();
  const results = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT * FROM "${t}" ORDER BY 1`)));
  return Object.fromEntries(tables.map((t, i) => [t, (results[i]!.results as unknown[]).map((r) => JSON.stringify(r))]));
}

/** What differs between two snapshots, as readable lines (empty when equal). */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = new Set(before[table] ?? []);
    const b = new Set(after[table] ?? []);
    for (const row of a) if (!b.has(row)) out.push(`${table}: - ${row.slice(0, 300)}`);
    for (const row of b) if (!a.has(row)) out.push(`${table}: + ${row.slice(0, 300)}`);
  }
  return out;
}

/** All raw D1 text (every column of every row of every table), for "appears nowhere" checks. */
export async function dumpDb(): Promise<string> {
  return JSON.stringify(await snapshotDb());
}

// ---------------------------------------------------------------------------------------
// Waiting for the background consumers

/**
 * Drives every un-fanned event and due delivery of every tenant (the local consumers may
 * do it first; both are idempotent), then waits until D1 stops changing for `quietMs`.
 */
export async function quiesce(quietMs = 80, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await waitFor(
    async () => {
      const unfanned = await env.DB.prepare("SELECT seq FROM events WHERE fanned_out = 0").all<{ seq: number }>();
      for (const e of unfanned.results) await runFanout(e.seq);
      const due = await env.DB.prepare(
        "SELECT seq, generation FROM deliveries WHERE status = 'pending' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?",
      )
        .bind(Date.now() + 1000)
        .all<{ seq: number; generation: number }>();
      for (const d of due.results) await runDelivery(d.seq, d.generation);
      const left = await env.DB.prepare(
        "SELECT (SELECT COUNT(*) FROM events WHERE fanned_out = 0) + (SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?1) AS n",
      )
        .bind(Date.now() + 1000)
        .first<{ n: number }>();
      return left!.n === 0;
    },
    "the pipeline to settle",
    timeoutMs,
  );
  let last = JSON.stringify(await snapshotDb());
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = JSON.stringify(await snapshotDb());
    if (now === last) return;
    if (Date.now() > deadline) throw new Error("D1 kept changing: the background consumers did not go idle");
    last = now;
  }
}

// ---------------------------------------------------------------------------------------
// A seeded tenant

export interface World {
  tenantId: string;
  tenantName: string;
  apiKey: string;
  apiKeyId: string;
  eventType: string;
  /** Delivered endpoint (bearer auth), its secret and its URL. */
  endpointId: string;
  endpointUrl: string;
  endpointSecret: string;
  authToken: string;
  /** Endpoint whose receiver answers 410: its delivery failed with a dead letter. */
  failingEndpointId: string;
  failingEndpointUrl: string;
  eventId: string;
  deliveryId: string;
  failedDeliveryId: string;
  deadLetterId: string;
  /** A string planted in the tenant's metadata and the event's data. */
  marker: string;
  /** The receiver path prefix of this world's endpoints. */
  receiverPrefix: string;
}

async function ok(res: RawResponse, status: number, what: string): Promise<RawResponse> {
  expect(res.status, `${what}: ${res.text}`).toBe(status);
  return res;
}

/**
 * A tenant with an API key, an event type, a delivered endpoint (bearer auth) and a
 * failing one (410), one event, its two deliveries and the failed one's dead letter.
 */
export async function seedWorld(label = "w"): Promise<World> {
  const tenantId = uid(label);
  const marker = `marker-${crypto.randomUUID()}`;
  const tenantName = `Tenant ${marker}`;
  await ok(await call("POST", "/v1/tenants", { body: { id: tenantId, name: tenantName, metadata: { marker } } }), 201, "create tenant");
  const key = (await ok(await call("POST", `/v1/tenants/${tenantId}/api-keys`, { body: { name: `key ${marker}` } }), 201, "create key")).json;
  const eventType = uniqueTypeName("hard");
  // Event types are a shared catalog, so the tenant's marker stays out of this one.
  await ok(await call("POST", "/v1/event-types", { body: { name: eventType, description: "hardening", example: { sample: true } } }), 201, "create event type");
  const receiverPrefix = `/ok/hard-${tenantId}`;
  const authToken = `token-${marker}`;
  const ep = (
    await ok(
      await call("POST", `/v1/tenants/${tenantId}/endpoints`, {
        body: { url: `${receiverUrl()}${receiverPrefix}/a`, description: `desc ${marker}`, auth: { type: "bearer", token: authToken } },
      }),
      201,
      "create endpoint",
    )
  ).json;
  const failing = (
    await ok(await call("POST", `/v1/tenants/${tenantId}/endpoints`, { body: { url: `${receiverUrl()}/status/410/hard-${tenantId}` } }), 201, "create failing endpoint")
  ).json;
  const event = (await ok(await call("POST", `/v1/tenants/${tenantId}/events`, { body: { type: eventType, data: { marker } } }), 202, "post event")).json;
  await quiesce(30);
  const detail = (await ok(await call("GET", `/v1/tenants/${tenantId}/events/${event.id}`), 200, "get event")).json;
  const delivered = detail.deliveries.find((d: any) => d.endpoint_id === ep.id);
  const failed = detail.deliveries.find((d: any) => d.endpoint_id === failing.id);
  expect(delivered?.status, JSON.stringify(detail)).toBe("delivered");
  expect(failed?.status, JSON.stringify(detail)).toBe("failed");
  const dls = (await ok(await call("GET", `/v1/dead-letters?tenant_id=${tenantId}`), 200, "list dead letters")).json;
  expect(dls.data.length, JSON.stringify(dls)).toBe(1);
  return {
    tenantId,
    tenantName,
    apiKey: key.key,
    apiKeyId: key.id,
    eventType,
    endpointId: ep.id,
    endpointUrl: ep.url,
    endpointSecret: ep.secret,
    authToken,
    failingEndpointId: failing.id,
    failingEndpointUrl: failing.url,
    eventId: event.id,
    deliveryId: delivered.delivery_id,
    failedDeliveryId: failed.delivery_id,
    deadLetterId: dls.data[0].id,
    marker,
    receiverPrefix,
  };
}

/** Whether every object of the world is still there and reachable with its key (fuzzing may delete them). */
export async function worldIntact(w: World): Promise<boolean> {
  const checks = await Promise.all([
    call("GET", `/v1/tenants/${w.tenantId}`, { token: w.apiKey }),
    call("GET", `/v1/tenants/${w.tenantId}/endpoints/${w.endpointId}`),
    call("GET", `/v1/tenants/${w.tenantId}/deliveries/${w.failedDeliveryId}`),
    call("GET", `/v1/dead-letters/${w.deadLetterId}`),
    call("GET", `/v1/event-types/${w.eventType}`),
  ]);
  return checks.every((r) => r.status === 200) && checks[4]!.json.archived === false;
}

/** The real value of each path parameter name in a world. */
export function worldParams(w: World): Record<string, string> {
  return {
    tid: w.tenantId,
    eid: w.endpointId,
    evid: w.eventId,
    did: w.failedDeliveryId,
    id: w.deadLetterId,
    kid: w.apiKeyId,
    name: w.eventType,
  };
}

/** The receiver's recorded requests under a path prefix. */
export async function receiverRequests(prefix: string): Promise<{ method: string; path: string; headers: Record<string, string>; body: string }[]> {
  return (await (await fetch(`${receiverUrl()}/_log?prefix=${encodeURIComponent(prefix)}`)).json()) as never;
}

// ---------------------------------------------------------------------------------------
// Deps with a chosen configuration and queues that only record

export interface RecordingQueue {
  queue: Queue;
  sent: unknown[];
}

/** A queue that records what is sent, so no local consumer acts behind the test's back. */
export function recordingQueue(): RecordingQueue {
  const q: RecordingQueue = {
    sent: [],
    queue: {
      async send(body: unknown) {
        q.sent.push(body);
      },
      async sendBatch(messages: Iterable<MessageSendRequest>) {
        for (const m of messages) q.sent.push(m.body);
      },
    } as unknown as Queue,
  };
  return q;
}

/**
 * `pipelineDeps(env)` with config overrides and recording queues. The env is a child of the
 * real one with the queues defined on it (defineProperty: assigning through the
 * cloudflare:workers env would replace the Worker's real bindings).
 */
export function configuredDeps(config: Partial<Config>): { deps: Deps; fanout: RecordingQueue; delivery: RecordingQueue } {
  const fanout = recordingQueue();
  const delivery = recordingQueue();
  const child = Object.create(env) as Env;
  Object.defineProperty(child, "FANOUT_QUEUE", { value: fanout.queue, enumerable: true });
  Object.defineProperty(child, "DELIVERY_QUEUE", { value: delivery.queue, enumerable: true });
  const base = pipelineDeps(env);
  return { deps: { ...base, env: child, config: { ...base.config, ...config } }, fanout, delivery };
}

/** Ingests an event and fans it out with recording queues: its deliveries wait in D1, unsent. */
export async function ingestQuietly(tenantId: string, type: string, data: unknown): Promise<{ seq: number; id: string; deliveries: { seq: number; generation: number; endpointId: string }[] }> {
  const { deps } = configuredDeps({});
  const { event } = await ingestEvent({ ...deps, now: Date.now() }, tenantId, JSON.stringify({ type, data }), undefined);
  await fanOutEvent({ ...deps, now: Date.now() }, { kind: "fanout", e: event.seq }, 1);
  const { results } = await env.DB.prepare("SELECT seq, generation, endpoint_id AS endpointId FROM deliveries WHERE event_seq = ? ORDER BY seq")
    .bind(event.seq)
    .all<{ seq: number; generation: number; endpointId: string }>();
  return { seq: event.seq, id: event.id, deliveries: results };
}

/** Runs the delivery consumer's per-message path for one delivery with these deps. */
export async function deliverWith(deps: Deps, d: { seq: number; generation: number }): Promise<void> {
  const now = Date.now();
  const contexts = await loadDeliveryContexts(deps.db, [d.seq], now);
  await processDelivery({ ...deps, now }, { kind: "deliver", d: d.seq, g: d.generation }, contexts.get(d.seq));
}
