/**
 * Hostile input (issue 13, item 4): fast-check drives EVERY operation of /openapi.json,
 * as the admin and as a tenant key, with generated path ids (real ids of seeded objects
 * and junk), query strings and bodies — wrong types, huge strings, deep nesting, unicode
 * and lone surrogates, NUL bytes, numbers at the limits (2^53 + 1, -0, 1e308, 1e309),
 * duplicate keys (raw JSON text), malformed JSON and odd content types — and asserts:
 *   - no 5xx;
 *   - every error is application/problem+json with type, title, status and detail;
 *   - a rejected (4xx) request changes nothing: every D1 table is snapshotted before and
 *     after it and compared row by row.
 * A second property creates endpoints with hostile custom headers and auth values and
 * checks that whatever the API accepts can actually be sent (a test send reaches the
 * receiver), so an accepted value cannot turn into a delivery that always fails.
 *
 * Reproduce a failure with the seed fast-check prints:
 *   npx vitest run --project integration test/integration/hardening-hostile-input
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  tenantLogOf,
  call,
  dbTables,
  diffSnapshots,
  openapiRoutes,
  problemDefect,
  quiesce,
  receiverRequests,
  receiverUrl,
  seedWorld,
  snapshotDb,
  worldIntact,
  worldParams,
  type RawResponse,
  type Route,
  type Snapshot,
  type World,
} from "./hardening-helpers";
import { uid, uniqueTypeName } from "./helpers";

/** Cases per route and principal: 35 routes × 2 principals × RUNS requests (≈ 840). */
const RUNS = 12;

// ---------------------------------------------------------------------------------------
// Generators

/** Strings that break naive code: NULs, lone surrogates, RTL marks, injections, huge. */
const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "\uffff\ufffe",
  "\u202eevil",
  "\u{1F4A9}\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",
  "Ω≈ç√∫˜µ≤≥÷",
  "%00",
  "%",
  "%E0%A4%A",
  "../../../etc/passwd",
  "..",
  ".",
  "/",
  "?x=1#y",
  "'; DROP TABLE tenants; --",
  '" OR 1=1 --',
  "<script>alert(1)</script>",
  "${jndi:ldap://x/a}",
  "{{7*7}}",
  "\r\nX-Injected: 1",
  "__proto__",
  "constructor",
  "null",
  "true",
  "1e309",
  "-0",
  "9007199254740993",
  "NaN",
  "2026-13-45T25:61:61Z",
  "0000-00-00",
  "275760-09-13T00:00:00.001Z",
  "whsec_",
  "whsec_AAAA",
  "sy_00000000000000000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "dlv_00000000001",
  "dlv_zzzzzzzzzzz",
  "dl_00000000000",
  "ten_",
  "_operator",
  "switchyard.delivery.failed",
  "*",
  "a.*",
  "x".repeat(129),
];

const hugeString = fc.constantFrom(1000, 4097, 70_000, 300_000).map((n) => "x".repeat(n));

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: hugeString },
);

/** Number literals at the edges, emitted as raw JSON text (JSON.stringify would alter some). */
const NUMBER_LITERALS = [
  "0",
  "-0",
  "-1",
  "1",
  "1.5",
  "9007199254740991",
  "9007199254740992",
  "9007199254740993",
  "-9007199254740993",
  "123456789012345678901234567890",
  "1e308",
  "-1e308",
  "1e309",
  "-1e309",
  "1E400",
  "5e-324",
  "2e-400",
  "0.000001",
  "250",
  "251",
  "86400",
  "86401",
  "30000",
  "999",
];

/** A JSON document as a tree, so it can hold duplicate keys and exact number literals. */
type Node = { k: "raw"; t: string } | { k: "arr"; items: Node[] } | { k: "obj"; entries: [string, Node][] };

const raw = (t: string): Node => ({ k: "raw", t });
const str = (s: string): Node => raw(JSON.stringify(s));

function render(n: Node): string {
  if (n.k === "raw") return n.t;
  if (n.k === "arr") return `[${n.items.map(render).join(",")}]`;
  return `{${n.entries.map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(",")}}`;
}

const deepArray = fc.constantFrom(64, 1000, 20_000).map((n) => raw("[".repeat(n) + "]".repeat(n)));
const deepObject = fc.constantFrom(64, 1000, 10_000).map((n) => raw('{"a":'.repeat(n) + "1" + "}".repeat(n)));

const leaf: fc.Arbitrary<Node> = fc.oneof(
  { weight: 4, arbitrary: hostileString.map(str) },
  { weight: 3, arbitrary: fc.constantFrom(...NUMBER_LITERALS).map(raw) },
  { weight: 1, arbitrary: fc.constantFrom("true", "false", "null").map(raw) },
  { weight: 1, arbitrary: fc.oneof(deepArray, deepObject) },
);

const hostileKey = fc.oneof(fc.constantFrom("__proto__", "constructor", "", "\u0000", "a.b", "$ref", "type", "id", "tenant_id"), fc.string({ maxLength: 8 }));

const { tree: hostileTree } = fc.letrec<{ tree: Node }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("tree"), { maxLength: 4 }).map((items): Node => ({ k: "arr", items })),
    fc.array(fc.tuple(hostileKey, tie("tree")), { maxLength: 4 }).map((entries): Node => ({ k: "obj", entries })),
  ),
}));

/** JSON Schemas that are valid-looking but hostile to a validator. */
const NASTY_SCHEMAS = [
  '{"type":"object","patternProperties":{"(":{}}}',
  '{"type":"object","properties":{"a":{"$ref":"#/nope"}}}',
  '{"$ref":"#/$defs/missing"}',
  '{"type":"array","items":{"$ref":"#"}}',
  '{"type":"string","pattern":"(a+)+$"}',
  '{"type":"string","pattern":"\\\\p{Nope}"}',
  '{"type":"string","format":"regex"}',
  '{"type":"nonsense"}',
  '{"required":"a"}',
  '{"allOf":[]}',
  '{"$id":"http://127.0.0.1:1/x","$ref":"http://127.0.0.1:1/schema"}',
  '{"not":{}}',
  "true",
  "false",
  "[]",
  '{"type":"object","properties":{"a":{"type":"string","maxLength":1e308}}}',
];

/** What a receiver-bound URL field may hold: only answers that end at once (no retry churn). */
const urlValue = (): fc.Arbitrary<Node> =>
  fc.oneof(
    fc.constantFrom(`${receiverUrl()}/ok/hard-fuzz`, `${receiverUrl()}/status/410/hard-fuzz`).map(str),
    fc.constantFrom("javascript:alert(1)", "ftp://x/", "https://user:pass@example.com/", "http://[::1", "//example.com/", "https://", "file:///etc/passwd", "data:,x").map(str),
    hostileString.filter((s) => !/^[a-z][a-z0-9+.-]*:/i.test(s)).map(str),
  );

interface Hints {
  world: World;
}

/** A value for one schema node: mostly plausible for the schema, sometimes hostile. */
function valueFor(schema: any, name: string, h: Hints, depth = 0): fc.Arbitrary<Node> {
  const hostile = depth > 3 ? leaf : hostileTree;
  const plausible = plausibleFor(schema, name, h, depth);
  return fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 2, arbitrary: hostile });
}

function plausibleFor(schema: any, name: string, h: Hints, depth: number): fc.Arbitrary<Node> {
  if (name === "url") return urlValue();
  if (name === "schema") return fc.oneof(fc.constantFrom(...NASTY_SCHEMAS).map(raw), fc.constant(raw('{"type":"object"}')));
  if (name === "type" && schema?.type === "string" && !schema.enum) return fc.constantFrom(h.world.eventType, "switchyard.delivery.failed", "no.such_type").map(str);
  if (name === "name" && depth === 0) return fc.oneof(fc.nat().map(() => str(uniqueTypeName("fz"))), hostileString.map(str));
  if (name === "secret") return fc.constantFrom("whsec_" + btoa("k".repeat(32)), "short", "x".repeat(30), "whsec_" + btoa("k".repeat(65))).map(str);
  if (name === "id" && depth === 0) return fc.oneof(fc.nat().map(() => str(uid("fz"))), hostileString.map(str));
  if (!schema || typeof schema !== "object" || Object.keys(schema).length === 0) return hostileTree;
  for (const key of ["anyOf", "oneOf"]) {
    if (Array.isArray(schema[key]) && schema[key].length) return fc.oneof(...schema[key].map((s: any) => plausibleFor(s, name, h, depth)));
  }
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum).map((v) => raw(JSON.stringify(v)));
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  switch (type) {
    case "string":
      if (schema.format === "date-time") return fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => str(d.toISOString()));
      return hostileString.map(str);
    case "integer":
    case "number": {
      const lo = typeof schema.minimum === "number" ? schema.minimum : -1000;
      const hi = typeof schema.maximum === "number" ? schema.maximum : 1000;
      return fc.oneof(fc.integer({ min: Math.max(lo, -1e9), max: Math.min(hi, 1e9) }).map((n) => raw(String(n))), fc.constantFrom(...NUMBER_LITERALS).map(raw));
    }
    case "boolean":
      return fc.boolean().map((b) => raw(String(b)));
    case "array":
      return fc.array(valueFor(schema.items, name, h, depth + 1), { maxLength: 4 }).map((items): Node => ({ k: "arr", items }));
    case "object":
      return objectFor(schema, h, depth + 1);
    default:
      return hostileTree;
  }
}

/** An object following the schema's properties, plus strays, with an optional duplicated key. */
function objectFor(schema: any, h: Hints, depth: number): fc.Arbitrary<Node> {
  const props = Object.entries((schema?.properties ?? {}) as Record<string, any>);
  const known = props.map(([k, s]) => fc.option(valueFor(s, k, h, depth).map((v): [string, Node] => [k, v]), { nil: undefined, freq: 3 }));
  const strays = fc.array(fc.tuple(hostileKey, depth > 2 ? leaf : hostileTree), { maxLength: schema?.additionalProperties ? 3 : 1 });
  return fc.tuple(fc.tuple(...known), strays, fc.boolean(), hostileTree).map(([entries, extra, dup, dupValue]): Node => {
    const list = [...(entries.filter(Boolean) as [string, Node][]), ...extra];
    // A repeated key, as raw text: JSON.parse keeps the last one.
    if (dup && list.length) list.push([list[0]![0], dupValue]);
    return { k: "obj", entries: list };
  });
}

const MALFORMED = [
  "",
  "{",
  "}",
  "{'a':1}",
  '{"a":1,}',
  '{"a" 1}',
  "NaN",
  "undefined",
  "\ufeff{}",
  "{/* c */}",
  '{"a":"\u0000"}',
  '{"a":"\\x41"}',
  '{"a":"\\ud800"}',
  "[" .repeat(100_000),
  "\u0000",
  "null",
  "[]",
  "1",
  '"string"',
];

type BodyCase = { kind: "none" } | { kind: "text"; text: string };

function bodyFor(route: Route, h: Hints): fc.Arbitrary<BodyCase> {
  const guided = route.bodySchema ? plausibleFor(route.bodySchema, "(body)", h, 0) : hostileTree;
  const text = (n: Node): BodyCase => ({ kind: "text", text: render(n) });
  return fc.oneof(
    { weight: route.bodySchema ? 6 : 1, arbitrary: guided.map(text) },
    { weight: 2, arbitrary: hostileTree.map(text) },
    { weight: 2, arbitrary: fc.constantFrom(...MALFORMED).map((t): BodyCase => ({ kind: "text", text: t })) },
    { weight: 1, arbitrary: guided.map((n) => render(n)).chain((t) => fc.nat({ max: Math.max(0, t.length - 1) }).map((cut): BodyCase => ({ kind: "text", text: t.slice(0, cut) }))) },
    { weight: route.bodySchema ? 1 : 4, arbitrary: fc.constant<BodyCase>({ kind: "none" }) },
  );
}

/** Percent-encodes any string, lone surrogates included (as UTF-8 of U+FFFD). */
function pct(s: string): string {
  return [...new TextEncoder().encode(s)].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");
}

interface Case {
  params: Record<string, string>;
  query: string;
  body: BodyCase;
  contentType: string | null;
  idempotencyKey: string | null;
}

/** Characters a client can put in a header value at all (fetch's Headers refuses CR, LF and NUL). */
const headerChar = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));

function caseFor(route: Route, h: Hints): fc.Arbitrary<Case> {
  const real = worldParams(h.world);
  const junkId = fc.oneof(hostileString.filter((s) => s.length > 0), fc.constantFrom("dlv_00000000001", "dl_00000000001", "ep_00000000000000000000000000", "_operator", "a".repeat(5000)));
  const params = fc.tuple(
    ...route.pathParams.map((p) => {
      if (real[p] === undefined) throw new Error(`${route.label}: unclassified path parameter {${p}} — add it to worldParams in hardening-helpers.ts`);
      return fc.oneof({ weight: 3, arbitrary: fc.constant(real[p]) }, { weight: 2, arbitrary: junkId });
    }),
  );
  const queryValue = fc.oneof(
    hostileString,
    fc.constantFrom(...NUMBER_LITERALS),
    fc.constantFrom("2026-01-01", "2026-01-01T00:00:00Z", "failed", "delivered", "active", "true", "WzFd", "W10", h.world.tenantId, h.world.endpointId),
  );
  const queryPair = fc.tuple(fc.oneof(route.queryParams.length ? fc.constantFrom(...route.queryParams) : hostileKey, hostileKey), queryValue);
  const query = fc.oneof(
    { weight: 5, arbitrary: fc.array(queryPair, { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join("&")) },
    { weight: 1, arbitrary: fc.constantFrom("limit=1&limit=500", "%E0%A4%A=1", "limit=%E0%A4%A", "cursor=%00", "since=2026-01-01&since=x", "&&&=&", "limit") },
  );
  return fc.record({
    params: params.map((vals) => Object.fromEntries(route.pathParams.map((p, i) => [p, vals[i]!]))),
    query,
    body: bodyFor(route, h),
    contentType: fc.constantFrom<string | null>("application/json", "application/json", "application/json", "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded", null),
    idempotencyKey: route.label === "POST /v1/tenants/{tid}/events" ? fc.option(fc.oneof(fc.string({ unit: headerChar, maxLength: 12 }), fc.constantFrom("", " ", "é", "k".repeat(300))), { nil: null }) : fc.constant(null),
  });
}

// ---------------------------------------------------------------------------------------
// The property

/** Whether a parsed JSON value holds Infinity (from 1e309), which JSON.stringify turns into null. Iterative: inputs nest 20 000 deep. */
function hasNonFinite(v: unknown): boolean {
  const stack = [v];
  while (stack.length) {
    const x = stack.pop();
    if (typeof x === "number" && !Number.isFinite(x)) return true;
    if (x && typeof x === "object") stack.push(...Object.values(x));
  }
  return false;
}

function requestPath(route: Route, c: Case): string {
  const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => pct(c.params[name]!));
  return c.query ? `${path}?${c.query}` : path;
}

async function send(route: Route, c: Case, token: string): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  if (c.idempotencyKey !== null) headers["idempotency-key"] = c.idempotencyKey;
  return call(route.method, requestPath(route, c), {
    token,
    // GET and DELETE cannot carry a body through fetch's Request (GET throws), so only others do.
    body: c.body.kind === "text" && route.method !== "GET" && route.method !== "DELETE" ? c.body.text : undefined,
    contentType: c.contentType,
    headers,
  });
}

const describeCase = (route: Route, who: string, c: Case, res: RawResponse) =>
  `${who} ${route.method} ${requestPath(route, c).slice(0, 300)}\n` +
  `content-type: ${c.contentType}\nbody: ${c.body.kind === "text" ? c.body.text.slice(0, 400) : "(none)"}\n` +
  `→ ${res.status} ${res.headers.get("content-type")} ${res.text.slice(0, 400)}`;

/** fast-check's report, with the (possibly huge) counterexample cut short. */
function shortReport<T>(out: fc.RunDetails<T>): void {
  if (!out.failed) return;
  const example = JSON.stringify(out.counterexample, (_k, v) => (typeof v === "string" && v.length > 200 ? `${v.slice(0, 200)}…(${v.length} chars)` : v));
  const cause = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
  throw new Error(`property failed (seed ${out.seed}, path "${out.counterexamplePath}"):\n${cause}\ncase: ${example?.slice(0, 2000)}`);
}

const stats = { cases: 0, byStatus: new Map<number, number>(), byRoute: new Map<string, number>(), noise: 0 };

/**
 * D1 as it was after the last case, when nothing was accepted since: the next case's
 * "before" (halves the snapshots; background work in between shows up as a diff and goes
 * through the same re-check as any other).
 */
let lastSnapshot: Snapshot | null = null;

async function checkCase(route: Route, who: string, token: string, c: Case): Promise<void> {
  const before = lastSnapshot ?? (await snapshotDb());
  lastSnapshot = null;
  const res = await send(route, c, token);
  stats.cases += 1;
  stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
  stats.byRoute.set(route.label, (stats.byRoute.get(route.label) ?? 0) + 1);
  expect(res.status, `5xx: ${describeCase(route, who, c, res)}`).toBeLessThan(500);
  if (res.status >= 400) {
    expect(problemDefect(res), describeCase(route, who, c, res)).toBeNull();
    const after = await snapshotDb();
    const diff = diffSnapshots(before, after);
    if (diff.length === 0) lastSnapshot = after;
    else {
      // Either this request wrote, or a consumer finished earlier work meanwhile: let the
      // pipeline go idle (longer than a queue batch timeout) and send the same request again.
      console.warn(`D1 changed around a rejected request; re-checking once idle:\n${describeCase(route, who, c, res)}\n${diff.slice(0, 10).join("\n")}`);
      await quiesce(1100);
      const again = await snapshotDb();
      const res2 = await send(route, c, token);
      const diff2 = res2.status >= 400 ? diffSnapshots(again, await snapshotDb()) : [];
      expect(diff2, `a rejected request changed D1: ${describeCase(route, who, c, res2)}\n${diff2.join("\n")}`).toEqual([]);
      stats.noise += 1;
    }
  } else {
    expect(res.status, describeCase(route, who, c, res)).toBeGreaterThanOrEqual(200);
    if (res.text && (res.headers.get("content-type") ?? "").includes("json")) expect(res.json, `unparseable JSON: ${describeCase(route, who, c, res)}`).toBeDefined();
    // Accepted writes may start background work (fan-out, retries, replays): let it finish
    // so it is not mistaken for a write of the next, rejected request.
    // (A replay continues through the queue a moment later; the re-check above covers that.)
    if (route.method !== "GET") await quiesce(40);
    else lastSnapshot = before;
  }
}

describe("hostile input on every route of /openapi.json", () => {
  let routes: Route[] = [];

  beforeAll(async () => {
    routes = await openapiRoutes();
  });

  afterAll(() => {
    console.log(
      `hostile input: ${stats.cases} cases over ${stats.byRoute.size} routes; statuses ${JSON.stringify(Object.fromEntries([...stats.byStatus].sort((a, b) => a[0] - b[0])))}; ${stats.noise} background-write re-checks`,
    );
  });

  it("the snapshot covers every D1 table and each tenant's log, and sees a one-column change in either", async () => {
    const tables = await dbTables();
    expect(tables).toEqual(expect.arrayContaining(["tenants", "api_keys", "event_types", "endpoints", "endpoint_secrets", "dead_letters", "portal_sessions"]));
    expect(tables.filter((t) => t.startsWith("_cf_") || t === "d1_migrations")).toEqual([]);
    const w = await seedWorld("snap");
    await quiesce(); // the world's deliveries are recorded in the background
    const before = await snapshotDb();
    await env.DB.prepare("UPDATE endpoints SET description = description || '.' WHERE id = ?").bind(w.endpointId).run();
    const diff = diffSnapshots(before, await snapshotDb());
    expect(diff.length, diff.join("\n")).toBe(2);
    expect(diff.every((line) => line.startsWith("endpoints:"))).toBe(true);
    // The tenant's log is in the snapshot: its endpoint row there changes too.
    expect(Object.keys(before).some((k) => k.startsWith(`log:${w.tenantId}:endpoints`))).toBe(true);
    const logBefore = await snapshotDb();
    await runInDurableObject(await tenantLogOf(w.tenantId), (_i: unknown, state: DurableObjectState) => void state.storage.sql.exec("UPDATE endpoints SET version = version + 100 WHERE id = ?", w.endpointId));
    const logDiff = diffSnapshots(logBefore, await snapshotDb());
    expect(logDiff.length, logDiff.join("\n")).toBe(2);
    expect(logDiff.every((line) => line.startsWith(`log:${w.tenantId}:endpoints:`))).toBe(true);
  });

  it("the document lists the API's routes", () => {
    expect(routes.length).toBeGreaterThanOrEqual(30);
    expect(routes.map((r) => r.label)).toContain("POST /v1/tenants/{tid}/events");
  });

  it("every route, as admin and as a tenant key: no 5xx, problem+json errors, rejected requests change nothing", { timeout: 120_000 }, async () => {
    // One seeded world serves route after route until fuzzing deletes or archives part of it.
    let world: World | null = null;
    let worlds = 0;
    for (const route of routes) {
      if (route.label === "GET /health") {
        // No token, no parameters: hostile query strings only.
        await fc.assert(
          fc.asyncProperty(fc.string({ unit: "binary", maxLength: 40 }), async (q) => {
            const res = await call("GET", `/health?${pct(q)}`, { token: null });
            expect(res.status).toBe(200);
          }),
          { numRuns: 5 },
        );
        continue;
      }
      if (!world || !(await worldIntact(world))) {
        world = await seedWorld("fz");
        worlds += 1;
      }
      lastSnapshot = null;
      const h: Hints = { world };
      for (const [who, token] of [
        ["tenant key", h.world.apiKey],
        ["admin", "test-admin-token"],
      ] as const) {
        await fc.assert(
          fc.asyncProperty(caseFor(route, h), (c) => checkCase(route, who, token, c)),
          { numRuns: RUNS, endOnFailure: true, reporter: shortReport },
        );
      }
    }
    console.log(`hostile input: ${worlds} seeded worlds`);
    const uncovered = routes.filter((r) => r.label !== "GET /health" && (stats.byRoute.get(r.label) ?? 0) < 2 * RUNS).map((r) => r.label);
    expect(uncovered, "routes the property did not drive").toEqual([]);
  });

  it("event types with hostile JSON Schemas: create, patch, post and test-send never 5xx, and accepted data reads back unaltered", { timeout: 60_000 }, async () => {
    const world = await seedWorld("fzs");
    // Events go to a tenant without endpoints, so no deliveries churn in the background.
    const bare = uid("bare");
    expect((await call("POST", "/v1/tenants", { body: { id: bare, name: "bare" } })).status).toBe(201);
    const dataTree = fc.oneof(hostileTree, fc.constantFrom('{"a":1}', '{"(":1,"a":"x"}', "[[[[1]]]]", '{"a":1e309}', "-1E400", '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"').map(raw), deepArray, deepObject);
    let runs = 0;
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...NASTY_SCHEMAS), fc.option(dataTree, { nil: undefined }), dataTree, async (schema, example, data) => {
        runs += 1;
        const name = uniqueTypeName("fzs");
        const responses: [string, RawResponse][] = [];
        const exampleText = example ? `,"example":${render(example)}` : "";
        const created = await call("POST", "/v1/event-types", { body: `{"name":"${name}","schema":${schema}${exampleText}}` });
        responses.push(["create", created]);
        if (created.status !== 201) {
          // Refused at create: store it with a harmless schema, then try to patch the hostile one in.
          responses.push(["create plain", await call("POST", "/v1/event-types", { body: { name } })]);
          responses.push(["patch schema", await call("PATCH", `/v1/event-types/${name}`, { body: `{"schema":${schema}}` })]);
        }
        responses.push(["patch example", await call("PATCH", `/v1/event-types/${name}`, { body: `{"example":${render(data)}}` })]);
        const posted = await call("POST", `/v1/tenants/${bare}/events`, { body: `{"type":"${name}","data":${render(data)}}` });
        responses.push(["post event", posted]);
        responses.push(["test send", await call("POST", `/v1/tenants/${world.tenantId}/endpoints/${world.endpointId}/test`, { body: `{"type":"${name}","data":${render(data)}}` })]);
        for (const [what, res] of responses) {
          expect(res.status, `${what} with schema ${schema}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
          if (res.status >= 400) expect(problemDefect(res), `${what}: ${res.text.slice(0, 300)}`).toBeNull();
        }
        if (posted.status === 202) {
          // Accepted means kept as sent: nothing silently turned into null (1e309) or dropped.
          accepted += 1;
          const stored = await call("GET", `/v1/tenants/${bare}/events/${posted.json.id}`);
          const sent = JSON.parse(render(data)) as unknown;
          expect(hasNonFinite(sent), `accepted data that cannot be kept as sent (1e309 → null): ${render(data).slice(0, 200)}`).toBe(false);
          expect(JSON.stringify(stored.json.data), `event data altered: sent ${render(data).slice(0, 200)}`).toBe(JSON.stringify(sent));
        }
      }),
      {
        numRuns: 60,
        endOnFailure: true,
        reporter: shortReport,
        // Always tried: the inputs that broke it before (a regex key, a dangling $ref, a
        // recursive schema over deep data, a number that overflows a double).
        examples: <[string, Node | undefined, Node][]>[
          [NASTY_SCHEMAS[0]!, raw('{"(":1}'), raw('{"(":1}')],
          [NASTY_SCHEMAS[1]!, undefined, raw('{"a":1}')],
          [NASTY_SCHEMAS[3]!, undefined, raw("[".repeat(20_000) + "]".repeat(20_000))],
          ['{"type":"object"}', undefined, raw('{"a":1e309}')],
          ['{"type":"string","pattern":"(a+)+$"}', undefined, raw(`"${"a".repeat(48)}!"`)],
          // Deeper than the runtime's JSON.stringify can follow: a stack overflow answered 500
          // (found by this property; now refused with 422 before parsing, domain/json-depth).
          ['{"type":"object"}', undefined, raw(`[1,{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}]`)],
        ],
      },
    );
    await quiesce(40);
    console.log(`hostile JSON Schemas: ${runs} cases, ${accepted} events accepted`);
  });

  it("a JSON Schema pattern with nested quantifiers (catastrophic backtracking) is refused at create and patch", async () => {
    for (const schema of [{ type: "string", pattern: "(a+)+$" }, { type: "object", patternProperties: { "^(\\w*)*$": {} } }, { properties: { a: { pattern: "([a-z]+){2,}!" } } }]) {
      const name = uniqueTypeName("redos");
      const created = await call("POST", "/v1/event-types", { body: { name, schema } });
      expect(created.status, created.text).toBe(422);
      expect(problemDefect(created)).toBeNull();
      expect((await call("POST", "/v1/event-types", { body: { name } })).status).toBe(201);
      const patched = await call("PATCH", `/v1/event-types/${name}`, { body: { schema } });
      expect(patched.status, patched.text).toBe(422);
    }
    // Ordinary patterns still pass.
    expect((await call("POST", "/v1/event-types", { body: { name: uniqueTypeName("re"), schema: { type: "string", pattern: "^(\\d{3}-)?[a-z]+$" } } })).status).toBe(201);
  });

  it("a body over 1 MiB is refused with 413 on every route that takes one, before anything is stored (D1 caps rows at 2 MB)", async () => {
    const routes = await openapiRoutes();
    const world = await seedWorld("fzb");
    const real = worldParams(world);
    const withBody = routes.filter((r) => r.bodySchema);
    expect(withBody.length).toBeGreaterThanOrEqual(10);
    for (const route of withBody) {
      const props = Object.keys(route.bodySchema.properties ?? {});
      // Every known field at once, each a 2.1 MB string, so whichever one is stored is too big.
      const big = "x".repeat(2_100_000);
      const body = JSON.stringify(Object.fromEntries((props.length ? props : ["data"]).map((p) => [p, big])));
      const before = await snapshotDb();
      const res = await call(route.method, route.path.replace(/\{([^}]+)\}/g, (_, p: string) => encodeURIComponent(real[p]!)), { body });
      expect(res.status, `${route.label}: ${res.text.slice(0, 200)}`).toBe(413);
      expect(problemDefect(res), route.label).toBeNull();
      expect(diffSnapshots(before, await snapshotDb()), route.label).toEqual([]);
    }
  });

  it("whatever auth and custom headers an endpoint accepts can be sent: the test send reaches the receiver", { timeout: 60_000 }, async () => {
    const world = await seedWorld("fzh");
    const headerValue = fc.oneof(hostileString, fc.string({ unit: "binary-ascii", maxLength: 30 }), fc.constantFrom("é", "\u00ff", "\t x", "\u0100", "a\rb"));
    const auth = fc.oneof(
      fc.constant(undefined),
      headerValue.map((token) => ({ type: "bearer", token })),
      fc.record({ type: fc.constant("basic"), username: headerValue, password: headerValue }),
    );
    const headers = fc.option(fc.dictionary(fc.oneof(fc.constantFrom("X-Custom", "x-a", "Accept", "X-Ünï"), fc.string({ unit: "binary-ascii", maxLength: 10 })), headerValue, { maxKeys: 3 }), { nil: undefined });
    let accepted = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(auth, headers, fc.constantFrom("standard", "hmac-sha256-hex", "timestamped-hex"), async (a, hs, signature) => {
        runs += 1;
        const path = `/ok/hard-hdr-${uid("h")}`;
        const body: Record<string, unknown> = { url: `${receiverUrl()}${path}`, signature };
        if (a) body.auth = a;
        if (hs) body.headers = hs;
        const created = await call("POST", `/v1/tenants/${world.tenantId}/endpoints`, { body });
        expect(created.status, created.text).toBeLessThan(500);
        if (created.status !== 201) {
          expect(problemDefect(created), created.text).toBeNull();
          return;
        }
        accepted += 1;
        const sent = await call("POST", `/v1/tenants/${world.tenantId}/endpoints/${created.json.id}/test`, { body: { type: world.eventType } });
        expect(sent.status, sent.text).toBe(200);
        expect(sent.json.error, `accepted ${JSON.stringify(body)} but the request could not be sent`).toBeNull();
        expect(sent.json.response_status).toBe(200);
        expect((await receiverRequests(path)).length).toBe(1);
      }),
      {
        numRuns: 60,
        endOnFailure: true,
        reporter: shortReport,
        // Always tried: bearer tokens fetch refuses (CR LF, NUL) or a receiver rejects (controls).
        examples: [
          [{ type: "bearer", token: "a\r\nX-Injected: 1" }, undefined, "standard"],
          [{ type: "bearer", token: "a\u0000b" }, undefined, "standard"],
          [{ type: "bearer", token: "\u0005\u0006" }, undefined, "hmac-sha256-hex"],
        ],
      },
    );
    console.log(`hostile endpoint headers/auth: ${runs} cases, ${accepted} accepted and sent`);
    expect(accepted).toBeGreaterThan(5);
  });
});
