/**
 * The TenantLog's first step (docs/data-plane-v2.md): ingest, claim and record of plain
 * endpoints, with the rows each writes counted from workerd's own cursors — the figures the
 * data plane's cost targets rest on. Each test uses its own object (storage is per file,
 * objects are per name).
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AttemptRecord } from "../../src/domain/attempt";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { EndpointSnapshot, IngestInput, Outcome } from "../../src/tenant-log/types";
import { dayOf, dayTables, dropDayTables } from "../../src/tenant-log/day-tables";
import { fakeQueue, uniq } from "./pipeline-helpers";
import { endpointSnapshot } from "./tenant-log-helpers";

const log = () => env.TENANT_LOG.getByName(uniq("tenant-log"));
type Stub = ReturnType<typeof log>;

const endpoint = endpointSnapshot;

let n = 0;
const event = (over: Partial<IngestInput> = {}): IngestInput => ({
  tenantSeq: 7,
  id: `evt-${++n}`,
  type: "report.completed",
  group: "inspections",
  dataJson: JSON.stringify({ n }),
  occurredAt: null,
  idemKey: null,
  bodyHash: `hash-${n}`,
  now: Date.now(),
  fullBytes: 9 * 1024 ** 3,
  ...over,
});

const attempt = (n: number, status: number | null): AttemptRecord => ({
  n,
  startedAt: Date.now(),
  durationMs: 12,
  responseStatus: status,
  responseBody: status === null ? null : "ok",
  error: status === null ? "timeout" : null,
  location: null,
  requestMethod: "POST",
  requestUrl: "https://example.com/hook",
  requestHeaders: { "webhook-signature": "[redacted]" },
});

/** Ingest into a log far below its full threshold (only the full test sees `full`). */
async function ingest(stub: Stub, input: IngestInput) {
  const r = await stub.ingest(input);
  if (r.kind === "full") throw new Error(`log full at ${r.bytes} bytes`);
  if (r.kind === "gone") throw new Error("log deleted");
  return r;
}

/**
 * Points the object's delivery queue at a fake that records what it sends: its alarms fire
 * on their own, and no v2 job may reach the v1 consumer behind these tests.
 */
async function observeQueue(stub: Stub) {
  const queue = fakeQueue();
  await runInDurableObject(stub, (instance: TenantLog) => {
    const holder = instance as unknown as { env: Env };
    holder.env = Object.create(holder.env, { DELIVERY_QUEUE: { value: queue.queue, enumerable: true } }) as Env;
  });
  return queue;
}

/** A tenant made through the API (D1 has its row and seq, as the outbox's flush needs). */
async function realTenant(prefix: string): Promise<{ tenantId: string; tenantSeq: number }> {
  const tenantId = uniq(prefix).replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 60);
  const res = await exports.default.fetch(
    new Request("http://x/v1/tenants", { method: "POST", headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" }, body: JSON.stringify({ id: tenantId, name: tenantId }) }),
  );
  expect(res.status).toBe(201);
  return { tenantId, tenantSeq: await seqOfTenant(tenantId) };
}

const seqOfTenant = async (id: string) => (await env.DB.prepare(`SELECT seq FROM tenants WHERE id = ?`).bind(id).first<{ seq: number }>())!.seq;

/** Runs `work` against the object and counts the SQLite rows it wrote (workerd's cursor.rowsWritten). */
async function rowsWritten<T>(stub: Stub, work: (instance: TenantLog) => Promise<T>): Promise<{ result: T; rows: number }> {
  return runInDurableObject(stub, async (instance: TenantLog, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec;
    let rows = 0;
    sql.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
      const cursor = exec.call(this, query, ...bindings);
      rows += cursor.rowsWritten;
      return cursor;
    } as SqlStorage["exec"];
    try {
      return { result: await work(instance), rows };
    } finally {
      sql.exec = exec;
    }
  });
}

describe("TenantLog ingest", () => {
  it("stores one event row (1 row written unkeyed, 2 keyed); the same key and body is a duplicate, another body a conflict", async () => {
    const stub = log();
    await stub.syncEndpoint(endpoint("ep_a"));
    await ingest(stub, event()); // the day's tables are created once
    const unkeyed = await rowsWritten(stub, (o) => o.ingest(event()));
    expect(unkeyed.result.kind).toBe("accepted");
    expect(unkeyed.rows).toBe(1);
    const keyedInput = event({ idemKey: "order-1" });
    const keyed = await rowsWritten(stub, (o) => o.ingest(keyedInput));
    expect(keyed.rows).toBe(2);
    const again = await ingest(stub, { ...keyedInput, id: "evt-other" });
    expect(again).toMatchObject({ kind: "duplicate", event: { seq: keyed.result.kind === "accepted" ? keyed.result.event.seq : -1, id: keyedInput.id } });
    // Its first send may have failed or its answer been lost: the untried delivery is sent again
    // at a new generation (1 row), so a copy of the first message still queued goes stale.
    expect(again.kind === "duplicate" && again.jobs).toEqual([{ e: again.event.seq, p: [1], g: 1 }]);
    expect((await stub.claim([{ e: again.event.seq, p: [1], g: 0 }], Date.now())).verdicts.map((v) => v.kind)).toEqual(["stale"]);
    // While a claimed copy is being sent, a repeat re-sends nothing (it would send twice).
    expect((await stub.claim([{ e: again.event.seq, p: [1], g: 1 }], Date.now())).verdicts.map((v) => v.kind)).toEqual(["go"]);
    const whileSending = await ingest(stub, keyedInput);
    expect(whileSending.kind === "duplicate" && whileSending.jobs).toEqual([]);
    // Once attempted, a repeat sends nothing.
    await stub.record([{ e: again.event.seq, ordinal: 1, generation: 1, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 200), status: "delivered", reason: null, nextAttemptAt: null }]);
    const sentNow = await ingest(stub, keyedInput);
    expect(sentNow.kind === "duplicate" && sentNow.jobs).toEqual([]);
    expect((await ingest(stub, { ...keyedInput, bodyHash: "different" })).kind).toBe("conflict");
    // Seqs are acceptance order.
    const a = await ingest(stub, event());
    const b = await ingest(stub, event());
    expect(a.event.seq + 1).toBe(b.event.seq);
  });

  it("matches at acceptance: paused skipped, disabled recorded failed (endpoint_disabled), filters by type, wildcard and group; jobs name at most 6 endpoints", async () => {
    const stub = log();
    const ordinals: Record<string, number> = {};
    for (const [id, over] of [
      ["all", {}],
      ["paused", { status: "paused" }],
      ["disabled", { status: "disabled" }],
      ["exact", { filter: { types: ["report.completed"], exclude: [], groups: [] } }],
      ["other", { filter: { types: ["invoice.paid"], exclude: [], groups: [] } }],
      ["wild", { filter: { types: ["report.*"], exclude: [], groups: [] } }],
      ["group", { filter: { types: [], exclude: [], groups: ["inspections"] } }],
      ["excluded", { filter: { types: [], exclude: ["report.*"], groups: [] } }],
    ] as [string, Partial<EndpointSnapshot>][]) {
      ordinals[id] = await stub.syncEndpoint(endpoint(`ep_${id}`, over));
    }
    for (let i = 0; i < 5; i++) await stub.syncEndpoint(endpoint(`ep_more_${i}`));
    const r = await ingest(stub, event());
    expect(r.kind).toBe("accepted");
    const named = r.kind === "accepted" ? r.jobs.flatMap((j) => j.p) : [];
    expect(named).toContain(ordinals.all);
    expect(named).toContain(ordinals.exact);
    expect(named).toContain(ordinals.wild);
    expect(named).toContain(ordinals.group);
    for (const id of ["paused", "disabled", "other", "excluded"]) expect(named).not.toContain(ordinals[id]);
    expect(named).toHaveLength(4 + 5);
    expect(r.kind === "accepted" && r.jobs.map((j) => j.p.length)).toEqual([6, 3]);
    await runInDurableObject(stub, async (_o: TenantLog, state) => {
      const t = dayTables(dayOf(Date.now()));
      const rows = state.storage.sql.exec(`SELECT ordinal, status, reason, attempts FROM ${t.deliveries}`).toArray();
      expect(rows).toEqual([{ ordinal: ordinals.disabled, status: "failed", reason: "endpoint_disabled", attempts: 0 }]);
    });
    // A newer snapshot wins; an older one changes nothing.
    await stub.syncEndpoint(endpoint("ep_paused", { version: 2, status: "active" }));
    await stub.syncEndpoint(endpoint("ep_paused", { version: 1, status: "paused" }));
    const after = await ingest(stub, event());
    expect(after.kind === "accepted" && after.jobs.flatMap((j) => j.p)).toContain(ordinals.paused);
  });
});

describe("TenantLog claim and record", () => {
  it("a first-try success writes one row (the delivery, its attempt inline); a later copy of the message is stale", async () => {
    const stub = log();
    const ordinal = await stub.syncEndpoint(endpoint("ep_ok"));
    const accepted = await ingest(stub, event());
    if (accepted.kind !== "accepted") throw new Error("not accepted");
    const [job] = accepted.jobs;
    const claimed = await stub.claim([job!], Date.now());
    expect(claimed.verdicts).toEqual([{ kind: "go", e: accepted.event.seq, ordinal, endpointId: "ep_ok", version: 1, generation: 0, attemptsBefore: 0, runStart: 0, startAt: expect.any(Number) }]);
    expect(claimed.events).toEqual([expect.objectContaining({ seq: accepted.event.seq, id: accepted.event.id, dataJson: expect.any(String) })]);
    const outcome: Outcome = { e: accepted.event.seq, ordinal, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 200), status: "delivered", reason: null, nextAttemptAt: null };
    const recorded = await rowsWritten(stub, (o) => o.record([outcome]));
    expect(recorded.result).toEqual({ recorded: 1, retries: [], released: [] });
    expect(recorded.rows).toBe(1);
    // The duplicate message and a second record of the same outcome change nothing.
    expect((await stub.claim([job!], Date.now())).verdicts).toEqual([{ kind: "stale", e: accepted.event.seq, ordinal }]);
    expect((await stub.record([outcome])).recorded).toBe(0);
  });

  it("a retryable failure writes the pending row and asks for a retry; the retry's attempt gets a row of its own; only the current generation is claimed", async () => {
    const stub = log();
    const ordinal = await stub.syncEndpoint(endpoint("ep_flaky"));
    const accepted = await ingest(stub, event());
    if (accepted.kind !== "accepted") throw new Error("not accepted");
    const e = accepted.event.seq;
    const first = attempt(1, 503);
    const failed = await rowsWritten(stub, (o) =>
      o.record([{ e, ordinal, generation: 0, attemptsBefore: 0, runStart: 0, attempt: first, status: "pending", reason: null, nextAttemptAt: first.startedAt + 5_000 }]),
    );
    expect(failed.rows).toBe(2); // the row and its entry in the pending index
    expect(failed.result.retries).toEqual([{ e, p: [ordinal], g: 0, delayMs: expect.any(Number) }]);
    // Not due yet: an early message is told to come back when it is (a wait may exceed the
    // queue's longest delay); once due it is claimed with its attempt count.
    const early = (await stub.claim([{ e, p: [ordinal], g: 0 }], Date.now())).verdicts[0]!;
    expect(early).toMatchObject({ kind: "later" });
    expect(early.kind === "later" && early.delayMs).toBeGreaterThan(4_000);
    const due = (await stub.claim([{ e, p: [ordinal], g: 0 }], first.startedAt + 5_000)).verdicts[0]!;
    expect(due).toMatchObject({ kind: "go", attemptsBefore: 1 });
    expect((await stub.claim([{ e, p: [ordinal], g: 1 }], first.startedAt + 5_000)).verdicts[0]!.kind).toBe("stale");
    const second = await rowsWritten(stub, (o) =>
      o.record([{ e, ordinal, generation: 0, attemptsBefore: 1, runStart: 0, attempt: attempt(2, 200), status: "delivered", reason: null, nextAttemptAt: null }]),
    );
    expect(second.result.recorded).toBe(1);
    await runInDurableObject(stub, async (_o: TenantLog, state) => {
      const t = dayTables(dayOf(Date.now()));
      expect(state.storage.sql.exec(`SELECT status, attempts, a1_response_status FROM ${t.deliveries}`).toArray()).toEqual([{ status: "delivered", attempts: 2, a1_response_status: 503 }]);
      expect(state.storage.sql.exec(`SELECT n, response_status FROM ${t.attempts}`).toArray()).toEqual([{ n: 2, response_status: 200 }]);
    });
  });

  it("a failure without an attempt (URL refused at send time) counts none and releases a FIFO line; the same outcome recorded twice answers its jobs again", async () => {
    const stub = log();
    const f = await stub.syncEndpoint(endpoint("ep_norequest", { ordering: "fifo" }));
    const a = (await ingest(stub, event())).event.seq;
    const b = (await ingest(stub, event())).event.seq;
    await stub.claim([{ e: a, p: [f], g: 0 }], Date.now());
    const refused = await stub.record([{ e: a, ordinal: f, generation: 0, attemptsBefore: 0, runStart: 0, attempt: null, status: "failed", reason: "url_not_allowed", nextAttemptAt: null }]);
    expect(refused.released).toEqual([{ e: b, p: [f], g: 1 }]);
    expect(await stub.getDelivery(f, a)).toMatchObject({ status: "failed", reason: "url_not_allowed", attempts: 0, attemptList: [] });

    // b fails retryably; its record is retried after it wrote (the answer was lost): the retry job comes back again.
    await stub.claim([{ e: b, p: [f], g: 1 }], Date.now());
    const failedAttempt = attempt(1, 503);
    const outcome: Outcome = { e: b, ordinal: f, generation: 1, attemptsBefore: 0, runStart: 0, attempt: failedAttempt, status: "pending", reason: null, nextAttemptAt: failedAttempt.startedAt + 10_000 };
    const first = await stub.record([outcome]);
    const again = await stub.record([outcome]);
    expect(again.recorded).toBe(0);
    expect(again.retries).toEqual(first.retries);
    expect((await stub.getDelivery(f, b))!.attempts).toBe(1);
  });

  it("a paused endpoint's untried delivery is parked by claim, not sent", async () => {
    const stub = log();
    const ordinal = await stub.syncEndpoint(endpoint("ep_pause"));
    const accepted = await ingest(stub, event());
    if (accepted.kind !== "accepted") throw new Error("not accepted");
    await stub.syncEndpoint(endpoint("ep_pause", { version: 2, status: "paused" }));
    const claimed = await stub.claim(accepted.jobs, Date.now());
    expect(claimed.verdicts).toEqual([{ kind: "parked", e: accepted.event.seq, ordinal }]);
    expect(claimed.events).toEqual([]);
  });
});

describe("TenantLog claim size", () => {
  it("answers at most 8 MiB of payload per claim; the rest is `later` at once (the consumer holds its whole batch in one isolate)", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_big"));
    const big = JSON.stringify({ blob: "x".repeat(1024 * 1024 - 11) }); // 1 MiB exactly
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) seqs.push((await ingest(stub, event({ dataJson: big }))).event.seq);
    const { verdicts, events } = await stub.claim(seqs.map((e) => ({ e, p: [a], g: 0 })), Date.now());
    expect(verdicts.filter((v) => v.kind === "go")).toHaveLength(8);
    expect(verdicts.filter((v) => v.kind === "later")).toEqual([
      { kind: "later", e: seqs[8], ordinal: a, delayMs: 0 },
      { kind: "later", e: seqs[9], ordinal: a, delayMs: 0 },
    ]);
    expect(events.reduce((n, ev) => n + ev.dataJson.length, 0)).toBeLessThanOrEqual(8 * 1024 * 1024);
    // Asked again, the rest go.
    expect((await stub.claim(seqs.slice(8).map((e) => ({ e, p: [a], g: 0 })), Date.now())).verdicts.map((v) => v.kind)).toEqual(["go", "go"]);
  });
});

describe("TenantLog FIFO lines", () => {
  /** Claims and records one job as a consumer would, with the receiver answering `status`. */
  async function send(stub: Stub, job: { e: number; p: number[]; g: number }, status: number, retryInMs: number | null = null) {
    const claimed = await stub.claim([job], Date.now());
    const go = claimed.verdicts.filter((v) => v.kind === "go");
    const outcomes: Outcome[] = go.map((v) => ({
      e: v.e,
      ordinal: v.ordinal,
      generation: v.kind === "go" ? v.generation : 0,
      attemptsBefore: v.kind === "go" ? v.attemptsBefore : 0,
      runStart: 0,
      attempt: attempt((v.kind === "go" ? v.attemptsBefore : 0) + 1, status),
      status: status < 300 ? "delivered" : retryInMs !== null ? "pending" : "failed",
      reason: status < 300 || retryInMs !== null ? null : "non_retryable_status",
      nextAttemptAt: retryInMs === null ? null : Date.now() + retryInMs,
    }));
    return { claimed, recorded: await stub.record(outcomes) };
  }

  it("only the head is sent; each recorded outcome releases the next head with a new generation, so the line moves in event order without polling", async () => {
    const stub = log();
    const ordinal = await stub.syncEndpoint(endpoint("ep_line", { ordering: "fifo" }));
    const events = [];
    for (let i = 0; i < 4; i++) events.push(await ingest(stub, event()));
    const jobs = events.map((r) => (r.kind === "accepted" ? r.jobs : []));
    // Only the first event's delivery is due at once; the others wait parked in the line.
    expect(jobs).toEqual([[{ e: events[0]!.event.seq, p: [ordinal], g: 0 }], [], [], []]);
    // A message for a later event (g 0) is stale: its row waits parked until the line reaches it.
    expect((await stub.claim([{ e: events[2]!.event.seq, p: [ordinal], g: 0 }], Date.now())).verdicts).toEqual([{ kind: "stale", e: events[2]!.event.seq, ordinal }]);
    const sent: number[] = [];
    let job = jobs[0]![0]!;
    for (let i = 0; i < 4; i++) {
      const { claimed, recorded } = await send(stub, job, 200);
      expect(claimed.verdicts.map((v) => v.kind)).toEqual(["go"]);
      sent.push(job.e);
      if (i < 3) {
        expect(recorded.released).toEqual([{ e: events[i + 1]!.event.seq, p: [ordinal], g: 1 }]);
        job = recorded.released[0]!;
      } else {
        expect(recorded.released).toEqual([]);
      }
    }
    expect(sent).toEqual(events.map((r) => r.event.seq));
  });

  it("a head waiting for its retry holds the line; a head that fails for good releases it; a second copy of an admitted head waits for its lease", async () => {
    const stub = log();
    const ordinal = await stub.syncEndpoint(endpoint("ep_hold", { ordering: "fifo" }));
    const a = await ingest(stub, event());
    const b = await ingest(stub, event());
    const headJob = { e: a.event.seq, p: [ordinal], g: 0 };
    // Two copies of the head's message in one batch: one is admitted; the other comes back
    // after the line's lease, so a copy whose consumer died still starts the head.
    const twice = await stub.claim([headJob, headJob], Date.now());
    expect(twice.verdicts.map((v) => v.kind)).toEqual(["go", "later"]);
    const first = twice.verdicts[0]!;
    const retry = await stub.record([
      { e: a.event.seq, ordinal, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 503), status: "pending", reason: null, nextAttemptAt: Date.now() + 60_000 },
    ]);
    expect(first.kind).toBe("go");
    expect(retry.retries).toHaveLength(1);
    expect(retry.released).toEqual([]); // b still waits
    expect((await stub.claim([{ e: b.event.seq, p: [ordinal], g: 0 }], Date.now())).verdicts[0]!.kind).toBe("stale");
    // The retry, due, fails for good: the line moves to b.
    const due = (await stub.claim([{ e: a.event.seq, p: [ordinal], g: 0 }], Date.now() + 60_000)).verdicts[0]!;
    expect(due).toMatchObject({ kind: "go", attemptsBefore: 1 });
    const final = await stub.record([
      { e: a.event.seq, ordinal, generation: 0, attemptsBefore: 1, runStart: 0, attempt: attempt(2, 410), status: "failed", reason: "non_retryable_status", nextAttemptAt: null },
    ]);
    expect(final.released).toEqual([{ e: b.event.seq, p: [ordinal], g: 1 }]);
  });
});

describe("TenantLog rate slots", () => {
  /** The most values in any window [t, t + 1000 ms). */
  const mostInOneSecond = (times: number[]) => {
    const sorted = [...times].sort((x, y) => x - y);
    let most = 0;
    for (let i = 0, j = 0; i < sorted.length; i++) {
      while (sorted[i]! - sorted[j]! >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  };

  it("a backlog at rate_limit 5 drains at the endpoint's pace: waiters parked and released by the alarm, never more than 5 starts in a second, at most 2 messages and 2 claims per delivery", async () => {
    const stub = log();
    // The object's own alarms fire on their own; the queue they send to is observed (and no
    // job reaches the v1 consumer behind this test).
    const queue = await observeQueue(stub);
    const ordinal = await stub.syncEndpoint(endpoint("ep_rate", { rateLimit: 5 }));
    const N = 30;
    const messages = new Map<number, number>();
    const claims = new Map<number, number>();
    const starts: number[] = [];
    const jobs = [];
    for (let i = 0; i < N; i++) {
      const r = await ingest(stub, event());
      if (r.kind !== "accepted") throw new Error("not accepted");
      for (const j of r.jobs) jobs.push(j);
    }
    for (const j of jobs) messages.set(j.e, 1);
    /** One consumer batch: one claim call, then one record call with a 200 for each start. */
    const consume = async (batch: { e: number; p: number[]; g: number }[]) => {
      for (const j of batch) claims.set(j.e, (claims.get(j.e) ?? 0) + 1);
      const { verdicts } = await stub.claim(batch, Date.now());
      const outcomes: Outcome[] = [];
      for (const v of verdicts) {
        if (v.kind !== "go") continue;
        starts.push(v.startAt);
        const a = { ...attempt(v.attemptsBefore + 1, 200), startedAt: v.startAt };
        outcomes.push({ e: v.e, ordinal: v.ordinal, generation: v.generation, attemptsBefore: v.attemptsBefore, runStart: v.runStart, attempt: a, status: "delivered", reason: null, nextAttemptAt: null });
      }
      if (outcomes.length) await stub.record(outcomes);
    };
    await consume(jobs);
    expect(starts.length).toBeGreaterThan(0);
    expect(starts.length).toBeLessThan(N);
    expect(await runInDurableObject(stub, (_o: TenantLog, state) => state.storage.getAlarm()), "an alarm while deliveries wait").not.toBeNull();
    let consumed = 0;
    const deadline = Date.now() + 30_000;
    while (starts.length < N) {
      if (Date.now() > deadline) throw new Error(`only ${starts.length} of ${N} started`);
      await new Promise((r) => setTimeout(r, 50));
      const released = queue.sent.slice(consumed).map((m) => m.body as { t: number; e: number; p: number[]; g: number });
      consumed += released.length;
      for (const m of released) {
        expect(m.t).toBe(7);
        messages.set(m.e, (messages.get(m.e) ?? 0) + 1);
      }
      if (released.length) await consume(released.map(({ e, p, g }) => ({ e, p, g })));
    }
    expect(new Set((await stub.listDeliveries(ordinal, { limit: 50 })).items.map((d) => d.status))).toEqual(new Set(["delivered"]));
    expect(mostInOneSecond(starts)).toBeLessThanOrEqual(5);
    expect(Math.max(...messages.values())).toBeLessThanOrEqual(2);
    expect(Math.max(...claims.values())).toBeLessThanOrEqual(2);
    // Spacing 1/r plus the jitter margin (src/domain/rate-limit.ts): about r / 1.2 per second.
    const span = (Math.max(...starts) - Math.min(...starts)) / 1000;
    expect((N - 1) / span).toBeGreaterThan(4);
    // Drained: nothing waits, so the one-second release cadence stops (an alarm may remain
    // for the rollups' once-a-minute flush).
    await new Promise((r) => setTimeout(r, 1500));
    const left = await runInDurableObject(stub, (_o: TenantLog, state) => state.storage.getAlarm());
    expect(left === null || left - Date.now() > 5_000, `alarm in ${left === null ? "-" : left - Date.now()} ms`).toBe(true);
  }, 60_000);
});

describe("TenantLog readers", () => {
  it("an endpoint's log merges written and untried deliveries, newest first, with stable cursors and filters", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_read"));
    await stub.syncEndpoint(endpoint("ep_other", { filter: { types: ["invoice.paid"], exclude: [], groups: [] } }));
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) seqs.push((await ingest(stub, event({ type: i % 2 ? "invoice.paid" : "report.completed" }))).event.seq);
    // Event 0 delivered at once, event 1 failed for good; the rest untried.
    await stub.record([{ e: seqs[0]!, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 200), status: "delivered", reason: null, nextAttemptAt: null }]);
    await stub.record([{ e: seqs[1]!, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 410), status: "failed", reason: "non_retryable_status", nextAttemptAt: null }]);
    const all = await stub.listDeliveries(a, { limit: 50 });
    expect(all.next).toBeNull();
    expect(all.items.map((d) => [d.e, d.status, d.attempts])).toEqual([
      [seqs[5], "pending", 0],
      [seqs[4], "pending", 0],
      [seqs[3], "pending", 0],
      [seqs[2], "pending", 0],
      [seqs[1], "failed", 1],
      [seqs[0], "delivered", 1],
    ]);
    // Pages of 2 cover the same list once, while new events arrive between pages.
    const paged: number[] = [];
    let before: number | undefined;
    do {
      const page = await stub.listDeliveries(a, { limit: 2, ...(before === undefined ? {} : { before }) });
      paged.push(...page.items.map((d) => d.e));
      before = page.next ?? undefined;
      await ingest(stub, event());
    } while (before !== undefined);
    expect(paged).toEqual(all.items.map((d) => d.e));
    expect((await stub.listDeliveries(a, { limit: 50, status: "failed" })).items.map((d) => d.e)).toEqual([seqs[1]]);
    expect((await stub.listDeliveries(a, { limit: 50, type: "invoice.paid", before: seqs[5]! + 1 })).items.map((d) => d.e)).toEqual([seqs[5], seqs[3], seqs[1]]);
    const future = Date.now() + 60_000;
    expect(await stub.listDeliveries(a, { limit: 50, since: future })).toEqual({ items: [], next: null });
  });

  it("a delivery's detail lists every attempt ascending: the first inline, later ones from their own rows", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_detail"));
    const e = (await ingest(stub, event())).event.seq;
    expect(await stub.getDelivery(a, e)).toMatchObject({ status: "pending", attempts: 0, attemptList: [] });
    await stub.record([{ e, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 500), status: "pending", reason: null, nextAttemptAt: Date.now() }]);
    await stub.record([{ e, ordinal: a, generation: 0, attemptsBefore: 1, runStart: 0, attempt: attempt(2, 200), status: "delivered", reason: null, nextAttemptAt: null }]);
    const detail = await stub.getDelivery(a, e);
    expect(detail).toMatchObject({ status: "delivered", attempts: 2, dataJson: expect.any(String) });
    expect(detail!.attemptList.map((x) => [x.n, x.responseStatus])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    expect(detail!.attemptList[0]!.requestHeaders).toEqual({ "webhook-signature": "[redacted]" });
    expect(await stub.getDelivery(a + 99, e)).toBeUndefined();
  });
});

describe("TenantLog events and verbs", () => {
  it("an event without a host id gets one minted by the log that embeds its seq; either kind of id finds it", async () => {
    const stub = log();
    await stub.syncEndpoint(endpoint("ep_ids"));
    const generated = (await ingest(stub, event({ id: null }))).event;
    expect(generated.id).toMatch(/^evt_[0-9a-z]{28}$/);
    expect(await stub.findEventSeq(generated.id)).toBe(generated.seq);
    const hosted = (await ingest(stub, event({ id: "order-77", idemKey: "order-77" }))).event;
    expect(await stub.findEventSeq("order-77")).toBe(hosted.seq);
    expect(await stub.findEventSeq("order-78")).toBeUndefined();
    // A host id shaped like a generated one but naming another event is not mistaken for it.
    expect(await stub.findEventSeq(generated.id.slice(0, -1) + (generated.id.endsWith("0") ? "1" : "0"))).toBeUndefined();
  });

  it("an event lists the delivery of every endpoint it matched, untried ones included; events page newest first", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_ev_a"));
    const b = await stub.syncEndpoint(endpoint("ep_ev_b"));
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) seqs.push((await ingest(stub, event({ type: i === 1 ? "invoice.paid" : "report.completed" }))).event.seq);
    await stub.record([{ e: seqs[0]!, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 200), status: "delivered", reason: null, nextAttemptAt: null }]);
    const ev = await stub.getEvent(seqs[0]!);
    expect(ev?.deliveries.map((d) => [d.ordinal, d.status, d.attempts])).toEqual([
      [a, "delivered", 1],
      [b, "pending", 0],
    ]);
    expect(await stub.getEvent(seqs[2]! + 100)).toBeUndefined();
    const page1 = await stub.listEvents({ limit: 2 });
    expect(page1.items.map((x) => x.seq)).toEqual([seqs[2], seqs[1]]);
    const page2 = await stub.listEvents({ limit: 2, before: page1.next! });
    expect(page2).toEqual({ items: [expect.objectContaining({ seq: seqs[0] })], next: null });
    expect((await stub.listEvents({ limit: 10, type: "invoice.paid" })).items.map((x) => x.seq)).toEqual([seqs[1]]);
  });

  it("retry: a failed delivery becomes pending and due with a new generation (older messages stale), the count continues and the schedule restarts; on a FIFO line it goes to the back", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_retry"));
    const e = (await ingest(stub, event())).event.seq;
    await stub.record([{ e, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 410), status: "failed", reason: "non_retryable_status", nextAttemptAt: null }]);
    const r = await stub.retry(a, e, Date.now());
    expect(r).toEqual({ kind: "queued", job: { e, p: [a], g: 1 } });
    expect((await stub.claim([{ e, p: [a], g: 0 }], Date.now())).verdicts[0]!.kind).toBe("stale");
    expect((await stub.claim([{ e, p: [a], g: 1 }], Date.now())).verdicts[0]).toMatchObject({ kind: "go", attemptsBefore: 1, runStart: 1, generation: 1 });
    expect(await stub.retry(a + 50, e, Date.now())).toEqual({ kind: "not_found" });

    // FIFO: a retried delivery joins the back of the line, behind events already waiting.
    const f = await stub.syncEndpoint(endpoint("ep_retry_fifo", { ordering: "fifo", filter: { types: ["invoice.paid"], exclude: [], groups: [] } }));
    const first = (await ingest(stub, event({ type: "invoice.paid" }))).event.seq;
    await stub.claim([{ e: first, p: [f], g: 0 }], Date.now());
    await stub.record([{ e: first, ordinal: f, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 410), status: "failed", reason: "non_retryable_status", nextAttemptAt: null }]);
    const second = (await ingest(stub, event({ type: "invoice.paid" }))).event.seq; // the new head
    expect(await stub.retry(f, first, Date.now())).toEqual({ kind: "waiting" });
    const done = await stub.claim([{ e: second, p: [f], g: 0 }], Date.now());
    expect(done.verdicts[0]!.kind).toBe("go");
    const moved = await stub.record([{ e: second, ordinal: f, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 200), status: "delivered", reason: null, nextAttemptAt: null }]);
    expect(moved.released).toEqual([{ e: first, p: [f], g: 2 }]);
  });

  it("resume releases a paused endpoint's parked deliveries oldest first, in chunks, each with a new generation", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_resume"));
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await ingest(stub, event())).event.seq);
    await stub.syncEndpoint(endpoint("ep_resume", { version: 2, status: "paused" }));
    const parked = await stub.claim(seqs.map((e) => ({ e, p: [a], g: 0 })), Date.now());
    expect(parked.verdicts.every((v) => v.kind === "parked")).toBe(true);
    expect(await stub.resume(a, Date.now())).toEqual({ jobs: [], more: false }); // still paused
    await stub.syncEndpoint(endpoint("ep_resume", { version: 3, status: "active" }));
    const first = await stub.resume(a, Date.now(), 3);
    expect(first).toEqual({ jobs: seqs.slice(0, 3).map((e) => ({ e, p: [a], g: 1 })), more: true });
    const rest = await stub.resume(a, Date.now(), 3);
    expect(rest).toEqual({ jobs: seqs.slice(3).map((e) => ({ e, p: [a], g: 1 })), more: false });
    const claimed = await stub.claim([...first.jobs, ...rest.jobs], Date.now());
    expect(claimed.verdicts.map((v) => v.kind)).toEqual(["go", "go", "go", "go", "go"]);
  });

  it("replay retries the matching deliveries in event order: the first chunk answered at once, the rest sent by the alarm", async () => {
    const stub = log();
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_replay"));
    const seqs: number[] = [];
    for (let i = 0; i < 620; i++) seqs.push((await ingest(stub, event())).event.seq);
    const since = Date.now() - 60_000;
    await stub.record(seqs.map((e, i) => ({ e, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, i % 31 === 0 ? 200 : 410), status: i % 31 === 0 ? ("delivered" as const) : ("failed" as const), reason: i % 31 === 0 ? null : ("non_retryable_status" as const), nextAttemptAt: null })));
    const failed = seqs.filter((_e, i) => i % 31 !== 0);
    const r = await stub.replay(a, { since, until: Date.now() + 1, status: "failed" }, Date.now());
    expect(r.count).toBe(failed.length);
    expect(r.jobs.map((j) => j.e)).toEqual(failed.slice(0, 500));
    expect(r.jobs.every((j) => j.g === 1)).toBe(true);
    // The alarm continues with the rest, in order.
    const deadline = Date.now() + 20_000;
    while (queue.sent.length < failed.length - 500) {
      if (Date.now() > deadline) throw new Error(`the replay's rest was not sent: ${queue.sent.length}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(queue.sent.map((m) => (m.body as { e: number }).e)).toEqual(failed.slice(500));
    expect((await stub.listDeliveries(a, { limit: 10, status: "failed" })).items).toEqual([]);
  }, 60_000);

  it("a test send is recorded in one call: in the endpoint's log with test set and its attempt, never in the events list or the stats", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_test_send"));
    const real = (await ingest(stub, event())).event.seq;
    const sent = await rowsWritten(stub, (o) => o.recordTestSend({ ordinal: a, id: "evt_test_1", type: "report.completed", dataJson: "{}", attempt: attempt(1, 200), status: "delivered", reason: null, now: Date.now() }));
    expect(sent.rows).toBe(2); // its event row and its delivery row
    const e = sent.result.e;
    expect((await stub.listDeliveries(a, { limit: 10 })).items.map((d) => [d.e, d.test])).toEqual([
      [e, true],
      [real, false],
    ]);
    expect((await stub.listEvents({ limit: 10 })).items.map((x) => x.seq)).toEqual([real]);
    expect(await stub.getDelivery(a, e)).toMatchObject({ status: "delivered", attempts: 1, test: true, eventId: "evt_test_1" });
    const now = Date.now();
    expect(await stub.stats(a, now - 3_600_000, now + 1)).toMatchObject({ created: 1, delivered: 0 });
  });

  it("a disabled endpoint's delivery cannot be retried; deleteAll empties the log", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_gone", { status: "disabled" }));
    const e = (await ingest(stub, event())).event.seq;
    expect(await stub.retry(a, e, Date.now())).toEqual({ kind: "disabled" });
    await stub.deleteAll();
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      expect(state.storage.sql.exec(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'`).toArray()).toEqual([]);
    });
  });
});

describe("TenantLog stats", () => {
  it("read hourly rollups by creation hour (counts and a latency histogram), written at most once a minute per endpoint: a batch writes only its delivery rows (and a failure's outbox row)", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_stats"));
    const seqs: number[] = [];
    for (let i = 0; i < 4; i++) seqs.push((await ingest(stub, event())).event.seq);
    const outcome = (e: number, status: number, durationMs: number): Outcome => ({
      e,
      ordinal: a,
      generation: 0,
      attemptsBefore: 0,
      runStart: 0,
      attempt: { ...attempt(1, status), durationMs },
      status: status < 300 ? "delivered" : "failed",
      reason: status < 300 ? null : "non_retryable_status",
      nextAttemptAt: null,
    });
    const batch = await rowsWritten(stub, (o) => o.record([outcome(seqs[0]!, 200, 90), outcome(seqs[1]!, 200, 400), outcome(seqs[2]!, 410, 40)]));
    expect(batch.rows).toBe(4); // 3 delivery rows and the failure's outbox row; the rollups wait for their minute
    const now = Date.now();
    const s1 = await stub.stats(a, now - 3_600_000, now + 1);
    expect(s1).toMatchObject({ created: 4, delivered: 2, failed: 1 });
    expect(s1.latency.reduce((x, y) => x + y, 0)).toBe(3);
    // The alarm writes what is pending; the figures read the same from the table alone.
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await evictDurableObject(stub);
    expect(await stub.stats(a, now - 3_600_000, now + 1)).toEqual(s1);
    expect(await stub.stats(a, now + 7_200_000, now + 10_800_000)).toMatchObject({ created: 0, delivered: 0, failed: 0 });
  });
});

describe("TenantLog outbox", () => {
  it("a failed delivery's dead letter reaches D1 through the outbox, once, however often the flush is repeated", async () => {
    const { tenantId, tenantSeq } = await realTenant("outbox");
    const stub = env.TENANT_LOG.getByName(String(tenantSeq));
    await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_dead"));
    const ev = (await ingest(stub, event({ tenantSeq }))).event;
    const failed = await rowsWritten(stub, (o) =>
      o.record([{ e: ev.seq, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 410), status: "failed", reason: "non_retryable_status", nextAttemptAt: null }]),
    );
    expect(failed.rows).toBe(2); // the delivery row and its outbox row: no D1 write on the hot path
    const deadLetters = () => env.DB.prepare(`SELECT tenant_id, endpoint_id, event_id, reason, attempts, last_response_status, tenant_seq, log_event_seq, endpoint_ordinal, generation FROM dead_letters WHERE tenant_seq = ?`).bind(tenantSeq).all();
    const flush = () => runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await flush();
    const expected = [{ tenant_id: tenantId, endpoint_id: "ep_dead", event_id: ev.id, reason: "non_retryable_status", attempts: 1, last_response_status: 410, tenant_seq: tenantSeq, log_event_seq: ev.seq, endpoint_ordinal: a, generation: 0 }];
    expect((await deadLetters()).results).toEqual(expected);
    // A crash between D1's insert and the outbox delete: the row is handed over again.
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      expect(state.storage.sql.exec(`SELECT COUNT(*) AS n FROM outbox`).one().n).toBe(0);
      state.storage.sql.exec(`INSERT INTO outbox (kind, body) VALUES ('dead_letter', ?)`, JSON.stringify({ deliveryId: "dlv_x", endpointId: "ep_dead", eventSeq: ev.seq, ordinal: a, generation: 0, eventId: ev.id, eventType: ev.type, reason: "non_retryable_status", attempts: 1, lastResponseStatus: 410, createdAt: Date.now() }));
    });
    await flush();
    await flush();
    expect((await deadLetters()).results).toEqual(expected);
  });
});

describe("TenantLog tenant-hour totals", () => {
  it("reach D1's tenant_hours through the outbox as whole hour totals (all endpoints), at most once a minute, unchanged by a repeated flush", async () => {
    const { tenantSeq } = await realTenant("hours");
    const stub = env.TENANT_LOG.getByName(String(tenantSeq));
    await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_h1"));
    const b = await stub.syncEndpoint(endpoint("ep_h2"));
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) seqs.push((await ingest(stub, event({ tenantSeq }))).event.seq);
    const outcome = (e: number, ordinal: number, status: number, durationMs: number): Outcome => ({
      e, ordinal, generation: 0, attemptsBefore: 0, runStart: 0, attempt: { ...attempt(1, status), durationMs },
      status: status < 300 ? "delivered" : "failed", reason: status < 300 ? null : "non_retryable_status", nextAttemptAt: null,
    });
    await stub.record([outcome(seqs[0]!, a, 200, 20), outcome(seqs[0]!, b, 200, 600), outcome(seqs[1]!, a, 410, 40)]);
    const hours = () => env.DB.prepare(`SELECT hour, created, delivered, failed, latency FROM tenant_hours WHERE tenant_seq = ?`).bind(tenantSeq).all<{ hour: number; created: number; delivered: number; failed: number; latency: string }>();
    const flush = () => runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await flush();
    const hour = Math.floor(Date.now() / 3_600_000);
    const first = (await hours()).results;
    // 3 events × 2 endpoints created; both endpoints' rollups add up; 3 attempt durations.
    expect(first.map(({ latency, ...r }) => ({ ...r, attempts: (JSON.parse(latency) as number[]).reduce((x, y) => x + y, 0) }))).toEqual([
      { hour: expect.toSatisfy((h: number) => h === hour || h === hour - 1), created: 6, delivered: 2, failed: 1, attempts: 3 },
    ]);
    await flush();
    expect((await hours()).results).toEqual(first);

    // Within the minute new figures wait in the outbox (with an alarm for their minute) ...
    await stub.record([outcome(seqs[2]!, a, 200, 20)]);
    await flush();
    expect((await hours()).results).toEqual(first);
    const waiting = await runInDurableObject(stub, async (_o: TenantLog, state) => ({
      rows: state.storage.sql.exec(`SELECT COUNT(*) AS n FROM outbox WHERE kind = 'tenant_hour'`).one().n,
      alarm: await state.storage.getAlarm(),
    }));
    expect(waiting.rows).toBe(1);
    expect(waiting.alarm).not.toBeNull();
    expect(waiting.alarm!).toBeLessThanOrEqual(Date.now() + 60_000);
    // ... and an object that lost its memory hands them over at once: nothing is lost.
    await evictDurableObject(stub);
    await flush();
    expect((await hours()).results.map((r) => r.delivered)).toEqual([3]);
  });
});

describe("TenantLog retention", () => {
  it("dropping a day's tables writes no billed row, however many deliveries it holds", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_drop"));
    const longAgo = Date.now() - 40 * 86_400_000;
    const seqs: number[] = [];
    for (let i = 0; i < 200; i++) seqs.push((await ingest(stub, event({ now: longAgo }))).event.seq);
    await stub.record(seqs.map((e) => ({ e, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 200), status: "delivered" as const, reason: null, nextAttemptAt: null })));
    const dropped = await runInDurableObject(stub, (_o: TenantLog, state) => {
      let rows = 0;
      for (const statement of dropDayTables(dayOf(longAgo))) rows += state.storage.sql.exec(statement).rowsWritten;
      return rows;
    });
    expect(dropped).toBe(0);
  });

  it("drops a day past RETENTION_DAYS whole: delivered deliveries cost no row, pending and untried ones fail expired with a dead letter, dead-lettered ones are kept", async () => {
    const { tenantSeq } = await realTenant("expire");
    const stub = env.TENANT_LOG.getByName(String(tenantSeq));
    await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_old_day"));
    const longAgo = Date.now() - 40 * 86_400_000;
    const old: number[] = [];
    for (let i = 0; i < 13; i++) old.push((await ingest(stub, event({ tenantSeq, now: longAgo }))).event.seq);
    const outcome = (e: number, status: number, next: number | null): Outcome => ({
      e, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: { ...attempt(1, status), startedAt: longAgo + 1000 },
      status: status < 300 ? "delivered" : next === null ? "failed" : "pending", reason: status < 300 || next !== null ? null : "non_retryable_status", nextAttemptAt: next,
    });
    // 10 delivered, 1 failed for good, 1 waiting for a retry, 1 never tried.
    await stub.record([...old.slice(0, 10).map((e) => outcome(e, 200, null)), outcome(old[10]!, 410, null), outcome(old[11]!, 503, longAgo + 60_000)]);
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm()); // the 410's dead letter reaches D1
    const today = (await ingest(stub, event({ tenantSeq }))).event.seq;

    // A new day arms the expiry alarm; it may fire on its own before this call (both are idempotent).
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      // Failures only reach `kept` and the outbox: the 10 delivered deliveries left no row behind.
      expect(state.storage.sql.exec(`SELECT COUNT(*) AS n FROM outbox WHERE kind = 'dead_letter'`).one().n).toBe(0);
      const tables = state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%_d%'`).toArray().map((r) => r.name);
      expect(tables.some((n) => n.endsWith(`_d${dayOf(longAgo)}`))).toBe(false);
      expect(tables.some((n) => n.endsWith(`_d${dayOf(Date.now())}`))).toBe(true);
      const kept = state.storage.sql.exec<{ event_seq: number; delivery: string }>(`SELECT event_seq, delivery FROM kept ORDER BY event_seq`).toArray();
      expect(kept.map((k) => [k.event_seq, JSON.parse(k.delivery).reason])).toEqual([
        [old[10], "non_retryable_status"],
        [old[11], "expired"],
        [old[12], "expired"],
      ]);
    });
    const { results } = await env.DB.prepare(`SELECT log_event_seq, reason FROM dead_letters WHERE tenant_seq = ? ORDER BY log_event_seq`).bind(tenantSeq).all();
    expect(results).toEqual([
      { log_event_seq: old[10], reason: "non_retryable_status" },
      { log_event_seq: old[11], reason: "expired" },
      { log_event_seq: old[12], reason: "expired" },
    ]);
    // Today's events are untouched and readable.
    expect((await stub.listEvents({ limit: 10 })).items.map((x) => x.seq)).toEqual([today]);
    // A late message or outcome for a dropped day finds nothing to send or record.
    expect((await stub.claim([{ e: old[12]!, p: [a], g: 0 }], Date.now())).verdicts).toEqual([{ kind: "stale", e: old[12], ordinal: a }]);
    expect((await stub.record([outcome(old[12]!, 200, null)])).recorded).toBe(0);
    expect(await stub.getDelivery(a, old[12]!)).toBeUndefined();
  });
});

describe("TenantLog operational events", () => {
  it("a dead letter is also one switchyard.delivery.failed in _operator's log, sent in one call per flush, once however often the flush repeats", async () => {
    const { tenantId, tenantSeq } = await realTenant("opev");
    const operator = env.TENANT_LOG.getByName(String(await seqOfTenant("_operator")));
    const opEndpoint = await operator.syncEndpoint(endpoint(`ep_ops_${tenantSeq}`, { filter: { types: ["switchyard.delivery.failed"], exclude: [], groups: [] } }));
    const stub = env.TENANT_LOG.getByName(String(tenantSeq));
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_fails"));
    const ev = (await ingest(stub, event({ tenantSeq }))).event;
    await stub.record([{ e: ev.seq, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: attempt(1, 410), status: "failed", reason: "non_retryable_status", nextAttemptAt: null }]);
    const flush = () => runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await flush();
    const reported = async () => {
      const mine = [];
      for (const item of (await operator.listEvents({ limit: 250, type: "switchyard.delivery.failed" })).items) {
        const full = await operator.getEvent(item.seq);
        const data = JSON.parse(full!.dataJson) as Record<string, unknown>;
        if (data.tenant_id === tenantId) mine.push({ data, deliveries: full!.deliveries.map((d) => d.ordinal) });
      }
      return mine;
    };
    const first = await reported();
    expect(first).toEqual([
      {
        data: { tenant_id: tenantId, endpoint_id: "ep_fails", delivery_id: expect.stringMatching(/^dlv_[0-9a-z]{32}$/), event_id: ev.id, event_type: "report.completed", reason: "non_retryable_status", attempts: 1, last_response_status: 410 },
        deliveries: [opEndpoint],
      },
    ]);
    // The operator's delivery job went to the queue, named for _operator's log.
    expect(queue.sent.map((m) => (m.body as { t: number }).t)).toContain(await seqOfTenant("_operator"));
    // The flush repeated (the outbox row back, as after a crash before its delete): still one event.
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      const deliveryId = first[0]!.data.delivery_id as string;
      state.storage.sql.exec(`INSERT INTO outbox (kind, body) VALUES ('dead_letter', ?)`, JSON.stringify({ deliveryId, endpointId: "ep_fails", eventSeq: ev.seq, ordinal: a, generation: 0, eventId: ev.id, eventType: ev.type, reason: "non_retryable_status", attempts: 1, lastResponseStatus: 410, createdAt: Date.now() }));
    });
    await flush();
    expect(await reported()).toHaveLength(1);
  });
});

describe("TenantLog storage", () => {
  it("survives eviction: migrations re-run safely, endpoints and the next seq are reloaded", async () => {
    const stub = log();
    await stub.syncEndpoint(endpoint("ep_keep"));
    const a = await ingest(stub, event());
    await evictDurableObject(stub);
    const b = await ingest(stub, event());
    expect(b.event.seq).toBe(a.event.seq + 1);
    expect(b.kind === "accepted" && b.jobs).toEqual([{ e: b.event.seq, p: [1], g: 0 }]);
  });

  it("an object written by the first schema version (migration 0000 only) upgrades in place and keeps its log", async () => {
    const stub = log();
    await stub.syncEndpoint(endpoint("ep_old"));
    const before = await ingest(stub, event());
    // Take the object back to schema 0000: the later tables gone, their migrations unrecorded.
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      state.storage.sql.exec(`DROP TABLE meta`);
      state.storage.sql.exec(`DROP TABLE rollups`);
      state.storage.sql.exec(`DROP TABLE outbox`);
      state.storage.sql.exec(`DROP TABLE kept`);
      state.storage.sql.exec(`DROP TABLE replays`);
      // 0007 added a column as well as a table: an object of schema 0000 has neither.
      state.storage.sql.exec(`DROP TABLE circuits`);
      state.storage.sql.exec(`ALTER TABLE endpoints DROP COLUMN circuit`);
      // (drizzle's `id SERIAL` is no rowid alias in SQLite: the rows are told apart by created_at.)
      state.storage.sql.exec(`DELETE FROM __drizzle_migrations WHERE created_at > (SELECT MIN(created_at) FROM __drizzle_migrations)`);
    });
    await evictDurableObject(stub);
    const after = await ingest(stub, event());
    expect(after.event.seq).toBe(before.event.seq + 1);
    expect((await stub.listDeliveries(1, { limit: 10 })).items.map((d) => d.e)).toEqual([after.event.seq, before.event.seq]);
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      expect(state.storage.sql.exec(`SELECT key, value FROM meta`).toArray()).toEqual([{ key: "tenant_seq", value: 7 }]);
    });
  });

  it("past the full threshold (lowered here) new events are refused before anything is written; a duplicate is still answered", async () => {
    const stub = log();
    await stub.syncEndpoint(endpoint("ep_full"));
    const keyed = event({ idemKey: "before-full" });
    const first = await ingest(stub, keyed);
    const refused = await stub.ingest(event({ fullBytes: 1 }));
    expect(refused).toEqual({ kind: "full", bytes: expect.any(Number) });
    expect(refused.kind === "full" && refused.bytes).toBeGreaterThan(1);
    expect((await stub.listEvents({ limit: 10 })).items.map((x) => x.seq)).toEqual([first.event.seq]);
    expect((await ingest(stub, { ...keyed, fullBytes: 1 })).kind).toBe("duplicate");
  });

  it("its lookups name an index (EXPLAIN QUERY PLAN)", async () => {
    const stub = log();
    await ingest(stub, event());
    await runInDurableObject(stub, async (_o: TenantLog, state) => {
      const t = dayTables(dayOf(Date.now()));
      const plan = (q: string) => state.storage.sql.exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${q}`).toArray().map((r) => r.detail).join(" | ");
      expect(plan(`SELECT seq FROM ${t.events} WHERE idem_key = 'k'`)).toMatch(/USING (COVERING )?INDEX \S*_idem/);
      expect(plan(`SELECT status FROM ${t.deliveries} WHERE ordinal = 1 AND event_seq = 2`)).toMatch(/USING PRIMARY KEY/);
      expect(plan(`SELECT id FROM ${t.events} WHERE seq = 2`)).toMatch(/USING INTEGER PRIMARY KEY/);
    });
  });
});
