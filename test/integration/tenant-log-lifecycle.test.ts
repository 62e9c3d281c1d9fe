/**
 * The TenantLog's lifecycle verbs (docs/data-plane-v2.md): a disabled endpoint's deliveries
 * failed in chunks, a keyed event whose first send failed sent by the alarm, an unkeyed one
 * forgotten, deliveries the DLQ gives up, a dropped day's delivery revived from `kept`, and
 * the alarm's re-drive of overdue deliveries. Each test uses its own object; sends are
 * observed on a fake delivery queue (the object's alarms fire on their own).
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AttemptRecord } from "../../src/domain/attempt";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { DeliveryJob, IngestInput, LogDeliverMessage, Outcome } from "../../src/tenant-log/types";
import { dayOf, dayTables } from "../../src/tenant-log/day-tables";
import { fakeQueue, uniq } from "./pipeline-helpers";
import { endpointSnapshot as endpoint } from "./tenant-log-helpers";

const log = () => env.TENANT_LOG.getByName(uniq("tenant-log-lifecycle"));
type Stub = ReturnType<typeof log>;

const MINUTE = 60_000;
const HOUR = 3_600_000;

let n = 0;
const event = (over: Partial<IngestInput> = {}): IngestInput => ({
  tenantSeq: 7,
  id: `evt-life-${++n}`,
  type: "report.completed",
  group: "inspections",
  dataJson: JSON.stringify({ n }),
  occurredAt: null,
  idemKey: null,
  bodyHash: `hash-life-${n}`,
  now: Date.now(),
  fullBytes: 9 * 1024 ** 3,
  ...over,
});

const attempt = (n: number, status: number, startedAt = Date.now()): AttemptRecord => ({
  n,
  startedAt,
  durationMs: 12,
  responseStatus: status,
  responseBody: "body",
  error: null,
  location: null,
  requestMethod: "POST",
  requestUrl: "https://example.com/hook",
  requestHeaders: { "webhook-signature": "[redacted]" },
});

/** The outcome of a first attempt: delivered (2xx), waiting for a retry at `retryAt`, or failed for good. */
const first = (e: number, ordinal: number, status: number, retryAt: number | null = null, startedAt = Date.now()): Outcome => ({
  e,
  ordinal,
  generation: 0,
  attemptsBefore: 0,
  runStart: 0,
  attempt: attempt(1, status, startedAt),
  status: status < 300 ? "delivered" : retryAt !== null ? "pending" : "failed",
  reason: status < 300 || retryAt !== null ? null : "non_retryable_status",
  nextAttemptAt: retryAt,
});

async function ingest(stub: Stub, input: IngestInput) {
  const r = await stub.ingest(input);
  if (r.kind !== "accepted") throw new Error(`not accepted: ${r.kind}`);
  return r;
}

/** Points the object's delivery queue at a fake that records what it sends (see tenant-log.test.ts). */
async function observeQueue(stub: Stub) {
  const queue = fakeQueue();
  await runInDurableObject(stub, (instance: TenantLog) => {
    const holder = instance as unknown as { env: Env };
    holder.env = Object.create(holder.env, { DELIVERY_QUEUE: { value: queue.queue, enumerable: true } }) as Env;
  });
  return { ...queue, jobs: (t = 7) => queue.sent.map((m) => m.body as LogDeliverMessage).filter((b) => b.t === t) };
}

/** A tenant made through the API: D1 has its row and seq, as the outbox's flush needs. */
async function realTenant(prefix: string): Promise<{ tenantId: string; tenantSeq: number }> {
  const tenantId = uniq(prefix).replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 60);
  const res = await exports.default.fetch(
    new Request("http://x/v1/tenants", { method: "POST", headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" }, body: JSON.stringify({ id: tenantId, name: tenantId }) }),
  );
  expect(res.status).toBe(201);
  const row = await env.DB.prepare(`SELECT seq FROM tenants WHERE id = ?`).bind(tenantId).first<{ seq: number }>();
  return { tenantId, tenantSeq: row!.seq };
}

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

/** Rows of a query against the object's own SQLite. */
const query = <T extends Record<string, SqlStorageValue>>(stub: Stub, sql: string, ...bindings: SqlStorageValue[]) =>
  runInDurableObject(stub, (_o: TenantLog, state) => state.storage.sql.exec<T>(sql, ...bindings).toArray());

/** Waits (generously: a loaded CI machine) until `check` holds, e.g. for what an alarm does. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The object's alarm, once the alarm run in progress (if any) has re-armed it. */
async function armedAlarm(stub: Stub): Promise<number> {
  let at: number | null = null;
  await until("the alarm to be re-armed", async () => (at = await runInDurableObject(stub, (_o: TenantLog, state) => state.storage.getAlarm())) !== null);
  return at!;
}

const hourAround = () => [Date.now() - HOUR, Date.now() + HOUR] as const;
const byE = (a: DeliveryJob, b: DeliveryJob) => a.e - b.e || a.p[0]! - b.p[0]!;

describe("TenantLog: a disabled endpoint's deliveries", () => {
  it("fail endpoint_disabled when it is disabled — parked, waiting for a retry, a FIFO line — with no dead letter; an untried one fails at its claim (stale); stats count them failed", async () => {
    const { tenantSeq } = await realTenant("disable");
    const stub = env.TENANT_LOG.getByName(String(tenantSeq));
    const queue = await observeQueue(stub);
    const f = await stub.syncEndpoint(endpoint("ep_dis_fifo", { ordering: "fifo" }));
    const p = await stub.syncEndpoint(endpoint("ep_dis_plain"));
    const s = await stub.syncEndpoint(endpoint("ep_dis_paused"));
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) seqs.push((await ingest(stub, event({ tenantSeq }))).event.seq);
    // FIFO: the head waits for its retry (holding the line), two wait behind it.
    await stub.claim([{ e: seqs[0]!, p: [f], g: 0 }], Date.now());
    await stub.record([first(seqs[0]!, f, 503, Date.now() + 10 * MINUTE)]);
    // Plain: one waits for a retry, one delivered, one never tried.
    await stub.record([first(seqs[0]!, p, 503, Date.now() + 10 * MINUTE), first(seqs[1]!, p, 200)]);
    // Paused: one parked by its claim.
    await stub.syncEndpoint(endpoint("ep_dis_paused", { version: 2, status: "paused" }));
    expect((await stub.claim([{ e: seqs[0]!, p: [s], g: 0 }], Date.now())).verdicts[0]!.kind).toBe("parked");

    await stub.syncEndpoint(endpoint("ep_dis_fifo", { version: 2, ordering: "fifo", status: "disabled" }));
    await stub.syncEndpoint(endpoint("ep_dis_plain", { version: 2, status: "disabled" }));
    await stub.syncEndpoint(endpoint("ep_dis_paused", { version: 3, status: "disabled" }));

    const statuses = async (ordinal: number) => (await stub.listDeliveries(ordinal, { limit: 10 })).items.map((d) => [d.e, d.status, d.reason]);
    expect(await statuses(f)).toEqual(seqs.toReversed().map((e) => [e, "failed", "endpoint_disabled"]));
    expect(await statuses(p)).toEqual([
      [seqs[2], "pending", null], // untried: no row yet, its message is on the queue
      [seqs[1], "delivered", null],
      [seqs[0], "failed", "endpoint_disabled"],
    ]);
    expect((await statuses(s))[2]).toEqual([seqs[0], "failed", "endpoint_disabled"]);
    // The untried one's message arrives: nothing is sent, it ends failed (one row written).
    const claimed = await rowsWritten(stub, (o) => o.claim([{ e: seqs[2]!, p: [p, s], g: 0 }], Date.now()));
    expect(claimed.result).toEqual({ verdicts: [{ kind: "stale", e: seqs[2], ordinal: p }, { kind: "stale", e: seqs[2], ordinal: s }], events: [] });
    expect(claimed.rows).toBe(2);
    expect(await stub.getDelivery(p, seqs[2]!)).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 0 });
    // The FIFO head's retry message, when it comes, finds nothing to send.
    expect((await stub.claim([{ e: seqs[0]!, p: [f], g: 0 }], Date.now() + 10 * MINUTE)).verdicts[0]!.kind).toBe("stale");

    expect(await stub.stats(f, ...hourAround())).toMatchObject({ created: 3, delivered: 0, failed: 3 });
    expect(await stub.stats(p, ...hourAround())).toMatchObject({ created: 3, delivered: 1, failed: 2 });
    // endpoint_disabled failures leave no dead letter and emit nothing (docs/data-plane-v2.md).
    expect(await query(stub, `SELECT COUNT(*) AS n FROM outbox WHERE kind = 'dead_letter'`)).toEqual([{ n: 0 }]);
    expect((await env.DB.prepare(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_seq = ?`).bind(tenantSeq).first<{ n: number }>())!.n).toBe(0);
    // No line moved: nothing was released to the queue.
    expect(queue.jobs(tenantSeq)).toEqual([]);
  });

  it("a backlog fails 500 at a time: the first chunk with the change, the rest by the alarm from a stored chore that survives an eviction", async () => {
    const stub = log();
    await observeQueue(stub);
    const f = await stub.syncEndpoint(endpoint("ep_dis_many", { ordering: "fifo" }));
    const N = 1_100;
    await stub.ingestMany(Array.from({ length: N }, () => event())); // one head due, the rest in its line
    const t = dayTables(dayOf(Date.now()));
    const tally = (state: DurableObjectState) =>
      Object.fromEntries(state.storage.sql.exec<{ status: string; n: number }>(`SELECT status, COUNT(*) AS n FROM ${t.deliveries} GROUP BY status`).toArray().map((r) => [r.status, r.n]));
    const afterChange = await runInDurableObject(stub, async (instance: TenantLog, state) => {
      await instance.syncEndpoint(endpoint("ep_dis_many", { version: 2, ordering: "fifo", status: "disabled" }));
      const seen = { tally: tally(state), chores: state.storage.sql.exec(`SELECT ordinal FROM disabling`).toArray() };
      // As if the object were evicted before its alarm ran: only the stored chore is left.
      await state.storage.deleteAlarm();
      return seen;
    });
    expect(afterChange).toEqual({ tally: { failed: 500, pending: N - 500 }, chores: [{ ordinal: f }] });
    await evictDurableObject(stub);
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    // Each run takes one chunk and re-arms at once until the line is empty.
    await until("the rest of the backlog to fail", async () => (await runInDurableObject(stub, (_o: TenantLog, state) => tally(state).pending ?? 0)) === 0);
    expect(await runInDurableObject(stub, (_o: TenantLog, state) => tally(state))).toEqual({ failed: N });
    expect(await query(stub, `SELECT COUNT(*) AS n FROM ${t.deliveries} WHERE reason != 'endpoint_disabled'`)).toEqual([{ n: 0 }]);
    await until("the chore to be dropped", async () => (await query(stub, `SELECT ordinal FROM disabling`)).length === 0);
  });
});

describe("TenantLog: unsent keyed events", () => {
  it("stores the event's failed first send in one row and sends its owed jobs from the alarm when due (untried deliveries and a FIFO head ingest wrote), then drops the record", async () => {
    const stub = log();
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_unsent"));
    const f = await stub.syncEndpoint(endpoint("ep_unsent_fifo", { ordering: "fifo" }));
    const early = await ingest(stub, event({ idemKey: "order-unsent-1" }));
    const late = await ingest(stub, event({ idemKey: "order-unsent-2" }));
    expect(early.jobs).toEqual([{ e: early.event.seq, p: [a, f], g: 0 }]); // the FIFO head is due at once
    const now = Date.now();
    // The API's send of `late` failed just now: it is sent about a minute later.
    const stored = await rowsWritten(stub, (o) => o.unsent(late.event.seq, now));
    expect(stored.rows).toBe(1);
    expect(await armedAlarm(stub)).toBeLessThanOrEqual(now + MINUTE);
    // `early` failed a minute ago: it is due, so the alarm (armed for it) sends it now.
    await stub.unsent(early.event.seq, now - MINUTE);
    await until("the alarm's send", () => queue.jobs().length > 0);
    expect(queue.jobs()).toEqual([{ kind: "deliver", t: 7, e: early.event.seq, p: [a, f], g: 0 }]);
    await until("the record to be dropped", async () => (await query(stub, `SELECT seq FROM unsent`)).length === 1);
    expect(await query(stub, `SELECT seq, due_at FROM unsent`)).toEqual([{ seq: late.event.seq, due_at: now + MINUTE }]);
    // Re-armed for the one still waiting.
    expect(await armedAlarm(stub)).toBeLessThanOrEqual(now + MINUTE);
    // What was sent is claimed as ingest's own jobs would have been.
    const claimed = await stub.claim([{ e: early.event.seq, p: [a, f], g: 0 }], Date.now());
    expect(claimed.verdicts.map((v) => [v.ordinal, v.kind])).toEqual([
      [a, "go"],
      [f, "go"],
    ]);
  });
});

describe("TenantLog: forgotten unkeyed events", () => {
  it("removes the event with the rows ingest wrote and its rollup counts; its FIFO line moves; repeated, it changes nothing; its seq is never handed out again", async () => {
    const stub = log();
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_forget"));
    const f = await stub.syncEndpoint(endpoint("ep_forget_fifo", { ordering: "fifo" }));
    const d = await stub.syncEndpoint(endpoint("ep_forget_off", { status: "disabled" }));
    const gone = await ingest(stub, event()); // a untried, f the line's head (a row), d failed (a row)
    const behind = await ingest(stub, event()); // f waits behind it
    const forgotten = await rowsWritten(stub, (o) => o.forget(gone.event.seq));
    // Deleted: its FIFO row and its pending-index entry (2), its disabled row (1), its event
    // row (1); the next head made due (1). The untried delivery had no row to delete.
    expect(forgotten.rows).toBe(5);
    expect(await stub.getEvent(gone.event.seq)).toBeUndefined();
    for (const ordinal of [a, f, d]) expect((await stub.listDeliveries(ordinal, { limit: 10 })).items.map((x) => x.e)).toEqual([behind.event.seq]);
    expect(await query(stub, `SELECT COUNT(*) AS n FROM ${dayTables(dayOf(Date.now())).deliveries} WHERE event_seq = ?`, gone.event.seq)).toEqual([{ n: 0 }]);
    // The line moved to `behind`, with a new generation, and its job was sent.
    expect(queue.jobs()).toEqual([{ kind: "deliver", t: 7, e: behind.event.seq, p: [f], g: 1 }]);
    expect(await stub.getDelivery(f, behind.event.seq)).toMatchObject({ status: "pending", generation: 1 });
    // Rollups: only `behind` was created.
    expect(await stub.stats(a, ...hourAround())).toMatchObject({ created: 1, failed: 0 });
    expect(await stub.stats(d, ...hourAround())).toMatchObject({ created: 1, failed: 1 });
    // Again: idempotent.
    const again = await rowsWritten(stub, (o) => o.forget(gone.event.seq));
    expect(again.rows).toBe(0);
    expect(await stub.stats(a, ...hourAround())).toMatchObject({ created: 1 });

    // An event a delivery of which was attempted was sent after all: it stays. So does a keyed one.
    const attempted = await ingest(stub, event());
    await stub.record([first(attempted.event.seq, a, 200)]);
    await stub.forget(attempted.event.seq);
    expect(await stub.getEvent(attempted.event.seq)).toMatchObject({ seq: attempted.event.seq });
    const keyed = await ingest(stub, event({ idemKey: "order-forget" }));
    await stub.forget(keyed.event.seq);
    expect(await stub.getEvent(keyed.event.seq)).toMatchObject({ seq: keyed.event.seq });

    // The newest event forgotten, then the object evicted: its seq is not handed out again.
    const newest = await ingest(stub, event());
    await stub.forget(newest.event.seq);
    await evictDurableObject(stub);
    expect((await ingest(stub, event())).event.seq).toBe(newest.event.seq + 1);
  });
});

describe("TenantLog: deliveries the DLQ gives up", () => {
  it("fail consumer_error with a dead letter naming the deliveries queue, counted failed; a FIFO line moves; jobs of another generation change nothing", async () => {
    const { tenantId, tenantSeq } = await realTenant("giveup");
    const stub = env.TENANT_LOG.getByName(String(tenantSeq));
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_giveup"));
    const f = await stub.syncEndpoint(endpoint("ep_giveup_fifo", { ordering: "fifo" }));
    const e1 = (await ingest(stub, event({ tenantSeq }))).event; // a untried, f the head
    const e2 = (await ingest(stub, event({ tenantSeq }))).event; // f waits behind e1
    await stub.record([first(e2.seq, a, 503, Date.now() + 10 * MINUTE)]); // a waits for a retry at generation 0
    const jobs: DeliveryJob[] = [
      { e: e1.seq, p: [a, f], g: 0 },
      { e: e2.seq, p: [a], g: 0 },
      { e: e2.seq, p: [f], g: 4 }, // not its generation: ignored
    ];
    const given = await rowsWritten(stub, (o) => o.giveUp(jobs, Date.now()));
    expect(given.result).toEqual({ failed: 3, released: [{ e: e2.seq, p: [f], g: 1 }] });
    // Each delivery's row (written or updated, leaving the pending index) and its outbox row,
    // and the released head made due: rows for failures only, which are rare.
    expect(given.rows).toBe(8);
    expect(await stub.getDelivery(a, e1.seq)).toMatchObject({ status: "failed", reason: "consumer_error", attempts: 0 });
    expect(await stub.getDelivery(a, e2.seq)).toMatchObject({ status: "failed", reason: "consumer_error", attempts: 1 });
    expect(await stub.getDelivery(f, e1.seq)).toMatchObject({ status: "failed", reason: "consumer_error" });
    expect(await stub.getDelivery(f, e2.seq)).toMatchObject({ status: "pending", generation: 1 });
    // The same jobs again (a repeated DLQ batch): nothing more; their messages are stale.
    expect(await stub.giveUp(jobs, Date.now())).toEqual({ failed: 0, released: [] });
    expect((await stub.claim([{ e: e1.seq, p: [a], g: 0 }], Date.now())).verdicts[0]!.kind).toBe("stale");
    expect(await stub.stats(a, ...hourAround())).toMatchObject({ created: 2, failed: 2 });
    expect(await stub.stats(f, ...hourAround())).toMatchObject({ created: 2, failed: 1 });
    // The outbox's alarm hands the dead letters to D1, each naming the queue whose trouble ended it.
    const deadLetters = async () =>
      (
        await env.DB.prepare(`SELECT tenant_id, endpoint_id, event_id, reason, attempts, queue, log_event_seq, endpoint_ordinal, generation FROM dead_letters WHERE tenant_seq = ? ORDER BY log_event_seq, endpoint_ordinal`)
          .bind(tenantSeq)
          .all()
      ).results;
    await until("the dead letters in D1", async () => (await deadLetters()).length === 3);
    const dl = (ev: { seq: number; id: string }, ordinal: number, endpointId: string, attempts: number) => ({
      tenant_id: tenantId, endpoint_id: endpointId, event_id: ev.id, reason: "consumer_error", attempts, queue: "deliveries", log_event_seq: ev.seq, endpoint_ordinal: ordinal, generation: 0,
    });
    expect(await deadLetters()).toEqual([dl(e1, a, "ep_giveup", 0), dl(e1, f, "ep_giveup_fifo", 0), dl(e2, a, "ep_giveup", 1)]);
    // The released head is the caller's to enqueue: the log sent no job of this tenant itself.
    expect(queue.jobs(tenantSeq)).toEqual([]);
  });
});

describe("TenantLog: retry after retention dropped the day", () => {
  it("revives a kept delivery as a new event row (same event id and data, attempts continue, generation 1, due now) and answers its new seq; once revived, or never kept, it is gone", async () => {
    const { tenantSeq } = await realTenant("revive");
    const stub = env.TENANT_LOG.getByName(String(tenantSeq));
    await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_revive", { filter: { types: ["report.completed"], exclude: [], groups: [] } }));
    const f = await stub.syncEndpoint(endpoint("ep_revive_fifo", { ordering: "fifo", filter: { types: ["invoice.paid"], exclude: [], groups: [] } }));
    const longAgo = Date.now() - 40 * 86_400_000;
    const old = (await ingest(stub, event({ tenantSeq, now: longAgo, occurredAt: longAgo - 5_000, dataJson: JSON.stringify({ order: 42 }) }))).event;
    const oldOk = (await ingest(stub, event({ tenantSeq, now: longAgo }))).event;
    const oldInvoice = (await ingest(stub, event({ tenantSeq, now: longAgo, type: "invoice.paid" }))).event;
    await stub.claim([{ e: oldInvoice.seq, p: [f], g: 0 }], longAgo + 1_000);
    await stub.record([first(old.seq, a, 410, null, longAgo + 1_000), first(oldOk.seq, a, 200, null, longAgo + 1_000), first(oldInvoice.seq, f, 410, null, longAgo + 1_000)]);
    const today = (await ingest(stub, event({ tenantSeq }))).event; // a new day: the old one expires
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await until("the old day to be dropped", async () => (await query(stub, `SELECT COUNT(*) AS n FROM days`))[0]!.n === 1);
    expect(await query(stub, `SELECT ordinal, event_seq FROM kept ORDER BY event_seq`)).toEqual([
      { ordinal: a, event_seq: old.seq },
      { ordinal: f, event_seq: oldInvoice.seq },
    ]);

    const r = await stub.retry(a, old.seq, Date.now());
    if (r.kind !== "queued") throw new Error(`not queued: ${r.kind}`);
    expect(r.e).toBeGreaterThan(today.seq);
    expect(r.job).toEqual({ e: r.e, p: [a], g: 1 });
    const revived = await stub.getDelivery(a, r.e!);
    expect(revived).toMatchObject({ status: "pending", attempts: 1, generation: 1, eventId: old.id, eventType: "report.completed", dataJson: JSON.stringify({ order: 42 }), occurredAt: longAgo - 5_000 });
    expect(revived!.attemptList.map((x) => [x.n, x.responseStatus])).toEqual([[1, 410]]); // the first attempt was kept inline
    expect((await stub.listDeliveries(a, { limit: 1 })).items.map((d) => d.e)).toEqual([r.e]);
    // Its job starts it with the count continued and the schedule restarted.
    const claimed = await stub.claim([r.job], Date.now());
    expect(claimed.verdicts).toEqual([expect.objectContaining({ kind: "go", e: r.e, generation: 1, attemptsBefore: 1, runStart: 1 })]);
    expect(claimed.events).toEqual([expect.objectContaining({ seq: r.e, id: old.id })]);
    // Revived once: the kept copy is gone, and so is a delivered one (never kept); an unknown seq is not found.
    expect(await stub.retry(a, old.seq, Date.now())).toEqual({ kind: "gone" });
    expect(await stub.retry(a, oldOk.seq, Date.now())).toEqual({ kind: "gone" });
    expect(await stub.retry(a, today.seq + 1_000, Date.now())).toEqual({ kind: "not_found" });

    // FIFO: the revived delivery takes its place at the back of the line.
    const rf = await stub.retry(f, oldInvoice.seq, Date.now());
    if (rf.kind !== "queued") throw new Error(`not queued: ${rf.kind}`);
    const next = await ingest(stub, event({ tenantSeq, type: "invoice.paid" }));
    expect(next.jobs).toEqual([]); // it waits behind the revived delivery
    const moved = await stub.record([{ e: rf.e!, ordinal: f, generation: 1, attemptsBefore: 1, runStart: 1, attempt: attempt(2, 200), status: "delivered", reason: null, nextAttemptAt: null }]);
    expect(moved.released).toEqual([{ e: next.event.seq, p: [f], g: 1 }]);
  });
});

describe("TenantLog: overdue re-drive", () => {
  it("the alarm re-drives a delivery overdue by 15 minutes (new generation, due now, its job sent) and leaves one merely waiting for its retry alone", async () => {
    const stub = log();
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_overdue"));
    const f = await stub.syncEndpoint(endpoint("ep_overdue_fifo", { ordering: "fifo" }));
    const e1 = (await ingest(stub, event())).event.seq;
    const e2 = (await ingest(stub, event())).event.seq;
    const now = Date.now();
    await stub.claim([{ e: e1, p: [f], g: 0 }], now);
    // e1's retries were due 16 minutes ago and their messages were lost (plain and a FIFO
    // head); e2's retry is due in 5 minutes. Recording them arms the alarm for the re-drive.
    await stub.record([
      first(e1, a, 503, now - 16 * MINUTE, now - 17 * MINUTE),
      first(e1, f, 503, now - 16 * MINUTE, now - 17 * MINUTE),
      first(e2, a, 503, now + 5 * MINUTE),
    ]);
    await until("the re-drive", () => queue.jobs().length >= 2);
    expect(queue.jobs().toSorted(byE)).toEqual([
      { kind: "deliver", t: 7, e: e1, p: [a], g: 1 },
      { kind: "deliver", t: 7, e: e1, p: [f], g: 1 },
    ]);
    const redriven = await stub.getDelivery(a, e1);
    expect(redriven).toMatchObject({ status: "pending", generation: 1, attempts: 1 });
    expect(redriven!.nextAttemptAt).toBeGreaterThanOrEqual(now);
    expect(await stub.getDelivery(a, e2)).toMatchObject({ status: "pending", generation: 0, nextAttemptAt: now + 5 * MINUTE });
    // The lost messages' copies are stale; the re-driven ones start the delivery.
    expect((await stub.claim([{ e: e1, p: [a, f], g: 0 }], Date.now())).verdicts.map((v) => v.kind)).toEqual(["stale", "stale"]);
    expect((await stub.claim([{ e: e1, p: [a, f], g: 1 }], Date.now())).verdicts).toEqual([
      expect.objectContaining({ kind: "go", ordinal: a, attemptsBefore: 1 }),
      expect.objectContaining({ kind: "go", ordinal: f, attemptsBefore: 1 }),
    ]);
    // The alarm stays armed, no later than when e2 would become overdue.
    expect(await armedAlarm(stub)).toBeLessThanOrEqual(now + 5 * MINUTE + 15 * MINUTE);
    // Another run re-drives nothing more.
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    expect(queue.jobs()).toHaveLength(2);
  });

  it("an untried delivery whose message was lost (no row yet) is re-driven once it is 15 minutes old; a delivered one and a young one are left alone", async () => {
    const stub = log();
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_untried_a"));
    const b = await stub.syncEndpoint(endpoint("ep_untried_b"));
    const now = Date.now();
    // Accepted 20 minutes ago; its messages never arrived. b's delivery was recorded.
    const old = (await ingest(stub, event({ now: now - 20 * MINUTE }))).event.seq;
    await stub.record([first(old, b, 200, null, now - 19 * MINUTE)]);
    // Accepted just now: its message may still be on its way.
    const young = (await ingest(stub, event({ now }))).event.seq;
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    expect(queue.jobs()).toEqual([{ kind: "deliver", t: 7, e: old, p: [a], g: 1 }]);
    expect(await stub.getDelivery(a, old)).toMatchObject({ status: "pending", generation: 1, attempts: 0 });
    expect(await stub.getDelivery(b, old)).toMatchObject({ status: "delivered" });
    expect(await stub.getDelivery(a, young)).toMatchObject({ status: "pending", generation: 0 });
    // The lost message's copies (generation 0) are stale; the re-driven one goes.
    expect((await stub.claim([{ e: old, p: [a], g: 0 }], Date.now())).verdicts.map((v) => v.kind)).toEqual(["stale"]);
    expect((await stub.claim([{ e: old, p: [a], g: 1 }], Date.now())).verdicts.map((v) => v.kind)).toEqual(["go"]);
    // The alarm will look again when the young event is 15 minutes old; nothing more now.
    expect(await armedAlarm(stub)).toBeLessThanOrEqual(now + 15 * MINUTE + 1000);
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    expect(queue.jobs()).toHaveLength(1);
  });

  it("reads only index ranges: the overdue lookup, the next deadline and a disabled endpoint's chunk use the pending index", async () => {
    const stub = log();
    await stub.syncEndpoint(endpoint("ep_plan"));
    await ingest(stub, event());
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      const t = dayTables(dayOf(Date.now()));
      const plan = (q: string) => state.storage.sql.exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${q}`).toArray().map((r) => r.detail).join(" | ");
      const pending = `${t.deliveries} INDEXED BY ${t.deliveries}_pending`;
      expect(plan(`SELECT event_seq, generation, next_attempt_at FROM ${pending} WHERE ordinal = 1 AND status = 'pending' AND line_seq IS NULL AND next_attempt_at <= 5 ORDER BY next_attempt_at LIMIT 9`)).toMatch(
        /^SEARCH \S+ USING INDEX \S+_pending \(ordinal=\? AND line_seq=\? AND next_attempt_at<\?\)$/,
      );
      expect(plan(`SELECT MIN(next_attempt_at) FROM ${pending} WHERE ordinal = 1 AND status = 'pending' AND line_seq IS NULL AND next_attempt_at > 5`)).toMatch(
        /SEARCH \S+ USING (COVERING )?INDEX \S+_pending \(ordinal=\? AND line_seq=\? AND next_attempt_at>\?\)/,
      );
      expect(plan(`SELECT event_seq, created_at FROM ${pending} WHERE ordinal = 1 AND status = 'pending' AND test = 0 LIMIT 9`)).toMatch(/^SEARCH \S+ USING INDEX \S+_pending \(ordinal=\?\)$/);
    });
  });
});

describe("TenantLog: a deleted tenant", () => {
  it("after deleteAll only a tombstone remains, and an ingest that still reaches the object (an isolate that cached the tenant) is refused, also after eviction", async () => {
    const stub = log();
    await stub.syncEndpoint(endpoint("ep_gone"));
    await ingest(stub, event());
    await stub.deleteAll();
    expect(await stub.ingest(event())).toEqual({ kind: "gone" });
    expect(await stub.ingestMany([event(), event()])).toEqual([{ kind: "gone" }, { kind: "gone" }]);
    await evictDurableObject(stub);
    expect(await stub.ingest(event())).toEqual({ kind: "gone" });
    const left = await runInDurableObject(stub, (_i: TenantLog, state: DurableObjectState) => ({
      kv: [...state.storage.kv.list()],
      days: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE name LIKE 'events_d%'").one().n,
    }));
    expect(left).toEqual({ kv: [["deleted", 1]], days: 0 });
  });
});

