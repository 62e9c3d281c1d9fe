/**
 * Event ingest and reads (DESIGN.md "Events") over data plane v2: each event is stored in
 * its tenant's TenantLog (one call dedupes, matches its endpoints and stores it), so what is
 * stored is read from that log's storage; generated ids embed the tenant seq and event seq.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import { settleTenant as settle, tenantLogOf } from "./hardening-helpers";
import {
  api,
  createApiKey,
  createEndpoint,
  createEventType,
  createTenant,
  expectInvalid,
  expectProblem,
  pageThrough,
  postEvent,
  uid,
  uniqueTypeName,
} from "./helpers";

vi.setConfig({ testTimeout: 60_000 });

/** A generated event id: `evt_` and 28 characters of Crockford base32 (time, tenant seq, event seq). */
const EVENT_ID = /^evt_[0-9a-hjkmnp-tv-z]{28}$/;
/** A delivery id: the event's key and the endpoint's ordinal (32 characters). */
const DELIVERY_ID = /^dlv_[0-9a-hjkmnp-tv-z]{32}$/;

let tenant: string;
let type: string;
let typed: string;
const schema = {
  type: "object",
  properties: { n: { type: "integer" }, tags: { type: "array", items: { type: "string" } } },
  required: ["n"],
};

beforeAll(async () => {
  tenant = await createTenant();
  type = await createEventType(uniqueTypeName("report"));
  typed = await createEventType(uniqueTypeName("typed"), { schema });
});

const events = (t = tenant) => `/v1/tenants/${t}/events`;

/** Counts the events stored in the tenant's TenantLog (every day table of its storage) that match a SQL condition. */
async function countEvents(tenantId: string, where: string, ...params: SqlStorageValue[]): Promise<number> {
  return runInDurableObject(await tenantLogOf(tenantId), (_o: TenantLog, state) => {
    const sql = state.storage.sql;
    let n = 0;
    for (const { day } of sql.exec<{ day: number }>("SELECT day FROM days").toArray()) {
      n += sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM events_d${day} WHERE ${where}`, ...params).one().n;
    }
    return n;
  });
}

describe("POST /v1/tenants/{tid}/events", () => {
  it("accepts an event with 202 {id, type, created_at} and stores it", async () => {
    const res = await api(events(), { body: { type, data: { n: 1 } } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.stringMatching(EVENT_ID), type, created_at: expect.any(String) });
    const log = await tenantLogOf(tenant);
    const row = await log.getEvent((await log.findEventSeq(res.body.id))!);
    expect({ data: row!.dataJson, type: row!.type }).toEqual({ data: '{"n":1}', type });
  });

  it("uses a host-supplied id and occurred_at", async () => {
    const id = uid("ev-");
    const res = await api(events(), { body: { type, data: {}, id, occurred_at: "2026-01-02T03:04:05Z" } });
    expect(res.status).toBe(202);
    expect(res.body.id).toBe(id);
    const got = await api(`${events()}/${id}`);
    expect(got.body.occurred_at).toBe("2026-01-02T03:04:05.000Z");
  });

  it("accepts any JSON value as data, and null", async () => {
    for (const data of [null, 1, "text", [1, 2], { deep: { deeper: [true, false, null] } }]) {
      expect((await api(events(), { body: { type, data } })).status).toBe(202);
    }
  });

  it("a tenant key cannot post events (403) and nothing is stored", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    expectProblem(await api(events(t), { token: key, body: { type, data: {} } }), 403);
    expect(await countEvents(t, "1")).toBe(0);
  });

  it("answers 404 for an unknown or deleted tenant", async () => {
    expectProblem(await api(events("no-such-tenant"), { body: { type, data: {} } }), 404);
    const t = await createTenant();
    await api(`/v1/tenants/${t}`, { method: "DELETE" });
    expectProblem(await api(events(t), { body: { type, data: {} } }), 404);
  });

  it.each([
    ["an unknown type", () => ({ type: "never.registered", data: {} }), "type"],
    ["a switchyard.* type", () => ({ type: "switchyard.delivery.failed", data: {} }), "type"],
    ["a type that is not a string", () => ({ type: 5, data: {} }), "type"],
    ["a missing type", () => ({ data: {} }), "type"],
    ["missing data", () => ({ type }), "data"],
    ["an unknown field", () => ({ type, data: {}, tenant: "x" }), "tenant"],
    ["an id with a dot", () => ({ type, data: {}, id: "a.b" }), "id"],
    ["an id that is not a string", () => ({ type, data: {}, id: 12 }), "id"],
    ["an occurred_at that is not ISO-8601", () => ({ type, data: {}, occurred_at: "yesterday" }), "occurred_at"],
    ["an occurred_at without a time zone", () => ({ type, data: {}, occurred_at: "2026-01-01T00:00:00" }), "occurred_at"],
    ["an occurred_at on a day that does not exist", () => ({ type, data: {}, occurred_at: "2026-02-30T00:00:00Z" }), "occurred_at"],
  ])("refuses %s (422)", async (_what, body, errorPath) => {
    expectInvalid(await api(events(), { body: body() }), errorPath);
  });

  it("refuses a switchyard.* type even for the _operator tenant (422)", async () => {
    expectInvalid(await api(events("_operator"), { body: { type: "switchyard.endpoint.disabled", data: {} } }), "type");
  });

  it("refuses an archived type (422)", async () => {
    const archived = await createEventType();
    await api(`/v1/event-types/${archived}`, { method: "DELETE" });
    expectInvalid(await api(events(), { body: { type: archived, data: {} } }), "type");
  });

  it("refuses a body that is not an object (422)", async () => {
    expectInvalid(await api(events(), { body: "[1,2]" }), "(body)");
  });

  it("answers 400 problem+json for malformed JSON", async () => {
    expectProblem(await api(events(), { body: '{"type": "a.b", "data": ' }), 400);
  });

  it("lists every schema error of the data (422)", async () => {
    const p = expectInvalid(await api(events(), { body: { type: typed, data: { n: "one", tags: ["ok", 2] } } }), "data.n");
    expect(p.errors!.map((e) => e.path)).toContain("data.tags[1]");
  });

  it("refuses data missing a required property (422)", async () => {
    expectInvalid(await api(events(), { body: { type: typed, data: {} } }), "data*");
  });

  it("accepts data that satisfies the schema", async () => {
    expect((await api(events(), { body: { type: typed, data: { n: 3, tags: ["a"] } } })).status).toBe(202);
  });

  it.each([
    ["a positive integer beyond 2^53", '{"big": 9007199254740993}', "data.big"],
    ["a negative integer beyond 2^53", '{"list": [1, -18014398509481985]}', "data.list[1]"],
    ["a huge integer", '{"a": {"b": 123456789012345678901234567890}}', "data.a.b"],
  ])("refuses %s (422; send it as a string)", async (_what, data, errorPath) => {
    expectInvalid(await api(events(), { body: `{"type": "${type}", "data": ${data}}` }), errorPath);
  });

  it("refuses an integer beyond 2^53 spelt with a point or an exponent (422 naming data.n) and stores nothing", async () => {
    const t = await createTenant();
    // Raw text: JSON.stringify would respell the literal before it is sent.
    for (const literal of ["12345678901234567.0", "1.2345678901234567e16"]) {
      const p = expectInvalid(await api(events(t), { body: `{"type": "${type}", "data": {"n": ${literal}}}` }), "data.n");
      expect(p.errors, literal).toEqual([{ path: "data.n", message: expect.stringContaining("send it as a string") }]);
    }
    const listed = await api(events(t));
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([]);
  });

  it("accepts 2^53 − 1, big integers as strings, and large floats", async () => {
    const res = await api(events(), { body: `{"type": "${type}", "data": {"max": 9007199254740991, "s": "9007199254740993", "f": 1.5e300}}` });
    expect(res.status).toBe(202);
    const got = await api(`${events()}/${res.body.id}`);
    expect(got.body.data).toEqual({ max: 9007199254740991, s: "9007199254740993", f: 1.5e300 });
  });

  it("answers 413 for a body over MAX_PAYLOAD_BYTES, before parsing it", async () => {
    const max = Number(env.MAX_PAYLOAD_BYTES);
    const big = JSON.stringify({ type, data: { pad: "x".repeat(max) } });
    expectProblem(await api(events(), { body: big }), 413);
    // Not JSON at all, and still a 413: the size is checked first.
    expectProblem(await api(events(), { body: "{".repeat(max + 1) }), 413);
    expect(await countEvents(tenant, "length(data) > ?", max)).toBe(0);
  });

  it("answers 413 for a streamed body over the limit that declares no length", async () => {
    const max = Number(env.MAX_PAYLOAD_BYTES);
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > max + chunk.byteLength) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const res = await exports.default.fetch(
      new Request(`http://x${events()}`, {
        method: "POST",
        headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" },
        body: stream,
      }),
    );
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });

  it("accepts a body just under the limit", async () => {
    const max = Number(env.MAX_PAYLOAD_BYTES);
    const shell = JSON.stringify({ type, data: { pad: "" } });
    const body = JSON.stringify({ type, data: { pad: "x".repeat(max - shell.length) } });
    expect(body.length).toBe(max);
    expect((await api(events(), { body })).status).toBe(202);
  });
});

describe("idempotent ingest", () => {
  it("the same id and body answers 200 with the original event", async () => {
    const id = uid("idem-");
    const first = await api(events(), { body: { type, data: { a: 1 }, id } });
    expect(first.status).toBe(202);
    const again = await api(events(), { body: { type, data: { a: 1 }, id } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await countEvents(tenant, "id = ?", id)).toBe(1);
  });

  it.each([
    ["different data", { a: 2 }, () => type],
    ["a different type", { a: 1 }, () => typed],
  ])("the same id with %s answers 409", async (_what, data, otherType) => {
    const id = uid("idem-");
    await postEvent(tenant, { type, data: { a: 1 }, id });
    const res = await api(events(), { body: { type: otherType(), data: { ...data, n: 1 }, id } });
    expectProblem(res, 409);
    const got = await api(`${events()}/${id}`);
    expect(got.body).toMatchObject({ type, data: { a: 1 } });
  });

  it("the Idempotency-Key header: same body → 200 original, different body → 409", async () => {
    const key = `key-${crypto.randomUUID()}`;
    const first = await api(events(), { body: { type, data: { k: 1 } }, headers: { "Idempotency-Key": key } });
    expect(first.status).toBe(202);
    const again = await api(events(), { body: { type, data: { k: 1 } }, headers: { "Idempotency-Key": key } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expectProblem(await api(events(), { body: { type, data: { k: 2 } }, headers: { "Idempotency-Key": key } }), 409);
    expect(await countEvents(tenant, "idem_key = ?", key)).toBe(1);
  });

  it("compares data as JSON, not as text: other whitespace is the same body (200)", async () => {
    const id = uid("ws-");
    const first = await api(events(), { body: `{"type":"${type}","data":{"a":[1,2]},"id":"${id}"}` });
    expect(first.status).toBe(202);
    const again = await api(events(), { body: `{ "id": "${id}",\n  "type": "${type}",\n  "data": { "a": [ 1, 2 ] } }` });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(id);
  });

  it("without a key, the same body makes a new event each time", async () => {
    const a = await postEvent(tenant, { type, data: { same: true } });
    const b = await postEvent(tenant, { type, data: { same: true } });
    expect(a.id).not.toBe(b.id);
  });

  it("keys are per tenant", async () => {
    const other = await createTenant();
    const key = `key-${crypto.randomUUID()}`;
    const id = uid("shared-");
    await postEvent(tenant, { type, data: {}, id }, { "Idempotency-Key": key });
    expect((await api(events(other), { body: { type, data: {}, id } })).status).toBe(202);
    expect((await api(events(other), { body: { type, data: {} }, headers: { "Idempotency-Key": key } })).status).toBe(202);
  });

  it("concurrent first posts with one id make exactly one event", async () => {
    const id = uid("race-");
    const results = await Promise.all(Array.from({ length: 6 }, () => api(events(), { body: { type, data: { r: 1 }, id } })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
    expect(new Set(results.map((r) => r.body.id))).toEqual(new Set([id]));
    expect(await countEvents(tenant, "id = ?", id)).toBe(1);
  });

  it("concurrent first posts with one Idempotency-Key make exactly one event", async () => {
    const key = `race-${crypto.randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => api(events(), { body: { type, data: { r: 2 } }, headers: { "Idempotency-Key": key } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await countEvents(tenant, "idem_key = ?", key)).toBe(1);
  });

  it("refuses an Idempotency-Key over 255 characters (422)", async () => {
    expectInvalid(await api(events(), { body: { type, data: {} }, headers: { "Idempotency-Key": "k".repeat(256) } }), "Idempotency-Key");
  });
});

describe("GET /v1/tenants/{tid}/events", () => {
  it("lists newest first, items without data", async () => {
    const t = await createTenant();
    const a = await postEvent(t, { type, data: { secret: "payload-a" } });
    const b = await postEvent(t, { type, data: { secret: "payload-b" } });
    const res = await api(events(t));
    expect(res.status).toBe(200);
    expect(res.body.data.map((e: { id: string }) => e.id)).toEqual([b.id, a.id]);
    expect(res.body.data[0]).toEqual({ id: b.id, type, occurred_at: null, created_at: b.created_at });
    expect(res.text).not.toContain("payload-a");
    expect(res.body.next_cursor).toBeNull();
  });

  it("filters by type", async () => {
    const t = await createTenant();
    await postEvent(t, { type, data: {} });
    const x = await postEvent(t, { type: typed, data: { n: 1 } });
    const res = await api(`${events(t)}?type=${typed}`);
    expect(res.body.data.map((e: { id: string }) => e.id)).toEqual([x.id]);
  });

  it("filters by since (inclusive) and until (exclusive)", async () => {
    const t = await createTenant();
    const first = await postEvent(t, { type, data: {} });
    await new Promise((r) => setTimeout(r, 5));
    const second = await postEvent(t, { type, data: {} });
    const ids = async (q: string) => (await api(`${events(t)}?${q}`)).body.data.map((e: { id: string }) => e.id);
    expect(await ids(`since=${second.created_at}`)).toEqual([second.id]);
    expect(await ids(`until=${second.created_at}`)).toEqual([first.id]);
    expect(await ids(`since=${first.created_at}&until=${second.created_at}`)).toEqual([first.id]);
    expect(await ids("since=2999-01-01T00:00:00Z")).toEqual([]);
  });

  it("pages without repeats or gaps while events are posted between pages", async () => {
    const t = await createTenant();
    const made: string[] = [];
    for (let i = 0; i < 9; i++) made.push((await postEvent(t, { type, data: { i } })).id);
    const added: string[] = [];
    const { ids, pages } = await pageThrough(events(t), 4, async () => {
      added.push((await postEvent(t, { type, data: {} })).id);
    });
    expect(pages).toBe(3);
    expect(ids).toEqual([...made].reverse());
    for (const id of added) expect(ids).not.toContain(id);
  });

  it.each([
    ["since=yesterday", "since"],
    ["since=2026-13-01T00:00:00Z", "since"],
    ["since=2026-04-31", "since"],
    ["until=1700000000", "until"],
    ["until=", "until"],
    ["limit=0", "limit"],
    ["limit=251", "limit"],
    ["cursor=abc", "cursor"],
  ])("refuses %s (422)", async (query, errorPath) => {
    expectInvalid(await api(`${events()}?${query}`), errorPath);
  });

  it("a tenant key reads its own events but not another tenant's (403)", async () => {
    const t = await createTenant();
    const { key } = await createApiKey(t);
    const ev = await postEvent(t, { type, data: {} });
    expect((await api(events(t), { token: key })).body.data.map((e: { id: string }) => e.id)).toEqual([ev.id]);
    expect((await api(`${events(t)}/${ev.id}`, { token: key })).status).toBe(200);
    expectProblem(await api(events(), { token: key }), 403);
  });
});

describe("GET /v1/tenants/{tid}/events/{evid}", () => {
  it("shows the event with its data and its deliveries, each listed from its acceptance", async () => {
    const receiver = inject("receiverUrl");
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver}/ok/${t}` });
    const ev = await postEvent(t, { type, data: { x: [1, "two"] }, occurred_at: "2026-05-06T07:08:09.010Z" });
    // Matched inside ingest: the delivery is there at once (untried, or already sent by the background consumer).
    const accepted = await api(`${events(t)}/${ev.id}`);
    expect(accepted.body.deliveries).toEqual([{ delivery_id: expect.stringMatching(DELIVERY_ID), endpoint_id: ep.id, status: expect.stringMatching(/^(pending|delivered)$/), attempts: expect.any(Number) }]);
    await settle(t);
    const res = await api(`${events(t)}/${ev.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: ev.id,
      type,
      data: { x: [1, "two"] },
      occurred_at: "2026-05-06T07:08:09.010Z",
      created_at: ev.created_at,
      deliveries: [{ delivery_id: accepted.body.deliveries[0].delivery_id, endpoint_id: ep.id, status: "delivered", attempts: 1 }],
    });
  });

  it("has no deliveries when no endpoint matches", async () => {
    const t = await createTenant();
    await createEndpoint(t, { filter: { types: ["other.thing"] }, url: `${inject("receiverUrl")}/ok/none` });
    const ev = await postEvent(t, { type, data: {} });
    await settle(t);
    expect((await api(`${events(t)}/${ev.id}`)).body.deliveries).toEqual([]);
  });

  it("answers 404 for an unknown event and for another tenant's event under this tenant", async () => {
    expectProblem(await api(`${events()}/evt_nope`), 404);
    const other = await createTenant();
    const theirs = await postEvent(other, { type, data: {} });
    expectProblem(await api(`${events()}/${theirs.id}`), 404);
  });
});
