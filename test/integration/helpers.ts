/**
 * @module Helpers shared by the management API tests: calling the Worker, creating
 * resources, asserting problem documents, and driving the two consumers.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { expectDocumented } from "./openapi-validate";

export const ADMIN_TOKEN = "test-admin-token";

export interface ApiInit {
  method?: string;
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown;
  /** Bearer token; the admin token by default, null for none. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  /** Parsed JSON when the answer is JSON, else the text (null when empty). */
  body: T;
  text: string;
}

/** Calls the Worker's fetch handler; an answer that contradicts /openapi.json fails the test. */
export async function api<T = any>(path: string, init: ApiInit = {}): Promise<ApiResponse<T>> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const req = new Request(`http://x${path}`, { method: init.method ?? (body !== undefined ? "POST" : "GET"), headers, body });
  const res = await exports.default.fetch(req);
  const text = await res.text();
  await expectDocumented(req, { status: res.status, headers: res.headers, text });
  const type = res.headers.get("content-type") ?? "";
  const parsed = text && type.includes("json") ? JSON.parse(text) : text || null;
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** Asserts an RFC 9457 problem document with the given status; returns it. */
export function expectProblem(res: ApiResponse, status: number) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  const p = res.body as { type: string; title: string; status: number; detail: string; errors?: { path: string; message: string }[] };
  expect(p).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) });
  expect(p.type.length).toBeGreaterThan(0);
  expect(p.detail.length).toBeGreaterThan(0);
  expect(res.text).not.toMatch(/\bat .+:\d+:\d+/); // no stack trace
  return p;
}

/** Asserts a 422 whose `errors` name `path` (exactly, or by prefix when it ends with "*"). */
export function expectInvalid(res: ApiResponse, path: string) {
  const p = expectProblem(res, 422);
  expect(Array.isArray(p.errors)).toBe(true);
  for (const e of p.errors!) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
  const paths = p.errors!.map((e) => e.path);
  if (path.endsWith("*")) expect(paths.some((x) => x.startsWith(path.slice(0, -1))), JSON.stringify(paths)).toBe(true);
  else expect(paths, JSON.stringify(p.errors)).toContain(path);
  return p;
}

let counter = 0;
/** A unique host id for this test file's run (tenant ids, event ids, type names). */
export function uid(prefix = "t"): string {
  counter += 1;
  return `${prefix}${counter}${crypto.randomUUID().slice(0, 8)}`;
}

/** A unique valid event type name. */
export function uniqueTypeName(prefix = "thing"): string {
  return `${prefix}.${uid("e").toLowerCase().replaceAll("-", "_")}`;
}

export async function createTenant(input: { id?: string; name?: string; metadata?: Record<string, unknown> } = {}): Promise<string> {
  const res = await api("/v1/tenants", { body: { id: input.id ?? uid("ten"), name: input.name ?? "Tenant", ...(input.metadata ? { metadata: input.metadata } : {}) } });
  expect(res.status, res.text).toBe(201);
  return res.body.id as string;
}

export async function createApiKey(tenantId: string, name = "key"): Promise<{ id: string; key: string }> {
  const res = await api(`/v1/tenants/${tenantId}/api-keys`, { body: { name } });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.id, key: res.body.key };
}

export async function createEventType(name = uniqueTypeName(), extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api("/v1/event-types", { body: { name, ...extra } });
  expect(res.status, res.text).toBe(201);
  return name;
}

export async function createEndpoint(tenantId: string, body: Record<string, unknown> = {}): Promise<any> {
  const res = await api(`/v1/tenants/${tenantId}/endpoints`, { body: { url: "https://example.com/hook", ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

export async function postEvent(tenantId: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<any> {
  const res = await api(`/v1/tenants/${tenantId}/events`, { body, headers });
  expect(res.status, res.text).toBe(202);
  return res.body;
}

/** Pages through a list route (`?limit=` appended), returning every item. */
export async function listAll<T = any>(path: string, limit = 100): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  const sep = path.includes("?") ? "&" : "?";
  do {
    const res: ApiResponse = await api(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status, res.text).toBe(200);
    out.push(...(res.body.data as T[]));
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

/**
 * Walks a list route page by page, calling `between` after each page (to insert new rows
 * while paging), and returns the ids in page order.
 */
export async function pageThrough(path: string, limit: number, between: (page: number) => Promise<void>, idOf: (row: any) => string = (r) => r.id): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  const sep = path.includes("?") ? "&" : "?";
  do {
    const res: ApiResponse = await api(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.data.map(idOf));
    cursor = res.body.next_cursor;
    pages += 1;
    if (cursor) await between(pages);
    expect(pages).toBeLessThan(100);
  } while (cursor);
  return { ids, pages };
}

/** Polls `check` until it returns a truthy value, at most `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The tenant's TenantLog (named by its never-reused seq). */
export async function tenantLog(tenantId: string) {
  const row = await env.DB.prepare("SELECT seq FROM tenants WHERE id = ?").bind(tenantId).first<{ seq: number }>();
  expect(row, `tenant ${tenantId}`).not.toBeNull();
  return env.TENANT_LOG.getByName(String(row!.seq));
}

/** The event's seq in its tenant's log. */
export async function eventSeq(tenantId: string, eventId: string): Promise<number> {
  const seq = await (await tenantLog(tenantId)).findEventSeq(eventId);
  expect(seq, `event ${eventId}`).toBeDefined();
  return seq!;
}

/**
 * Waits until no delivery of the tenant is due (the Worker's own consumer delivers in the
 * background; retries scheduled for later count as settled), then runs the tenant log's
 * alarm if one is set, so its outbox (dead letters, operational events) is flushed.
 */
export async function settle(tenantId: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      const endpoints = await api(`/v1/tenants/${tenantId}/endpoints?limit=250`);
      for (const ep of endpoints.body.data as { id: string }[]) {
        const log = await api(`/v1/tenants/${tenantId}/endpoints/${ep.id}/deliveries?status=pending&limit=250`);
        const due = (log.body.data as { next_attempt_at: string | null }[]).some((d) => d.next_attempt_at !== null && Date.parse(d.next_attempt_at) <= Date.now() + 2000);
        if (due) return false;
      }
      return true;
    },
    `tenant ${tenantId} to settle`,
    timeoutMs,
  );
  await runDurableObjectAlarm(await tenantLog(tenantId));
}

/** Posts one event and settles the tenant; returns the event id. */
export async function postAndSettle(tenantId: string, type: string, data: unknown = { n: 1 }): Promise<string> {
  const ev = await postEvent(tenantId, { type, data });
  await settle(tenantId);
  return ev.id as string;
}

/** Every string the raw D1 rows of `table` hold, joined, for "appears nowhere" checks. */
export async function rawTable(table: string): Promise<string> {
  const { results } = await env.DB.prepare(`SELECT * FROM ${table}`).all();
  return JSON.stringify(results);
}

/** The receiver's recorded requests under a path prefix. */
export async function receiverLog(receiverUrl: string, prefix: string): Promise<{ method: string; path: string; headers: Record<string, string>; body: string }[]> {
  return (await (await fetch(`${receiverUrl}/_log?prefix=${encodeURIComponent(prefix)}`)).json()) as never;
}
