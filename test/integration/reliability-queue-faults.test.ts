/**
 * Issue 13 (2): queue faults, on data plane v2. Inside workerd with real D1, each tenant's
 * real TenantLog, the real delivery consumer and its DLQ handler (`exports.default.queue`,
 * which routes to them; or the handler itself when the test must inject a fault into its
 * `env`: a TenantLog whose `record` throws, a D1 that goes away, a queue that refuses, no
 * SECRETS_KEY), the TenantLog's own alarm, and the real receiver. Every scenario ends with
 * the same accounting (test/support/accounting.ts): each accepted event has exactly one
 * delivery per matching endpoint, each `delivered` or `failed` with one dead letter, none
 * stuck `pending`, the receiver saw each event.
 *
 * Messages the Worker itself sends (retries, released FIFO heads, the alarm's re-drives) go
 * to the local queue, whose consumer also runs on its own; tests wait for the tenant's log
 * to settle (nothing untried, nothing scheduled, its outbox handed to D1).
 *
 * v1 scenarios and their v2 counterparts: "lost messages re-driven by the Sweeper" is the
 * TenantLog alarm's overdue re-drive (and its send of keyed events whose first send
 * failed); "a fan-out whose delivery send failed" is ingest whose deliveries send is
 * refused (fan-out happens inside ingest); "a fan-out whose event-type read fails" is
 * ingest refused whole (503) when that read fails; the fanout DLQ's re-drive is the
 * deliveries DLQ's; "D1 fails mid-batch" is the TenantLog's `record` failing (the outcome
 * write) and D1 failing while the batch loads (which tenants are live, the send settings).
 *
 * Run: npx vitest run --project integration test/integration/reliability-queue-faults.test.ts
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/api/app";
import { handleLogDeliveryDeadLetters } from "../../src/consumers/dead-letters";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { LogDeliverMessage, LoggedDelivery } from "../../src/tenant-log/types";
import { account, receivedKey, summary, type AccountingReport } from "../support/accounting";
import { worker } from "../support/worker-handlers";
import { runLogAlarm, settleTenant } from "./hardening-helpers";
import {
  consume,
  ensureType,
  fakeBatch,
  fakeQueue,
  ingest,
  newEndpoint,
  newTenant,
  operatorEvents,
  receiver,
  receiverLog,
  sleep,
  takeDeliverMessages,
  tenantSeqOf,
  testDeps,
  uniq,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 90_000 });

const TYPE = "reliability.thing.happened";
/** wrangler.toml: the delivery consumer's max_retries. */
const MAX_RETRIES = 5;

type Stub = ReturnType<Env["TENANT_LOG"]["getByName"]>;

// ---------------------------------------------------------------- fixtures

interface Fixture {
  tid: string;
  /** The tenant's seq: its TenantLog's name and the `t` of its messages. */
  t: number;
  log: Stub;
  /** endpoint id → receiver path */
  endpoints: Map<string, string>;
}

/** A tenant whose endpoints all have catch-all filters, one per receiver path (with its own options, or the shared ones). */
async function fixture(name: string, paths: (string | [string, Record<string, unknown>])[], options: Record<string, unknown> = {}): Promise<Fixture> {
  await ensureType(TYPE);
  const tid = await newTenant(name);
  const endpoints = new Map<string, string>();
  for (const p of paths) {
    const [path, own] = typeof p === "string" ? [p, {}] : p;
    const ep = await newEndpoint(tid, { url: `${receiver()}${path}`, ...options, ...own });
    endpoints.set(ep.id, path);
  }
  const t = await tenantSeqOf(tid);
  return { tid, t, log: env.TENANT_LOG.getByName(String(t)), endpoints };
}

/** A queue message as `exports.default.queue` takes it. */
const qm = <B>(body: B, attempts = 1) => ({ id: uniq("m"), timestamp: new Date(), attempts, body });

/** A message body without the fake queue's `delaySeconds`. */
const bodyOf = (m: LogDeliverMessage & { delaySeconds?: number }): LogDeliverMessage => ({ kind: m.kind, t: m.t, e: m.e, p: m.p, g: m.g, ...(m.trouble ? { trouble: m.trouble } : {}) });

/**
 * `env` with some bindings replaced, as own properties of a new object. (Not
 * `Object.assign(Object.create(env), …)`: `env` is a proxy whose set trap writes to the
 * shared bindings, so that would replace them for the Worker and every later test.)
 */
const envWith = (overrides: Partial<Env>): Env =>
  Object.create(env, Object.fromEntries(Object.entries(overrides).map(([k, value]) => [k, { value, enumerable: true }]))) as Env;

/**
 * A D1 binding that works for `okStatements` executions (a `batch()` is one), then
 * throws "D1 unavailable" on the next `failing` ones (every later one by default), as a
 * database that goes away mid-batch, for good or for a moment.
 */
function flakyD1(real: D1Database, okStatements: number, failing = Infinity): D1Database & { executed: () => number } {
  let executed = 0;
  const tick = () => {
    executed += 1;
    if (executed > okStatements && executed <= okStatements + failing) throw new Error("D1_ERROR: the database is unavailable (injected fault)");
  };
  const realOf = new WeakMap<object, D1PreparedStatement>();
  const wrap = (s: D1PreparedStatement): D1PreparedStatement => {
    const w = {
      bind: (...args: unknown[]) => wrap(s.bind(...args)),
      first: async (col?: string) => (tick(), col === undefined ? s.first() : s.first(col)),
      run: async () => (tick(), s.run()),
      all: async () => (tick(), s.all()),
      raw: async (o?: { columnNames?: boolean }) => (tick(), s.raw(o as { columnNames: true })),
    };
    realOf.set(w, s);
    return w as unknown as D1PreparedStatement;
  };
  return {
    prepare: (q: string) => wrap(real.prepare(q)),
    batch: async (stmts: D1PreparedStatement[]) => (tick(), real.batch(stmts.map((s) => realOf.get(s) ?? s))),
    exec: async (q: string) => (tick(), real.exec(q)),
    withSession: () => {
      throw new Error("not used");
    },
    dump: () => real.dump(),
    executed: () => executed,
  } as unknown as D1Database & { executed: () => number };
}

/** How a TenantLog's `record` fails: before the call reaches the object, or after the object wrote (its answer lost). */
type RecordFault = "before" | "after";

/**
 * The real TenantLog namespace, whose stubs' `record` fails as `fault` says for its
 * object's name and call number (1-based); every other call passes through. Counts records.
 */
function faultyLogs(fault: (name: string, call: number) => RecordFault | null): { namespace: Env["TENANT_LOG"]; records: Map<string, number> } {
  const records = new Map<string, number>();
  const namespace = {
    getByName(name: string) {
      const stub = env.TENANT_LOG.getByName(name);
      const record = async (...args: Parameters<Stub["record"]>) => {
        const call = (records.get(name) ?? 0) + 1;
        records.set(name, call);
        const f = fault(name, call);
        if (f === "before") throw new Error("TenantLog connection reset (injected fault)");
        const result = await stub.record(...args);
        if (f === "after") throw new Error("TenantLog: the answer was lost after the write (injected fault)");
        return result;
      };
      return new Proxy({ record }, { get: (target, prop) => (prop === "record" ? target.record : (stub as unknown as Record<string | symbol, unknown>)[prop]) });
    },
  } as unknown as Env["TENANT_LOG"];
  return { namespace, records };
}

// ---------------------------------------------------------------- reading the log, D1 and the receiver

/** A delivery as the tenant's log lists it, with its key there (event seq, endpoint ordinal), which D1's dead letters carry too. */
interface LogItem extends LoggedDelivery {
  key: string;
}

/**
 * Every delivery of one endpoint as its tenant's log lists it (the API's source; read here
 * from the log because a test may corrupt the endpoint's D1 row, which the API reads first),
 * oldest event first, test sends excepted.
 */
async function endpointDeliveries(f: Fixture, endpointId: string): Promise<LogItem[]> {
  const [row] = await logSql<{ ordinal: number }>(f.log, `SELECT ordinal FROM endpoints WHERE id = ?`, endpointId);
  if (!row) throw new Error(`endpoint ${endpointId} is not in the log of ${f.tid}`);
  const items: LogItem[] = [];
  let before: number | undefined;
  do {
    const page = await f.log.listDeliveries(row.ordinal, { limit: 250, before });
    // As the API shows them: a next attempt only while pending.
    items.push(...page.items.filter((d) => !d.test).map((d) => ({ ...d, nextAttemptAt: d.status === "pending" ? d.nextAttemptAt : null, key: `${d.e}:${d.ordinal}` })));
    before = page.next ?? undefined;
  } while (before !== undefined);
  return items.reverse();
}

/** Every delivery of the fixture's endpoints (test sends excepted). */
async function tenantDeliveries(f: Fixture): Promise<LogItem[]> {
  const all: LogItem[] = [];
  for (const endpointId of f.endpoints.keys()) all.push(...(await endpointDeliveries(f, endpointId)));
  return all;
}

/** Waits until the tenant's log has settled (nothing untried or scheduled, its outbox in D1) with at least `min` deliveries. */
async function settle(f: Fixture, min: number, timeoutMs = 45_000): Promise<void> {
  await settleTenant(f.tid, timeoutMs);
  const found = (await tenantDeliveries(f)).length;
  expect(found, `deliveries of ${f.tid}`).toBeGreaterThanOrEqual(min);
}

/** The events the tenant's log accepted (test sends excepted), oldest first. */
async function tenantEvents(f: Fixture): Promise<{ id: string; seq: number }[]> {
  const out: { id: string; seq: number }[] = [];
  let before: number | undefined;
  do {
    const page = await f.log.listEvents({ before, limit: 250 });
    out.push(...page.items.map((e) => ({ id: e.id, seq: e.seq })));
    before = page.next ?? undefined;
  } while (before !== undefined);
  return out.reverse();
}

/** The accounting of one fixture's tenant, from its log, D1's dead letters (by log key) and the receiver's log. */
async function accountFixture(f: Fixture, final = true): Promise<AccountingReport> {
  // Dead letters reach D1 through the log's outbox, which its alarm hands over.
  if (final) await runLogAlarm(f.log);
  const events = await tenantEvents(f);
  const deliveries = await tenantDeliveries(f);
  const { results: dls } = await env.DB.prepare(
    `SELECT log_event_seq, endpoint_ordinal, COUNT(*) AS n FROM dead_letters WHERE tenant_id = ? GROUP BY log_event_seq, endpoint_ordinal`,
  )
    .bind(f.tid)
    .all<{ log_event_seq: number; endpoint_ordinal: number; n: number }>();
  const received = new Map<string, number>();
  for (const [endpointId, path] of f.endpoints) {
    for (const r of await receiverLog(path)) {
      const key = receivedKey(endpointId, r.headers["webhook-id"] ?? "");
      received.set(key, (received.get(key) ?? 0) + 1);
    }
  }
  const report = account({
    events: events.map((e) => ({ id: e.id, tenantId: f.tid, expectedEndpoints: [...f.endpoints.keys()] })),
    deliveries: deliveries.map((d) => ({
      id: d.key,
      eventId: d.eventId,
      endpointId: d.endpointId,
      status: d.status,
      reason: d.reason,
      attempts: d.attempts,
      nextAttemptAt: d.nextAttemptAt,
    })),
    deadLetters: new Map(dls.map((r) => [`${r.log_event_seq}:${r.endpoint_ordinal}`, r.n])),
    received,
    now: Date.now(),
    final,
  });
  console.log(`[accounting] ${f.tid}: ${summary(report)}`);
  return report;
}

function expectNothingLost(report: AccountingReport): void {
  expect(report.problems, report.problems.join("\n")).toEqual([]);
  expect(report.stuck).toBe(0);
  expect(report.pending).toBe(0);
}

/** Ingests `n` events whose delivery messages are held (a fake queue): they are returned, not sent. */
async function ingestHeld(f: Fixture, n: number): Promise<{ seqs: number[]; ids: string[]; messages: LogDeliverMessage[] }> {
  const t = testDeps();
  const seqs: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const ev = await ingest(t.deps, f.tid, TYPE, { i });
    seqs.push(ev.seq);
    ids.push(ev.id);
  }
  return { seqs, ids, messages: takeDeliverMessages(t.delivery).map(bodyOf) };
}

/** Runs SQL on the log's storage (a test's time travel and reads of its own tables). */
async function logSql<R = Record<string, unknown>>(log: Stub, query: string, ...args: SqlStorageValue[]): Promise<R[]> {
  return runInDurableObject(log, (_o: TenantLog, state) => state.storage.sql.exec(query, ...args).toArray() as R[]);
}

/** The names of the log's delivery tables (one per day). */
async function deliveryTables(log: Stub): Promise<string[]> {
  return (await logSql<{ name: string }>(log, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'deliveries_d%'`)).map((r) => r.name);
}

/** Posts an event through the app with this env (a refusing queue, a failing D1…); answers status, headers and body. */
async function postWith(testEnv: Env, tid: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await createApp().fetch(
    new Request(`http://x/v1/tenants/${tid}/events`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
    testEnv,
    { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
  );
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

// ---------------------------------------------------------------- scenarios

describe("queue faults", () => {
  it("duplicate delivery: each message twice in one batch, a third copy in a concurrent invocation, later copies and DLQ copies: one delivery each, no resend after success", async () => {
    const key = uniq("dup");
    const f = await fixture("dup", [`/ok/${key}/a`, `/ok/${key}/b`, `/fail-each/1/${key}/c`, `/status/410/${key}/d`], { retry_schedule: [1, 1] });
    const held = await ingestHeld(f, 6);
    // One message per event names its four endpoints.
    expect(held.messages.map((m) => m.p.length)).toEqual([4, 4, 4, 4, 4, 4]);

    // Each message twice in one batch, and a third copy at the same time through a second invocation.
    const [doubled, concurrent] = await Promise.all([
      worker.queue("switchyard-deliveries", held.messages.flatMap((m) => [qm(m), qm(m)])),
      worker.queue("switchyard-deliveries", held.messages.map((m) => qm(m))),
    ]);
    expect(doubled.outcome).toBe("ok");
    expect(concurrent.outcome).toBe("ok");
    await settle(f, 24);

    // Later copies of everything, twice each: the consumer sends nothing (each outcome is
    // recorded), and the DLQ re-drives its copies, which then send nothing either.
    const before = await accountFixture(f);
    const late = await worker.queue("switchyard-deliveries", held.messages.flatMap((m) => [qm(m), qm(m, 2)]));
    expect(late.outcome).toBe("ok");
    expect(late.explicitAcks).toHaveLength(12);
    const redrive = fakeQueue();
    const dlq = fakeBatch("switchyard-deliveries-dlq", held.messages.flatMap((body) => [{ body }, { body }]));
    await handleLogDeliveryDeadLetters(dlq.batch, envWith({ DELIVERY_QUEUE: redrive.queue }));
    expect(dlq.acked.size).toBe(12);
    expect(redrive.sent).toHaveLength(12);
    const redriven = await worker.queue("switchyard-deliveries", redrive.sent.map((m) => qm(m.body)));
    expect(redriven.outcome).toBe("ok");
    expect(redriven.explicitAcks).toHaveLength(12);
    await sleep(1500);
    const after = await accountFixture(f);
    expectNothingLost(after);
    expect(after.events).toBe(6);
    expect(after.deliveries).toBe(24);
    expect(after.delivered).toBe(18); // a, b, and c after one 500
    expect(after.failedByReason).toEqual({ non_retryable_status: 6 });
    expect(after.receiverRequests).toBe(before.receiverRequests);
    expect(after.attempts).toBe(before.attempts);
    expect(after.deadLetters).toBe(6);
    // Two copies processed at the same instant by two invocations may both send (DESIGN:
    // at-least-once; receivers dedupe on webhook-id): bounded by the copies, reported.
    expect(after.duplicates).toBeLessThanOrEqual(24);
  });

  it("duplicate delivery inside one batch: each delivery is sent once (the consumer merges copies before its one claim)", async () => {
    const key = uniq("dupbatch");
    const f = await fixture("dupbatch", [`/ok/${key}/a`, `/fail-each/1/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f, 5);
    expect(held.messages).toHaveLength(5);
    const { batch, acked, retried } = fakeBatch("switchyard-deliveries", [...held.messages, ...held.messages].map((body) => ({ body })));
    await handleLogDeliveryBatch(batch, env);
    expect(retried.size).toBe(0);
    expect(acked.size).toBe(10);
    await settle(f, 10);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(10);
    expect(report.attempts).toBe(15); // a: 1 each; b: 500 then 200
    expect(report.duplicates).toBe(0);
    expect(report.receiverRequests).toBe(15);
  });

  it.each<[string, RecordFault]>([
    ["before it reaches the log", "before"],
    ["after the log wrote it (its answer lost)", "after"],
  ])("an outcome write that fails once %s is retried in process: nothing is sent twice, no retry is lost", async (_what, fault) => {
    const key = uniq("blip");
    const f = await fixture("blip", [`/ok/${key}/a`, `/fail-each/1/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f, 3);
    const { namespace, records } = faultyLogs((name, call) => (name === String(f.t) && call === 1 ? fault : null));
    const { batch, acked, retried } = fakeBatch("switchyard-deliveries", held.messages.map((body) => ({ body })));
    // The real queue: b's retries (answered again by the log when its first answer was lost) must reach it.
    await handleLogDeliveryBatch(batch, envWith({ TENANT_LOG: namespace }));
    expect(records.get(String(f.t))).toBe(2);
    expect(acked.size).toBe(3);
    expect(retried.size).toBe(0);
    await settle(f, 6);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(6);
    expect(report.attempts).toBe(9); // a: 1 each; b: 500, then its retry 200
    expect(report.duplicates).toBe(0);
    expect(report.receiverRequests).toBe(9);
  });

  it("a batch whose TenantLog stays away after the sends: that tenant's messages are retried with backoff and delivered again (at-least-once), the other tenant's are acked; nothing lost", async () => {
    const key = uniq("away");
    const healthy = await fixture("healthy", [`/ok/${key}/h/a`, `/ok/${key}/h/b`], { retry_schedule: [1] });
    const broken = await fixture("away", [`/ok/${key}/x/a`, `/ok/${key}/x/b`], { retry_schedule: [1] });
    const good = await ingestHeld(healthy, 3);
    const bad = await ingestHeld(broken, 3);
    const { namespace } = faultyLogs((name) => (name === String(broken.t) ? "before" : null));
    const { batch, acked, retried, retryDelays } = fakeBatch("switchyard-deliveries", [...good.messages, ...bad.messages].map((body) => ({ body })));
    await handleLogDeliveryBatch(batch, envWith({ TENANT_LOG: namespace }));
    const ids = batch.messages.map((m) => m.id);
    expect([...acked].sort()).toEqual(ids.slice(0, 3).sort());
    expect([...retried].sort()).toEqual(ids.slice(3).sort());
    // Our own trouble: retried later with a delay, never at once.
    for (const delay of retryDelays.values()) expect(delay).toBeGreaterThanOrEqual(1);
    // All twelve were sent before the outcome write failed; the broken tenant's are still untried in its log.
    expect((await receiverLog(`/ok/${key}/`)).length).toBe(12);
    expect((await tenantDeliveries(broken)).map((d) => [d.status, d.attempts])).toEqual(Array.from({ length: 6 }, () => ["pending", 0]));

    // The queue redelivers the retried messages (attempts 2) to a healthy consumer.
    const again = batch.messages.filter((m) => retried.has(m.id)).map((m) => qm(m.body, 2));
    const res = await worker.queue("switchyard-deliveries", again);
    expect(res.outcome).toBe("ok");
    expect(res.explicitAcks).toHaveLength(3);
    await settle(healthy, 6);
    await settle(broken, 6);
    const ok = await accountFixture(healthy);
    expectNothingLost(ok);
    expect([ok.delivered, ok.attempts, ok.duplicates, ok.receiverRequests]).toEqual([6, 6, 0, 6]);
    const report = await accountFixture(broken);
    expectNothingLost(report);
    expect(report.delivered).toBe(6);
    expect(report.attempts).toBe(6);
    // The six sent-but-unrecorded attempts were sent again: a crash after a 2xx.
    expect(report.duplicates).toBe(6);
    expect(report.receiverRequests).toBe(12);
  });

  it("D1 away while the batch loads (which tenants are live, then the endpoints' send settings): nothing is sent or failed, every message is retried with growing backoff, then delivered once", async () => {
    const key = uniq("d1away");
    const f = await fixture("d1away", [`/ok/${key}/a`, `/ok/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f, 2);
    let lastDelay = 0;
    // Attempt 1: D1 refuses its first statement. Attempt 2: it answers which tenants are live, then goes away.
    for (const [attempt, okStatements] of [
      [1, 0],
      [2, 1],
    ] as const) {
      const db = flakyD1(env.DB, okStatements);
      const { batch, acked, retried, retryDelays } = fakeBatch("switchyard-deliveries", held.messages.map((body) => ({ body, attempts: attempt })));
      await handleLogDeliveryBatch(batch, envWith({ DB: db }));
      expect(db.executed(), `attempt ${attempt}: D1 was asked`).toBeGreaterThan(okStatements);
      expect(acked.size).toBe(0);
      expect(retried.size).toBe(2);
      const delays = [...retryDelays.values()].map((d) => d ?? 0);
      expect(Math.min(...delays)).toBeGreaterThan(lastDelay);
      lastDelay = Math.max(...delays);
    }
    expect(await receiverLog(`/ok/${key}/`)).toEqual([]);
    expect((await tenantDeliveries(f)).map((d) => [d.status, d.attempts])).toEqual(Array.from({ length: 4 }, () => ["pending", 0]));
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`).bind(f.tid).first("n")).toBe(0);

    const res = await worker.queue("switchyard-deliveries", held.messages.map((m) => qm(m, 3)));
    expect(res.outcome).toBe("ok");
    expect(res.explicitAcks).toHaveLength(2);
    await settle(f, 4);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(4);
    expect(report.attempts).toBe(4);
    expect(report.duplicates).toBe(0);
    expect(report.receiverRequests).toBe(4);
  });

  it("a batch where deliveries point at broken state (a corrupt endpoint row, an undecryptable secret): the healthy ones are delivered once, the broken ones are re-driven from the DLQ and fail with consumer_error only after CONSUMER_GIVE_UP_H", async () => {
    const key = uniq("poison");
    const f = await fixture("poison", [`/ok/${key}/good`, `/ok/${key}/badrow`, `/ok/${key}/badsecret`], { retry_schedule: [1] });
    const [good, badRow, badSecret] = [...f.endpoints.keys()] as [string, string, string];
    const held = await ingestHeld(f, 4);
    // One message per event names all three endpoints.
    expect(held.messages.map((m) => m.p.length)).toEqual([3, 3, 3, 3]);
    await env.DB.prepare(`UPDATE endpoints SET headers = '{not json' WHERE id = ?`).bind(badRow).run();
    // Sealed with a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS (a rotation gone wrong).
    await env.DB.prepare(`UPDATE endpoint_secrets SET secret_box = 'v1.deadbeef.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA' WHERE endpoint_id = ?`).bind(badSecret).run();

    let pending = held.messages.map((body) => qm(body, 1));
    const first = await worker.queue("switchyard-deliveries", pending);
    expect(first.outcome).toBe("ok");
    // The healthy four were delivered on the first try, whatever shares their message.
    const byEndpoint = async (id: string) => (await endpointDeliveries(f, id)).map((d) => [d.status, d.attempts]);
    expect(await byEndpoint(good)).toEqual(Array.from({ length: 4 }, () => ["delivered", 1]));
    // Each message also names a broken endpoint: every one comes back (its delivered part is stale next time).
    expect(first.explicitAcks).toEqual([]);
    expect(new Set(first.retryMessages.map((m) => m.msgId))).toEqual(new Set(pending.map((m) => m.id)));
    // The queue retries them up to max_retries with growing delays, then hands them to the DLQ consumer.
    let lastDelay = 0;
    for (let attempt = 1; attempt <= MAX_RETRIES + 1; attempt++) {
      pending = pending.map((m) => ({ ...m, attempts: attempt }));
      const res = attempt === 1 ? first : await worker.queue("switchyard-deliveries", pending);
      expect(res.retryMessages).toHaveLength(4);
      const delays = res.retryMessages.map((m) => m.delaySeconds ?? 0);
      expect(Math.min(...delays)).toBeGreaterThan(lastDelay);
      lastDelay = Math.max(...delays);
    }
    expect((await receiverLog(`/ok/${key}/`)).length).toBe(4);

    // The DLQ re-drives them with a trouble record: still pending, nothing failed, no dead letter.
    const redrive = fakeQueue();
    const dlq = fakeBatch("switchyard-deliveries-dlq", pending.map((m) => ({ body: m.body, attempts: 1 })));
    await handleLogDeliveryDeadLetters(dlq.batch, envWith({ DELIVERY_QUEUE: redrive.queue }));
    expect(dlq.acked.size).toBe(4);
    expect(redrive.sent).toHaveLength(4);
    for (const m of redrive.sent) {
      expect(m.body).toMatchObject({ kind: "deliver", t: f.t, trouble: { since: expect.any(Number), redrives: 1 } });
      expect(m.delaySeconds).toBeGreaterThanOrEqual(48); // 60 s ± 20 %
    }
    for (const id of [badRow, badSecret]) expect(await byEndpoint(id)).toEqual(Array.from({ length: 4 }, () => ["pending", 0]));
    await runLogAlarm(f.log);
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`).bind(f.tid).first("n")).toBe(0);

    // Re-driven for CONSUMER_GIVE_UP_H (72 h) and still broken: now they fail.
    const since = Date.now() - 72 * 3_600_000 - 1;
    const givenUp = await worker.queue(
      "switchyard-deliveries-dlq",
      pending.map((m) => ({ ...m, body: { ...m.body, trouble: { since, redrives: 80 } } })),
    );
    expect(givenUp.explicitAcks).toHaveLength(4);

    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(4);
    expect(report.failedByReason).toEqual({ consumer_error: 8 });
    expect(report.deadLetters).toBe(8);
    expect(report.receiverRequests).toBe(4);
    const { results: dls } = await env.DB.prepare(`SELECT endpoint_id, reason, queue, attempts FROM dead_letters WHERE tenant_id = ? ORDER BY seq`).bind(f.tid).all();
    expect(dls).toHaveLength(8);
    for (const dl of dls) expect(dl).toMatchObject({ reason: "consumer_error", queue: "deliveries", attempts: 0 });
    expect(new Set(dls.map((d) => d.endpoint_id))).toEqual(new Set([badRow, badSecret]));
    // Each is also reported to `_operator`.
    const reported = await operatorEvents("switchyard.delivery.failed", "tenant_id", f.tid);
    expect(reported.map((e) => e.data.reason)).toEqual(Array.from({ length: 8 }, () => "consumer_error"));
    expect(new Set(reported.map((e) => e.data.endpoint_id))).toEqual(new Set([badRow, badSecret]));
  });

  it("ingest whose deliveries send is refused: a keyed event stays (503), its repeats answer 200 and send it, an unkeyed one is removed (503) and posted again; nothing is created or sent twice", async () => {
    const key = uniq("refused");
    const f = await fixture("refused", [`/ok/${key}/a`, `/ok/${key}/b`, `/fail-each/1/${key}/c`], { retry_schedule: [1] });
    const refusing = envWith({ DELIVERY_QUEUE: fakeQueue(true).queue });
    const keyed = Array.from({ length: 4 }, (_, i) => ({ type: TYPE, data: { i }, id: `${key}-${i}` }));
    for (const body of keyed) {
      const res = await postWith(refusing, f.tid, body);
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    const unkeyed = await postWith(refusing, f.tid, { type: TYPE, data: { unkeyed: true } });
    expect(unkeyed.status).toBe(503);
    // The keyed events are stored with their deliveries untried; the unkeyed one is gone.
    expect((await tenantEvents(f)).map((e) => e.id)).toEqual(keyed.map((b) => b.id));
    expect((await tenantDeliveries(f)).map((d) => [d.status, d.attempts])).toEqual(Array.from({ length: 12 }, () => ["pending", 0]));
    expect(await receiverLog(`/ok/${key}/`)).toEqual([]);

    // The careful client posts each again, twice (the queue works now): 200 with the original event.
    for (const body of keyed) {
      for (let i = 0; i < 2; i++) {
        const res = await postWith(env, f.tid, body);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.id).toBe(body.id);
      }
    }
    expect((await postWith(env, f.tid, { type: TYPE, data: { unkeyed: true } })).status).toBe(202);
    await settle(f, 15);
    expect(await tenantDeliveries(f)).toHaveLength(15);

    // And once more after everything was delivered: nothing is created or re-sent.
    const before = await accountFixture(f);
    for (const body of keyed) expect((await postWith(env, f.tid, body)).status).toBe(200);
    await sleep(1500);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.events).toBe(5);
    expect(report.deliveries).toBe(15);
    expect(report.delivered).toBe(15);
    expect(report.receiverRequests).toBe(before.receiverRequests);
    expect(report.attempts).toBe(20); // 5 × (a, b) + 5 × (500, 200) at c
    expect(report.duplicates).toBe(0);
  });

  it("lost messages: retries and a released FIFO head whose messages were lost, and keyed events whose send failed and whose client never came back, are re-driven by the TenantLog's alarm", async () => {
    const key = uniq("lost");
    const f = await fixture("lost", [`/ok/${key}/a`, `/fail-each/1/${key}/b`, [`/ok/${key}/c`, { ordering: "fifo" }]], { retry_schedule: [1] });
    const [, b, c] = [...f.endpoints.keys()] as [string, string, string];
    // Three events, delivered by a consumer whose queue loses every message it sends: b's
    // three retries and the FIFO head its first delivery released at c.
    const held = await ingestHeld(f, 3);
    expect(held.messages.map((m) => m.p.length)).toEqual([3, 2, 2]); // c's line: only its head is due
    const lossy = testDeps();
    const consumed = await consume(lossy, held.messages);
    expect(consumed.acked.size).toBe(3);
    const lost = takeDeliverMessages(lossy.delivery).map(bodyOf);
    expect(lost).toHaveLength(4);
    // Two keyed events whose deliveries send was refused (503); the client never comes back.
    const refusing = envWith({ DELIVERY_QUEUE: fakeQueue(true).queue });
    for (let i = 0; i < 2; i++) {
      const res = await postWith(refusing, f.tid, { type: TYPE, data: { keyed: i } }, { "idempotency-key": `${key}-${i}` });
      expect(res.status).toBe(503);
    }
    // Time passes (the log's own clock cannot be waited for): the retries and the released
    // head were due 16 minutes ago, past the 15 that mark a lost message, and the keyed
    // events' minute is up.
    const now = Date.now();
    for (const table of await deliveryTables(f.log)) {
      await logSql(f.log, `UPDATE ${table} SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at IS NOT NULL`, now - 16 * 60_000);
    }
    await logSql(f.log, `UPDATE unsent SET due_at = ?`, now - 1);
    const ordinalOf = new Map((await logSql<{ id: string; ordinal: number }>(f.log, `SELECT id, ordinal FROM endpoints`)).map((r) => [r.id, r.ordinal]));
    const generation = async (m: LogDeliverMessage) => (await f.log.getDelivery(m.p[0]!, m.e))!.generation;
    const generations = await Promise.all(lost.map(generation));
    expect(lost.filter((m) => m.p[0] === ordinalOf.get(b))).toHaveLength(3);
    expect(lost.filter((m) => m.p[0] === ordinalOf.get(c)).map((m) => m.e)).toEqual([held.seqs[1]]);

    const before = await accountFixture(f, false);
    // What the alarm exists for: b's three retries, c's released head, and a and b of both keyed events (untried).
    expect(before.stuck).toBe(8);

    // An object evicted (as any may be, at any time) looks for overdue work on its first
    // alarm run; one that stays up looks every 15 minutes, which a test cannot wait for.
    await evictDurableObject(f.log);
    expect(await runDurableObjectAlarm(f.log)).toBe(true);
    await settle(f, 15);
    // The alarm bumped the generation of each re-driven delivery: the lost messages, if they
    // ever arrived, are stale and send nothing.
    expect(await Promise.all(lost.map(generation))).toEqual(generations.map((g) => g + 1));
    const settled = await accountFixture(f);
    const stale = await worker.queue("switchyard-deliveries", lost.map((m) => qm(m)));
    expect(stale.outcome).toBe("ok");
    expect(stale.explicitAcks).toHaveLength(4);
    await sleep(1000);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.events).toBe(5);
    expect(report.deliveries).toBe(15);
    expect(report.delivered).toBe(15);
    expect(report.attempts).toBe(20); // a: 5; b: 500 then 200, 5 times; c: 5, in event order
    expect(report.receiverRequests).toBe(settled.receiverRequests);
    expect(report.duplicates).toBe(0);
    // c's line delivered in event order.
    const events = await tenantEvents(f);
    const atC = (await receiverLog(`/ok/${key}/c`)).map((r) => r.headers["webhook-id"]);
    expect(atC).toEqual(events.map((e) => e.id));
  });
});

/** A D1 binding whose statements matching `pattern` throw while `failing()` is true (D1's own overload message). */
function d1FailingOn(real: D1Database, pattern: RegExp, failing: () => boolean): D1Database {
  const check = (sql: string) => {
    if (failing() && pattern.test(sql)) throw new Error("D1_ERROR: D1 DB is overloaded. Requests queued for too long. (injected fault)");
  };
  const sqlOf = new WeakMap<object, string>();
  const wrap = (s: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const w = {
      bind: (...args: unknown[]) => wrap(s.bind(...args), sql),
      first: async (col?: string) => (check(sql), col === undefined ? s.first() : s.first(col)),
      run: async () => (check(sql), s.run()),
      all: async () => (check(sql), s.all()),
      raw: async (o?: { columnNames?: boolean }) => (check(sql), s.raw(o as { columnNames: true })),
    };
    sqlOf.set(w, sql);
    realOf.set(w, s);
    return w as unknown as D1PreparedStatement;
  };
  const realOf = new WeakMap<object, D1PreparedStatement>();
  return {
    prepare: (sql: string) => wrap(real.prepare(sql), sql),
    batch: async (stmts: D1PreparedStatement[]) => {
      for (const st of stmts) check(sqlOf.get(st) ?? "");
      return real.batch(stmts.map((st) => realOf.get(st) ?? st));
    },
    exec: (sql: string) => real.exec(sql),
    withSession: (...a: Parameters<D1Database["withSession"]>) => real.withSession(...a),
    dump: () => real.dump(),
  } as unknown as D1Database;
}

describe("our own trouble is weather (docs/production.md)", () => {
  it("ingest whose event-type read fails is refused whole, never narrowed: once D1 is back the group-filtered endpoint gets its delivery", async () => {
    const type = "weather.grouped.thing";
    await ensureType(type, "weather-group");
    const tid = await newTenant("weather");
    const key = uniq("weather");
    const byGroup = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/group`, filter: { groups: ["weather-group"] } });
    const byWildcard = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/wild`, filter: { types: ["weather.*"] } });
    const delivery = fakeQueue();
    const failing = d1FailingOn(env.DB, /event_types/, () => true);
    const refused = await postWith(envWith({ DB: failing, DELIVERY_QUEUE: delivery.queue }), tid, { type, data: { n: 1 }, id: `${key}-ev` });
    expect(refused.status).toBe(503);
    // Nothing was stored or sent: the event was not accepted with fewer deliveries.
    expect(delivery.sent).toEqual([]);
    const log = env.TENANT_LOG.getByName(String(await tenantSeqOf(tid)));
    expect((await log.listEvents({ limit: 10 })).items).toEqual([]);

    // The client's retry, with D1 healthy again, reaches both endpoints.
    const accepted = await postWith(envWith({ DELIVERY_QUEUE: delivery.queue }), tid, { type, data: { n: 1 }, id: `${key}-ev` });
    expect(accepted.status).toBe(202);
    const ev = (await log.getEvent((await log.findEventSeq(`${key}-ev`))!))!;
    expect(ev.deliveries.map((d) => d.endpointId).sort()).toEqual([byGroup.id, byWildcard.id].sort());
    const sent = delivery.sent.map((m) => m.body as LogDeliverMessage);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.p.sort()).toEqual(ev.deliveries.map((d) => d.ordinal).sort());
  });

  it("a delivery message in the deliveries DLQ is re-driven with its trouble record, never marked failed; back in the delivery queue it delivers", async () => {
    const key = uniq("dlq");
    const f = await fixture("dlq", [`/ok/${key}`]);
    const held = await ingestHeld(f, 1);
    const redrive = fakeQueue();
    const { batch, acked } = fakeBatch("switchyard-deliveries-dlq", [{ body: held.messages[0]!, attempts: 1 }]);
    await handleLogDeliveryDeadLetters(batch, envWith({ DELIVERY_QUEUE: redrive.queue }));
    expect(acked.size).toBe(1);
    expect(redrive.sent).toHaveLength(1);
    const redriven = redrive.sent[0]!;
    expect(redriven.body).toMatchObject({ kind: "deliver", t: f.t, e: held.seqs[0], g: 0, trouble: { since: expect.any(Number), redrives: 1 } });
    expect(redriven.delaySeconds).toBeGreaterThanOrEqual(48); // 60 s ± 20 %
    expect((await tenantDeliveries(f)).map((d) => [d.status, d.attempts])).toEqual([["pending", 0]]);
    await runLogAlarm(f.log);
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`).bind(f.tid).first("n")).toBe(0);
    // A second trip through the DLQ doubles the delay and keeps when the trouble began.
    const again = fakeBatch("switchyard-deliveries-dlq", [{ body: redriven.body as LogDeliverMessage }]);
    await handleLogDeliveryDeadLetters(again.batch, envWith({ DELIVERY_QUEUE: redrive.queue }));
    expect(redrive.sent[1]!.body).toMatchObject({ trouble: { since: (redriven.body as LogDeliverMessage).trouble!.since, redrives: 2 } });
    expect(redrive.sent[1]!.delaySeconds).toBeGreaterThanOrEqual(96);
    // Once back in the delivery queue it delivers as any other message.
    const res = await worker.queue("switchyard-deliveries", [qm(redrive.sent[1]!.body)]);
    expect(res.outcome).toBe("ok");
    expect(res.explicitAcks).toHaveLength(1);
    await settle(f, 1);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect([report.delivered, report.attempts, report.receiverRequests]).toEqual([1, 1, 1]);
  });

  it("SECRETS_KEY missing for a while fails nothing: messages are retried with backoff, re-driven from the DLQ, and delivered once the key is back", async () => {
    const key = uniq("nokey");
    const f = await fixture("nokey", [`/ok/${key}/a`, `/ok/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f, 2);
    expect(held.messages).toHaveLength(2);
    let items = held.messages.map((body) => ({ body, attempts: 1 }));
    let lastDelay = 0;
    for (let attempt = 1; attempt <= MAX_RETRIES + 1; attempt++) {
      items = items.map((i) => ({ ...i, attempts: attempt }));
      const { batch, acked, retried, retryDelays } = fakeBatch("switchyard-deliveries", items);
      // A fresh env each time: the config is read once per env object.
      await handleLogDeliveryBatch(batch, envWith({ SECRETS_KEY: undefined as unknown as string }));
      expect(acked.size).toBe(0);
      expect(retried.size).toBe(2);
      const delays = [...retryDelays.values()].map((d) => d ?? 0);
      expect(Math.min(...delays)).toBeGreaterThan(lastDelay);
      lastDelay = Math.max(...delays);
    }
    // Then the DLQ, which re-drives them (still without the key: it needs none).
    const deliveries = fakeQueue();
    const dlq = fakeBatch("switchyard-deliveries-dlq", items);
    await handleLogDeliveryDeadLetters(dlq.batch, envWith({ SECRETS_KEY: undefined as unknown as string, DELIVERY_QUEUE: deliveries.queue }));
    expect(dlq.acked.size).toBe(2);
    expect(deliveries.sent).toHaveLength(2);
    expect((await tenantDeliveries(f)).map((d) => [d.status, d.attempts])).toEqual(Array.from({ length: 4 }, () => ["pending", 0]));
    expect(await receiverLog(`/ok/${key}/`)).toEqual([]);
    // The key is back: the re-driven messages deliver every one, each sent once.
    const res = await worker.queue("switchyard-deliveries", deliveries.sent.map((m) => qm(m.body)));
    expect(res.outcome).toBe("ok");
    await settle(f, 4);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(4);
    expect(report.failedByReason).toEqual({});
    expect(report.receiverRequests).toBe(4);
  });

  it("ingest whose event-type read fails answers 503 with Retry-After, never 422 \"unknown event type\", and stores nothing", async () => {
    const type = "weather.ingest.thing";
    await ensureType(type);
    const tid = await newTenant("ingestfail");
    const refused = await postWith(envWith({ DB: d1FailingOn(env.DB, /event_types/, () => true) }), tid, { type, data: { n: 1 } }, { "idempotency-key": "k-1" });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const log = env.TENANT_LOG.getByName(String(await tenantSeqOf(tid)));
    expect((await log.listEvents({ limit: 10 })).items).toEqual([]);
    // The careful client's retry, once D1 is back, is accepted.
    expect((await postWith(env, tid, { type, data: { n: 1 } }, { "idempotency-key": "k-1" })).status).toBe(202);
    expect((await log.listEvents({ limit: 10 })).items).toHaveLength(1);
  });
});
