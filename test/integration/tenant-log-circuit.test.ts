/**
 * The TenantLog's circuit breaker (DESIGN.md "Delivery rules": circuit breaker, issue 18):
 * each transition with a controlled clock — `claim` takes `now`, and `record` reads the time
 * of each attempt — and the alarm (which reads Date.now()) driven through runInDurableObject
 * on state backdated by recording the attempts that opened it in the past. Also the
 * per-endpoint cap of a claim, and the rows each step writes. Each test uses its own object;
 * sends are observed on a fake delivery queue (the object's alarms fire on their own).
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AttemptRecord } from "../../src/domain/attempt";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { CircuitSettings, DeliveryJob, IngestInput, LogDeliverMessage, Outcome } from "../../src/tenant-log/types";
import { fakeQueue, uniq, waitFor } from "./pipeline-helpers";
import { endpointSnapshot as endpoint } from "./tenant-log-helpers";

const log = () => env.TENANT_LOG.getByName(uniq("tenant-log-circuit"));
type Stub = ReturnType<typeof log>;

const SECOND = 1000;
/** How long each attempt here takes. */
const TOOK = 10;

let n = 0;
const event = (over: Partial<IngestInput> = {}): IngestInput => ({
  tenantSeq: 7,
  id: `evt-circuit-${++n}`,
  type: "report.completed",
  group: "inspections",
  dataJson: JSON.stringify({ n }),
  occurredAt: null,
  idemKey: null,
  bodyHash: `hash-circuit-${n}`,
  now: Date.now(),
  fullBytes: 9 * 1024 ** 3,
  ...over,
});

/** An attempt started at `at`: answered with `status`, or no answer at all (null: a timeout). */
const attempt = (n: number, status: number | null, at: number): AttemptRecord => ({
  n,
  startedAt: at,
  durationMs: TOOK,
  responseStatus: status,
  responseBody: status === null ? null : "body",
  error: status === null ? "timeout" : null,
  location: null,
  requestMethod: "POST",
  requestUrl: "https://example.com/hook",
  requestHeaders: { "webhook-signature": "[redacted]" },
});

async function ingest(stub: Stub, input: IngestInput = event()) {
  const r = await stub.ingest(input);
  if (r.kind !== "accepted") throw new Error(`not accepted: ${r.kind}`);
  return r;
}

/** Ingests `count` events and answers each one's job for `ordinal`. */
async function jobsFor(stub: Stub, ordinal: number, count: number): Promise<DeliveryJob[]> {
  const jobs: DeliveryJob[] = [];
  for (let i = 0; i < count; i++) {
    const r = await ingest(stub);
    jobs.push({ e: r.event.seq, p: [ordinal], g: 0 });
  }
  return jobs;
}

/**
 * One consumer batch at `now`: one claim, then one record in which every `go` got `answer`
 * (a status, or "unreachable": no answer; a retry is then due 5 s later).
 */
async function consume(stub: Pick<Stub, "claim" | "record"> | TenantLog, jobs: DeliveryJob[], now: number, answer: number | "unreachable") {
  const claimed = await stub.claim(jobs, now);
  const outcomes: Outcome[] = [];
  for (const v of claimed.verdicts) {
    if (v.kind !== "go") continue;
    const status = answer === "unreachable" ? null : answer;
    const retry = status === null || status >= 500;
    outcomes.push({
      e: v.e,
      ordinal: v.ordinal,
      generation: v.generation,
      attemptsBefore: v.attemptsBefore,
      runStart: v.runStart,
      attempt: attempt(v.attemptsBefore + 1, status, now),
      status: status !== null && status < 300 ? "delivered" : retry ? "pending" : "failed",
      reason: status !== null && status >= 300 && !retry ? "non_retryable_status" : null,
      nextAttemptAt: retry ? now + TOOK + 5 * SECOND : null,
      unreachable: status === null,
    });
  }
  const recorded = await stub.record(outcomes);
  return { claimed, kinds: claimed.verdicts.map((v) => v.kind), recorded };
}

/** Opens the circuit of `ordinal` (openAfter unreachable outcomes, one batch each) at `at`; answers the opening's change. */
async function openAt(stub: Stub, ordinal: number, at: number, openAfter = 3) {
  for (let i = 0; i < openAfter; i++) {
    const [job] = await jobsFor(stub, ordinal, 1);
    const { kinds, recorded } = await consume(stub, [job!], at, "unreachable");
    expect(kinds).toEqual(["go"]);
    if (i < openAfter - 1) expect(recorded.circuits).toBeUndefined();
    else return recorded.circuits!;
  }
  throw new Error("unreachable");
}

async function observeQueue(stub: Stub) {
  const queue = fakeQueue();
  await runInDurableObject(stub, (instance: TenantLog) => {
    const holder = instance as unknown as { env: Env };
    holder.env = Object.create(holder.env, { DELIVERY_QUEUE: { value: queue.queue, enumerable: true } }) as Env;
  });
  return { ...queue, jobs: () => queue.sent.map((m) => m.body as LogDeliverMessage).map(({ e, p, g }) => ({ e, p, g })) };
}

/** Counts the SQLite rows `work` writes (workerd's cursor.rowsWritten), as tenant-log.test.ts does. */
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

const circuitRows = (stub: Stub) => runInDurableObject(stub, (_o: TenantLog, state) => state.storage.sql.exec(`SELECT ordinal, state, failures, open_until, reopenings FROM circuits`).toArray());

const settings = (over: Partial<CircuitSettings> = {}): CircuitSettings => ({ enabled: true, openAfter: 3, coolOffS: 60, ...over });

describe("TenantLog circuit: closed → open", () => {
  it("opens exactly at openAfter consecutive unreachable attempts; an answer (5xx included) resets the count and 5xx answers never open it", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_count"));
    const t0 = Date.now();
    // Five 503s: the receiver's answers, the normal retry schedule; no circuit row at all.
    for (let i = 0; i < 5; i++) {
      const { recorded } = await consume(stub, await jobsFor(stub, a, 1), t0, 503);
      expect(recorded.circuits).toBeUndefined();
    }
    expect(await circuitRows(stub)).toEqual([]);
    // Two timeouts, then an answer (a 500): the count starts again.
    for (let i = 0; i < 2; i++) expect((await consume(stub, await jobsFor(stub, a, 1), t0, "unreachable")).recorded.circuits).toBeUndefined();
    expect(await circuitRows(stub)).toEqual([{ ordinal: a, state: "closed", failures: 2, open_until: null, reopenings: 0 }]);
    expect((await consume(stub, await jobsFor(stub, a, 1), t0, 500)).recorded.circuits).toBeUndefined();
    expect(await circuitRows(stub)).toEqual([]);
    // Three in a row open it, at the third: open until the attempt's end + cool_off_s.
    const t1 = t0 + 1000;
    const opened = await openAt(stub, a, t1);
    expect(opened).toEqual([{ ordinal: a, endpointId: "ep_count", state: "open", openUntil: t1 + TOOK + 60 * SECOND, failures: 3, openedAt: t1 + TOOK }]);
    expect(await circuitRows(stub)).toEqual([{ ordinal: a, state: "open", failures: 3, open_until: t1 + TOOK + 60 * SECOND, reopenings: 0 }]);
  });

  it("counts in the order the attempts ended within one record: the third timeout opens it even when two arrive in one batch", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_batch", { circuit: settings({ openAfter: 2 }) }));
    const t0 = Date.now();
    const { kinds, recorded } = await consume(stub, await jobsFor(stub, a, 2), t0, "unreachable");
    expect(kinds).toEqual(["go", "go"]);
    expect(recorded.circuits).toEqual([expect.objectContaining({ state: "open", failures: 2, openUntil: t0 + TOOK + 60 * SECOND })]);
  });

  it("enabled: false never opens, and switching it off closes an open circuit: the alarm releases what it parked", async () => {
    const stub = log();
    const queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_off", { circuit: settings({ enabled: false, openAfter: 1 }) }));
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) expect((await consume(stub, await jobsFor(stub, a, 1), t0, "unreachable")).recorded.circuits).toBeUndefined();
    expect(await circuitRows(stub)).toEqual([]);
    // Turned on, it opens at its first timeout; two deliveries are parked behind it.
    await stub.syncEndpoint(endpoint("ep_off", { version: 2, circuit: settings({ openAfter: 1 }) }));
    expect(await openAt(stub, a, t0, 1)).toEqual([expect.objectContaining({ state: "open" })]);
    const parked = await jobsFor(stub, a, 2);
    expect((await stub.claim(parked, t0 + SECOND)).verdicts.map((v) => v.kind)).toEqual(["parked", "parked"]);
    // Turned off again: closed at once, and the alarm (armed by the sync) sends the parked ones, new generation.
    await stub.syncEndpoint(endpoint("ep_off", { version: 3, circuit: settings({ enabled: false }) }));
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await waitFor("the parked deliveries released", async () => queue.jobs().filter((j) => j.p[0] === a).length >= 2);
    expect(queue.jobs().filter((j) => j.p[0] === a)).toEqual(parked.map((j) => ({ ...j, g: 1 })));
    expect((await stub.claim(parked.map((j) => ({ ...j, g: 1 })), Date.now())).verdicts.map((v) => v.kind)).toEqual(["go", "go"]);
    // The next alarm run (at once) finds nothing left to release: the circuit is pristine again, no row.
    await waitFor("the circuit row gone", async () => (await circuitRows(stub)).length === 0);
  });
});

describe("TenantLog circuit: open", () => {
  it("parks the endpoint's deliveries while open — untried ones, and retries once due — spending no attempt and failing nothing; the state survives an eviction", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_open"));
    const other = await stub.syncEndpoint(endpoint("ep_healthy"));
    const t0 = Date.now();
    const [opening] = await openAt(stub, a, t0);
    const openUntil = opening!.openUntil!;
    const untried = await jobsFor(stub, a, 3);
    await evictDurableObject(stub);
    // The first timeout's retry is due at t0 + 5 s: due, it is parked too (not a `later`).
    const retried = { e: untried[0]!.e - 3, p: [a], g: 0 };
    const before = await stub.getDelivery(a, retried.e);
    expect(before).toMatchObject({ status: "pending", attempts: 1 });
    const { verdicts } = await stub.claim([...untried, retried, { e: untried[0]!.e, p: [other], g: 0 }], t0 + 6 * SECOND);
    expect(verdicts.map((v) => [v.kind, v.ordinal])).toEqual([
      ["parked", a],
      ["parked", a],
      ["parked", a],
      ["parked", a],
      ["go", other], // another endpoint of the tenant is not held back
    ]);
    for (const j of untried) expect(await stub.getDelivery(a, j.e)).toMatchObject({ status: "pending", attempts: 0, nextAttemptAt: null });
    expect(await stub.getDelivery(a, retried.e)).toMatchObject({ status: "pending", attempts: 1, nextAttemptAt: null });
    // A parked delivery waits for whoever frees it: a copy of its message is stale.
    expect((await stub.claim([untried[0]!], t0 + 7 * SECOND)).verdicts.map((v) => v.kind)).toEqual(["stale"]);
    // Still open one millisecond before open_until; a resume releases nothing behind it.
    expect((await stub.claim(await jobsFor(stub, a, 1), openUntil - 1)).verdicts.map((v) => v.kind)).toEqual(["parked"]);
    expect(await stub.resume(a, openUntil - 1)).toEqual({ jobs: [], more: false });
  });

  it("a FIFO head behind an open circuit keeps its place and gives its lease back; the line behind it waits", async () => {
    const stub = log();
    const f = await stub.syncEndpoint(endpoint("ep_fifo_open", { ordering: "fifo", circuit: settings({ openAfter: 1 }) }));
    const t0 = Date.now();
    const head = (await ingest(stub)).jobs[0]!;
    const behind = (await ingest(stub)).event.seq;
    const { recorded } = await consume(stub, [head], t0, "unreachable");
    expect(recorded.circuits).toEqual([expect.objectContaining({ state: "open" })]);
    // The head waits for its retry and holds the line: the next head is not released.
    expect(recorded.released).toEqual([]);
    // Its retry, due, is parked: no attempt, and the lease goes back (no `later` for a copy).
    expect((await stub.claim([head], t0 + 6 * SECOND)).verdicts.map((v) => v.kind)).toEqual(["parked"]);
    expect(await stub.getDelivery(f, head.e)).toMatchObject({ status: "pending", attempts: 1, nextAttemptAt: null });
    expect(await stub.getDelivery(f, behind)).toMatchObject({ status: "pending", attempts: 0, nextAttemptAt: null });
    expect((await stub.listDeliveries(f, { limit: 10 })).items.map((d) => d.e)).toEqual([behind, head.e]);
  });
});

describe("TenantLog circuit: half-open", () => {
  it("admits exactly one probe once the cool-off is over; a copy of its message comes back after the probe's lease, when another delivery may probe", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_half"));
    const t0 = Date.now();
    const openUntil = (await openAt(stub, a, t0))[0]!.openUntil!;
    const jobs = await jobsFor(stub, a, 3);
    const probe = await rowsWritten(stub, (o) => o.claim(jobs, openUntil));
    expect(probe.result.verdicts.map((v) => v.kind)).toEqual(["go", "parked", "parked"]);
    expect(probe.rows).toBe(1 + 2 * 2); // the probe's mark; two parked untried deliveries (row + pending index each)
    // A copy of the probe's message: comes back when the lease lapses (60 s), as a FIFO head's copy does.
    const copy = (await stub.claim([jobs[0]!], openUntil + SECOND)).verdicts[0]!;
    expect(copy).toMatchObject({ kind: "later", delayMs: 59 * SECOND });
    // Another new delivery is parked while the probe holds the endpoint…
    expect((await stub.claim(await jobsFor(stub, a, 1), openUntil + 2 * SECOND)).verdicts.map((v) => v.kind)).toEqual(["parked"]);
    // …and probes once the lease has lapsed (the first probe's outcome never came back).
    const late = await jobsFor(stub, a, 2);
    expect((await stub.claim(late, openUntil + 61 * SECOND)).verdicts.map((v) => v.kind)).toEqual(["go", "parked"]);
  });

  it("a probe that gets any answer closes the circuit and releases the parked backlog, oldest first, with a new generation (plain endpoint)", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_close"));
    const t0 = Date.now();
    const openUntil = (await openAt(stub, a, t0))[0]!.openUntil!;
    const parked = await jobsFor(stub, a, 4);
    expect((await stub.claim(parked, t0 + SECOND)).verdicts.map((v) => v.kind)).toEqual(["parked", "parked", "parked", "parked"]);
    const [probe] = await jobsFor(stub, a, 1);
    // A 500 is an answer: it closes the circuit (the delivery itself keeps its retry schedule).
    const { kinds, recorded } = await consume(stub, [probe!], openUntil, 500);
    expect(kinds).toEqual(["go"]);
    expect(recorded.circuits).toEqual([{ ordinal: a, endpointId: "ep_close", state: "closed", openUntil: null, failures: 0, openedAt: null }]);
    expect(recorded.released).toEqual(parked.map((j) => ({ ...j, g: 1 })));
    expect(recorded.retries).toEqual([{ e: probe!.e, p: [a], g: 0, delayMs: 5 * SECOND }]);
    for (const j of parked) expect(await stub.getDelivery(a, j.e)).toMatchObject({ status: "pending", attempts: 0, generation: 1 });
    // Closed: the released ones go, all at once (no probe, no parking).
    expect((await consume(stub, recorded.released, openUntil + SECOND, 200)).kinds).toEqual(["go", "go", "go", "go"]);
    for (const j of parked) expect(await stub.getDelivery(a, j.e)).toMatchObject({ status: "delivered", attempts: 1 });
    expect(await circuitRows(stub)).toEqual([]);
  });

  it("a probe with no answer re-opens the circuit with a doubled cool-off, then doubled again; a probe that succeeds later closes it", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_reopen", { circuit: settings({ openAfter: 1, coolOffS: 10 }) }));
    const t0 = Date.now();
    const opened = (await openAt(stub, a, t0, 1))[0]!;
    expect(opened.openUntil).toBe(t0 + TOOK + 10 * SECOND);
    const first = await consume(stub, await jobsFor(stub, a, 1), opened.openUntil!, "unreachable");
    expect(first.kinds).toEqual(["go"]);
    const reopenedAt = opened.openUntil! + TOOK;
    // The same outage (openedAt kept): no new opening to report, a longer cool-off.
    expect(first.recorded.circuits).toEqual([{ ordinal: a, endpointId: "ep_reopen", state: "open", openUntil: reopenedAt + 20 * SECOND, failures: 2, openedAt: opened.openedAt, reopened: true }]);
    const until2 = first.recorded.circuits![0]!.openUntil!;
    expect((await stub.claim(await jobsFor(stub, a, 1), until2 - 1)).verdicts.map((v) => v.kind)).toEqual(["parked"]);
    const second = await consume(stub, await jobsFor(stub, a, 1), until2, "unreachable");
    expect(second.recorded.circuits).toEqual([expect.objectContaining({ state: "open", openUntil: until2 + TOOK + 40 * SECOND, reopened: true, failures: 3 })]);
    expect(await circuitRows(stub)).toEqual([{ ordinal: a, state: "open", failures: 3, open_until: until2 + TOOK + 40 * SECOND, reopenings: 2 }]);
    const third = await consume(stub, await jobsFor(stub, a, 1), until2 + TOOK + 40 * SECOND, 204);
    expect(third.recorded.circuits).toEqual([expect.objectContaining({ state: "closed" })]);
    // Closed again, the cool-off starts from cool_off_s at the next opening.
    const again = (await openAt(stub, a, until2 + 100 * SECOND, 1))[0]!;
    expect(again.openUntil! - again.openedAt!).toBe(10 * SECOND);
  });

  it("the cool-off doubles up to 3 600 s, no further", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_cap", { circuit: settings({ openAfter: 1, coolOffS: 1000 }) }));
    let until = (await openAt(stub, a, Date.now(), 1))[0]!.openUntil!;
    const coolOffs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { recorded } = await consume(stub, await jobsFor(stub, a, 1), until, "unreachable");
      const next = recorded.circuits![0]!.openUntil!;
      coolOffs.push((next - until - TOOK) / SECOND);
      until = next;
    }
    expect(coolOffs).toEqual([2000, 3600, 3600]);
  });

  it("FIFO: the alarm starts the parked head as the probe; its success closes the circuit and the line moves on in order", async () => {
    const stub = log();
    const queue = await observeQueue(stub);
    const f = await stub.syncEndpoint(endpoint("ep_fifo_probe", { ordering: "fifo", circuit: settings({ openAfter: 1, coolOffS: 10 }) }));
    // Backdated: it opened 60 s ago for 10 s, so its cool-off is over for the alarm (Date.now()).
    const t0 = Date.now() - 60 * SECOND;
    const head = (await ingest(stub, event({ now: t0 }))).jobs[0]!;
    const line = [(await ingest(stub, event({ now: t0 }))).event.seq, (await ingest(stub, event({ now: t0 }))).event.seq];
    expect((await consume(stub, [head], t0, "unreachable")).recorded.circuits).toEqual([expect.objectContaining({ state: "open", openUntil: t0 + TOOK + 10 * SECOND })]);
    // Its retry came while open: parked (no attempt).
    expect((await stub.claim([head], t0 + 6 * SECOND)).verdicts.map((v) => v.kind)).toEqual(["parked"]);
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    const sent = await waitFor("the probe sent", async () => queue.jobs().filter((j) => j.p[0] === f).length > 0 && queue.jobs().filter((j) => j.p[0] === f));
    expect(sent).toEqual([{ e: head.e, p: [f], g: 1 }]);
    // The alarm again while the probe is out: nothing more.
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    expect(queue.jobs().filter((j) => j.p[0] === f)).toHaveLength(1);
    const probe = await consume(stub, sent, Date.now(), 200);
    expect(probe.kinds).toEqual(["go"]);
    expect(probe.recorded.circuits).toEqual([expect.objectContaining({ state: "closed" })]);
    expect(probe.recorded.released).toEqual([{ e: line[0], p: [f], g: 1 }]);
    const next = await consume(stub, probe.recorded.released, Date.now(), 200);
    expect(next.recorded.released).toEqual([{ e: line[1], p: [f], g: 1 }]);
    expect(await stub.getDelivery(f, head.e)).toMatchObject({ status: "delivered", attempts: 2 });
  });

  it("the alarm starts the probe at open_until (the oldest parked delivery, new generation, due now); a probe that never comes back is replaced after its lease", async () => {
    const stub = log();
    let queue = await observeQueue(stub);
    const a = await stub.syncEndpoint(endpoint("ep_alarm", { circuit: settings({ openAfter: 1, coolOffS: 10 }) }));
    // Backdated by 200 s: open for 10 s, so the alarm (Date.now()) sees it half-open.
    const t0 = Date.now() - 200 * SECOND;
    await openAt(stub, a, t0, 1);
    const parked = await jobsFor(stub, a, 3);
    expect((await stub.claim(parked, t0 + SECOND)).verdicts.map((v) => v.kind)).toEqual(["parked", "parked", "parked"]);
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    const mine = () => queue.jobs().filter((j) => j.p[0] === a);
    await waitFor("the probe sent", async () => mine().length > 0);
    expect(mine()).toEqual([{ ...parked[0]!, g: 1 }]);
    expect(await stub.getDelivery(a, parked[0]!.e)).toMatchObject({ status: "pending", attempts: 0, generation: 1, nextAttemptAt: expect.any(Number) });
    // The released probe is the one admitted; another delivery arriving first is parked.
    const [newcomer] = await jobsFor(stub, a, 1);
    expect((await stub.claim([newcomer!, mine()[0]!], Date.now())).verdicts.map((v) => v.kind)).toEqual(["parked", "go"]);
    // Its consumer dies (no record). Backdate the probe's lease (stored, reloaded after an
    // eviction): the alarm then lets the next parked delivery probe.
    await runInDurableObject(stub, (_o: TenantLog, state) => {
      state.storage.sql.exec(`UPDATE circuits SET probe_until = ? WHERE ordinal = ?`, Date.now() - 1, a);
    });
    await evictDurableObject(stub);
    queue = await observeQueue(stub); // a new instance: its queue observed again
    await runInDurableObject(stub, (instance: TenantLog) => instance.alarm());
    await waitFor("a second probe sent", async () => mine().length > 0);
    expect(mine()).toEqual([{ ...parked[1]!, g: 1 }]);
    // It answers: closed, and every other parked delivery goes (the first probe is not parked: its lost message's copy is re-driven if overdue).
    const { recorded } = await consume(stub, mine(), Date.now(), 200);
    expect(recorded.circuits).toEqual([expect.objectContaining({ state: "closed" })]);
    expect(recorded.released).toEqual([
      { ...parked[2]!, g: 1 },
      { ...newcomer!, g: 1 },
    ]);
  });

  it("an outcome without an attempt (the URL refused at send time) says nothing: the probe is freed and the next delivery probes", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_refused", { circuit: settings({ openAfter: 1 }) }));
    const t0 = Date.now();
    const openUntil = (await openAt(stub, a, t0, 1))[0]!.openUntil!;
    const [probe, next] = await jobsFor(stub, a, 2);
    const claimed = await stub.claim([probe!], openUntil);
    const go = claimed.verdicts[0]!;
    expect(go.kind).toBe("go");
    const refused = await stub.record([{ e: probe!.e, ordinal: a, generation: 0, attemptsBefore: 0, runStart: 0, attempt: null, status: "failed", reason: "url_not_allowed", nextAttemptAt: null }]);
    expect(refused.circuits).toBeUndefined();
    expect((await stub.claim([next!], openUntil + SECOND)).verdicts.map((v) => v.kind)).toEqual(["go"]);
  });
});

describe("TenantLog claim: the per-endpoint cap", () => {
  it("answers at most `perEndpoint` go per endpoint; the rest `later` 1–2 s away, writing nothing and taking no rate slot", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_capped"));
    const r = await stub.syncEndpoint(endpoint("ep_capped_rate", { rateLimit: 100 }));
    const b = await stub.syncEndpoint(endpoint("ep_other_cap"));
    const jobs: DeliveryJob[] = [];
    for (let i = 0; i < 10; i++) jobs.push((await ingest(stub)).jobs[0]!);
    const claimed = await rowsWritten(stub, (o) => o.claim(jobs, Date.now(), 2));
    expect(claimed.rows).toBe(0);
    for (const ordinal of [a, r, b]) {
      const mine = claimed.result.verdicts.filter((v) => v.ordinal === ordinal);
      expect(mine.map((v) => v.kind)).toEqual(["go", "go", ...Array(8).fill("later")]);
      for (const v of mine.slice(2)) {
        expect(v.kind === "later" && v.delayMs).toBeGreaterThanOrEqual(1000);
        expect(v.kind === "later" && v.delayMs).toBeLessThan(2000);
      }
    }
    // Only the two starts took rate slots (10 ms apart at 100/s): the next start is the third slot.
    const next = (await stub.claim([{ e: jobs[2]!.e, p: [r], g: 0 }], Date.now(), 2)).verdicts[0]!;
    expect(next.kind).toBe("go");
    // Without a cap (the default) every due delivery goes.
    expect((await stub.claim(jobs.slice(3).map((j) => ({ ...j, p: [a] })), Date.now())).verdicts.every((v) => v.kind === "go")).toBe(true);
  });
});

describe("TenantLog circuit: rows written", () => {
  it("a closed circuit's success path writes no extra row; counting, opening, parking and closing write rare rows", async () => {
    const stub = log();
    const a = await stub.syncEndpoint(endpoint("ep_rows"));
    const t0 = Date.now();
    await ingest(stub); // the day's tables
    const cost = async (jobs: DeliveryJob[], now: number, answer: number | "unreachable") => (await rowsWritten(stub, (o) => consume(o, jobs, now, answer))).rows;
    // A first-try success: its delivery row, nothing for the circuit.
    expect(await cost(await jobsFor(stub, a, 1), t0, 200)).toBe(1);
    // A 503 waiting for its retry: row + pending index, nothing for the circuit.
    expect(await cost(await jobsFor(stub, a, 1), t0, 503)).toBe(2);
    // A timeout: the same, plus the circuit's row (the count).
    expect(await cost(await jobsFor(stub, a, 1), t0, "unreachable")).toBe(3);
    expect(await cost(await jobsFor(stub, a, 1), t0, "unreachable")).toBe(3);
    // A success after a counted timeout resets the count: its row removed (1).
    expect(await cost(await jobsFor(stub, a, 1), t0, 200)).toBe(2);
    // And the success path is back to 1.
    expect(await cost(await jobsFor(stub, a, 1), t0, 200)).toBe(1);
    // Three timeouts: the third opens it (the delivery's 2 rows + the circuit's row).
    expect(await cost(await jobsFor(stub, a, 1), t0, "unreachable")).toBe(3);
    expect(await cost(await jobsFor(stub, a, 1), t0, "unreachable")).toBe(3);
    expect(await cost(await jobsFor(stub, a, 1), t0, "unreachable")).toBe(3);
    const [row] = await circuitRows(stub);
    expect(row).toMatchObject({ state: "open" });
    const openUntil = row!.open_until as number;
    // Parking an untried delivery while open: its row and its pending-index entry.
    const parked = await jobsFor(stub, a, 2);
    expect((await rowsWritten(stub, (o) => o.claim(parked, t0 + SECOND))).rows).toBe(4);
    // Parking a written delivery whose retry is due: its row updated and its index entry moved.
    const due = { e: parked[0]!.e - 1, p: [a], g: 0 };
    expect(await stub.getDelivery(a, due.e)).toMatchObject({ status: "pending", attempts: 1 });
    const parkedRetry = await rowsWritten(stub, (o) => o.claim([due], t0 + 6 * SECOND));
    expect(parkedRetry.result.verdicts.map((v) => v.kind)).toEqual(["parked"]);
    expect(parkedRetry.rows).toBe(2);
    // The probe: its mark (1), its delivered row (1), the circuit's row removed (1), and each
    // parked delivery released (its row and its pending-index entry: 2 each, 3 of them).
    const [probe] = await jobsFor(stub, a, 1);
    expect(await cost([probe!], openUntil, 200)).toBe(1 + 1 + 1 + 3 * 2);
    expect(await circuitRows(stub)).toEqual([]);
  });
});
