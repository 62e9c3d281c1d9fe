/**
 * Issue 13 (2): queue faults. Inside workerd with real D1, the real consumers
 * (`exports.default.queue`, which routes to them; or the handler itself when the test
 * must inject a fault into its `env`), the real Sweeper alarm and the real receiver.
 * Every scenario ends with the same accounting (test/support/accounting.ts): each
 * accepted event has exactly one delivery per matching endpoint, each `delivered` or
 * `failed` with one dead letter, none stuck `pending`, the receiver saw each event.
 *
 * Messages the Worker itself sends (retries, a fan-out's deliveries) go to the local
 * queues, whose consumer also runs on its own; tests wait for D1 to settle.
 *
 * Run: npx vitest run --project integration test/integration/reliability-queue-faults.test.ts
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { worker } from "../support/worker-handlers";
import { describe, expect, it, vi } from "vitest";
import { handleDeliveryBatch } from "../../src/pipeline/deliver";
import { handleFanoutBatch } from "../../src/pipeline/fanout";
import { createApp } from "../../src/api/app";
import { handleDeliveryDeadLetters, handleFanoutDeadLetters } from "../../src/pipeline/dead-letter";
import type { DeliverMessage, FanoutMessage } from "../../src/pipeline/messages";
import { account, receivedKey, summary, type AccountingReport } from "../support/accounting";
import { pipelineDeps } from "../../src/pipeline/deps";
import { deliverMessages, ensureType, fakeBatch, fakeQueue, fanoutMessages, ingest, newEndpoint, newTenant, receiver, receiverLog, sleep, uniq, waitFor } from "./pipeline-helpers";

vi.setConfig({ testTimeout: 60_000 });

const TYPE = "reliability.thing.happened";
/** wrangler.toml: the delivery consumer's max_retries. */
const MAX_RETRIES = 5;

// ---------------------------------------------------------------- fixtures

interface Fixture {
  tid: string;
  /** endpoint id → receiver path */
  endpoints: Map<string, string>;
}

/** A tenant whose endpoints all have catch-all filters, one per receiver path. */
async function fixture(name: string, paths: string[], options: Record<string, unknown> = {}): Promise<Fixture> {
  await ensureType(TYPE);
  const tid = await newTenant(name);
  const endpoints = new Map<string, string>();
  for (const path of paths) {
    const ep = await newEndpoint(tid, { url: `${receiver()}${path}`, ...options });
    endpoints.set(ep.id, path);
  }
  return { tid, endpoints };
}

/** A queue message as `exports.default.queue` takes it. */
const qm = <B>(body: B, attempts = 1) => ({ id: uniq("m"), timestamp: new Date(), attempts, body });

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

// ---------------------------------------------------------------- reading D1 and the receiver

interface DeliveryRowLite {
  seq: number;
  event_id: string;
  event_seq: number;
  endpoint_id: string;
  status: string;
  reason: string | null;
  attempts: number;
  generation: number;
  next_attempt_at: number | null;
}

async function tenantDeliveries(tid: string): Promise<DeliveryRowLite[]> {
  const { results } = await env.DB.prepare(
    `SELECT d.seq, e.id AS event_id, d.event_seq, d.endpoint_id, d.status, d.reason, d.attempts, d.generation, d.next_attempt_at
     FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.tenant_id = ? AND d.test = 0 ORDER BY d.seq`,
  )
    .bind(tid)
    .all<DeliveryRowLite>();
  return results;
}

/** Waits until none of the tenant's deliveries is pending (and at least `min` exist). */
async function settle(tid: string, min: number, timeoutMs = 40_000): Promise<void> {
  await waitFor(
    `the deliveries of ${tid} to settle`,
    async () => {
      const rows = await tenantDeliveries(tid);
      return rows.length >= min && rows.every((r) => r.status !== "pending");
    },
    timeoutMs,
    100,
  );
}

/** The accounting of one fixture's tenant, from D1 and the receiver's log. */
async function accountFixture(f: Fixture, final = true): Promise<AccountingReport> {
  const { results: events } = await env.DB.prepare(`SELECT id, fanned_out FROM events WHERE tenant_id = ? AND test = 0`).bind(f.tid).all<{ id: string; fanned_out: number }>();
  const deliveries = await tenantDeliveries(f.tid);
  const { results: dls } = await env.DB.prepare(`SELECT delivery_seq, COUNT(*) AS n FROM dead_letters WHERE tenant_id = ? AND delivery_seq IS NOT NULL GROUP BY delivery_seq`)
    .bind(f.tid)
    .all<{ delivery_seq: number; n: number }>();
  const received = new Map<string, number>();
  for (const [endpointId, path] of f.endpoints) {
    for (const r of await receiverLog(path)) {
      const key = receivedKey(endpointId, r.headers["webhook-id"] ?? "");
      received.set(key, (received.get(key) ?? 0) + 1);
    }
  }
  const report = account({
    events: events.map((e) => ({ id: e.id, tenantId: f.tid, expectedEndpoints: [...f.endpoints.keys()], fannedOut: e.fanned_out })),
    deliveries: deliveries.map((d) => ({
      id: String(d.seq),
      eventId: d.event_id,
      endpointId: d.endpoint_id,
      status: d.status,
      reason: d.reason,
      attempts: d.attempts,
      nextAttemptAt: d.next_attempt_at,
    })),
    deadLetters: new Map(dls.map((r) => [String(r.delivery_seq), r.n])),
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

/** Ingests `n` events without fanning them out (their fan-out messages are returned, not sent). */
async function ingestHeld(tid: string, n: number): Promise<{ seqs: number[]; ids: string[]; messages: FanoutMessage[] }> {
  const fanout = fakeQueue();
  const deps = pipelineDeps(envWith({ FANOUT_QUEUE: fanout.queue }));
  const seqs: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const ev = await ingest(deps, tid, TYPE, { i });
    seqs.push(ev.seq);
    ids.push(ev.id);
  }
  return { seqs, ids, messages: fanoutMessages(fanout) };
}

/** Fans the events out with a fake delivery queue: the deliveries exist, their messages are returned unsent. */
async function fanOutHeld(fanouts: FanoutMessage[]): Promise<DeliverMessage[]> {
  const delivery = fakeQueue();
  const { batch, acked } = fakeBatch("switchyard-fanout", fanouts.map((body) => ({ body })));
  await handleFanoutBatch(batch, envWith({ DELIVERY_QUEUE: delivery.queue }));
  expect(acked.size).toBe(fanouts.length);
  return deliverMessages(delivery).map(({ d, g }) => ({ kind: "deliver", d, g }));
}

// ---------------------------------------------------------------- scenarios

describe("queue faults", () => {
  it("duplicate delivery: every consumer gets each message twice (in one batch, and again later); one delivery each, no resend after success", async () => {
    const key = uniq("dup");
    const f = await fixture("dup", [`/ok/${key}/a`, `/ok/${key}/b`, `/fail-each/1/${key}/c`, `/status/410/${key}/d`], { retry_schedule: [1, 1] });
    const held = await ingestHeld(f.tid, 6);

    // Fan-out consumer: each message twice in one batch.
    const fan = await worker.queue(
      "switchyard-fanout",
      held.messages.flatMap((m) => [qm(m), qm(m)]),
    );
    expect(fan.outcome).toBe("ok");
    expect(await tenantDeliveries(f.tid)).toHaveLength(6 * 4);
    // The fan-out sent one message per delivery to the real queue (its consumer runs on
    // its own). The test sends each a second time, at once, through the consumer.
    const first = (await tenantDeliveries(f.tid)).map((d) => ({ kind: "deliver" as const, d: d.seq, g: d.generation }));
    const dup = await worker.queue("switchyard-deliveries", first.map((m) => qm(m)));
    expect(dup.outcome).toBe("ok");
    await settle(f.tid, 24);

    // Later copies of everything, twice each: the fan-out adds nothing, the delivery
    // consumer sends nothing (success or failure is recorded), the DLQ consumer records nothing.
    const before = await accountFixture(f);
    const late = await worker.queue("switchyard-fanout", held.messages.flatMap((m) => [qm(m), qm(m)]));
    expect(late.outcome).toBe("ok");
    const lateDeliveries = await worker.queue("switchyard-deliveries", first.flatMap((m) => [qm(m), qm(m, 2)]));
    expect(lateDeliveries.outcome).toBe("ok");
    const lateDlq = await worker.queue("switchyard-deliveries-dlq", first.flatMap((m) => [qm(m), qm(m)]));
    expect(lateDlq.outcome).toBe("ok");
    await sleep(1500);
    const after = await accountFixture(f);
    expectNothingLost(after);
    expect(after.deliveries).toBe(24);
    expect(after.delivered).toBe(18); // a, b, and c after one 500
    expect(after.failedByReason).toEqual({ non_retryable_status: 6 });
    expect(after.receiverRequests).toBe(before.receiverRequests);
    expect(after.attempts).toBe(before.attempts);
    expect(after.deadLetters).toBe(6);
    // Two copies processed at the same instant by two invocations may both send (DESIGN:
    // at-least-once; receivers dedupe on webhook-id): bounded by the copies, reported.
    expect(after.duplicates).toBeLessThanOrEqual(first.length);
  });

  it("duplicate delivery inside one batch: each delivery is sent once, later copies see the recorded outcome", async () => {
    const key = uniq("dupbatch");
    const f = await fixture("dupbatch", [`/ok/${key}/a`, `/fail-each/1/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f.tid, 5);
    const messages = await fanOutHeld(held.messages);
    expect(messages).toHaveLength(10);
    // Originals first, then the copies: ten messages, six lanes, so some copies start
    // after their original's outcome was written.
    const { batch, acked, retried } = fakeBatch("switchyard-deliveries", [...messages, ...messages].map((body) => ({ body })));
    await handleDeliveryBatch(batch, env);
    expect(retried.size).toBe(0);
    expect(acked.size).toBe(20);
    await settle(f.tid, 10);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(10);
    expect(report.attempts).toBe(15); // a: 1 each; b: 500 then 200
    expect(report.duplicates).toBe(0);
    expect(report.receiverRequests).toBe(15);
  });

  it("an outcome write that fails after a 2xx is retried in process: nothing is sent twice", async () => {
    const key = uniq("blip");
    const f = await fixture("blip", [`/ok/${key}/a`, `/ok/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f.tid, 3);
    const messages = await fanOutHeld(held.messages);
    expect(messages).toHaveLength(6);
    // One execution loads the batch, three outcome writes succeed, the next three fail once.
    const db = flakyD1(env.DB, 1 + 3, 3);
    const { batch, acked, retried } = fakeBatch("switchyard-deliveries", messages.map((body) => ({ body })));
    await handleDeliveryBatch(batch, envWith({ DB: db }));
    expect(acked.size).toBe(6);
    expect(retried.size).toBe(0);
    await settle(f.tid, 6);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(6);
    expect(report.attempts).toBe(6);
    expect(report.duplicates).toBe(0);
    expect(report.receiverRequests).toBe(6);
  });

  it("a batch whose D1 stays away after half its outcome writes: the unrecorded half is retried with backoff and delivered again (at-least-once), nothing lost", async () => {
    const key = uniq("flaky");
    const f = await fixture("flaky", [`/ok/${key}/a`, `/ok/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f.tid, 3);
    const messages = await fanOutHeld(held.messages);
    expect(messages).toHaveLength(6);
    // One execution to load the batch, then three outcome writes succeed; the rest throw.
    const db = flakyD1(env.DB, 1 + 3);
    const { batch, acked, retried, retryDelays } = fakeBatch("switchyard-deliveries", messages.map((body) => ({ body })));
    await handleDeliveryBatch(batch, envWith({ DB: db }));
    expect(acked.size).toBe(3);
    expect(retried.size).toBe(3);
    // Our own trouble: retried later with a delay, never at once.
    for (const delay of retryDelays.values()) expect(delay).toBeGreaterThanOrEqual(1);
    // All six were sent before the database failed.
    const sentFirst = (await receiverLog(`/ok/${key}/`)).length;
    expect(sentFirst).toBe(6);
    expect((await tenantDeliveries(f.tid)).filter((d) => d.status === "delivered")).toHaveLength(3);

    // The queue redelivers the retried messages (attempts 2) to a healthy consumer.
    const again = batch.messages.filter((m) => retried.has(m.id)).map((m) => qm(m.body, 2));
    const res = await worker.queue("switchyard-deliveries", again);
    expect(res.outcome).toBe("ok");
    expect(res.explicitAcks).toHaveLength(3);
    await settle(f.tid, 6);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.delivered).toBe(6);
    expect(report.attempts).toBe(6);
    // The three sent-but-unrecorded attempts were sent again: a crash after a 2xx.
    expect(report.duplicates).toBe(3);
    expect(report.receiverRequests).toBe(9);
  });

  it("a batch where half the deliveries point at broken state (a corrupt endpoint row, an undecryptable secret): the healthy half is delivered, the broken half is re-driven from the DLQ and fails with consumer_error only after CONSUMER_GIVE_UP_H", async () => {
    const key = uniq("poison");
    const f = await fixture("poison", [`/ok/${key}/good`, `/ok/${key}/badrow`, `/ok/${key}/badsecret`], { retry_schedule: [1] });
    const [good, badRow, badSecret] = [...f.endpoints.keys()] as [string, string, string];
    const held = await ingestHeld(f.tid, 4);
    const messages = await fanOutHeld(held.messages);
    expect(messages).toHaveLength(12);
    await env.DB.prepare(`UPDATE endpoints SET headers = '{not json' WHERE id = ?`).bind(badRow).run();
    // Sealed with a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS (a rotation gone wrong).
    await env.DB.prepare(`UPDATE endpoint_secrets SET secret_box = 'v1.deadbeef.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA' WHERE endpoint_id = ?`).bind(badSecret).run();

    let pending = messages.map((body) => qm(body, 1));
    const first = await worker.queue("switchyard-deliveries", pending);
    expect(first.outcome).toBe("ok");
    // The healthy four were delivered and acked on the first try, whatever shares their batch.
    const rows = await tenantDeliveries(f.tid);
    expect(rows.filter((d) => d.endpoint_id === good).map((d) => d.status)).toEqual(["delivered", "delivered", "delivered", "delivered"]);
    const retriedIds = new Set(first.retryMessages.map((m) => m.msgId));
    expect(retriedIds.size).toBe(8);
    // The queue retries them up to max_retries with growing delays, then hands them to the DLQ consumer.
    pending = pending.filter((m) => retriedIds.has(m.id));
    let lastDelay = 0;
    for (let attempt = 2; attempt <= MAX_RETRIES + 1; attempt++) {
      pending = pending.map((m) => ({ ...m, attempts: attempt }));
      const res = await worker.queue("switchyard-deliveries", pending);
      expect(res.retryMessages).toHaveLength(8);
      const delays = res.retryMessages.map((m) => m.delaySeconds ?? 0);
      expect(Math.min(...delays)).toBeGreaterThan(lastDelay);
      lastDelay = Math.max(...delays);
    }
    // The DLQ re-drives them: still pending, nothing failed, no dead letter.
    const dlq = await worker.queue("switchyard-deliveries-dlq", pending);
    expect(dlq.outcome).toBe("ok");
    expect(dlq.explicitAcks).toHaveLength(8);
    const redriven = (await tenantDeliveries(f.tid)).filter((d) => d.endpoint_id !== good);
    expect(redriven.every((d) => d.status === "pending" && d.attempts === 0)).toBe(true);
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`).bind(f.tid).first("n")).toBe(0);

    // Re-driven for CONSUMER_GIVE_UP_H (72 h) and still broken: now they fail.
    const since = Date.now() - 72 * 3_600_000 - 1;
    const givenUp = await worker.queue(
      "switchyard-deliveries-dlq",
      pending.map((m) => ({ ...m, body: { ...(m.body as DeliverMessage), trouble: { since, redrives: 80 } } })),
    );
    expect(givenUp.explicitAcks).toHaveLength(8);

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
  });

  it("a fan-out whose delivery send failed after its deliveries were written: the redelivered fan-out message sends them, nothing is created twice", async () => {
    const key = uniq("refan");
    const f = await fixture("refan", [`/ok/${key}/a`, `/ok/${key}/b`, `/fail-each/1/${key}/c`], { retry_schedule: [1] });
    const held = await ingestHeld(f.tid, 4);
    // The fan-out consumer writes the deliveries, then the send to the delivery queue fails.
    const refusing = fakeQueue(true);
    const { batch, acked, retried } = fakeBatch("switchyard-fanout", held.messages.map((body) => ({ body })));
    await handleFanoutBatch(batch, envWith({ DELIVERY_QUEUE: refusing.queue }));
    expect(acked.size).toBe(0);
    expect(retried.size).toBe(4);
    const written = await tenantDeliveries(f.tid);
    expect(written).toHaveLength(12);
    expect(written.every((d) => d.status === "pending" && d.attempts === 0)).toBe(true);

    // The queue redelivers the fan-out messages (attempts 2), twice each.
    const res = await worker.queue("switchyard-fanout", held.messages.flatMap((m) => [qm(m, 2), qm(m, 2)]));
    expect(res.outcome).toBe("ok");
    await settle(f.tid, 12);
    expect(await tenantDeliveries(f.tid)).toHaveLength(12);

    // And once more after everything was delivered: nothing is created or re-sent.
    const before = await accountFixture(f);
    const late = await worker.queue("switchyard-fanout", held.messages.flatMap((m) => [qm(m, 1), qm(m, 3)]));
    expect(late.outcome).toBe("ok");
    await sleep(1500);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.deliveries).toBe(12);
    expect(report.delivered).toBe(12);
    expect(report.receiverRequests).toBe(before.receiverRequests);
    expect(report.attempts).toBe(16); // 4 × (a, b) + 4 × (500, 200) at c
  });

  it("lost messages: a delivery message that was never sent and a fan-out message that was never sent are re-driven by the Sweeper alarm", async () => {
    const key = uniq("lost");
    const f = await fixture("lost", [`/ok/${key}/a`, `/fail-each/1/${key}/b`], { retry_schedule: [1] });
    // Three events fanned out whose delivery messages are lost (never sent) …
    const held = await ingestHeld(f.tid, 3);
    const lostDeliveries = await fanOutHeld(held.messages);
    expect(lostDeliveries).toHaveLength(6);
    // … and two events whose fan-out message is lost.
    const unfanned = await ingestHeld(f.tid, 2);
    const now = Date.now();
    await env.DB.prepare(`UPDATE deliveries SET next_attempt_at = ? WHERE tenant_id = ? AND status = 'pending'`).bind(now - 16 * 60_000, f.tid).run();
    await env.DB.prepare(`UPDATE events SET created_at = ? WHERE tenant_id = ? AND fanned_out = 0`).bind(now - 2 * 60_000, f.tid).run();
    const generations = new Map((await tenantDeliveries(f.tid)).map((d) => [d.seq, d.generation]));

    const before = await accountFixture(f, false);
    expect(before.stuck).toBe(6); // what the Sweeper exists for

    const sweeper = env.SWEEPER.getByName("sweeper");
    await sweeper.arm();
    expect(await runDurableObjectAlarm(sweeper)).toBe(true);
    await settle(f.tid, 10);
    // The Sweeper bumped the generation of each re-enqueued delivery: the lost messages, if
    // they ever arrived, are stale and send nothing.
    for (const d of await tenantDeliveries(f.tid)) if (generations.has(d.seq)) expect(d.generation).toBe(generations.get(d.seq)! + 1);
    const settled = await accountFixture(f);
    const stale = await worker.queue("switchyard-deliveries", lostDeliveries.map((m) => qm(m)));
    expect(stale.outcome).toBe("ok");
    await sleep(1000);
    const report = await accountFixture(f);
    expectNothingLost(report);
    expect(report.events).toBe(5);
    expect(report.deliveries).toBe(10);
    expect(report.delivered).toBe(10);
    expect(report.attempts).toBe(15);
    expect(report.receiverRequests).toBe(settled.receiverRequests);
    expect(report.duplicates).toBe(0);
    // The two events whose fan-out message was lost were fanned out (accounting: fanned_out = 1).
    expect(report.deliveries - lostDeliveries.length).toBe(unfanned.ids.length * 2);
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
  it("a fan-out whose event-type read fails is retried later, never narrowed: the group-filtered endpoint still gets its delivery", async () => {
    const type = "weather.grouped.thing";
    await ensureType(type, "weather-group");
    const tid = await newTenant("weather");
    const key = uniq("weather");
    const byGroup = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/group`, filter: { groups: ["weather-group"] } });
    const byWildcard = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/wild`, filter: { types: ["weather.*"] } });
    const fanout = fakeQueue();
    const ev = await ingest(pipelineDeps(envWith({ FANOUT_QUEUE: fanout.queue })), tid, type, { n: 1 });
    const [message] = fanoutMessages(fanout);

    const delivery = fakeQueue();
    const failing = d1FailingOn(env.DB, /event_types/, () => true);
    const broken = fakeBatch("switchyard-fanout", [{ body: message! }]);
    await handleFanoutBatch(broken.batch, envWith({ DB: failing, DELIVERY_QUEUE: delivery.queue }));
    expect(broken.acked.size).toBe(0);
    expect([...broken.retryDelays.values()]).toEqual([expect.any(Number)]);
    expect([...broken.retryDelays.values()][0]).toBeGreaterThanOrEqual(1);
    // Nothing was written or sent: the event waits, un-fanned, for the retry.
    const { results: none } = await env.DB.prepare(`SELECT seq FROM deliveries WHERE event_seq = ?`).bind(ev.seq).all();
    expect(none).toEqual([]);
    expect(delivery.sent).toEqual([]);
    expect(await env.DB.prepare(`SELECT fanned_out FROM events WHERE seq = ?`).bind(ev.seq).first("fanned_out")).toBe(0);

    // The retried message, with D1 healthy again, reaches both endpoints.
    const healthy = fakeBatch("switchyard-fanout", [{ body: message!, attempts: 2 }]);
    await handleFanoutBatch(healthy.batch, envWith({ DELIVERY_QUEUE: delivery.queue }));
    expect(healthy.acked.size).toBe(1);
    const { results: rows } = await env.DB.prepare(`SELECT endpoint_id FROM deliveries WHERE event_seq = ? ORDER BY endpoint_id`).bind(ev.seq).all<{ endpoint_id: string }>();
    expect(rows.map((r) => r.endpoint_id).sort()).toEqual([byGroup.id, byWildcard.id].sort());
  });

  it("a fan-out message in the fanout DLQ is re-driven with its trouble record, never marked failed", async () => {
    const tid = await newTenant("fdlq");
    await ensureType(TYPE);
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${uniq("fdlq")}` });
    const held = await ingestHeld(tid, 1);
    const fanout = fakeQueue();
    const { batch, acked } = fakeBatch("switchyard-fanout-dlq", [{ body: held.messages[0]!, attempts: 1 }]);
    await handleFanoutDeadLetters(batch, envWith({ FANOUT_QUEUE: fanout.queue }));
    expect(acked.size).toBe(1);
    expect(fanout.sent).toHaveLength(1);
    const redriven = fanout.sent[0]!;
    expect(redriven.body).toMatchObject({ kind: "fanout", e: held.seqs[0], trouble: { since: expect.any(Number), redrives: 1 } });
    expect(redriven.delaySeconds).toBeGreaterThanOrEqual(48); // 60 s ± 20 %
    expect(await env.DB.prepare(`SELECT fanned_out FROM events WHERE seq = ?`).bind(held.seqs[0]).first("fanned_out")).toBe(0);
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?`).bind(tid).first("n")).toBe(0);
    // A second trip through the DLQ doubles the delay and keeps when the trouble began.
    const again = fakeBatch("switchyard-fanout-dlq", [{ body: redriven.body as FanoutMessage }]);
    await handleFanoutDeadLetters(again.batch, envWith({ FANOUT_QUEUE: fanout.queue }));
    expect(fanout.sent[1]!.body).toMatchObject({ trouble: { since: (redriven.body as FanoutMessage).trouble!.since, redrives: 2 } });
    expect(fanout.sent[1]!.delaySeconds).toBeGreaterThanOrEqual(96);
    // Once back in the fan-out queue it fans out as any other message.
    const res = await worker.queue("switchyard-fanout", [qm(fanout.sent[1]!.body)]);
    expect(res.outcome).toBe("ok");
    await settle(tid, 1);
    expect((await tenantDeliveries(tid)).map((d) => [d.endpoint_id, d.status])).toEqual([[ep.id, "delivered"]]);
  });

  it("SECRETS_KEY missing for a while fails nothing: messages are retried with backoff, re-driven from the DLQ, and delivered once the key is back", async () => {
    const key = uniq("nokey");
    const f = await fixture("nokey", [`/ok/${key}/a`, `/ok/${key}/b`], { retry_schedule: [1] });
    const held = await ingestHeld(f.tid, 2);
    const messages = await fanOutHeld(held.messages);
    expect(messages).toHaveLength(4);
    const noKey = envWith({ SECRETS_KEY: undefined as unknown as string });
    let items = messages.map((body) => ({ body, attempts: 1 }));
    for (let attempt = 1; attempt <= MAX_RETRIES + 1; attempt++) {
      items = items.map((i) => ({ ...i, attempts: attempt }));
      const { batch, acked, retried, retryDelays } = fakeBatch("switchyard-deliveries", items);
      await handleDeliveryBatch(batch, noKey);
      expect(acked.size).toBe(0);
      expect(retried.size).toBe(4);
      for (const delay of retryDelays.values()) expect(delay).toBeGreaterThanOrEqual(1);
    }
    // Then the DLQ, which re-drives them (still without the key: it needs none).
    const deliveries = fakeQueue();
    const dlq = fakeBatch("switchyard-deliveries-dlq", items);
    await handleDeliveryDeadLetters(dlq.batch, envWith({ SECRETS_KEY: undefined as unknown as string, DELIVERY_QUEUE: deliveries.queue }));
    expect(dlq.acked.size).toBe(4);
    expect(deliveries.sent).toHaveLength(4);
    const rows = await tenantDeliveries(f.tid);
    expect(rows.every((d) => d.status === "pending" && d.attempts === 0)).toBe(true);
    expect(await receiverLog(`/ok/${key}/`)).toEqual([]);
    // The key is back: the re-driven messages deliver every one, each sent once.
    const res = await worker.queue("switchyard-deliveries", deliveries.sent.map((m) => qm(m.body)));
    expect(res.outcome).toBe("ok");
    await settle(f.tid, 4);
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
    const app = createApp();
    const post = (db: D1Database) =>
      app.fetch(
        new Request(`http://x/v1/tenants/${tid}/events`, {
          method: "POST",
          headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", "idempotency-key": "k-1" },
          body: JSON.stringify({ type, data: { n: 1 } }),
        }),
        envWith({ DB: db }),
        { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
      );
    const refused = await post(d1FailingOn(env.DB, /event_types/, () => true));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await env.DB.prepare(`SELECT COUNT(*) AS n FROM events WHERE tenant_id = ?`).bind(tid).first("n")).toBe(0);
    // The careful client's retry, once D1 is back, is accepted.
    expect((await post(env.DB)).status).toBe(202);
  });
});
