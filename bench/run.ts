/**
 * @module `npm run bench`: throughput, latency, the limit, operation counts and a modelled
 * cost per million deliveries, for the real Worker running locally (see docs/benchmarks.md).
 *
 *   npx tsx bench/run.ts [--events 2000] [--concurrency 32] [--rate 200] [--duration 10]
 *                        [--mode miniflare|dev] [--sweep] [--json] [--out results.json] [--keep]
 *                        [--queue-batch-size n] [--queue-batch-timeout s] [--gated]
 *
 * --mode=miniflare (default) runs the instrumented entry through Miniflare's API;
 * --mode=dev runs it under `wrangler dev`. Both use wrangler.toml's D1, Queues and Durable
 * Objects with a fresh persist dir. With --json, stdout is one JSON line; progress goes to stderr.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ADMIN_TOKEN, ROOT, cpuMs, miniflareModule, threadCpuMs, prepareState, selfCpuMs, startReceiver, startWorker, type Mode, type RunningReceiver, type RunningWorker } from "./harness";
import { ceilings, LIMITS, PRICES, usdPerMillion, usdPerMillionLifetime, type CostBreakdown, type PerDelivery } from "./prices";
import type { DoStorageStat } from "./instrumented-worker";
import { createWorld, payload, planEvents, type PlannedEvent, type World } from "./world";

// ---------------------------------------------------------------------------------------
// Arguments.

const { values: argv } = parseArgs({
  options: {
    events: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "32" },
    rate: { type: "string", default: "200" },
    duration: { type: "string", default: "10" },
    tenants: { type: "string", default: "20" },
    endpoints: { type: "string", default: "5" },
    mode: { type: "string", default: "miniflare" },
    sweep: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    out: { type: "string" },
    keep: { type: "boolean", default: false },
    "queue-batch-timeout": { type: "string" },
    "queue-batch-size": { type: "string" },
    gated: { type: "boolean", default: false },
  },
  strict: true,
});

const ARGS = {
  events: Number(argv.events),
  concurrency: Number(argv.concurrency),
  rate: Number(argv.rate),
  duration: Number(argv.duration),
  tenants: Number(argv.tenants),
  endpoints: Number(argv.endpoints),
  mode: argv.mode as Mode,
  sweep: argv.sweep!,
  json: argv.json!,
  out: argv.out,
  keep: argv.keep!,
  /** Experiments only: replaces wrangler.toml's consumer settings (miniflare mode). */
  queueOverride: {
    ...(argv["queue-batch-timeout"] !== undefined ? { maxBatchTimeout: Number(argv["queue-batch-timeout"]) } : {}),
    ...(argv["queue-batch-size"] !== undefined ? { maxBatchSize: Number(argv["queue-batch-size"]) } : {}),
  },
  /**
   * Experiment only: in the main world, each tenant's last endpoint is FIFO and the one
   * before it rate-limited (as `npm run test:faults` builds them), so that their deliveries
   * pass an EndpointDO and its costs are measured. The default mix has plain endpoints only.
   */
  gated: argv.gated!,
};
if (ARGS.mode !== "miniflare" && ARGS.mode !== "dev") throw new Error(`--mode must be miniflare or dev, not ${ARGS.mode}`);
for (const k of ["events", "concurrency", "rate", "duration", "tenants", "endpoints"] as const) {
  if (!Number.isFinite(ARGS[k]) || ARGS[k] <= 0) throw new Error(`--${k} must be a positive number`);
}

// With --json, stdout carries the one JSON line only: libraries' console output (wrangler
// prints notices such as "Using secrets defined in .dev.vars") goes to stderr.
if (ARGS.json) {
  console.log = (...a: unknown[]) => console.error(...a);
  console.info = (...a: unknown[]) => console.error(...a);
}

/** wrangler.toml's RETENTION_DAYS, which the bench runs with. */
const RETENTION_DAYS = 30;

const say = (msg: string) => process.stderr.write(`[bench ${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`);
const T0 = Date.now();
const LOAD_START = os.loadavg();
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Statistics.

function pct(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))]!;
}
const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const sig4 = (x: number) => sig(x, 4);
const sig = (x: number, digits = 3) => (Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(digits)) : x);

// ---------------------------------------------------------------------------------------
// Counters from the instrumented entry.

interface SqlStat {
  phase: string;
  sql: string;
  executions: number;
  rowsRead: number;
  rowsWritten: number;
}
interface Counters {
  invocations: { fetch: number; queueBatches: Record<string, number>; scheduled: number };
  d1: {
    apiCalls: Record<string, number>;
    roundTrips: number;
    waitMs: number;
    statements: number;
    rowsRead: number;
    rowsWritten: number;
    statementsWithoutMeta: number;
    byPhase: Record<string, { waitMs: number; roundTrips: number; statements: number; rowsRead: number; rowsWritten: number }>;
    bySql: Record<string, SqlStat>;
  };
  queues: {
    sent: Record<string, { calls: number; messages: number; delayed: number; waitMs: number }>;
    consumed: Record<string, { batches: number; messages: number; redelivered: number; acked: number; retried: number; retryAll: number; sizes?: Record<string, number> }>;
  };
  durableObjects: {
    requests: Record<string, number>;
    callerWallMs: Record<string, number>;
    handled: Record<string, number>;
    constructed: Record<string, number>;
    storage?: Record<string, DoStorageStat>;
  };
  failedAttempts: Record<string, number>;
  hookInstalled: boolean;
}


/** Consumer batch-size buckets, as the instrumented entry records them. */
const BATCH_BUCKETS = ["1", "2-5", "6-10", "11-50", "51-100"] as const;

/** Durable Object binding name → exported class, from wrangler.toml (set in main). */
let DO_CLASS_OF: Record<string, string> = {};

async function counters(worker: RunningWorker, reset = false): Promise<Counters> {
  const res = await fetch(`${worker.url}/__bench/counters${reset ? "?reset=1" : ""}`);
  if (!res.ok) throw new Error(`counters: HTTP ${res.status}`);
  return (await res.json()) as Counters;
}

const sum = (o: Record<string, number> | undefined) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);

/** Waits until the Worker has been idle (no statement, no message) for a second. */
async function quiesce(worker: RunningWorker, maxMs = 20_000): Promise<void> {
  const fingerprint = (c: Counters) => `${c.d1.statements}/${Object.values(c.queues.consumed).reduce((a, q) => a + q.messages + q.acked, 0)}/${c.invocations.fetch}`;
  const start = Date.now();
  let last = "";
  let stable = 0;
  while (Date.now() - start < maxMs) {
    const f = fingerprint(await counters(worker));
    stable = f === last ? stable + 1 : 0;
    if (stable >= 2) return;
    last = f;
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------
// Loads.

interface Ingested {
  id: string;
  sent: number;
  accepted: number;
  status: number;
}

async function post(worker: RunningWorker, e: PlannedEvent): Promise<Ingested> {
  const sent = now();
  let status = 0;
  try {
    const res = await fetch(`${worker.url}/v1/tenants/${e.tenant}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: e.body,
    });
    status = res.status;
    await res.arrayBuffer();
  } catch {
    status = -1;
  }
  return { id: e.id, sent, accepted: now(), status };
}

/** Closed loop: `concurrency` clients post back to back. */
async function burst(worker: RunningWorker, events: PlannedEvent[], concurrency: number): Promise<Ingested[]> {
  const out: Ingested[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, events.length) }, async () => {
      while (next < events.length) out.push(await post(worker, events[next++]!));
    }),
  );
  return out;
}

/** Status of an event the paced load did not send: `maxInFlight` requests were unanswered at its time. */
const SKIPPED = -2;

/**
 * Open loop: one event every 1/rate s, whatever the answers take — except that when
 * `maxInFlight` posts are still unanswered, the event due is skipped (counted, never sent),
 * so an offered rate above capacity shows up as a lower accepted rate instead of an
 * unbounded backlog and an unbounded run.
 */
async function paced(worker: RunningWorker, events: PlannedEvent[], rate: number, maxInFlight: number): Promise<Ingested[]> {
  const start = now() + 20;
  const pending: Promise<Ingested>[] = [];
  let inFlight = 0;
  for (let i = 0; i < events.length; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    const e = events[i]!;
    if (inFlight >= maxInFlight) {
      pending.push(Promise.resolve({ id: e.id, sent: due, accepted: due, status: SKIPPED }));
      continue;
    }
    inFlight++;
    pending.push(post(worker, e).finally(() => inFlight--));
  }
  return Promise.all(pending);
}

interface ArrivalCount {
  count: number;
  unique: number;
  duplicates: number;
  first: number | null;
  last: number | null;
}

async function receiverCount(receiver: RunningReceiver, idPrefix: string): Promise<ArrivalCount> {
  return (await (await fetch(`${receiver.url}/_count?id=${encodeURIComponent(idPrefix)}`)).json()) as ArrivalCount;
}

async function receiverDump(receiver: RunningReceiver, idPrefix: string): Promise<[number, string, string][]> {
  return (await (await fetch(`${receiver.url}/_dump?id=${encodeURIComponent(idPrefix)}`)).json()) as [number, string, string][];
}

/** Waits until `expected` distinct deliveries with this id prefix arrived (or progress stops for 60 s). */
async function waitForArrivals(receiver: RunningReceiver, idPrefix: string, expected: number, label: string): Promise<ArrivalCount> {
  let last = -1;
  let lastChange = Date.now();
  let lastLog = Date.now();
  for (;;) {
    const c = await receiverCount(receiver, idPrefix);
    if (c.unique >= expected) return c;
    if (c.unique !== last) {
      last = c.unique;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > 60_000) {
      say(`${label}: stalled at ${c.unique}/${expected} deliveries for 60 s; giving up`);
      return c;
    }
    if (Date.now() - lastLog > 5000) {
      say(`${label}: ${c.unique}/${expected} deliveries arrived`);
      lastLog = Date.now();
    }
    await sleep(150);
  }
}

interface LoadResult {
  label: string;
  kind: "burst" | "paced";
  events: number;
  /** Paced only: events not sent because `concurrency` posts were in flight. */
  skipped: number;
  ingestErrors: number;
  ingestPerS: number;
  ingestP50: number;
  ingestP99: number;
  expected: number;
  delivered: number;
  /** Of those, deliveries to a FIFO or rate-limited endpoint (--gated). */
  deliveredGated: number;
  duplicates: number;
  missing: number;
  unexpected: number;
  deliveriesPerS: number;
  e2eP50: number;
  e2eP95: number;
  e2eP99: number;
  firstToLastS: number;
  /** Share of the deliveries that arrived before the last event was accepted. */
  arrivedDuringIngest: number;
  ingestS: number;
  wallS: number;
  counters: Counters;
  cpu: { runtimeMs: number; receiverMs: number; benchMs: number };
  /** The Worker runtime's busiest threads over the load: CPU ms and share of the wall time. */
  busiestThreads: { thread: string; ms: number; share: number }[];
}

async function runLoad(
  ctx: { worker: RunningWorker; receiver: RunningReceiver; gatedPaths?: Set<string> },
  kind: "burst" | "paced",
  label: string,
  events: PlannedEvent[],
  opts: { concurrency: number; rate: number },
): Promise<LoadResult> {
  const { worker, receiver } = ctx;
  const idPrefix = events[0]!.id.replace(/\d+$/, "");
  await quiesce(worker);
  await counters(worker, true);
  const cpu0 = { runtime: cpuMs(worker.runtimePids()), receiver: cpuMs([receiver.pid]), bench: selfCpuMs() };
  const threads0 = threadCpuMs(worker.runtimePids());
  const wall0 = now();
  say(`${label}: posting ${events.length} events (${kind === "burst" ? `${opts.concurrency} concurrent clients` : `${opts.rate}/s`})`);
  const all = kind === "burst" ? await burst(worker, events, opts.concurrency) : await paced(worker, events, opts.rate, opts.concurrency);
  const ingested = all.filter((r) => r.status !== SKIPPED);
  const skipped = all.length - ingested.length;
  if (skipped) say(`${label}: ${skipped} events skipped: ${opts.concurrency} posts were already in flight when they were due (offered rate above capacity)`);
  const ok = new Map(ingested.filter((r) => r.status === 202 || r.status === 200).map((r) => [r.id, r]));
  const ingestErrors = ingested.length - ok.size;
  if (ingestErrors) say(`${label}: ${ingestErrors} events were not accepted (statuses ${[...new Set(ingested.filter((r) => !ok.has(r.id)).map((r) => r.status))].join(", ")})`);
  const expectedPairs = new Set<string>();
  for (const e of events) {
    if (ok.has(e.id)) for (const path of e.expected) expectedPairs.add(`${e.id} ${path}`);
  }
  const expected = expectedPairs.size;
  const firstSent = Math.min(...ingested.map((r) => r.sent));
  const lastAccepted = Math.max(...ingested.map((r) => r.accepted));
  say(`${label}: ingest done (${r1(ok.size / ((lastAccepted - firstSent) / 1000))} events/s); waiting for ${expected} deliveries`);
  await waitForArrivals(receiver, idPrefix, expected, label);
  const wall1 = now();
  await quiesce(worker);
  const cpu1 = { runtime: cpuMs(worker.runtimePids()), receiver: cpuMs([receiver.pid]), bench: selfCpuMs() };
  const busiest = [...threadCpuMs(worker.runtimePids())]
    .map(([k, v]) => ({ thread: k, ms: v - (threads0.get(k) ?? 0) }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 3);
  const c = await counters(worker, true);
  const arrivals = await receiverDump(receiver, idPrefix);
  const seen = new Set<string>();
  let duplicates = 0;
  let unexpected = 0;
  const e2e: number[] = [];
  let first = Infinity;
  let last = -Infinity;
  let duringIngest = 0;
  let deliveredGated = 0;
  for (const [t, id, path] of arrivals) {
    const key = `${id} ${path}`;
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    if (!expectedPairs.has(key)) unexpected++;
    else if (ctx.gatedPaths?.has(path)) deliveredGated++;
    first = Math.min(first, t);
    last = Math.max(last, t);
    if (t <= lastAccepted) duringIngest++;
    const acc = ok.get(id);
    if (acc) e2e.push(t - acc.accepted);
  }
  const delivered = seen.size - unexpected;
  const missing = expected - delivered;
  const ingestLat = [...ok.values()].map((r) => r.accepted - r.sent);
  const res: LoadResult = {
    label,
    kind,
    events: ingested.length,
    skipped,
    ingestErrors,
    ingestPerS: ok.size / ((lastAccepted - firstSent) / 1000),
    ingestP50: pct(ingestLat, 50),
    ingestP99: pct(ingestLat, 99),
    expected,
    delivered,
    deliveredGated,
    duplicates,
    missing,
    unexpected,
    deliveriesPerS: delivered > 1 ? (delivered - 1) / ((last - first) / 1000) : NaN,
    e2eP50: pct(e2e, 50),
    e2eP95: pct(e2e, 95),
    e2eP99: pct(e2e, 99),
    firstToLastS: (last - first) / 1000,
    arrivedDuringIngest: duringIngest / Math.max(1, seen.size),
    ingestS: (lastAccepted - firstSent) / 1000,
    wallS: (wall1 - wall0) / 1000,
    counters: c,
    cpu: { runtimeMs: cpu1.runtime - cpu0.runtime, receiverMs: cpu1.receiver - cpu0.receiver, benchMs: cpu1.bench - cpu0.bench },
    busiestThreads: busiest.map((t) => ({ thread: t.thread, ms: t.ms, share: t.ms / ((wall1 - wall0) || 1) })),
  };
  say(
    `${label}: ${delivered}/${expected} delivered${missing ? `, ${missing} MISSING` : ""}${duplicates ? `, ${duplicates} duplicates` : ""}${unexpected ? `, ${unexpected} unexpected` : ""}; ` +
      `${r1(res.deliveriesPerS)} deliveries/s, e2e p50 ${r1(res.e2eP50)} ms p99 ${r1(res.e2eP99)} ms`,
  );
  return res;
}


// ---------------------------------------------------------------------------------------
// The limit: the same runtime sending signed POSTs straight to the receiver.

interface BaselineResult {
  sends: number;
  ok: number;
  perS: number;
  wallS: number;
  invocations: number;
  concurrentInvocations: number;
  /** Worker runtime CPU ms per send (the whole local runtime, as for deliveries). */
  cpuMsPerSend: number;
}

async function baseline(ctx: { worker: RunningWorker; receiver: RunningReceiver }, tag: string, n: number, concurrency: number, chunk = 100): Promise<BaselineResult> {
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  const type = "report.completed";
  const dataJson = JSON.stringify(payload(1, type));
  const idPrefix = `${tag}-`;
  const chunks: { n: number; idPrefix: string }[] = [];
  for (let i = 0, c = 0; i < n; i += chunk, c++) chunks.push({ n: Math.min(chunk, n - i), idPrefix: `${idPrefix}${c}` });
  await quiesce(ctx.worker);
  const cpu0 = cpuMs(ctx.worker.runtimePids());
  const t0 = now();
  let next = 0;
  let ok = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
      while (next < chunks.length) {
        const ch = chunks[next++]!;
        const res = await fetch(`${ctx.worker.url}/__bench/baseline`, {
          method: "POST",
          body: JSON.stringify({ url: `${ctx.receiver.url}/baseline/${tag}`, n: ch.n, secret, dataJson, type, idPrefix: ch.idPrefix }),
        });
        const body = (await res.json()) as { ok: number };
        ok += body.ok;
      }
    }),
  );
  const t1 = now();
  const cpu1 = cpuMs(ctx.worker.runtimePids());
  const c = await receiverCount(ctx.receiver, idPrefix);
  const span = c.first !== null && c.last !== null && c.last > c.first ? (c.last - c.first) / 1000 : (t1 - t0) / 1000;
  return {
    sends: n,
    ok,
    perS: (c.unique - 1) / span,
    wallS: (t1 - t0) / 1000,
    invocations: chunks.length,
    concurrentInvocations: Math.min(concurrency, chunks.length),
    cpuMsPerSend: (cpu1 - cpu0) / Math.max(1, n),
  };
}

// ---------------------------------------------------------------------------------------
// Per-delivery figures.

interface Derived {
  deliveries: number;
  events: number;
  fanout: number;
  d1Statements: number;
  d1RoundTrips: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  queueMessages: number;
  deliveryQueueMessages: number;
  fanoutQueueMessages: number;
  queueRetries: number;
  queueOps: number;
  doRequests: number;
  doRequestsByName: Record<string, number>;
  /** Durable Object SQLite rows per delivery: written (alarms included, one row per setAlarm) and read. */
  doRowsWritten: number;
  doRowsRead: number;
  doAlarmSets: number;
  /** D1 + Durable Object rows written per delivery. */
  rowsWritten: number;
  /** Per class, absolute counts over the load. */
  doClasses: DoClassFigures[];
  /** Deliveries to FIFO / rate-limited endpoints (--gated), the unit of the per-gated figures. */
  gatedDeliveries: number;
  /** Consumer batches per queue and size bucket. */
  batchSizes: Record<string, { batches: number; messages: number; sizes: Record<string, number> }>;
  workerRequests: number;
  cpuMsUpperBound: number;
  cost: CostBreakdown;
  ceilings: ReturnType<typeof ceilings>;
  /** Rows written to the events table per event, and everything else per delivery. */
  writesPerEvent: number;
  writesPerDeliveryOnly: number;
  statementsPerEvent: number;
  statementsPerDeliveryOnly: number;
  breakdown: { phase: string; sql: string; perDelivery: number; perEvent: number; rowsWrittenPerExec: number; rowsWrittenPerDelivery: number; rowsReadPerDelivery: number }[];
  phases: Record<string, { waitMs: number; roundTrips: number; statements: number; rowsRead: number; rowsWritten: number }>;
}

const WRITES_EVENTS = /^\s*(insert\s+into|update|delete\s+from)\s+"?events"?\s/i;

/** One Durable Object class over one load (absolute counts). */
interface DoClassFigures {
  name: string;
  /** Caller-side stub calls, alarm invocations, and their sum (billed requests). */
  stubCalls: number;
  alarms: number;
  requests: number;
  /** Stub calls per method, plus "alarm". */
  methods: Record<string, number>;
  sqlExecs: number;
  sqlRowsWritten: number;
  sqlRowsRead: number;
  /** Sync and async KV together: calls and modelled rows. */
  kvPuts: number;
  kvDeletes: number;
  kvGets: number;
  kvRowsWritten: number;
  kvRowsRead: number;
  alarmSets: number;
  alarmDeletes: number;
  alarmGets: number;
  transactions: number;
  /** SQL + KV + one per setAlarm. */
  rowsWritten: number;
  rowsRead: number;
  topSql: { sql: string; executions: number; rowsWritten: number; rowsRead: number }[];
}

function doClassFigures(c: Counters): DoClassFigures[] {
  const byName = new Map<string, DoClassFigures>();
  const fig = (name: string) => {
    let f = byName.get(name);
    if (!f) {
      f = { name, stubCalls: 0, alarms: 0, requests: 0, methods: {}, sqlExecs: 0, sqlRowsWritten: 0, sqlRowsRead: 0, kvPuts: 0, kvDeletes: 0, kvGets: 0, kvRowsWritten: 0, kvRowsRead: 0, alarmSets: 0, alarmDeletes: 0, alarmGets: 0, transactions: 0, rowsWritten: 0, rowsRead: 0, topSql: [] };
      byName.set(name, f);
    }
    return f;
  };
  for (const cls of Object.values(DO_CLASS_OF)) fig(cls);
  for (const [key, n] of Object.entries(c.durableObjects.requests)) {
    const dot = key.indexOf(".");
    const f = fig(DO_CLASS_OF[key.slice(0, dot)] ?? key.slice(0, dot));
    f.stubCalls += n;
    f.methods[key.slice(dot + 1)] = (f.methods[key.slice(dot + 1)] ?? 0) + n;
  }
  for (const [key, n] of Object.entries(c.durableObjects.handled)) {
    if (!key.endsWith(".alarm")) continue;
    const f = fig(key.slice(0, -".alarm".length));
    f.alarms += n;
    f.methods.alarm = (f.methods.alarm ?? 0) + n;
  }
  for (const [cls, st] of Object.entries(c.durableObjects.storage ?? {})) {
    const f = fig(cls);
    f.sqlExecs = st.sql.execs;
    f.sqlRowsWritten = st.sql.rowsWritten;
    f.sqlRowsRead = st.sql.rowsRead;
    f.kvPuts = st.kv.puts + st.asyncKv.puts;
    f.kvDeletes = st.kv.deletes + st.asyncKv.deletes;
    f.kvGets = st.kv.gets + st.asyncKv.gets;
    f.kvRowsWritten = st.kv.rowsWritten + st.asyncKv.rowsWritten;
    f.kvRowsRead = st.kv.rowsRead + st.asyncKv.rowsRead;
    f.alarmSets = st.alarms.sets;
    f.alarmDeletes = st.alarms.deletes;
    f.alarmGets = st.alarms.gets;
    f.transactions = st.transactions.sync + st.transactions.async;
    f.topSql = Object.values(st.bySql)
      .sort((a, b) => b.rowsWritten - a.rowsWritten || b.executions - a.executions)
      .slice(0, 8)
      .map(({ sql, executions, rowsWritten, rowsRead }) => ({ sql, executions, rowsWritten, rowsRead }));
  }
  for (const f of byName.values()) {
    f.requests = f.stubCalls + f.alarms;
    f.rowsWritten = f.sqlRowsWritten + f.kvRowsWritten + f.alarmSets * PRICES.durableObjects.rowsWrittenPerSetAlarm;
    f.rowsRead = f.sqlRowsRead + f.kvRowsRead;
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function derive(load: LoadResult): Derived {
  const c = load.counters;
  const D = Math.max(1, load.delivered);
  const E = load.events - load.ingestErrors;
  const sent = c.queues.sent;
  const queueMessages = Object.values(sent).reduce((a, s) => a + s.messages, 0);
  const consumed = Object.values(c.queues.consumed);
  const queueRetries = Math.max(
    consumed.reduce((a, q) => a + q.redelivered, 0),
    consumed.reduce((a, q) => a + q.retried, 0),
  );
  const alarms = Object.entries(c.durableObjects.handled).filter(([k]) => k.endsWith(".alarm"));
  const doRequestsByName = { ...c.durableObjects.requests, ...Object.fromEntries(alarms) };
  const doRequests = sum(doRequestsByName);
  const doClasses = doClassFigures(c);
  const doRowsWritten = doClasses.reduce((a, f) => a + f.rowsWritten, 0);
  const workerRequests = c.invocations.fetch + sum(c.invocations.queueBatches);
  const per: PerDelivery = {
    d1RowsRead: c.d1.rowsRead / D,
    d1RowsWritten: c.d1.rowsWritten / D,
    queueMessages: queueMessages / D,
    queueRetries: queueRetries / D,
    doRequests: doRequests / D,
    doRowsWritten: doRowsWritten / D,
    doActiveMs: sum(c.durableObjects.callerWallMs) / D,
    workerRequests: workerRequests / D,
    cpuMs: load.cpu.runtimeMs / D,
  };
  let eventWrites = 0;
  let eventStatements = 0;
  const breakdown = Object.values(c.d1.bySql)
    .map((s) => {
      if (WRITES_EVENTS.test(s.sql) || s.phase === "ingest") {
        eventWrites += s.rowsWritten;
        eventStatements += s.executions;
      }
      return {
        phase: s.phase,
        sql: s.sql,
        perDelivery: s.executions / D,
        perEvent: s.executions / Math.max(1, E),
        rowsWrittenPerExec: s.executions ? s.rowsWritten / s.executions : 0,
        rowsWrittenPerDelivery: s.rowsWritten / D,
        rowsReadPerDelivery: s.rowsRead / D,
      };
    })
    .sort((a, b) => b.rowsWrittenPerDelivery - a.rowsWrittenPerDelivery || b.perDelivery - a.perDelivery);
  // Statements of the fan-out that run once per event (reads of the event, type, endpoints).
  const fanoutPerEvent = Object.values(c.d1.bySql)
    .filter((s) => s.phase === "fanout" && !WRITES_EVENTS.test(s.sql))
    .reduce((a, s) => a + s.executions, 0);
  return {
    deliveries: load.delivered,
    events: E,
    fanout: load.delivered / Math.max(1, E),
    d1Statements: c.d1.statements / D,
    d1RoundTrips: c.d1.roundTrips / D,
    d1RowsRead: per.d1RowsRead,
    d1RowsWritten: per.d1RowsWritten,
    queueMessages: per.queueMessages,
    deliveryQueueMessages: (sent.deliveries?.messages ?? 0) / D,
    fanoutQueueMessages: (sent.fanout?.messages ?? 0) / D,
    queueRetries: per.queueRetries,
    queueOps: per.queueMessages * PRICES.queues.operationsPerMessage + per.queueRetries * PRICES.queues.operationsPerRetry,
    doRequests: per.doRequests,
    doRequestsByName,
    doRowsWritten: per.doRowsWritten,
    doRowsRead: doClasses.reduce((a, f) => a + f.rowsRead, 0) / D,
    doAlarmSets: doClasses.reduce((a, f) => a + f.alarmSets, 0) / D,
    rowsWritten: per.d1RowsWritten + per.doRowsWritten,
    doClasses,
    gatedDeliveries: load.deliveredGated,
    batchSizes: Object.fromEntries(Object.entries(c.queues.consumed).map(([q, v]) => [q, { batches: v.batches, messages: v.messages, sizes: v.sizes ?? {} }])),
    workerRequests: per.workerRequests,
    cpuMsUpperBound: per.cpuMs,
    cost: usdPerMillion(per),
    ceilings: ceilings({ d1Statements: c.d1.statements / D, deliveryQueueMessages: (sent.deliveries?.messages ?? 0) / D, fanoutQueueMessagesPerDelivery: (sent.fanout?.messages ?? 0) / D }),
    writesPerEvent: eventWrites / Math.max(1, E),
    writesPerDeliveryOnly: (c.d1.rowsWritten - eventWrites) / D,
    statementsPerEvent: (eventStatements + fanoutPerEvent) / Math.max(1, E),
    statementsPerDeliveryOnly: (c.d1.statements - eventStatements - fanoutPerEvent) / D,
    breakdown,
    phases: c.d1.byPhase,
  };
}

/** Rows written per delivery if every event fanned out to `f` endpoints. */
const writesAtFanout = (d: Derived, f: number) => d.writesPerEvent / f + d.writesPerDeliveryOnly;
const statementsAtFanout = (d: Derived, f: number) => d.statementsPerEvent / f + d.statementsPerDeliveryOnly;

// ---------------------------------------------------------------------------------------
// Report.

function table(rows: (string | number)[][], header: string[]): string {
  const cells = [header, ...rows.map((r) => r.map((v) => (typeof v === "number" ? (Number.isFinite(v) ? String(sig(v, 4)) : "—") : v)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  const line = (r: (string | number)[]) => `| ${r.map((v, i) => String(v ?? "").padEnd(widths[i]!)).join(" | ")} |`;
  return [line(cells[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.slice(1).map(line)].join("\n");
}

interface SweepRow {
  name: string;
  events: number;
  endpointsPerTenant: number;
  load: LoadResult;
  base: BaselineResult;
  d: Derived;
}

interface Machine {
  cpus: number;
  model: string;
  memGb: number;
  node: string;
  wrangler: string;
  miniflare: string;
  loadStart: number[];
  loadEnd: number[];
}

interface Calibration {
  readSerialPerS: number;
  /** Runtime CPU ms one trivial D1 round trip costs (Worker + local D1 together). */
  cpuMsPerTrivialTrip: number;
  readConcurrentPerS: number;
  writeSerialPerS: number;
}

function report(o: {
  mode: Mode;
  machine: Machine;
  calibration: Calibration;
  world: World;
  burstLoad: LoadResult;
  pacedLoad: LoadResult;
  base: BaselineResult;
  baseSingle: BaselineResult;
  d: Derived;
  dp: Derived;
  sweep: SweepRow[];
  wallS: number;
}): string {
  const { burstLoad: b, pacedLoad: p, base, baseSingle, d, dp } = o;
  const out: string[] = [];
  out.push(
    `Switchyard bench — ${new Date().toISOString()} — mode ${o.mode} — ${o.world.tenants.length} tenants × ${o.world.endpointCount / o.world.tenants.length} endpoints — run took ${r1(o.wallS)} s` +
      (Object.keys(ARGS.queueOverride).length ? ` — EXPERIMENT: queue consumers overridden with ${JSON.stringify(ARGS.queueOverride)}` : "") +
      (ARGS.gated ? ` — EXPERIMENT: --gated (one FIFO and one rate-limited endpoint per tenant)` : ""),
    `Machine: ${o.machine.cpus} × ${o.machine.model}, ${o.machine.memGb} GB, node ${o.machine.node}, wrangler ${o.machine.wrangler}, miniflare ${o.machine.miniflare}; ` +
      `load average ${o.machine.loadStart.map((x) => x.toFixed(2)).join(" ")} at start, ${o.machine.loadEnd.map((x) => x.toFixed(2)).join(" ")} at end`,
    `Local D1 calibration (trivial statements, one round trip each): SELECT 1 ${Math.round(o.calibration.readSerialPerS)}/s one at a time ` +
      `(${sig(o.calibration.cpuMsPerTrivialTrip)} runtime CPU ms each), ${Math.round(o.calibration.readConcurrentPerS)}/s 8 at a time; no-op UPDATE ${Math.round(o.calibration.writeSerialPerS)}/s`,
    "",
    table(
      [
        ["events posted (skipped: offered above capacity)", `${b.events}`, `${p.events} of ${p.events + p.skipped} (${p.skipped} skipped)`],
        ["ingest events/s", b.ingestPerS, p.ingestPerS],
        ["ingest latency p50 / p99 ms", `${r1(b.ingestP50)} / ${r1(b.ingestP99)}`, `${r1(p.ingestP50)} / ${r1(p.ingestP99)}`],
        ["deliveries expected / arrived", `${b.expected} / ${b.delivered}`, `${p.expected} / ${p.delivered}`],
        ["missing / duplicate / unexpected", `${b.missing} / ${b.duplicates} / ${b.unexpected}`, `${p.missing} / ${p.duplicates} / ${p.unexpected}`],
        ["average fan-out", d.fanout, dp.fanout],
        ["deliveries/s (first→last arrival)", b.deliveriesPerS, p.deliveriesPerS],
        ["ingest took / first→last arrival s", `${r1(b.ingestS)} / ${r1(b.firstToLastS)}`, `${r1(p.ingestS)} / ${r1(p.firstToLastS)}`],
        ["deliveries that arrived while ingest ran", `${Math.round(b.arrivedDuringIngest * 100)} %`, `${Math.round(p.arrivedDuringIngest * 100)} %`],
        ["end-to-end p50 / p95 / p99 ms", `${r1(b.e2eP50)} / ${r1(b.e2eP95)} / ${r1(b.e2eP99)}`, `${r1(p.e2eP50)} / ${r1(p.e2eP95)} / ${r1(p.e2eP99)}`],
        ["limit: signed POSTs/s, same runtime", `${sig(base.perS)} (${base.concurrentInvocations} inv × ≤6)`, ""],
        ["limit, 1 invocation (≤6 in flight)", `${sig(baseSingle.perS)}`, ""],
        ["runtime CPU ms per delivery / per limit send", `${sig(b.cpu.runtimeMs / Math.max(1, b.delivered))} / ${sig(base.cpuMsPerSend)}`, `${sig(p.cpu.runtimeMs / Math.max(1, p.delivered))}`],
        ["ratio deliveries/s ÷ limit", b.deliveriesPerS / base.perS, ""],
        ["CPU s: workerd / receiver / bench", `${r1(b.cpu.runtimeMs / 1000)} / ${r1(b.cpu.receiverMs / 1000)} / ${r1(b.cpu.benchMs / 1000)} in ${r1(b.wallS)} s`, `${r1(p.cpu.runtimeMs / 1000)} / ${r1(p.cpu.receiverMs / 1000)} / ${r1(p.cpu.benchMs / 1000)} in ${r1(p.wallS)} s`],
        [
          "busiest runtime threads (CPU share of wall)",
          b.busiestThreads.map((t) => `${t.thread.split(" ").slice(1).join(" ")} ${Math.round(t.share * 100)}%`).join(", "),
          p.busiestThreads.map((t) => `${t.thread.split(" ").slice(1).join(" ")} ${Math.round(t.share * 100)}%`).join(", "),
        ],
        ["D1 round trips/s, statements/s achieved", `${Math.round(b.counters.d1.roundTrips / b.wallS)} / ${Math.round(b.counters.d1.statements / b.wallS)}`, `${Math.round(p.counters.d1.roundTrips / p.wallS)} / ${Math.round(p.counters.d1.statements / p.wallS)}`],
      ],
      ["", "burst", "paced"],
    ),
    "",
    "Per delivery (counted at the bindings; D1 rows as meta reports them):",
    table(
      [
        ["D1 statements", d.d1Statements, dp.d1Statements],
        ["D1 round trips", d.d1RoundTrips, dp.d1RoundTrips],
        ["D1 rows read", d.d1RowsRead, dp.d1RowsRead],
        ["D1 rows written", d.d1RowsWritten, dp.d1RowsWritten],
        ["queue messages sent (fanout + deliveries)", d.queueMessages, dp.queueMessages],
        ["queue retries (redeliveries)", d.queueRetries, dp.queueRetries],
        ["queue operations", d.queueOps, dp.queueOps],
        ["Durable Object requests (stub calls + alarms)", d.doRequests, dp.doRequests],
        ["DO SQLite rows written (SQL + KV + 1 per setAlarm)", d.doRowsWritten, dp.doRowsWritten],
        ["DO SQLite rows read (SQL + KV)", d.doRowsRead, dp.doRowsRead],
        ["DO alarms set", d.doAlarmSets, dp.doAlarmSets],
        ["rows written, D1 + DO", d.rowsWritten, dp.rowsWritten],
        ["Worker invocations (fetch + consumer batches)", d.workerRequests, dp.workerRequests],
        ["CPU ms (whole local runtime: upper bound)", d.cpuMsUpperBound, dp.cpuMsUpperBound],
        ["USD per million deliveries (modelled)", d.cost.total, dp.cost.total],
      ],
      ["", "burst", "paced"],
    ),
    "",
    `Cost per million deliveries (burst), prices as of ${PRICES.asOf} (${PRICES.plan}):`,
    table(
      [
        ["D1 rows written", d.cost.d1Writes],
        ["D1 rows read", d.cost.d1Reads],
        ["Queues operations", d.cost.queues],
        ["Durable Object requests", d.cost.doRequests],
        ["Durable Object SQLite rows written", d.cost.doRowsWritten],
        ["Durable Object duration", d.cost.doDuration],
        ["Worker requests", d.cost.workerRequests],
        ["Worker CPU (upper bound)", d.cost.workerCpu],
        ["total", d.cost.total],
      ],
      ["item", "USD / M deliveries"],
    ),
    "",
    "Production ceilings implied by the counts (burst):",
    table(
      [
        [`per D1 database (~${LIMITS.d1StatementsPerSecond} statements/s ÷ ${sig(d.d1Statements)} per delivery)`, d.ceilings.d1DeliveriesPerSecond],
        [`per delivery queue (${LIMITS.queueMessagesPerSecond} msg/s ÷ ${sig(d.deliveryQueueMessages)} per delivery)`, d.ceilings.deliveryQueueDeliveriesPerSecond],
        [`per fan-out queue (${LIMITS.queueMessagesPerSecond} msg/s × fan-out ${sig(d.fanout)})`, d.ceilings.fanoutQueueDeliveriesPerSecond],
      ],
      ["ceiling", "deliveries/s"],
    ),
    "",
    "Where the writes go (burst; per delivery unless marked):",
    table(
      d.breakdown
        .filter((s) => s.rowsWrittenPerDelivery > 0 || s.perDelivery >= 0.01)
        .map((s) => [s.phase, s.sql.length > 90 ? `${s.sql.slice(0, 89)}…` : s.sql, s.perEvent, s.perDelivery, s.rowsWrittenPerExec, s.rowsWrittenPerDelivery, s.rowsReadPerDelivery]),
      ["phase", "statement", "exec/event", "exec/delivery", "rows written/exec", "rows written/delivery", "rows read/delivery"],
    ),
    "",
    `Rows written: ${sig(d.writesPerEvent)} per event (events table) + ${sig(d.writesPerDeliveryOnly)} per delivery → ` +
      `${sig(writesAtFanout(d, 1))} at fan-out 1, ${sig(writesAtFanout(d, 5))} at fan-out 5, ${sig(writesAtFanout(d, 50))} at fan-out 50 (measured mix: ${sig(d.d1RowsWritten)} at ${sig(d.fanout)}).`,
    `Statements: ${sig(d.statementsPerEvent)} per event + ${sig(d.statementsPerDeliveryOnly)} per delivery → ${sig(statementsAtFanout(d, 5))} per delivery at fan-out 5.`,
    `D1 by phase (burst): ${Object.entries(d.phases)
      .map(([k, v]) => `${k} ${v.roundTrips} trips (${r1(v.waitMs / Math.max(1, v.roundTrips))} ms each, waiting included)/${v.statements} stmts/${v.rowsWritten} written/${v.rowsRead} read`)
      .join("; ")}`,
    `Queue sends (burst): ${Object.entries(b.counters.queues.sent)
      .map(([k, v]) => `${k} ${v.messages} messages in ${v.calls} calls (${r1(v.waitMs / Math.max(1, v.calls))} ms each), ${v.delayed} delayed`)
      .join("; ")}; consumer batches: ${Object.entries(b.counters.queues.consumed)
      .map(([k, v]) => `${k} ${v.batches} (avg ${r1(v.messages / Math.max(1, v.batches))} messages)`)
      .join(", ")}`,
    `DO requests (burst): ${JSON.stringify(d.doRequestsByName)}; failed attempts: burst ${JSON.stringify(b.counters.failedAttempts)}, paced ${JSON.stringify(p.counters.failedAttempts)}`,
    "",
    "Consumer batch sizes (batches holding that many messages; Workers bill one request per batch):",
    table(
      (
        [
          ["burst", d],
          ["paced", dp],
        ] as const
      ).flatMap(([load, x]) =>
        Object.entries(x.batchSizes).map(([q, v]) => [`${load} ${q}`, v.batches, ...BATCH_BUCKETS.map((k) => v.sizes[k] ?? 0), v.messages / Math.max(1, v.batches)]),
      ),
      ["load / queue", "batches", ...BATCH_BUCKETS, "avg messages"],
    ),
    "",
    `Durable Objects by class — counts over each load, then per delivery${d.gatedDeliveries || dp.gatedDeliveries ? " and per delivery to a FIFO / rate-limited endpoint" : ""} ` +
      "(SQL rows from the cursors; KV rows modelled: put 1 written, delete of an existing key 1, get 1 read, list 1 read per entry; each setAlarm 1 row written):",
    table(
      (
        [
          ["burst", d],
          ["paced", dp],
        ] as const
      ).flatMap(([load, x]) =>
        x.doClasses.map((f) => [
          `${load} ${f.name}`,
          `${f.requests} = ${f.stubCalls} + ${f.alarms}`,
          Object.entries(f.methods)
            .map(([m, n]) => `${m} ${n}`)
            .join(", ") || "—",
          `${f.sqlExecs} / ${f.kvPuts}·${f.kvDeletes}·${f.kvGets} / ${f.alarmSets}·${f.alarmDeletes}·${f.alarmGets}`,
          `${f.sqlRowsWritten} / ${f.kvRowsWritten} / ${f.alarmSets}`,
          `${f.sqlRowsRead} / ${f.kvRowsRead}`,
          f.requests / Math.max(1, x.deliveries),
          f.rowsWritten / Math.max(1, x.deliveries),
          ...(d.gatedDeliveries || dp.gatedDeliveries ? [x.gatedDeliveries ? `${sig(f.requests / x.gatedDeliveries)} / ${sig(f.rowsWritten / x.gatedDeliveries)} (of ${x.gatedDeliveries})` : "—"] : []),
        ]),
      ),
      [
        "load class",
        "requests = calls + alarms",
        "by method",
        "SQL execs / KV put·del·get / alarm set·del·get",
        "rows W: SQL / KV / alarms",
        "rows R: SQL / KV",
        "requests/dlv",
        "rows W/dlv",
        ...(d.gatedDeliveries || dp.gatedDeliveries ? ["requests / rows W per gated dlv"] : []),
      ],
    ),
  );
  const doSql = [d, dp].flatMap((x, i) => x.doClasses.flatMap((f) => f.topSql.map((q) => [`${i ? "paced" : "burst"} ${f.name}`, q.sql.length > 90 ? `${q.sql.slice(0, 89)}…` : q.sql, q.executions, q.rowsWritten, q.rowsRead])));
  if (doSql.length) out.push("", "Durable Object SQL statements (counts over each load):", table(doSql, ["load class", "statement", "executions", "rows written", "rows read"]));
  if (o.sweep.length) {
    out.push(
      "",
      "Sweep (burst load each; fresh tenants in the same database):",
      table(
        o.sweep.map((s) => [
          s.name,
          s.events,
          s.endpointsPerTenant,
          s.d.fanout,
          s.load.delivered,
          `${s.load.missing}/${s.load.duplicates}`,
          s.load.deliveriesPerS,
          s.base.perS,
          s.load.deliveriesPerS / s.base.perS,
          `${r1(s.load.e2eP50)} / ${r1(s.load.e2eP99)}`,
          s.load.ingestPerS,
          s.d.d1Statements,
          s.d.d1RowsWritten,
          s.d.d1RowsRead,
          s.d.queueOps,
          s.d.doRequests,
          s.d.cost.total,
        ]),
        ["run", "events", "ep/tenant", "fan-out", "deliveries", "miss/dup", "deliv/s", "limit/s", "ratio", "e2e p50/p99 ms", "ingest ev/s", "stmts/dlv", "rows W/dlv", "rows R/dlv", "q ops/dlv", "DO req/dlv", "USD/M"],
      ),
    );
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------
// --gated: FIFO and rate-limited endpoints in the main world.

/** The rate limit of --gated's rate-limited endpoints (as `npm run test:faults` sets it). */
const GATED_RATE_LIMIT = 50;

/** Makes each tenant's last endpoint FIFO and the one before it rate-limited; answers their receiver paths. */
async function gate(worker: RunningWorker, world: World): Promise<Set<string>> {
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${worker.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  const paths = new Set<string>();
  for (const tenant of world.tenants) {
    const n = world.filters.get(tenant)?.length ?? 0;
    if (n < 3) throw new Error("--gated needs 3 or more endpoints per tenant");
    const { data } = (await call("GET", `/v1/tenants/${tenant}/endpoints?limit=250`)) as { data: { id: string; url: string }[] };
    const idOf = new Map(data.map((e) => [new URL(e.url).pathname, e.id]));
    for (const [k, patch] of [
      [n - 1, { ordering: "fifo" }],
      [n - 2, { rate_limit: GATED_RATE_LIMIT }],
    ] as const) {
      const p = `/r/${tenant}/${k}`;
      const id = idOf.get(p);
      if (!id) throw new Error(`endpoint ${p} not found in the API's list`);
      await call("PATCH", `/v1/tenants/${tenant}/endpoints/${id}`, patch);
      paths.add(p);
    }
  }
  return paths;
}

// ---------------------------------------------------------------------------------------
// Main.

async function main() {
  say(`starting (mode ${ARGS.mode}): migrations into a fresh persist dir`);
  const state = prepareState();
  let receiver: RunningReceiver | undefined;
  let worker: RunningWorker | undefined;
  const stopAll = async () => {
    await worker?.stop().catch(() => {});
    await receiver?.stop().catch(() => {});
    if (!ARGS.keep) state.cleanup();
    else say(`kept ${state.dir}`);
  };
  process.once("SIGINT", () => {
    void stopAll().then(() => process.exit(130));
  });
  try {
    receiver = await startReceiver();
    say(`receiver on ${receiver.url} (pid ${receiver.pid}); starting the Worker`);
    worker = await startWorker(ARGS.mode, state, ARGS.queueOverride);
    if (Object.keys(ARGS.queueOverride).length) say(`EXPERIMENT: consumer settings overridden with ${JSON.stringify(ARGS.queueOverride)} (not wrangler.toml's)`);
    const ctx: { worker: RunningWorker; receiver: RunningReceiver; gatedPaths?: Set<string> } = { worker, receiver };
    say(`Worker on ${worker.url}; creating the world`);
    const world = await createWorld(worker.url, ADMIN_TOKEN, receiver.url, { tag: "w", tenants: ARGS.tenants, endpointsPerTenant: ARGS.endpoints });
    const { unstable_readConfig } = await import("wrangler");
    const doBindings: { name: string; class_name: string }[] = unstable_readConfig({ config: path.join(ROOT, "wrangler.toml") }).durable_objects?.bindings ?? [];
    DO_CLASS_OF = Object.fromEntries(doBindings.map((b) => [b.name, b.class_name]));
    const gatedPaths = ARGS.gated ? await gate(worker, world) : undefined;
    if (gatedPaths) say(`EXPERIMENT: ${gatedPaths.size} endpoints made FIFO or rate-limited (${GATED_RATE_LIMIT}/s) in the main world`);
    const hook = await counters(worker);
    if (!hook.hookInstalled) say("WARNING: the D1 transport hook is not installed: first()/raw() rows are not counted");
    const probe = async (kind: string, concurrency: number) =>
      ((await (await fetch(`${worker!.url}/__bench/d1probe?n=500&concurrency=${concurrency}&kind=${kind}`)).json()) as { perSecond: number }).perSecond;
    const cpuBefore = cpuMs(worker.runtimePids());
    const readSerialPerS = await probe("read", 1);
    const cpuPerTrip = (cpuMs(worker.runtimePids()) - cpuBefore) / 500;
    const calibration: Calibration = { readSerialPerS, cpuMsPerTrivialTrip: cpuPerTrip, readConcurrentPerS: await probe("read", 8), writeSerialPerS: await probe("write", 1) };

    ctx.gatedPaths = gatedPaths;
    // Warm-up (not measured): JIT, key caches, connections.
    await runLoad(ctx, "burst", "warm-up", planEvents(world, "warm-", Math.min(100, ARGS.events), 7), { concurrency: ARGS.concurrency, rate: ARGS.rate });

    const d1Bytes = async () => ((await (await fetch(`${ctx.worker.url}/__bench/d1size`)).json()) as { bytes: number | null }).bytes;
    const bytesBefore = await d1Bytes();
    const burstLoad = await runLoad(ctx, "burst", "burst", planEvents(world, "burst-", ARGS.events, 1), { concurrency: ARGS.concurrency, rate: ARGS.rate });
    const bytesAfter = await d1Bytes();
    // The burst's growth of the database per delivery (null when D1 does not report its size).
    const bytesPerDelivery = bytesBefore !== null && bytesAfter !== null && burstLoad.delivered > 0 ? (bytesAfter - bytesBefore) / burstLoad.delivered : null;
    const pacedLoad = await runLoad(ctx, "paced", "paced", planEvents(world, "paced-", Math.round(ARGS.rate * ARGS.duration), 2), {
      concurrency: ARGS.concurrency,
      rate: ARGS.rate,
    });
    say(`limit: ${burstLoad.delivered} signed POSTs straight from the Worker runtime, ${ARGS.concurrency} concurrent invocations × ≤6`);
    const base = await baseline(ctx, "base-main", burstLoad.delivered, ARGS.concurrency);
    say(`limit: ${r1(base.perS)}/s; now one invocation (≤6 in flight)`);
    const baseSingle = await baseline(ctx, "base-single", Math.min(burstLoad.delivered, 2000), 1, Math.min(burstLoad.delivered, 2000));
    const d = derive(burstLoad);
    const dp = derive(pacedLoad);

    const sweep: SweepRow[] = [];
    if (ARGS.sweep) {
      // The sweep's unit is a quarter of --events, so that its 4× row is the main burst and
      // the whole run stays within minutes: 1× and 4× events at 5 endpoints per tenant, then
      // 1× events at 1 and at 50 endpoints per tenant (50 multiplies deliveries by ~10, so
      // that row posts a fifth of the unit to keep its delivery count near the others).
      const unit = Math.max(20, Math.round(ARGS.events / 4));
      ctx.gatedPaths = undefined; // the sweep's worlds keep plain endpoints
      const configs = [
        { name: `1× (${unit} events), ${ARGS.endpoints} ep/tenant`, tag: "s1x", events: unit, eps: ARGS.endpoints },
        { name: `1× (${unit} events), 1 ep/tenant`, tag: "s1ep", events: unit, eps: 1 },
        { name: `0.2× (${Math.max(20, Math.round(unit / 5))} events), 50 ep/tenant`, tag: "s50ep", events: Math.max(20, Math.round(unit / 5)), eps: 50 },
      ];
      for (const cfg of configs) {
        const w = await createWorld(worker.url, ADMIN_TOKEN, receiver.url, { tag: cfg.tag, tenants: ARGS.tenants, endpointsPerTenant: cfg.eps });
        const load = await runLoad(ctx, "burst", `sweep ${cfg.name}`, planEvents(w, `${cfg.tag}-`, cfg.events, 3), { concurrency: ARGS.concurrency, rate: ARGS.rate });
        const b = await baseline(ctx, `base-${cfg.tag}`, load.delivered, ARGS.concurrency);
        sweep.push({ name: cfg.name, events: cfg.events, endpointsPerTenant: cfg.eps, load, base: b, d: derive(load) });
      }
      sweep.splice(1, 0, { name: `4× (${ARGS.events} events), ${ARGS.endpoints} ep/tenant (main burst)`, events: ARGS.events, endpointsPerTenant: ARGS.endpoints, load: burstLoad, base, d });
    }

    const wallS = (Date.now() - T0) / 1000;
    const json = {
      deliveries_per_s: r1(burstLoad.deliveriesPerS),
      baseline_per_s: r1(base.perS),
      ratio: r3(burstLoad.deliveriesPerS / base.perS),
      ingest_p50_ms: r1(burstLoad.ingestP50),
      ingest_p99_ms: r1(burstLoad.ingestP99),
      e2e_p50_ms: r1(burstLoad.e2eP50),
      e2e_p99_ms: r1(burstLoad.e2eP99),
      paced_e2e_p50_ms: r1(pacedLoad.e2eP50),
      paced_e2e_p99_ms: r1(pacedLoad.e2eP99),
      d1_rows_read_per_delivery: sig4(d.d1RowsRead),
      d1_rows_written_per_delivery: sig4(d.d1RowsWritten),
      d1_statements_per_delivery: sig4(d.d1Statements),
      queue_ops_per_delivery: sig4(d.queueOps),
      do_requests_per_delivery: sig4(d.doRequests),
      usd_per_million: sig4(d.cost.total),
      bytes_per_delivery: bytesPerDelivery === null ? null : Math.round(bytesPerDelivery),
      usd_per_million_lifetime:
        bytesPerDelivery === null ? null : sig4(usdPerMillionLifetime(d.cost.total, { bytesPerDelivery, purgeRowsPerDelivery: d.d1RowsWritten, retentionDays: RETENTION_DAYS })),
      do_rows_written_per_delivery: sig4(d.doRowsWritten),
      do_rows_read_per_delivery: sig4(d.doRowsRead),
      do_alarm_sets_per_delivery: sig4(d.doAlarmSets),
      rows_written_per_delivery: sig4(d.rowsWritten),
      batch_size_histogram: Object.fromEntries(Object.entries(d.batchSizes).map(([q, v]) => [q, Object.fromEntries(BATCH_BUCKETS.map((k) => [k, v.sizes[k] ?? 0]))])),
    };
    const pkg = (name: string) => (JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
    const machine: Machine = {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model ?? "?",
      memGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      wrangler: pkg("wrangler"),
      miniflare: miniflareModule().version,
      loadStart: LOAD_START,
      loadEnd: os.loadavg(),
    };
    const text = report({ mode: ARGS.mode, machine, calibration, world, burstLoad, pacedLoad, base, baseSingle, d, dp, sweep, wallS });
    if (ARGS.out) {
      writeFileSync(
        ARGS.out,
        JSON.stringify(
          { at: new Date().toISOString(), args: ARGS, machine, calibration, json, burst: burstLoad, paced: pacedLoad, derived: { burst: d, paced: dp }, base, baseSingle, sweep, text },
          null,
          2,
        ),
      );
    }
    const noMeta = burstLoad.counters.d1.statementsWithoutMeta + pacedLoad.counters.d1.statementsWithoutMeta;
    if (noMeta) say(`WARNING: ${noMeta} D1 statements returned no meta: rows read/written are undercounted`);
    const complete = burstLoad.missing === 0 && pacedLoad.missing === 0 && sweep.every((s) => s.load.missing === 0);
    if (ARGS.json) {
      process.stderr.write(`${text}\n`);
      process.stdout.write(`${JSON.stringify(json)}\n`);
    } else {
      process.stdout.write(`${text}\n\n${JSON.stringify(json)}\n`);
    }
    if (!complete) {
      say("FAILED: some expected deliveries never arrived");
      process.exitCode = 1;
    }
    say(`done in ${r1(wallS)} s`);
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
