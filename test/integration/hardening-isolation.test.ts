/**
 * Tenant isolation matrix (issue 13, item 5), GENERATED from /openapi.json: every operation
 * must be classified below (a new route fails the first test until someone decides who may
 * call it), and each class expands into cases from the operation's own parameters.
 *
 * Tenants A and B each have an API key, an endpoint, an event, a delivered and a failed
 * delivery and a dead letter. With A's key:
 *   - admin-only routes (DESIGN: tenant keys "may not post events or manage tenants, API
 *     keys, event types or portal sessions") → 403, aimed at A's own tenant or at B;
 *   - tenant routes with B's tenant in the path → 403 ("a path naming another tenant");
 *   - tenant routes with A's tenant and one of B's object ids → 404, answered exactly as
 *     for an id that does not exist (no existence oracle);
 *   - global routes: B's dead letter by id → 404 (as for a missing one); `tenant_id=B` in a
 *     query or body → 403; `endpoint_id` of B → nothing of B's;
 *   - every answer (positive controls included) holds none of B's ids or data unless the
 *     request itself carried that id; B's rows in D1, everything B's TenantLog stores, and
 *     B's receivers see no change.
 * Also: no token, a malformed token, a revoked key and a deleted tenant's key → 401.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import {
  call,
  dumpDurableObject,
  fillPath,
  openapiRoutes,
  problemDefect,
  quiesce,
  receiverRequests,
  receiverUrl,
  runLogAlarm,
  seedWorld,
  tenantLogOf,
  worldParams,
  type RawResponse,
  type Route,
  type World,
} from "./hardening-helpers";
import { uid, uniqueTypeName } from "./helpers";

vi.setConfig({ testTimeout: 120_000 });

type Kind = "public" | "admin-only" | "tenant" | "shared-read" | "scoped-global";

interface Rule {
  kind: Kind;
  /** A body that passes validation, so the answer shows the authorisation decision, not a 422. */
  body?: (w: World) => unknown;
}

/**
 * Who may call what, from DESIGN "Public HTTP API" → Auth. Keyed by "METHOD path" exactly as
 * /openapi.json lists it: a route missing here fails the classification test by name.
 */
const RULES: Record<string, Rule> = {
  "GET /health": { kind: "public" },
  // "They may not … manage tenants" (reading its own tenant is allowed).
  "POST /v1/tenants": { kind: "admin-only", body: () => ({ name: "intruder", id: uid("x") }) },
  "GET /v1/tenants": { kind: "admin-only" },
  "GET /v1/tenants/{tid}": { kind: "tenant" },
  "PATCH /v1/tenants/{tid}": { kind: "admin-only", body: () => ({ name: "hijacked" }) },
  "DELETE /v1/tenants/{tid}": { kind: "admin-only" },
  // "… API keys …"
  "POST /v1/tenants/{tid}/api-keys": { kind: "admin-only", body: () => ({ name: "stolen" }) },
  "GET /v1/tenants/{tid}/api-keys": { kind: "admin-only" },
  "DELETE /v1/tenants/{tid}/api-keys/{kid}": { kind: "admin-only" },
  // "… event types …" (reading event types is allowed: a shared catalog)
  "POST /v1/event-types": { kind: "admin-only", body: () => ({ name: uniqueTypeName("intr") }) },
  "GET /v1/event-types": { kind: "shared-read" },
  "GET /v1/event-types/{name}": { kind: "shared-read" },
  "PATCH /v1/event-types/{name}": { kind: "admin-only", body: () => ({ description: "hijacked" }) },
  "DELETE /v1/event-types/{name}": { kind: "admin-only" },
  // "… portal sessions" and "may not post events"
  "POST /v1/tenants/{tid}/portal-sessions": { kind: "admin-only", body: () => ({}) },
  "POST /v1/tenants/{tid}/events": { kind: "admin-only", body: (w) => ({ type: w.eventType, data: { intruder: true } }) },
  // "do everything on its endpoints (secrets, test, replay, stats included)"
  "POST /v1/tenants/{tid}/endpoints": { kind: "tenant", body: () => ({ url: `${receiverUrl()}/ok/hard-iso-new` }) },
  "GET /v1/tenants/{tid}/endpoints": { kind: "tenant" },
  "GET /v1/tenants/{tid}/endpoints/{eid}": { kind: "tenant" },
  "PATCH /v1/tenants/{tid}/endpoints/{eid}": { kind: "tenant", body: () => ({ description: "patched by its owner" }) },
  "DELETE /v1/tenants/{tid}/endpoints/{eid}": { kind: "tenant" },
  "GET /v1/tenants/{tid}/endpoints/{eid}/secret": { kind: "tenant" },
  "POST /v1/tenants/{tid}/endpoints/{eid}/secret/rotate": { kind: "tenant", body: () => ({ grace_seconds: 60 }) },
  "POST /v1/tenants/{tid}/endpoints/{eid}/test": { kind: "tenant", body: (w) => ({ type: w.eventType, data: { test: true } }) },
  "GET /v1/tenants/{tid}/endpoints/{eid}/stats": { kind: "tenant" },
  "POST /v1/tenants/{tid}/endpoints/{eid}/replay": { kind: "tenant", body: () => ({ since: "2000-01-01T00:00:00Z", status: "failed" }) },
  // "read events; read and retry deliveries"
  "GET /v1/tenants/{tid}/events": { kind: "tenant" },
  "GET /v1/tenants/{tid}/events/{evid}": { kind: "tenant" },
  "GET /v1/tenants/{tid}/endpoints/{eid}/deliveries": { kind: "tenant" },
  "GET /v1/tenants/{tid}/deliveries/{did}": { kind: "tenant" },
  "POST /v1/tenants/{tid}/deliveries/{did}/retry": { kind: "tenant" },
  // "read, replay and delete its dead letters" through global ids
  "GET /v1/dead-letters": { kind: "scoped-global" },
  "POST /v1/dead-letters/replay": { kind: "scoped-global", body: () => ({}) },
  "GET /v1/dead-letters/{id}": { kind: "scoped-global" },
  "POST /v1/dead-letters/{id}/replay": { kind: "scoped-global" },
  "DELETE /v1/dead-letters/{id}": { kind: "scoped-global" },
};

/** Ids of the same shape as real ones that name nothing. */
const MISSING: Record<string, string> = {
  eid: `ep_${"0".repeat(26)}`,
  evid: `evt_${"0".repeat(26)}`,
  did: "dlv_0000000zzzz",
  id: "dl_0000000zzzz",
  kid: `key_${"0".repeat(26)}`,
};

/** Query parameters that name a tenant or an object, and what of B's to put there. */
const ID_QUERY: Record<string, (b: World) => string> = {
  tenant_id: (b) => b.tenantId,
  endpoint_id: (b) => b.failingEndpointId,
};

/** Everything of B's that must never reach A, by name. */
function secretsOf(b: World): Record<string, string> {
  return {
    "tenant id": b.tenantId,
    "tenant name": b.tenantName,
    marker: b.marker,
    "api key": b.apiKey,
    "api key id": b.apiKeyId,
    "endpoint id": b.endpointId,
    "failing endpoint id": b.failingEndpointId,
    "endpoint url": b.endpointUrl,
    "endpoint secret": b.endpointSecret,
    "auth token": b.authToken,
    "event id": b.eventId,
    "delivery id": b.deliveryId,
    "failed delivery id": b.failedDeliveryId,
    "dead letter id": b.deadLetterId,
  };
}

/** Names of B's secrets found in the answer that the request did not carry itself. */
function leaks(b: World, request: string, res: RawResponse): string[] {
  return Object.entries(secretsOf(b))
    .filter(([, v]) => !request.includes(v) && !request.includes(encodeURIComponent(v)) && res.text.includes(v))
    .map(([k]) => k);
}

/**
 * B's rows in every D1 table (by tenant_id, and the secrets of B's endpoints), and every
 * table and key of B's TenantLog (its events, deliveries, attempts, endpoint snapshots,
 * rollups, outbox…). The log's alarm runs first, so rollups B's own deliveries left in
 * memory are written before the snapshot, not mistaken for a change made by A.
 */
async function rowsOf(b: World): Promise<string> {
  const q = (sql: string, ...args: unknown[]) => env.DB.prepare(sql).bind(...args).all();
  const parts = await Promise.all([
    q("SELECT * FROM tenants WHERE id = ?", b.tenantId),
    q("SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY id", b.tenantId),
    q("SELECT * FROM endpoints WHERE tenant_id = ? ORDER BY id", b.tenantId),
    q("SELECT * FROM endpoint_secrets WHERE endpoint_id IN (SELECT id FROM endpoints WHERE tenant_id = ?) ORDER BY seq", b.tenantId),
    q("SELECT * FROM dead_letters WHERE tenant_id = ? ORDER BY seq", b.tenantId),
    q("SELECT * FROM portal_sessions WHERE tenant_id = ? ORDER BY id", b.tenantId),
  ]);
  const log = await tenantLogOf(b.tenantId);
  await runLogAlarm(log);
  const { kv, tables } = await dumpDurableObject(log);
  expect(Object.keys(tables).filter((t) => /^deliveries_d\d+$/.test(t)).length, "B's log holds its deliveries").toBeGreaterThan(0);
  return JSON.stringify({ d1: parts.map((p) => p.results), log: { kv, tables } });
}

interface Outcome {
  route: string;
  case: string;
  status: number;
}

describe("tenant isolation matrix generated from /openapi.json", () => {
  let routes: Route[] = [];
  let a: World;
  let b: World;
  let bRowsBefore = "";
  let bReceiverBefore = 0;
  const outcomes: Outcome[] = [];

  const bReceiverCount = async () => (await receiverRequests(b.receiverPrefix)).length + (await receiverRequests(`/status/410/hard-${b.tenantId}`)).length;

  beforeAll(async () => {
    routes = await openapiRoutes();
    a = await seedWorld("isoA");
    b = await seedWorld("isoB");
    await quiesce(200);
    bRowsBefore = await rowsOf(b);
    bReceiverBefore = await bReceiverCount();
  });

  afterAll(() => {
    const byCase = new Map<string, number>();
    for (const o of outcomes) byCase.set(o.case, (byCase.get(o.case) ?? 0) + 1);
    console.log(`isolation matrix: ${new Set(outcomes.map((o) => o.route)).size} routes, ${outcomes.length} cases ${JSON.stringify(Object.fromEntries(byCase))}`);
  });

  /** Sends one case with A's key and checks the answer carries nothing of B's. */
  async function probe(route: Route, caseName: string, params: Record<string, string>, query: Record<string, string> = {}, body?: unknown, token: string | null = a.apiKey): Promise<RawResponse> {
    const qs = new URLSearchParams(query).toString();
    const path = fillPath(route.path, params) + (qs ? `?${qs}` : "");
    const sentBody = body === undefined ? (route.bodySchema ? (RULES[route.label]?.body?.(a) ?? {}) : undefined) : body;
    const res = await call(route.method, path, { token, body: sentBody });
    outcomes.push({ route: route.label, case: caseName, status: res.status });
    const where = `${route.label} [${caseName}] ${route.method} ${path} ${sentBody === undefined ? "" : JSON.stringify(sentBody)} → ${res.status} ${res.text.slice(0, 300)}`;
    expect(res.status, `server error: ${where}`).toBeLessThan(500);
    expect(leaks(b, path + JSON.stringify(sentBody ?? null), res), `B's data in the answer: ${where}`).toEqual([]);
    if (res.status >= 400) expect(problemDefect(res), where).toBeNull();
    return res;
  }

  const expectStatus = (res: RawResponse, allowed: number[], what: string) => expect(allowed, `${what}: got ${res.status} ${res.text.slice(0, 300)}`).toContain(res.status);

  it("every route of /openapi.json is classified (a new route must be added to RULES)", () => {
    const unclassified = routes.filter((r) => !RULES[r.label]).map((r) => r.label);
    expect(unclassified, `unclassified routes — decide who may call them in RULES of ${import.meta.url.split("/").pop()}`).toEqual([]);
    const gone = Object.keys(RULES).filter((label) => !routes.some((r) => r.label === label));
    expect(gone, "RULES name routes the document no longer has").toEqual([]);
    for (const r of routes) {
      if (r.bodySchema && RULES[r.label]!.kind !== "public") expect(RULES[r.label]!.body, `${r.label} takes a body: give its rule a valid one`).toBeDefined();
    }
  });

  it("no token, a malformed token, a revoked key and a deleted tenant's key get 401 on every authenticated route", async () => {
    const revoked = await call("POST", `/v1/tenants/${a.tenantId}/api-keys`, { body: { name: "revoked" } });
    expect((await call("DELETE", `/v1/tenants/${a.tenantId}/api-keys/${revoked.json.id}`)).status).toBe(204);
    const doomed = await seedWorld("isoD");
    expect((await call("DELETE", `/v1/tenants/${doomed.tenantId}`)).status).toBe(202);
    const tokens: [string, string | null][] = [
      ["no token", null],
      ["malformed", "not-a-key"],
      ["forged", `sy_${a.apiKeyId.slice(4)}_${"A".repeat(43)}`],
      ["revoked key", revoked.json.key],
      ["deleted tenant's key", doomed.apiKey],
    ];
    for (const route of routes) {
      if (RULES[route.label]?.kind === "public") continue;
      for (const [name, token] of tokens) {
        const res = await probe(route, `401 ${name}`, worldParams(a), {}, undefined, token);
        expect(res.status, `${route.label} with ${name}: ${res.text}`).toBe(401);
      }
    }
  });

  it("A's key never reaches admin-only routes: 403 aimed at A itself or at B", async () => {
    for (const route of routes.filter((r) => RULES[r.label]?.kind === "admin-only")) {
      for (const [target, w] of [
        ["own", a],
        ["B's", b],
      ] as const) {
        const res = await probe(route, `admin-only ${target}`, worldParams(w));
        expectStatus(res, [403], `${route.label} with A's key aimed at ${target}`);
      }
    }
  });

  it("tenant routes: B's tenant in the path → 403; A's tenant with one of B's object ids → 404, answered as for a missing id", async () => {
    for (const route of routes.filter((r) => RULES[r.label]?.kind === "tenant")) {
      expectStatus(await probe(route, "B's tenant in path", worldParams(b)), [403], `${route.label} naming B's tenant`);
      // A's tenant with B's object ids in the path also naming B's tenant elsewhere is covered above;
      // here each object id alone is swapped, the rest stay A's.
      for (const p of route.pathParams.filter((x) => x !== "tid")) {
        const params = { ...worldParams(a), [p]: worldParams(b)[p]! };
        const res = await probe(route, "B's object id", params);
        expectStatus(res, [404], `${route.label} with B's {${p}}`);
        const missing = await probe(route, "missing id (oracle check)", { ...worldParams(a), [p]: MISSING[p]! });
        expect(missing.status, `${route.label}: B's {${p}} and a missing one answer alike`).toBe(res.status);
        expect(res.text.replaceAll(worldParams(b)[p]!, "<id>"), `${route.label}: B's {${p}} must read exactly like a missing id`).toBe(missing.text.replaceAll(MISSING[p]!, "<id>"));
      }
      for (const q of route.queryParams.filter((x) => ID_QUERY[x])) {
        const res = await probe(route, `B's ${q} in query`, worldParams(a), { [q]: ID_QUERY[q]!(b) });
        expectStatus(res, [200, 403, 404, 422], `${route.label} with B's ${q}`);
      }
      // B's ids smuggled into A's own request body: refused (bodies are strict) or ignored.
      if (route.bodySchema) {
        const body = { ...(RULES[route.label]!.body!(a) as object), tenant_id: b.tenantId, endpoint_id: b.endpointId, event_id: b.eventId };
        expectStatus(await probe(route, "B's ids in body", worldParams(a), {}, body), [403, 404, 422], `${route.label} with B's ids in the body`);
      }
    }
  });

  it("global routes: B's dead letter by id → 404 like a missing one; tenant_id of B → 403; endpoint_id of B → nothing of B's", async () => {
    const own = await probe(routes.find((r) => r.label === "GET /v1/dead-letters")!, "own list", {});
    expect(own.json.data.map((d: any) => d.id), "A's key lists exactly A's dead letter").toEqual([a.deadLetterId]);
    for (const route of routes.filter((r) => RULES[r.label]?.kind === "scoped-global")) {
      if (route.pathParams.includes("id")) {
        const res = await probe(route, "B's global id", { id: b.deadLetterId });
        expectStatus(res, [404], `${route.label} with B's dead letter`);
        const missing = await probe(route, "missing id (oracle check)", { id: MISSING.id! });
        expect(res.text.replaceAll(b.deadLetterId, "<id>")).toBe(missing.text.replaceAll(MISSING.id!, "<id>"));
      }
      for (const q of route.queryParams.filter((x) => ID_QUERY[x])) {
        const res = await probe(route, `B's ${q} in query`, {}, { [q]: ID_QUERY[q]!(b) });
        if (q === "tenant_id") expectStatus(res, [403], `${route.label}?tenant_id=B`);
        else {
          expectStatus(res, [200, 403, 404], `${route.label}?${q}=B's`);
          if (res.status === 200) expect(res.json.data, `${route.label}?${q}=B's lists B's rows`).toEqual([]);
        }
      }
      const props = Object.keys(route.bodySchema?.properties ?? {});
      for (const field of props.filter((x) => ID_QUERY[x])) {
        const res = await probe(route, `B's ${field} in body`, {}, {}, { [field]: ID_QUERY[field]!(b) });
        if (field === "tenant_id") expectStatus(res, [403], `${route.label} {tenant_id: B}`);
        else {
          expectStatus(res, [202, 403, 404], `${route.label} {${field}: B's}`);
          if (res.status === 202) expect(res.json.count, `${route.label} {${field}: B's} counted B's dead letters`).toBe(0);
        }
      }
    }
  });

  it("shared catalog reads are open to tenant keys and carry no tenant's data", async () => {
    for (const route of routes.filter((r) => RULES[r.label]?.kind === "shared-read")) {
      expectStatus(await probe(route, "shared read", worldParams(a)), [200], route.label);
    }
  });

  it("positive controls: with its own ids A's key reaches every tenant and global route (so the 403/404s above are about B)", async () => {
    const allowed = routes.filter((r) => ["tenant", "scoped-global"].includes(RULES[r.label]!.kind));
    // Deletions last, so the other routes still find A's objects.
    allowed.sort((x, y) => Number(x.method === "DELETE") - Number(y.method === "DELETE"));
    /** A's current dead letter: a retry or replay removes it, and a new failure makes another. */
    const deadLetterOfA = async (): Promise<string> => {
      let list = await call("GET", `/v1/dead-letters?tenant_id=${a.tenantId}`);
      if (list.json.data.length === 0) {
        expect((await call("POST", `/v1/tenants/${a.tenantId}/deliveries/${a.failedDeliveryId}/retry`)).status).toBe(202);
        await quiesce(40);
        list = await call("GET", `/v1/dead-letters?tenant_id=${a.tenantId}`);
      }
      expect(list.json.data.length, "A's failed delivery dead-lettered again").toBe(1);
      return list.json.data[0].id;
    };
    for (const route of allowed) {
      const params = route.pathParams.includes("id") ? { ...worldParams(a), id: await deadLetterOfA() } : worldParams(a);
      const res = await probe(route, "own (positive control)", params);
      expectStatus(res, [200, 201, 202, 204], `${route.label} with A's own ids`);
      if (route.label === "GET /v1/dead-letters") expect(res.json.data.filter((d: any) => d.tenant_id !== a.tenantId)).toEqual([]);
    }
  });

  it("after the whole matrix, B's rows in D1, everything B's log stores, and B's receivers are exactly as before", async () => {
    await quiesce(1100);
    expect(await rowsOf(b)).toBe(bRowsBefore);
    expect(await bReceiverCount()).toBe(bReceiverBefore);
    // The matrix did run: every route got at least one case.
    const covered = new Set(outcomes.map((o) => o.route));
    expect(routes.filter((r) => RULES[r.label]!.kind !== "public" && !covered.has(r.label)).map((r) => r.label)).toEqual([]);
  });
});
