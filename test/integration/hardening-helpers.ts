/**
 * @module Helpers of the hardening tests (hostile input, tenant isolation, SSRF, secrets):
 * raw calls to the Worker, the route list of /openapi.json, D1 snapshots, tenants' logs
 * (data plane v2: each tenant's deliveries live in its TenantLog) read and dumped from their
 * storage, a seeded "world" of one tenant's objects, and waiting until the background
 * consumers and alarms are idle.
 *
 * The receiver is shared by every test file, so every path used here carries a unique
 * prefix, and `/_reset` is never called.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect, inject } from "vitest";
import type { Deps } from "../../src/api/context";
import type { Config } from "../../src/config";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import { ingestEvent } from "../../src/core/events";
import { logDeliveryId } from "../../src/domain/ids";
import { pipelineDeps } from "../../src/core/deps";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import { ADMIN_TOKEN, uid, uniqueTypeName } from "./helpers";
import { expectDocumented } from "./openapi-validate";

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

/** Calls the Worker's fetch handler and never throws on odd answers (it records them); one that contradicts /openapi.json fails the test. */
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
  const req = new Request(`http://x${path}`, { method, headers, body });
  const res = await exports.default.fetch(req);
  const text = await res.text();
  await expectDocumented(req, { status: res.status, headers: res.headers, text });
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

/**
 * Every row of every D1 table, and of every table in each live tenant's TenantLog (as
 * `log:<tenant>:<table>`), each row as its JSON text, in primary-key order: what "changes
 * nothing" is checked against.
 */
export async function snapshotDb(): Promise<Snapshot> {
  const tables = await dbTables();
  const results = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT * FROM "${t}" ORDER BY 1`)));
  const snapshot: Snapshot = Object.fromEntries(tables.map((t, i) => [t, (results[i]!.results as unknown[]).map((r) => JSON.stringify(r))]));
  const tenants = await env.DB.prepare("SELECT id, seq FROM tenants WHERE deleted_at IS NULL").all<{ id: string; seq: number }>();
  for (const { id, seq } of tenants.results) {
    const dump = await dumpDurableObject(env.TENANT_LOG.getByName(String(seq)));
    for (const [table, rows] of Object.entries(dump.tables)) snapshot[`log:${id}:${table}`] = rows.map((r) => JSON.stringify(r));
  }
  return snapshot;
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
// Tenants' logs (data plane v2): each tenant's deliveries live in its TenantLog

export type TenantLogStub = ReturnType<Env["TENANT_LOG"]["getByName"]>;

/** The tenant's never-reused seq, which names its TenantLog. */
export async function tenantSeqOf(tenantId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT seq FROM tenants WHERE id = ?").bind(tenantId).first<{ seq: number }>();
  if (!row) throw new Error(`no tenant ${tenantId}`);
  return row.seq;
}

/** The tenant's TenantLog (as src/core/tenant-logs.ts names it). */
export async function tenantLogOf(tenantId: string): Promise<TenantLogStub> {
  return env.TENANT_LOG.getByName(String(await tenantSeqOf(tenantId)));
}

export interface StorageDump {
  /** Every key and value of the object's KV storage. */
  kv: [string, unknown][];
  /** Every row of every SQLite table, by table name. */
  tables: Record<string, Record<string, unknown>[]>;
  alarm: number | null;
}

/** All a Durable Object holds: KV, every SQLite table (its own bookkeeping `_cf_*` excepted), its alarm. */
export async function dumpDurableObject(stub: DurableObjectStub | TenantLogStub): Promise<StorageDump> {
  return runInDurableObject(stub as DurableObjectStub, async (_instance: unknown, state: DurableObjectState) => {
    const kv = [...state.storage.kv.list()] as [string, unknown][];
    const tables: Record<string, Record<string, unknown>[]> = {};
    for (const { name } of state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name").toArray()) {
      tables[name] = state.storage.sql.exec(`SELECT * FROM "${name}"`).toArray() as Record<string, unknown>[];
    }
    return { kv, tables, alarm: await state.storage.getAlarm() };
  });
}

/** The logged request headers of every attempt a TenantLog holds (inline first attempts and later ones). */
export function loggedRequests(dump: StorageDump): { method: string; url: string; headers: Record<string, string> }[] {
  const out: { method: string; url: string; headers: Record<string, string> }[] = [];
  for (const [name, rows] of Object.entries(dump.tables)) {
    const column = /^deliveries_d\d+$/.test(name) ? "a1_request" : /^attempts_d\d+$/.test(name) ? "request" : null;
    if (!column) continue;
    for (const row of rows) if (typeof row[column] === "string") out.push(JSON.parse(row[column] as string));
  }
  return out;
}

/** What a tenant's log still has to do before its deliveries stop changing. */
export interface LogWork {
  /** Deliveries of live endpoints with no row yet: their first message is still out. */
  untried: number;
  /** Pending deliveries with a next attempt at or before the horizon (parked waiters, NULL, excluded). */
  due: number;
  /** Dead letters (and operational events) the alarm has not handed to D1 yet; tenant-hour totals are figures, not work, and wait up to a minute. */
  outbox: number;
  /** Replays the alarm is still continuing. */
  replays: number;
}

const noWork = (w: LogWork) => w.untried + w.due + w.outbox + w.replays === 0;

/** Reads the log's outstanding work straight from its storage (`horizon`: count pending deliveries due by then). */
export async function logWork(stub: TenantLogStub, horizon = Number.MAX_SAFE_INTEGER): Promise<LogWork> {
  return runInDurableObject(stub as unknown as DurableObjectStub, (_instance: unknown, state: DurableObjectState) => {
    const sql = state.storage.sql;
    const tables = new Set(sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((r) => r.name));
    // A log that was never written to has no tables yet (its migrations run on first use).
    if (!tables.has("days")) return { untried: 0, due: 0, outbox: 0, replays: 0 };
    const work: LogWork = {
      untried: 0,
      due: 0,
      outbox: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'dead_letter'").one().n,
      replays: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM replays").one().n,
    };
    for (const { day } of sql.exec<{ day: number }>("SELECT day FROM days").toArray()) {
      const [events, deliveries] = [`events_d${day}`, `deliveries_d${day}`];
      work.untried += sql
        .exec<{ n: number }>(
          `SELECT COUNT(*) AS n FROM ${events} e, json_each(e.matched) j
           WHERE e.test = 0 AND j.value IN (SELECT ordinal FROM endpoints WHERE deleted = 0)
             AND NOT EXISTS (SELECT 1 FROM ${deliveries} d WHERE d.ordinal = j.value AND d.event_seq = e.seq)`,
        )
        .one().n;
      work.due += sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${deliveries} WHERE status = 'pending' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?`, horizon).one().n;
    }
    return work;
  });
}

/** Runs the log's alarm now (it hands the outbox to D1, continues replays, re-drives overdue work). */
export async function runLogAlarm(stub: TenantLogStub): Promise<void> {
  await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
}

/**
 * Waits until the log has nothing left to do up to `horizon` (its background consumer and
 * alarm do the work; an outbox is flushed at once by running the alarm). Times out naming
 * what is left.
 */
async function settleLog(stub: TenantLogStub, label: string, horizon: () => number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const work = await logWork(stub, horizon());
    if (noWork(work)) return;
    if (Date.now() > deadline) throw new Error(`${label} did not settle in ${timeoutMs} ms: ${JSON.stringify(work)}`);
    if (work.outbox > 0 || work.replays > 0) await runLogAlarm(stub);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until every delivery of the tenant is settled: none untried, none pending with a
 * next attempt (retries included; parked waiters excepted), its dead letters in D1, no replay
 * in progress. The local consumer does the work in the background.
 */
export async function settleTenant(tenantId: string, timeoutMs = 30_000): Promise<void> {
  await settleLog(await tenantLogOf(tenantId), `tenant ${tenantId}`, () => Number.MAX_SAFE_INTEGER, timeoutMs);
}

/**
 * Waits until the background work of every tenant with a live endpoint is done (nothing
 * untried, nothing due within a second, every outbox flushed), then until D1 stops changing
 * for `quietMs`. Retries scheduled later are not waited for.
 */
export async function quiesce(quietMs = 80, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const { results: tenants } = await env.DB.prepare(
    "SELECT DISTINCT t.id, t.seq FROM tenants t JOIN endpoints e ON e.tenant_id = t.id WHERE t.deleted_at IS NULL AND e.deleted_at IS NULL ORDER BY t.seq",
  ).all<{ id: string; seq: number }>();
  for (const t of tenants) {
    await settleLog(env.TENANT_LOG.getByName(String(t.seq)), `tenant ${t.id}`, () => Date.now() + 1000, Math.max(1000, deadline - Date.now()));
  }
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
// Deps with a chosen configuration and a deliveries queue that only records

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
 * `pipelineDeps(env)` with config overrides and a recording deliveries queue. The env is a
 * child of the real one with the queue and the vars behind the overrides defined on it
 * (defineProperty: assigning through the cloudflare:workers env would replace the Worker's
 * real bindings), so the consumer, which reads its config from `deps.env`, sees the same
 * configuration as `deps.config`.
 */
export function configuredDeps(config: Partial<Config>): { deps: Deps; delivery: RecordingQueue } {
  const delivery = recordingQueue();
  const child = Object.create(env) as Env;
  const define = (name: string, value: unknown) => Object.defineProperty(child, name, { value, enumerable: true });
  define("DELIVERY_QUEUE", delivery.queue);
  if (config.allowPrivateUrls !== undefined) define("ALLOW_PRIVATE_URLS", String(config.allowPrivateUrls));
  if (config.secretsKeys !== undefined) {
    define("SECRETS_KEY", config.secretsKeys[0] ?? "");
    define("SECRETS_KEY_PREVIOUS", config.secretsKeys[1] ?? "");
  }
  const base = pipelineDeps(child);
  return { deps: { ...base, config: { ...base.config, ...config } }, delivery };
}

export interface QuietDelivery {
  endpointId: string;
  ordinal: number;
  /** Its public id (`dlv_…`), as the API shows it. */
  deliveryId: string;
  /** A delivery message naming this delivery alone, at the generation ingest gave it. */
  message: LogDeliverMessage;
}

/**
 * Ingests an event with a recording queue: its deliveries wait in the tenant's log, unsent,
 * until the test hands their messages to the consumer (`deliverWith`).
 */
export async function ingestQuietly(tenantId: string, type: string, data: unknown): Promise<{ seq: number; id: string; tenantSeq: number; deliveries: QuietDelivery[] }> {
  const { deps } = configuredDeps({});
  const { event } = await ingestEvent({ ...deps, now: Date.now() }, tenantId, JSON.stringify({ type, data }), undefined);
  const t = await tenantSeqOf(tenantId);
  const logged = await env.TENANT_LOG.getByName(String(t)).getEvent(event.seq);
  if (!logged) throw new Error(`event ${event.id} is not in the log of ${tenantId}`);
  return {
    seq: event.seq,
    id: event.id,
    tenantSeq: t,
    deliveries: logged.deliveries.map((d) => ({
      endpointId: d.endpointId,
      ordinal: d.ordinal,
      deliveryId: logDeliveryId({ createdAt: d.createdAt, tenantSeq: t, eventSeq: d.e, ordinal: d.ordinal }),
      message: { kind: "deliver", t, e: d.e, p: [d.ordinal], g: d.generation },
    })),
  };
}

/**
 * Runs the delivery consumer (src/consumers/deliveries.ts) on one delivery's message with
 * these deps' env (its config and recording queue). Answers whether the message was acked.
 * `consumer`: the handler of another module instance (a fresh isolate's, with empty caches).
 */
export async function deliverWith(
  deps: Deps,
  d: { message: LogDeliverMessage },
  consumer: typeof handleLogDeliveryBatch = handleLogDeliveryBatch,
): Promise<{ acked: boolean; retried: boolean }> {
  let acked = false;
  let retried = false;
  const message = { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: d.message, ack: () => void (acked = true), retry: () => void (retried = true) };
  const batch = { queue: "switchyard-deliveries", messages: [message], ackAll: () => message.ack(), retryAll: () => message.retry() } as unknown as MessageBatch<LogDeliverMessage>;
  await consumer(batch, deps.env);
  return { acked, retried };
}
