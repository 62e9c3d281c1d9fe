/**
 * @module Helpers of the pipeline tests: API calls, log reads (through the API or a
 * tenant's TenantLog), D1 reads of the control plane, the receiver's log, and `deps`
 * objects whose deliveries queue is a fake, so a test can drive the consumer one step at a
 * time and see every message it sends.
 *
 * Every send the Worker makes to the real queue is also consumed by the local consumer in
 * the background, so tests that use the real queue poll with a bounded wait, and tests
 * that need exact control run the consumer with a fake queue.
 */
import { env, exports } from "cloudflare:workers";
import { worker } from "../support/worker-handlers";
import { expect, inject } from "vitest";
import type { Deps } from "../../src/api/context";
import { getConfig, type Config } from "../../src/config";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import { ingestEvent } from "../../src/core/events";
import { pipelineDeps } from "../../src/core/deps";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import type { Recorded } from "../support/receiver";
import { expectDocumented } from "./openapi-validate";

export const receiver = (): string => inject("receiverUrl");

let counter = 0;
/** A name unique across test files (they share one receiver). */
export function uniq(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter}`;
}

export interface ApiResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the Worker's fetch handler with the admin token; an answer that contradicts /openapi.json fails the test. */
export async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult<T>> {
  const req = new Request(`http://x${path}`, {
    method,
    headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const res = await exports.default.fetch(req);
  const text = await res.text();
  await expectDocumented(req, { status: res.status, headers: res.headers, text });
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
}

/** A fresh tenant with a unique id. */
export async function newTenant(prefix = "t"): Promise<string> {
  const id = uniq(prefix).replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 60);
  const res = await call("POST", "/v1/tenants", { id, name: id });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return id;
}

/** Creates an event type (event types are global; a repeat in the same file is fine). */
export async function ensureType(name: string, group?: string): Promise<void> {
  const res = await call("POST", "/v1/event-types", { name, description: name, ...(group ? { group } : {}) });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating type ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

export interface CreatedEndpoint {
  id: string;
  secret: string;
  url: string;
}

export async function newEndpoint(tenantId: string, body: Record<string, unknown>): Promise<CreatedEndpoint> {
  const res = await call("POST", `/v1/tenants/${tenantId}/endpoints`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id, secret: res.body.secret, url: res.body.url };
}

export async function patchEndpoint(tenantId: string, endpointId: string, body: Record<string, unknown>): Promise<ApiResult> {
  const res = await call("PATCH", `/v1/tenants/${tenantId}/endpoints/${endpointId}`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res;
}

/** Requests the receiver recorded under a path prefix, in arrival order. */
export async function receiverLog(prefix: string): Promise<Recorded[]> {
  const res = await fetch(`${receiver()}/_log?prefix=${encodeURIComponent(prefix)}`);
  return (await res.json()) as Recorded[];
}

/** Polls `probe` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Fakes

export interface SentMessage {
  body: unknown;
  delaySeconds?: number;
}

export interface FakeQueue {
  queue: Queue;
  sent: SentMessage[];
  /** Make every later send throw (a refused send). */
  refuse: boolean;
}

/** A queue that records what is sent instead of delivering it. */
export function fakeQueue(refuse = false): FakeQueue {
  const fake: FakeQueue = {
    sent: [],
    refuse,
    queue: {
      async send(body: unknown, options?: QueueSendOptions) {
        if (fake.refuse) throw new Error("queue refused the message (fake)");
        fake.sent.push({ body, delaySeconds: options?.delaySeconds });
      },
      async sendBatch(messages: Iterable<MessageSendRequest>) {
        if (fake.refuse) throw new Error("queue refused the batch (fake)");
        for (const m of messages) fake.sent.push({ body: m.body, delaySeconds: m.delaySeconds });
      },
    } as unknown as Queue,
  };
  return fake;
}

export interface TestDeps {
  deps: Deps;
  delivery: FakeQueue;
}

/**
 * `pipelineDeps(env)` with a fake deliveries queue (and optionally config overrides and a
 * clock). The rest of `env` (D1, the TenantLogs) is the real one; a TenantLog's own alarm
 * still sends to the real queue.
 */
export function testDeps(options: { now?: number; config?: Partial<Config>; delivery?: FakeQueue } = {}): TestDeps {
  const delivery = options.delivery ?? fakeQueue();
  // defineProperty, not assignment: `env` from cloudflare:workers forwards writes made
  // through its prototype chain to the Worker's real env, which would swap the real queue
  // for this fake for every later invocation.
  const fakeEnv = Object.create(env) as Env;
  Object.defineProperty(fakeEnv, "DELIVERY_QUEUE", { value: delivery.queue, enumerable: true });
  const base = pipelineDeps(env, options.now ?? Date.now());
  return { deps: { ...base, env: fakeEnv, config: { ...getConfig(env), ...options.config } }, delivery };
}

export interface FakeBatch<B> {
  batch: MessageBatch<B>;
  acked: Set<string>;
  retried: Set<string>;
  /** The `delaySeconds` each retried message asked for. */
  retryDelays: Map<string, number | undefined>;
}

/** A MessageBatch that records what the consumer acked and retried. */
export function fakeBatch<B>(queue: string, items: { body: B; attempts?: number }[]): FakeBatch<B> {
  const acked = new Set<string>();
  const retried = new Set<string>();
  const retryDelays = new Map<string, number | undefined>();
  const messages = items.map((item) => {
    const id = uniq("m");
    return {
      id,
      timestamp: new Date(),
      attempts: item.attempts ?? 1,
      body: item.body,
      ack: () => void acked.add(id),
      retry: (options?: QueueRetryOptions) => {
        retried.add(id);
        retryDelays.set(id, options?.delaySeconds);
      },
    };
  });
  const batch = {
    queue,
    messages,
    ackAll: () => messages.forEach((m) => m.ack()),
    retryAll: (options?: QueueRetryOptions) => messages.forEach((m) => m.retry(options)),
  } as unknown as MessageBatch<B>;
  return { batch, acked, retried, retryDelays };
}

/** The deliver messages a fake queue received. */
export function deliverMessages(q: FakeQueue): (LogDeliverMessage & { delaySeconds?: number })[] {
  return q.sent.filter((m) => (m.body as { kind?: string }).kind === "deliver").map((m) => ({ ...(m.body as LogDeliverMessage), delaySeconds: m.delaySeconds }));
}

/** Ingests an event through core (no HTTP), with the deps' queue. Returns the event's seq in its log and its id. */
export async function ingest(deps: Deps, tenantId: string, type: string, data: unknown = {}, extra: { id?: string; key?: string } = {}): Promise<{ seq: number; id: string }> {
  const body = JSON.stringify({ type, data, ...(extra.id ? { id: extra.id } : {}) });
  const result = await ingestEvent({ ...deps, now: Date.now() }, tenantId, body, extra.key);
  return { seq: result.event.seq, id: result.event.id };
}

/**
 * Runs deliver messages through the v2 consumer with these deps' queue: what it sends
 * (retries, released heads, `later` jobs) lands in the fake, acks and retries in the batch.
 */
export async function consume(t: TestDeps, messages: LogDeliverMessage[], attempts = 1): Promise<FakeBatch<LogDeliverMessage>> {
  const fb = fakeBatch("deliveries", messages.map((body) => ({ body, attempts })));
  await handleLogDeliveryBatch(fb.batch, t.deps.env);
  return fb;
}

/** Takes the deliver messages the fake queue holds (it is emptied), to run them next. */
export function takeDeliverMessages(q: FakeQueue): (LogDeliverMessage & { delaySeconds?: number })[] {
  const taken = deliverMessages(q);
  q.sent.length = 0;
  return taken;
}

// ---------------------------------------------------------------------------
// Reads: the log through the API, D1 for the control plane

export async function tenantSeqOf(tenantId: string): Promise<number> {
  const row = await env.DB.prepare(`SELECT seq FROM tenants WHERE id = ?`).bind(tenantId).first<{ seq: number }>();
  if (!row) throw new Error(`no tenant ${tenantId}`);
  return row.seq;
}

/** The tenant's TenantLog. */
export async function logOf(tenantId: string) {
  return env.TENANT_LOG.getByName(String(await tenantSeqOf(tenantId)));
}

export interface DeliveryItem {
  id: string;
  event_id: string;
  event_type: string;
  endpoint_id: string;
  status: "pending" | "delivered" | "failed";
  reason: string | null;
  attempts: number;
  test: boolean;
  created_at: string;
  last_attempt_at: string | null;
  next_attempt_at: string | null;
  response_status: number | null;
}

/** Every delivery of the endpoint as the API lists it, oldest event first. */
export async function deliveriesOfEndpoint(tenantId: string, endpointId: string): Promise<DeliveryItem[]> {
  const items: DeliveryItem[] = [];
  let cursor: string | null = null;
  do {
    const res: ApiResult = await call("GET", `/v1/tenants/${tenantId}/endpoints/${endpointId}/deliveries?limit=250${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    items.push(...(res.body.data as DeliveryItem[]));
    cursor = res.body.next_cursor;
  } while (cursor);
  return items.reverse();
}

export interface AttemptItem {
  n: number;
  started_at: string;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
  location: string | null;
}

/** One delivery with its request and attempts, as the API shows it. */
export async function deliveryDetail(tenantId: string, deliveryId: string): Promise<DeliveryItem & { request: { method: string; url: string; headers: Record<string, string>; body: string }; attempts: AttemptItem[] }> {
  const res = await call("GET", `/v1/tenants/${tenantId}/deliveries/${deliveryId}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export interface DeadLetterDbRow {
  seq: number;
  tenant_id: string;
  endpoint_id: string | null;
  delivery_id: string | null;
  event_id: string | null;
  event_type: string | null;
  reason: string;
  attempts: number;
  last_response_status: number | null;
  queue: string | null;
  generation: number | null;
}

/** D1's dead letters of a delivery or an endpoint (a TenantLog's alarm hands them over). */
export async function deadLettersOf(where: { deliveryId?: string; endpointId?: string }): Promise<DeadLetterDbRow[]> {
  const [col, val] = where.deliveryId !== undefined ? ["delivery_id", where.deliveryId] : ["endpoint_id", where.endpointId];
  const { results } = await env.DB.prepare(`SELECT * FROM dead_letters WHERE ${col} = ? ORDER BY seq`).bind(val).all<DeadLetterDbRow>();
  return results;
}

/** `_operator` events of a type whose data names `field = value` (read from its TenantLog). */
export async function operatorEvents(type: string, field: string, value: string): Promise<{ id: string; type: string; data: Record<string, unknown> }[]> {
  const log = await logOf("_operator");
  const found: { id: string; type: string; data: Record<string, unknown> }[] = [];
  let before: number | undefined;
  do {
    const page = await log.listEvents({ type, before, limit: 250 });
    for (const item of page.items) {
      const ev = await log.getEvent(item.seq);
      const data = ev ? (JSON.parse(ev.dataJson) as Record<string, unknown>) : {};
      if (String(data[field]) === value) found.push({ id: item.id, type: item.type, data });
    }
    before = page.next ?? undefined;
  } while (before !== undefined);
  return found.reverse();
}

export async function endpointRow(id: string): Promise<{ status: string; disabled_reason: string | null; failing_since: number | null }> {
  const row = await env.DB.prepare(`SELECT status, disabled_reason, failing_since FROM endpoints WHERE id = ?`).bind(id).first<{ status: string; disabled_reason: string | null; failing_since: number | null }>();
  if (!row) throw new Error(`no endpoint ${id}`);
  return row;
}

/** A queue message as `exports.default.queue` takes it. */
export function qmsg<B>(body: B, id = uniq("msg"), attempts = 1): { id: string; timestamp: Date; attempts: number; body: B } {
  return { id, timestamp: new Date(), attempts, body };
}

export async function runQueue(queue: string, messages: { id: string; timestamp: Date; attempts: number; body: unknown }[]) {
  return worker.queue(queue, messages);
}
