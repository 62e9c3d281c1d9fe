/**
 * @module Helpers of the pipeline tests: API calls, D1 reads, the receiver's log, and
 * `deps` objects whose queues (and optionally EndpointDO namespace) are fakes, so a test
 * can drive the consumers one step at a time and see every message they send.
 *
 * Every send the Worker makes to the real queues is also consumed by the local
 * consumers in the background, so tests that use the real queues poll D1 with a bounded
 * wait, and tests that need exact control call the pipeline functions with fake queues.
 */
import { env, exports } from "cloudflare:workers";
import { worker } from "../support/worker-handlers";
import { expect, inject } from "vitest";
import type { Deps } from "../../src/api/context";
import { getConfig, type Config } from "../../src/config";
import { ingestEvent } from "../../src/core/events";
import { loadDeliveryContexts } from "../../src/db/queries/deliveries";
import { processDelivery } from "../../src/pipeline/deliver";
import { pipelineDeps } from "../../src/pipeline/deps";
import { fanOutEvent } from "../../src/pipeline/fanout";
import type { DeliverMessage, FanoutMessage } from "../../src/pipeline/messages";
import type { Recorded } from "../support/receiver";

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

/** Calls the Worker's fetch handler with the admin token. */
export async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult<T>> {
  const res = await exports.default.fetch(
    new Request(`http://x${path}`, {
      method,
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  const text = await res.text();
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
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
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

/** An EndpointDO namespace whose objects ignore `wake` (nothing is started behind the test's back). */
export function inertEndpointDOs(): { namespace: Env["ENDPOINT_DO"]; woken: string[] } {
  const woken: string[] = [];
  const namespace = {
    getByName: (name: string) => ({
      wake: async (id: string) => {
        woken.push(id);
      },
      admit: () => {
        throw new Error(`inert EndpointDO ${name} asked to admit`);
      },
      finished: async () => {},
    }),
  } as unknown as Env["ENDPOINT_DO"];
  return { namespace, woken };
}

export interface TestDeps {
  deps: Deps;
  fanout: FakeQueue;
  delivery: FakeQueue;
}

/**
 * `pipelineDeps(env)` with fake queues (and optionally an inert EndpointDO namespace,
 * config overrides and a clock). The rest of `env` (D1, real DOs, Sweeper) is the real one.
 */
export function testDeps(options: { now?: number; config?: Partial<Config>; endpointDOs?: Env["ENDPOINT_DO"]; fanout?: FakeQueue; delivery?: FakeQueue } = {}): TestDeps {
  const fanout = options.fanout ?? fakeQueue();
  const delivery = options.delivery ?? fakeQueue();
  const overrides: Partial<Env> = { FANOUT_QUEUE: fanout.queue, DELIVERY_QUEUE: delivery.queue };
  if (options.endpointDOs) overrides.ENDPOINT_DO = options.endpointDOs;
  // defineProperty, not assignment: `env` from cloudflare:workers forwards writes made
  // through its prototype chain to the Worker's real env, which would swap the real queues
  // for these fakes for every later invocation.
  const fakeEnv = Object.create(env) as Env;
  for (const [k, v] of Object.entries(overrides)) Object.defineProperty(fakeEnv, k, { value: v, enumerable: true });
  const base = pipelineDeps(env, options.now ?? Date.now());
  return { deps: { ...base, env: fakeEnv, config: { ...getConfig(env), ...options.config } }, fanout, delivery };
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
export function deliverMessages(q: FakeQueue): (DeliverMessage & { delaySeconds?: number })[] {
  return q.sent.filter((m) => (m.body as { kind?: string }).kind === "deliver").map((m) => ({ ...(m.body as DeliverMessage), delaySeconds: m.delaySeconds }));
}

export function fanoutMessages(q: FakeQueue): FanoutMessage[] {
  return q.sent.filter((m) => (m.body as { kind?: string }).kind === "fanout").map((m) => m.body as FanoutMessage);
}

/** Ingests an event through core (no HTTP), with the deps' queues. Returns the event seq and id. */
export async function ingest(deps: Deps, tenantId: string, type: string, data: unknown = {}, extra: { id?: string; key?: string } = {}): Promise<{ seq: number; id: string }> {
  const body = JSON.stringify({ type, data, ...(extra.id ? { id: extra.id } : {}) });
  const result = await ingestEvent({ ...deps, now: Date.now() }, tenantId, body, extra.key);
  return { seq: result.event.seq, id: result.event.id };
}

/** Ingest then fan out with the same (fake) deps: the deliveries exist in D1, their messages in `delivery.sent`. */
export async function ingestAndFanOut(t: TestDeps, tenantId: string, type: string, data: unknown = {}): Promise<{ seq: number; id: string }> {
  const ev = await ingest(t.deps, tenantId, type, data);
  await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: ev.seq }, 1);
  return ev;
}

/** Runs one delivery message through the consumer's per-message path with these deps. */
export async function deliver(deps: Deps, msg: { d: number; g: number }, now = Date.now()): Promise<void> {
  const contexts = await loadDeliveryContexts(deps.db, [msg.d], now);
  await processDelivery({ ...deps, now }, { kind: "deliver", d: msg.d, g: msg.g }, contexts.get(msg.d));
}

// ---------------------------------------------------------------------------
// D1 reads

export interface DeliveryDbRow {
  seq: number;
  tenant_id: string;
  endpoint_id: string;
  event_seq: number;
  event_type: string;
  status: string;
  reason: string | null;
  attempts: number;
  generation: number;
  next_attempt_at: number | null;
  line_seq: number | null;
  response_status: number | null;
}

export async function deliveriesOfEndpoint(endpointId: string): Promise<DeliveryDbRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM deliveries WHERE endpoint_id = ? ORDER BY seq`).bind(endpointId).all<DeliveryDbRow>();
  return results;
}

export async function deliveryRow(seq: number): Promise<DeliveryDbRow> {
  const row = await env.DB.prepare(`SELECT * FROM deliveries WHERE seq = ?`).bind(seq).first<DeliveryDbRow>();
  if (!row) throw new Error(`no delivery ${seq}`);
  return row;
}

export interface AttemptDbRow {
  n: number;
  started_at: number;
  response_status: number | null;
  location: string | null;
  error: string | null;
  request_headers: string;
}

export async function attemptsOf(deliverySeq: number): Promise<AttemptDbRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM attempts WHERE delivery_seq = ? ORDER BY n`).bind(deliverySeq).all<AttemptDbRow>();
  return results;
}

export interface DeadLetterDbRow {
  seq: number;
  tenant_id: string;
  endpoint_id: string | null;
  delivery_seq: number | null;
  event_seq: number | null;
  event_id: string | null;
  event_type: string | null;
  reason: string;
  attempts: number;
  last_response_status: number | null;
  queue: string | null;
}

export async function deadLettersOf(where: { deliverySeq?: number; eventSeq?: number; endpointId?: string }): Promise<DeadLetterDbRow[]> {
  const [col, val] =
    where.deliverySeq !== undefined ? ["delivery_seq", where.deliverySeq] : where.eventSeq !== undefined ? ["event_seq", where.eventSeq] : ["endpoint_id", where.endpointId];
  const { results } = await env.DB.prepare(`SELECT * FROM dead_letters WHERE ${col} = ? ORDER BY seq`).bind(val).all<DeadLetterDbRow>();
  return results;
}

export interface EventDbRow {
  seq: number;
  id: string;
  tenant_id: string;
  type: string;
  data: string;
  fanned_out: number;
  created_at: number;
}

export async function eventRow(seq: number): Promise<EventDbRow | null> {
  return env.DB.prepare(`SELECT * FROM events WHERE seq = ?`).bind(seq).first<EventDbRow>();
}

/** `_operator` events of a type whose data names `field = value`. */
export async function operatorEvents(type: string, field: string, value: string): Promise<EventDbRow[]> {
  const { results } = await env.DB.prepare(
    `SELECT * FROM events WHERE tenant_id = '_operator' AND type = ? AND json_extract(data, '$.' || ?) = ? ORDER BY seq`,
  )
    .bind(type, field, value)
    .all<EventDbRow>();
  return results;
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
