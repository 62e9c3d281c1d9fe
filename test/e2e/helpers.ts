/**
 * Helpers of the end-to-end suite: an admin API client for the Worker under `wrangler dev`,
 * creators for tenants / event types / endpoints, bounded polling, the receiver's log, and
 * receiver-side signature checks written the way each platform's published receiver code does.
 *
 * Every e2e file shares one Worker and one receiver: each test makes its own tenant ids,
 * event type names and receiver path keys with {@link uid}.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { expect, inject } from "vitest";
import type { Recorded } from "../support/receiver";

export type { Recorded };

export const workerUrl = () => inject("workerUrl");
export const receiverUrl = () => inject("receiverUrl");

/** A short unique suffix (fixed length, so no key is a prefix of another). */
export function uid(): string {
  return randomBytes(6).toString("hex");
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** One admin call. The body is JSON-encoded when given; the answer parsed when it is JSON. */
export async function api<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
  const res = await fetch(`${workerUrl()}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${inject("adminToken")}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** An admin call that must answer `expected`; the failure message shows what came back. */
export async function apiOk<T = any>(method: string, path: string, body: unknown, expected: number): Promise<T> {
  const res = await api<T>(method, path, body);
  if (res.status !== expected) {
    throw new Error(`${method} ${path} answered ${res.status}, expected ${expected}: ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

export async function createTenant(prefix = "t"): Promise<string> {
  const id = `e2e-${prefix}-${uid()}`;
  await apiOk("POST", "/v1/tenants", { id, name: `E2E ${prefix}` }, 201);
  return id;
}

/** Creates a fresh event type (names are global: each test makes its own). */
export async function createEventType(opts: { prefix?: string; group?: string; example?: unknown } = {}): Promise<string> {
  const name = `e2e_${(opts.prefix ?? "evt").replace(/[^a-z0-9_]/g, "_")}.${uid()}.happened`;
  await apiOk(
    "POST",
    "/v1/event-types",
    { name, description: "e2e", ...(opts.group ? { group: opts.group } : {}), ...(opts.example !== undefined ? { example: opts.example } : {}) },
    201,
  );
  return name;
}

export interface EndpointCreated {
  id: string;
  tenant_id: string;
  url: string;
  secret: string;
  status: string;
  [k: string]: unknown;
}

export async function createEndpoint(tenantId: string, input: Record<string, unknown>): Promise<EndpointCreated> {
  return apiOk<EndpointCreated>("POST", `/v1/tenants/${tenantId}/endpoints`, input, 201);
}

export async function getEndpoint(tenantId: string, endpointId: string): Promise<any> {
  return apiOk("GET", `/v1/tenants/${tenantId}/endpoints/${endpointId}`, undefined, 200);
}

export async function patchEndpoint(tenantId: string, endpointId: string, patch: Record<string, unknown>): Promise<any> {
  return apiOk("PATCH", `/v1/tenants/${tenantId}/endpoints/${endpointId}`, patch, 200);
}

/** Posts an event; answers 202 (or `expected`) with `{id, type, created_at}`. */
export async function postEvent(
  tenantId: string,
  event: { type: string; data: unknown; id?: string; occurred_at?: string },
  opts: { idempotencyKey?: string; expected?: number } = {},
): Promise<{ id: string; type: string; created_at: string }> {
  const res = await api("POST", `/v1/tenants/${tenantId}/events`, event, opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : {});
  const expected = opts.expected ?? 202;
  if (res.status !== expected) throw new Error(`POST event answered ${res.status}, expected ${expected}: ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function getEvent(tenantId: string, eventId: string): Promise<any> {
  return apiOk("GET", `/v1/tenants/${tenantId}/events/${eventId}`, undefined, 200);
}

export async function listDeliveries(tenantId: string, endpointId: string, query = ""): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const qs = new URLSearchParams(query);
    qs.set("limit", "250");
    if (cursor) qs.set("cursor", cursor);
    const page: { data: any[]; next_cursor: string | null } = await apiOk("GET", `/v1/tenants/${tenantId}/endpoints/${endpointId}/deliveries?${qs}`, undefined, 200);
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

export async function getDelivery(tenantId: string, deliveryId: string): Promise<any> {
  return apiOk("GET", `/v1/tenants/${tenantId}/deliveries/${deliveryId}`, undefined, 200);
}

export async function listDeadLetters(query: Record<string, string>): Promise<any[]> {
  const qs = new URLSearchParams({ ...query, limit: "250" });
  return (await apiOk<{ data: any[] }>("GET", `/v1/dead-letters?${qs}`, undefined, 200)).data;
}

/** The single delivery of `eventId` to `endpointId`, once fan-out has made it. */
export async function deliveryOf(tenantId: string, eventId: string, endpointId: string, timeoutMs = 15_000): Promise<{ delivery_id: string; status: string; attempts: number }> {
  return waitFor(
    async () => {
      const ev = await getEvent(tenantId, eventId);
      return (ev.deliveries as any[]).find((d) => d.endpoint_id === endpointId);
    },
    { timeoutMs, what: `a delivery of ${eventId} to ${endpointId}` },
  );
}

/**
 * Polls `fn` until it returns a truthy value (returned) or the time is up (throws with the
 * last error or value). An exception inside `fn` counts as "not yet", so `expect` may be used in it.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs: number; intervalMs?: number; what?: string; diagnose?: () => Promise<unknown> },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      last = await fn();
      lastError = undefined;
      if (last) return last as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? lastError.message : lastError !== undefined ? String(lastError) : `last value ${JSON.stringify(last)}`;
      const state = opts.diagnose ? `\nstate: ${JSON.stringify(await opts.diagnose().catch((e: unknown) => String(e)))}` : "";
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what ?? "a condition"}: ${detail}${state}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

/** Waits until the delivery leaves `pending`; returns its detail. */
export async function waitForFinal(tenantId: string, deliveryId: string, timeoutMs = 30_000): Promise<any> {
  return waitFor(
    async () => {
      const d = await getDelivery(tenantId, deliveryId);
      return d.status !== "pending" ? d : undefined;
    },
    { timeoutMs, what: `delivery ${deliveryId} to finish` },
  );
}

/** The receiver's recorded requests whose path starts with `prefix`, in arrival order. */
export async function receivedAt(prefix: string): Promise<Recorded[]> {
  const res = await fetch(`${receiverUrl()}/_log?prefix=${encodeURIComponent(prefix)}`);
  return (await res.json()) as Recorded[];
}

/** Waits until at least `n` requests arrived under `prefix` (optionally only those `where` accepts). */
export async function waitForReceived(prefix: string, n: number, opts: { timeoutMs?: number; where?: (r: Recorded) => boolean } = {}): Promise<Recorded[]> {
  return waitFor(
    async () => {
      const got = (await receivedAt(prefix)).filter(opts.where ?? (() => true));
      return got.length >= n ? got : undefined;
    },
    { timeoutMs: opts.timeoutMs ?? 20_000, what: `${n} request(s) at ${prefix}` },
  );
}

export async function setFlip(key: string, status: number): Promise<void> {
  const res = await fetch(`${receiverUrl()}/_flip/${key}`, { method: "POST", body: JSON.stringify({ status }) });
  expect(res.status).toBe(200);
}

/** The receiver URL of a path such as `/ok/abc`. */
export const at = (path: string) => `${receiverUrl()}${path}`;

// ---------------------------------------------------------------- receiver-side verification

/** Standard Webhooks, with the public `standardwebhooks` package (throws when it does not verify). */
export function verifyStandard(secret: string, recorded: Recorded): any {
  return new Webhook(secret).verify(recorded.body, recorded.headers);
}

function constantTimeEqualHex(expected: string, received: string): boolean {
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(received, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `hmac-sha256-hex`, the way the fleet / logistics platforms' receiver examples do it:
 * HMAC-SHA256 of the raw body keyed with the secret string, lowercase hex, constant-time compare.
 */
export function verifyHmacHex(secret: string, recorded: Recorded, prefix = "switchyard"): any {
  const received = recorded.headers[`x-${prefix}-signature`];
  if (!received) throw new Error(`no x-${prefix}-signature header`);
  const expected = createHmac("sha256", secret).update(recorded.body).digest("hex");
  if (!constantTimeEqualHex(expected, received)) throw new Error("hmac-sha256-hex signature does not match");
  return JSON.parse(recorded.body);
}

/**
 * `timestamped-hex`, the way the vehicle custody platform's receiver example does it:
 * `sha256=` + hex HMAC-SHA256 of `${timestamp}.${rawBody}`, constant-time compare, and a
 * timestamp no older than 5 minutes.
 */
export function verifyTimestampedHex(secret: string, recorded: Recorded, prefix = "switchyard"): any {
  const h = recorded.headers;
  const timestamp = h[`x-${prefix}-timestamp`];
  const received = h[`x-${prefix}-signature`];
  if (!timestamp || !received) throw new Error("missing timestamp or signature header");
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) throw new Error(`timestamp ${timestamp} is outside 5 minutes`);
  const expected = `sha256=${createHmac("sha256", secret).update(`${timestamp}.${recorded.body}`).digest("hex")}`;
  if (!constantTimeEqualHex(expected, received)) throw new Error("timestamped-hex signature does not match");
  for (const name of ["event-id", "event-type", "retry-count"]) if (!h[`x-${prefix}-${name}`]) throw new Error(`no x-${prefix}-${name} header`);
  return JSON.parse(recorded.body);
}

export type Profile = "standard" | "hmac-sha256-hex" | "timestamped-hex";

/** Verifies one delivered request with the receiver code of its profile; returns the parsed body. */
export function verifyProfile(profile: Profile, secret: string, recorded: Recorded): any {
  switch (profile) {
    case "standard":
      return verifyStandard(secret, recorded);
    case "hmac-sha256-hex":
      return verifyHmacHex(secret, recorded);
    case "timestamped-hex":
      return verifyTimestampedHex(secret, recorded);
  }
}

/** Creates an `_operator` endpoint that receives the given operational event types. */
export async function createOperatorEndpoint(types: string[]): Promise<{ endpoint: EndpointCreated; path: string }> {
  const path = `/ok/op-${uid()}`;
  const endpoint = await createEndpoint("_operator", { url: at(path), description: "e2e operator", filter: { types } });
  return { endpoint, path };
}

/** Waits for an operational event at an `_operator` endpoint whose data satisfies `match`; verified. */
export async function waitForOperatorEvent(
  op: { endpoint: EndpointCreated; path: string },
  type: string,
  match: (data: any) => boolean,
  timeoutMs = 20_000,
): Promise<{ recorded: Recorded; payload: any }> {
  return waitFor(
    async () => {
      for (const r of await receivedAt(op.path)) {
        const payload = verifyStandard(op.endpoint.secret, r);
        if (payload.type === type && match(payload.data)) return { recorded: r, payload };
      }
      return undefined;
    },
    { timeoutMs, what: `${type} at ${op.path}` },
  );
}

/** All requests under `prefix` for one event (by `webhook-id`). */
export const forEvent = (records: Recorded[], eventId: string) => records.filter((r) => r.headers["webhook-id"] === eventId);
