/**
 * @module `npm run bench`: throughput, latency, the limit, operation counts and a modelled
 * cost per million deliveries, for the real Worker running locally (see docs/benchmarks.md).
 *
 *   npx tsx bench/run.ts [--events 2000] [--concurrency 32] [--rate 200] [--light-rate 20] [--duration 10]
 *                        [--mode miniflare|dev] [--sweep] [--json] [--out results.json] [--keep]
 *                        [--queue-batch-size n] [--queue-batch-timeout s] [--gated]
 *   npx tsx bench/run.ts --noisy [--json] [--noisy-backlog 5000] [--noisy-rate 20] [--noisy-duration 60]
 *                        [--noisy-timeout-ms 15000]
 *
 * --noisy (issue 18) runs only the noisy-neighbour scenario, on its own fresh Worker: tenant
 * A's one endpoint never answers (timeout 15 s) and has a 5 000-delivery backlog, then tenant
 * B posts 20 events/s to a healthy endpoint for 60 s; it reports B's e2e latency over the
 * whole run and after A's circuit opened, and how many of A's attempts it took to open.
 *
 * --mode=miniflare (default) runs the instrumented entry through Miniflare's API;
 * --mode=dev runs it under `wrangler dev`. Both use wrangler.toml's D1, Queues and Durable
 * Objects with a fresh persist dir. With --json, stdout is one JSON line; progress goes to stderr.
 *
 * Data plane v2: ingest calls the tenant's TenantLog and sends to the deliveries queue; the
 * consumer makes one claim and one record per tenant per batch. Per-delivery figures count
 * D1 (control plane reads, dead letters), the TenantLogs' SQLite rows and requests, queue
 * operations and Worker requests; after the loads, the TenantLogs' bytes and (with the clock
 * moved past RETENTION_DAYS) what dropping the day costs.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ADMIN_TOKEN, ROOT, cpuMs, miniflareModule, threadCpuMs, prepareState, selfCpuMs, startReceiver, startWorker, type Mode, type RunningReceiver, type RunningWorker } from "./harness";
import { ceilings, LIMITS, PRICES, usdPerMillion, usdPerMillionLifetime, type CostBreakdown, type PerDelivery } from "./prices";
import type { BatchTrace, DoStorageStat, TimeShiftStep } from "./instrumented-worker";
import { createEventTypes, createWorld, EVENT_TYPES, payload, planEvents, prng, type PlannedEvent, type World } from "./world";

// ---------------------------------------------------------------------------------------
// Arguments.

const { values: argv } = parseArgs({
  options: {
    events: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "32" },
    rate: { type: "string", default: "200" },
    "light-rate": { type: "string", default: "20" },
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
    noisy: { type: "boolean", default: false },
    "noisy-backlog": { type: "string", default: "5000" },
    "noisy-rate": { type: "string", default: "20" },
    "noisy-duration": { type: "string", default: "60" },
    "noisy-timeout-ms": { type: "string", default: "15000" },
  },
  strict: true,
});

const ARGS = {
  events: Number(argv.events),
  concurrency: Number(argv.concurrency),
  rate: Number(argv.rate),
  /** A second paced load at a rate the local pipeline sustains: latency without a backlog. */
  lightRate: Number(argv["light-rate"]),
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
   * take the TenantLog's line and rate-slot paths and those costs are measured. The default
   * mix has plain endpoints only.
   */
  gated: argv.gated!,
  /** Issue 18: only the noisy-neighbour scenario (see noisyRun). */
  noisy: argv.noisy!,
  noisyBacklog: Number(argv["noisy-backlog"]),
  noisyRate: Number(argv["noisy-rate"]),
  noisyDuration: Number(argv["noisy-duration"]),
  noisyTimeoutMs: Number(argv["noisy-timeout-ms"]),
};
if (ARGS.mode !== "miniflare" && ARGS.mode !== "dev") throw new Error(`--mode must be miniflare or dev, not ${ARGS.mode}`);
for (const k of ["events", "concurrency", "rate", "lightRate", "duration", "tenants", "endpoints", "noisyBacklog", "noisyRate", "noisyDuration", "noisyTimeoutMs"] as const) {
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
  analytics: { dataPoints: number; attempts: number };
  hookInstalled: boolean;
}


/** Consumer batch-size buckets, as the instrumented entry records them. */
const BATCH_BUCKETS = ["1", "2-5", "6-10", "11-50", "51-100"] as const;

/** Durable Object binding name → exported class, from wrangler.toml (set in main). */
let DO_CLASS_OF: Record<string, string> = {};

/** While on, every counter snapshot read with a reset is kept: their sum is the whole run's (see SteadyFigures). */
let accumulate = false;
const accumulated: Counters[] = [];

async function counters(worker: RunningWorker, reset = false): Promise<Counters> {
  const res = await fetch(`${worker.url}/__bench/counters${reset ? "?reset=1" : ""}`);
  if (!res.ok) throw new Error(`counters: HTTP ${res.status}`);
  const c = (await res.json()) as Counters;
  if (reset && accumulate) accumulated.push(c);
  return c;
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
  /** The start of the answer's body when it was not 2xx (or the fetch error). */
  error?: string;
}

async function post(worker: RunningWorker, e: PlannedEvent): Promise<Ingested> {
  const sent = now();
  let status = 0;
  let error: string | undefined;
  try {
    const res = await fetch(`${worker.url}/v1/tenants/${e.tenant}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: e.body,
    });
    status = res.status;
    if (res.ok) await res.arrayBuffer();
    else error = (await res.text()).slice(0, 300);
  } catch (err) {
    status = -1;
    error = String(err).slice(0, 300);
  }
  const accepted = now();
  return error === undefined ? { id: e.id, sent, accepted, status } : { id: e.id, sent, accepted, status, error };
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
  /** Receiver arrival minus the moment the POST was sent (ingest included). */
  e2eFromSentP50: number;
  e2eFromSentP99: number;
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
  if (ingestErrors) {
    const bad = ingested.filter((r) => !ok.has(r.id));
    say(`${label}: ${ingestErrors} events were not accepted (statuses ${[...new Set(bad.map((r) => r.status))].join(", ")}; e.g. ${[...new Set(bad.map((r) => r.error ?? ""))].slice(0, 2).join(" | ")})`);
  }
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
  const e2eFromSent: number[] = [];
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
    if (acc) {
      e2e.push(t - acc.accepted);
      e2eFromSent.push(t - acc.sent);
    }
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
    e2eFromSentP50: pct(e2eFromSent, 50),
    e2eFromSentP99: pct(e2eFromSent, 99),
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
  /** D1 statements per delivery, by phase (ingest, deliver, do:TenantLog, …). */
  d1StatementsByPhase: Record<string, number>;
  queueMessages: number;
  deliveryQueueMessages: number;
  queueRetries: number;
  queueOps: number;
  /** Billed Durable Object requests per delivery: RPC calls (stub calls) plus alarm invocations. */
  doRequests: number;
  /** Of those, RPC calls and alarms. */
  doRpc: number;
  doAlarms: number;
  /** Absolute counts over the load, "BINDING.method" and "Class.alarm". */
  doRequestsByName: Record<string, number>;
  /** Durable Object SQLite rows per delivery: written (alarms included, one row per setAlarm) and read. */
  doRowsWritten: number;
  doRowsRead: number;
  doAlarmSets: number;
  /** Per object method ("Class.method"): rows written (SQL + KV + setAlarm) and setAlarms per delivery. */
  doByMethod: { method: string; rowsWrittenPerDelivery: number; sqlRowsWrittenPerDelivery: number; alarmSetsPerDelivery: number; execsPerDelivery: number }[];
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
  /** Rows written by ingest (D1 and TenantLog.ingest) per event, and everything else per delivery. */
  writesPerEvent: number;
  writesPerDeliveryOnly: number;
  /** D1 statements of the ingest phase per event, and everything else per delivery. */
  statementsPerEvent: number;
  statementsPerDeliveryOnly: number;
  /** Durable Object requests made by ingest per event, and everything else per delivery. */
  doRequestsPerEvent: number;
  doRequestsPerDeliveryOnly: number;
  /** D1 statements by phase and SQL text. */
  breakdown: { phase: string; sql: string; perDelivery: number; perEvent: number; rowsWrittenPerExec: number; rowsWrittenPerDelivery: number; rowsReadPerDelivery: number }[];
  /** Durable Object SQL statements by class, method and SQL text. */
  doBreakdown: { cls: string; method: string; sql: string; perDelivery: number; perEvent: number; rowsWrittenPerExec: number; rowsWrittenPerDelivery: number; rowsReadPerDelivery: number }[];
  phases: Record<string, { waitMs: number; roundTrips: number; statements: number; rowsRead: number; rowsWritten: number }>;
}

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
  /** Rows written (SQL + KV + setAlarm) and setAlarms per object method. */
  byMethod: Record<string, { rowsWritten: number; sqlRowsWritten: number; alarmSets: number; execs: number }>;
  topSql: { method: string; sql: string; executions: number; rowsWritten: number; rowsRead: number }[];
}

function doClassFigures(c: Counters): DoClassFigures[] {
  const byName = new Map<string, DoClassFigures>();
  const fig = (name: string) => {
    let f = byName.get(name);
    if (!f) {
      f = { name, stubCalls: 0, alarms: 0, requests: 0, methods: {}, sqlExecs: 0, sqlRowsWritten: 0, sqlRowsRead: 0, kvPuts: 0, kvDeletes: 0, kvGets: 0, kvRowsWritten: 0, kvRowsRead: 0, alarmSets: 0, alarmDeletes: 0, alarmGets: 0, transactions: 0, rowsWritten: 0, rowsRead: 0, byMethod: {}, topSql: [] };
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
    for (const [m, v] of Object.entries(st.byMethod ?? {})) {
      f.byMethod[m] = { rowsWritten: v.sqlRowsWritten + v.kvRowsWritten + v.alarmSets * PRICES.durableObjects.rowsWrittenPerSetAlarm, sqlRowsWritten: v.sqlRowsWritten, alarmSets: v.alarmSets, execs: v.sqlExecs };
    }
    f.topSql = Object.values(st.bySql)
      .sort((a, b) => b.rowsWritten - a.rowsWritten || b.executions - a.executions)
      .slice(0, 12)
      .map(({ method, sql, executions, rowsWritten, rowsRead }) => ({ method: method ?? "?", sql, executions, rowsWritten, rowsRead }));
  }
  for (const f of byName.values()) {
    f.requests = f.stubCalls + f.alarms;
    f.rowsWritten = f.sqlRowsWritten + f.kvRowsWritten + f.alarmSets * PRICES.durableObjects.rowsWrittenPerSetAlarm;
    f.rowsRead = f.sqlRowsRead + f.kvRowsRead;
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Object methods that run once per event (their rows and calls are per-event costs). */
const PER_EVENT_DO_METHODS = new Set(["ingest"]);

function derive(load: LoadResult): Derived {
  const c = load.counters;
  const D = Math.max(1, load.delivered);
  const E = Math.max(1, load.events - load.ingestErrors);
  const sent = c.queues.sent;
  const queueMessages = Object.values(sent).reduce((a, s) => a + s.messages, 0);
  const consumed = Object.values(c.queues.consumed);
  const queueRetries = Math.max(
    consumed.reduce((a, q) => a + q.redelivered, 0),
    consumed.reduce((a, q) => a + q.retried, 0),
  );
  const alarms = Object.entries(c.durableObjects.handled).filter(([k]) => k.endsWith(".alarm"));
  const doRequestsByName = { ...c.durableObjects.requests, ...Object.fromEntries(alarms) };
  const doRpc = sum(c.durableObjects.requests);
  const doAlarms = alarms.reduce((a, [, n]) => a + n, 0);
  const doRequests = doRpc + doAlarms;
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
  // Per event: D1 work of the ingest phase, and the TenantLog's ingest (its rows and calls).
  let eventWrites = 0;
  let eventStatements = 0;
  const breakdown = Object.values(c.d1.bySql)
    .map((s) => {
      if (s.phase === "ingest") {
        eventWrites += s.rowsWritten;
        eventStatements += s.executions;
      }
      return {
        phase: s.phase,
        sql: s.sql,
        perDelivery: s.executions / D,
        perEvent: s.executions / E,
        rowsWrittenPerExec: s.executions ? s.rowsWritten / s.executions : 0,
        rowsWrittenPerDelivery: s.rowsWritten / D,
        rowsReadPerDelivery: s.rowsRead / D,
      };
    })
    .sort((a, b) => b.rowsWrittenPerDelivery - a.rowsWrittenPerDelivery || b.perDelivery - a.perDelivery);
  const doByMethod: Derived["doByMethod"] = [];
  for (const f of doClasses) {
    for (const [m, v] of Object.entries(f.byMethod)) {
      if (PER_EVENT_DO_METHODS.has(m)) eventWrites += v.rowsWritten;
      doByMethod.push({ method: `${f.name}.${m}`, rowsWrittenPerDelivery: v.rowsWritten / D, sqlRowsWrittenPerDelivery: v.sqlRowsWritten / D, alarmSetsPerDelivery: v.alarmSets / D, execsPerDelivery: v.execs / D });
    }
  }
  doByMethod.sort((a, b) => b.rowsWrittenPerDelivery - a.rowsWrittenPerDelivery);
  const doBreakdown: Derived["doBreakdown"] = [];
  for (const [cls, st] of Object.entries(c.durableObjects.storage ?? {})) {
    for (const q of Object.values(st.bySql)) {
      doBreakdown.push({
        cls,
        method: q.method ?? "?",
        sql: q.sql,
        perDelivery: q.executions / D,
        perEvent: q.executions / E,
        rowsWrittenPerExec: q.executions ? q.rowsWritten / q.executions : 0,
        rowsWrittenPerDelivery: q.rowsWritten / D,
        rowsReadPerDelivery: q.rowsRead / D,
      });
    }
  }
  doBreakdown.sort((a, b) => b.rowsWrittenPerDelivery - a.rowsWrittenPerDelivery || b.perDelivery - a.perDelivery);
  const doRequestsPerEventCount = Object.entries(c.durableObjects.requests)
    .filter(([k]) => PER_EVENT_DO_METHODS.has(k.slice(k.indexOf(".") + 1)))
    .reduce((a, [, n]) => a + n, 0);
  const d1StatementsByPhase = Object.fromEntries(Object.entries(c.d1.byPhase).map(([k, v]) => [k, v.statements / D]));
  return {
    deliveries: load.delivered,
    events: E,
    fanout: load.delivered / E,
    d1Statements: c.d1.statements / D,
    d1RoundTrips: c.d1.roundTrips / D,
    d1RowsRead: per.d1RowsRead,
    d1RowsWritten: per.d1RowsWritten,
    d1StatementsByPhase,
    queueMessages: per.queueMessages,
    deliveryQueueMessages: (sent.deliveries?.messages ?? 0) / D,
    queueRetries: per.queueRetries,
    queueOps: per.queueMessages * PRICES.queues.operationsPerMessage + per.queueRetries * PRICES.queues.operationsPerRetry,
    doRequests: per.doRequests,
    doRpc: doRpc / D,
    doAlarms: doAlarms / D,
    doRequestsByName,
    doRowsWritten: per.doRowsWritten,
    doRowsRead: doClasses.reduce((a, f) => a + f.rowsRead, 0) / D,
    doAlarmSets: doClasses.reduce((a, f) => a + f.alarmSets, 0) / D,
    doByMethod,
    rowsWritten: per.d1RowsWritten + per.doRowsWritten,
    doClasses,
    gatedDeliveries: load.deliveredGated,
    batchSizes: Object.fromEntries(Object.entries(c.queues.consumed).map(([q, v]) => [q, { batches: v.batches, messages: v.messages, sizes: v.sizes ?? {} }])),
    workerRequests: per.workerRequests,
    cpuMsUpperBound: per.cpuMs,
    cost: usdPerMillion(per),
    ceilings: ceilings({ d1Statements: c.d1.statements / D, deliveryQueueMessages: (sent.deliveries?.messages ?? 0) / D, doRequests: per.doRequests }),
    writesPerEvent: eventWrites / E,
    writesPerDeliveryOnly: (c.d1.rowsWritten + doRowsWritten - eventWrites) / D,
    statementsPerEvent: eventStatements / E,
    statementsPerDeliveryOnly: (c.d1.statements - eventStatements) / D,
    doRequestsPerEvent: doRequestsPerEventCount / E,
    doRequestsPerDeliveryOnly: (doRequests - doRequestsPerEventCount) / D,
    breakdown,
    doBreakdown,
    phases: c.d1.byPhase,
  };
}

/** Rows written per delivery if every event fanned out to `f` endpoints. */
const writesAtFanout = (d: Derived, f: number) => d.writesPerEvent / f + d.writesPerDeliveryOnly;
const statementsAtFanout = (d: Derived, f: number) => d.statementsPerEvent / f + d.statementsPerDeliveryOnly;
const doRequestsAtFanout = (d: Derived, f: number) => d.doRequestsPerEvent / f + d.doRequestsPerDeliveryOnly;

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

/** What the logs hold and what dropping a day costs (see main). */
interface StorageFigures {
  /** TenantLog SQLite bytes of the main world's tenants before and after the burst. */
  doBytesBefore: number | null;
  doBytesAfter: number | null;
  doBytesPerDelivery: number | null;
  d1BytesPerDelivery: number | null;
  purge: PurgeFigures | null;
}

/** The purge, measured: one ingest a retention period later per tenant (the new day), then its alarm (the drop). */
interface PurgeFigures {
  tenants: number;
  offsetDays: number;
  /** Deliveries the dropped day held (warm-up, burst and paced of the main world). */
  deliveriesInDay: number;
  /** Per tenant-day: rows the new day's first ingest wrote beyond its event row (its tables, the `days` row, the expiry alarm). */
  dayRowsPerTenantDay: number;
  /** Per tenant-day: rows the expiry alarm wrote (SQL + setAlarm) and alarm invocations. */
  purgeRowsPerTenantDay: number;
  alarmRequestsPerTenantDay: number;
  /** (day rows + purge rows) ÷ deliveries in the day, and alarm requests ÷ the same. */
  rowsPerDelivery: number;
  requestsPerDelivery: number;
  /** Statements of the new day and the drop that wrote rows ("method sql"), summed over the tenants. */
  statements: { sql: string; executions: number; rowsWritten: number }[];
  errors: string[];
}

function report(o: {
  mode: Mode;
  machine: Machine;
  calibration: Calibration;
  world: World;
  burstLoad: LoadResult;
  pacedLoad: LoadResult;
  lightLoad: LoadResult;
  base: BaselineResult;
  baseSingle: BaselineResult;
  d: Derived;
  dp: Derived;
  storage: StorageFigures;
  lifetime: ReturnType<typeof usdPerMillionLifetime> | null;
  steady: SteadyFigures;
  sweep: SweepRow[];
  wallS: number;
}): string {
  const { burstLoad: b, pacedLoad: p, lightLoad: l, base, baseSingle, d, dp, storage, steady } = o;
  const out: string[] = [];
  const loads = [
    ["burst", d],
    ["paced", dp],
  ] as const;
  const short = (sql: string, n = 100) => (sql.length > n ? `${sql.slice(0, n - 1)}…` : sql);
  out.push(
    `Switchyard bench (data plane v2) — ${new Date().toISOString()} — mode ${o.mode} — ${o.world.tenants.length} tenants × ${o.world.endpointCount / o.world.tenants.length} endpoints — run took ${r1(o.wallS)} s` +
      (Object.keys(ARGS.queueOverride).length ? ` — consumers' batch settings overridden with ${JSON.stringify(ARGS.queueOverride)}` : "") +
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
    `Paced at ${ARGS.lightRate}/s for ${ARGS.duration} s (below capacity): ${l.events} events, ${l.skipped} skipped, ${l.delivered}/${l.expected} delivered; ` +
      `ingest p50 / p99 ${r1(l.ingestP50)} / ${r1(l.ingestP99)} ms; end-to-end p50 / p95 / p99 ${r1(l.e2eP50)} / ${r1(l.e2eP95)} / ${r1(l.e2eP99)} ms ` +
      `(from the POST sent: p50 / p99 ${r1(l.e2eFromSentP50)} / ${r1(l.e2eFromSentP99)} ms; a webhook may arrive before its 202 does); ` +
      `consumer batches ${Object.values(l.counters.queues.consumed).reduce((a, q) => a + q.batches, 0)} (avg ${r1(Object.values(l.counters.queues.consumed).reduce((a, q) => a + q.messages, 0) / Math.max(1, Object.values(l.counters.queues.consumed).reduce((a, q) => a + q.batches, 0)))} messages)`,
    "",
    "Per delivery (counted at the bindings; D1 rows as meta reports them, TenantLog rows from its cursors):",
    table(
      [
        ["D1 statements", d.d1Statements, dp.d1Statements],
        ...[...new Set([...Object.keys(d.d1StatementsByPhase), ...Object.keys(dp.d1StatementsByPhase)])].map((ph) => [`… of which ${ph}`, d.d1StatementsByPhase[ph] ?? 0, dp.d1StatementsByPhase[ph] ?? 0]),
        ["D1 round trips", d.d1RoundTrips, dp.d1RoundTrips],
        ["D1 rows read", d.d1RowsRead, dp.d1RowsRead],
        ["D1 rows written", d.d1RowsWritten, dp.d1RowsWritten],
        ["queue messages sent (deliveries)", d.queueMessages, dp.queueMessages],
        ["queue retries (redeliveries)", d.queueRetries, dp.queueRetries],
        ["queue operations", d.queueOps, dp.queueOps],
        ["Durable Object requests (RPC calls + alarms)", `${sig(d.doRequests, 4)} (${sig(d.doRpc, 4)} + ${sig(d.doAlarms, 4)})`, `${sig(dp.doRequests, 4)} (${sig(dp.doRpc, 4)} + ${sig(dp.doAlarms, 4)})`],
        ["DO SQLite rows written (SQL + KV + 1 per setAlarm)", d.doRowsWritten, dp.doRowsWritten],
        ["DO SQLite rows read (SQL + KV)", d.doRowsRead, dp.doRowsRead],
        ["DO alarms set", d.doAlarmSets, dp.doAlarmSets],
        ["rows written, D1 + DO", d.rowsWritten, dp.rowsWritten],
        ["Worker invocations (fetch + consumer batches)", d.workerRequests, dp.workerRequests],
        ["CPU ms (whole local runtime: upper bound)", d.cpuMsUpperBound, dp.cpuMsUpperBound],
        ["USD per million deliveries (usd_per_million)", d.cost.total, dp.cost.total],
        ["… with D1 reads, DO duration and CPU (upper bounds)", d.cost.totalWithExtras, dp.cost.totalWithExtras],
      ],
      ["", "burst", "paced"],
    ),
    "",
    `Cost per million deliveries (burst), prices as of ${PRICES.asOf} (${PRICES.plan}):`,
    table(
      [
        ["D1 rows written", d.cost.d1Writes, "yes"],
        ["Durable Object SQLite rows written", d.cost.doRowsWritten, "yes"],
        ["Durable Object requests", d.cost.doRequests, "yes"],
        ["Queues operations", d.cost.queues, "yes"],
        ["Worker requests", d.cost.workerRequests, "yes"],
        ["usd_per_million", d.cost.total, ""],
        ["D1 rows read", d.cost.d1Reads, "no"],
        ["Durable Object duration (callers' wall time: upper bound)", d.cost.doDuration, "no"],
        ["Worker CPU (whole local runtime: upper bound)", d.cost.workerCpu, "no"],
        ["total with those", d.cost.totalWithExtras, ""],
      ],
      ["item", "USD / M deliveries", "in usd_per_million"],
    ),
    "",
    `Whole run (burst, paced and light loads, the gaps, and the alarms due within 90 s after them: ${r1(steady.windowS)} s, ${steady.deliveries} deliveries, ${steady.tenants} tenants): ` +
      `${sig(steady.rowsWrittenPerDelivery, 4)} rows written and ${sig(steady.doRequestsPerDelivery, 4)} DO requests per delivery, usd_per_million ${sig(steady.cost.total, 4)}; ` +
      `${steady.doRpc} RPC calls, ${steady.alarmRuns} alarm runs, ${steady.alarmSets} setAlarm, ${steady.rollupRows} rollup rows, ${steady.d1Statements} D1 statements, ${steady.d1RowsWritten} D1 rows written. ` +
      `Upkeep per tenant-minute of this window: ${sig(steady.perTenantMinute.alarmRuns)} alarm runs, ${sig(steady.perTenantMinute.alarmSets)} setAlarm, ${sig(steady.perTenantMinute.rollupRows)} rollup rows.`,
    "",
    "Storage and lifetime:",
    `- TenantLog SQLite bytes (ctx.storage.sql.databaseSize, main world's ${o.world.tenants.length} tenants): ${storage.doBytesBefore ?? "?"} before the burst, ${storage.doBytesAfter ?? "?"} after: ` +
      `${storage.doBytesPerDelivery === null ? "?" : Math.round(storage.doBytesPerDelivery)} bytes per delivery; D1 grew ${storage.d1BytesPerDelivery === null ? "?" : Math.round(storage.d1BytesPerDelivery)} bytes per delivery.`,
    storage.purge
      ? `- Dropping the day (clock moved ${storage.purge.offsetDays} days ahead; ${storage.purge.tenants} tenants, ${storage.purge.deliveriesInDay} deliveries in the day): ` +
          `the new day's first ingest wrote ${sig(storage.purge.dayRowsPerTenantDay)} rows per tenant beyond its event row, the expiry alarm ${sig(storage.purge.purgeRowsPerTenantDay)} rows and ${sig(storage.purge.alarmRequestsPerTenantDay)} alarm run per tenant → ` +
          `${sig(storage.purge.rowsPerDelivery)} rows and ${sig(storage.purge.requestsPerDelivery)} requests per delivery at this density (${Math.round(storage.purge.deliveriesInDay / Math.max(1, storage.purge.tenants))} deliveries per tenant-day).` +
          (storage.purge.errors.length ? ` ERRORS: ${storage.purge.errors.join("; ")}` : "") +
          (storage.purge.statements.length ? `\n  Rows written by the new day (ingest) and the drop (alarm), all tenants: ${storage.purge.statements.map((q) => `${short(q.sql, 70)} ×${q.executions} = ${q.rowsWritten}`).join("; ")}` : "")
      : "- Dropping the day: not measured.",
    o.lifetime
      ? `- usd_per_million_lifetime ${sig(o.lifetime.total, 4)} = running ${sig(d.cost.total, 4)} + storage for ${RETENTION_DAYS} days ${sig(o.lifetime.storage, 4)} + day upkeep and purge ${sig(o.lifetime.purge, 4)}.`
      : "- usd_per_million_lifetime: not measured.",
    "",
    "Production ceilings implied by the counts (burst):",
    table(
      [
        [`per D1 database (~${LIMITS.d1StatementsPerSecond} statements/s ÷ ${sig(d.d1Statements)} per delivery)`, d.ceilings.d1DeliveriesPerSecond],
        [`per delivery queue (${LIMITS.queueMessagesPerSecond} msg/s ÷ ${sig(d.deliveryQueueMessages)} per delivery)`, d.ceilings.deliveryQueueDeliveriesPerSecond],
        [`per tenant (its TenantLog's ~${LIMITS.durableObjectRequestsPerSecond} requests/s ÷ ${sig(d.doRequests)} per delivery)`, d.ceilings.tenantLogDeliveriesPerSecond],
      ],
      ["ceiling", "deliveries/s"],
    ),
    "",
    "Durable Object rows written by method (burst and paced, per delivery; SQL + KV + 1 per setAlarm):",
    table(
      [...new Set([...d.doByMethod, ...dp.doByMethod].map((m) => m.method))].map((m) => {
        const x = d.doByMethod.find((v) => v.method === m);
        const y = dp.doByMethod.find((v) => v.method === m);
        return [m, `${sig(x?.rowsWrittenPerDelivery ?? 0, 4)} (${sig(x?.alarmSetsPerDelivery ?? 0, 3)} setAlarm)`, `${sig(y?.rowsWrittenPerDelivery ?? 0, 4)} (${sig(y?.alarmSetsPerDelivery ?? 0, 3)} setAlarm)`, x?.execsPerDelivery ?? 0];
      }),
      ["method", "burst rows W/dlv", "paced rows W/dlv", "burst statements/dlv"],
    ),
    "",
    "Where the writes and statements go (burst; per delivery unless marked) — Durable Objects by method and SQL text:",
    table(
      d.doBreakdown
        .filter((s) => s.rowsWrittenPerDelivery > 0 || s.perDelivery >= 0.05)
        .map((s) => [`${s.cls}.${s.method}`, short(s.sql), s.perEvent, s.perDelivery, s.rowsWrittenPerExec, s.rowsWrittenPerDelivery, s.rowsReadPerDelivery]),
      ["object method", "statement", "exec/event", "exec/delivery", "rows written/exec", "rows written/delivery", "rows read/delivery"],
    ),
    "",
    "D1 by phase and SQL text (burst):",
    table(
      d.breakdown
        .filter((s) => s.rowsWrittenPerDelivery > 0 || s.perDelivery >= 0.001)
        .map((s) => [s.phase, short(s.sql), s.perEvent, s.perDelivery, s.rowsWrittenPerExec, s.rowsWrittenPerDelivery, s.rowsReadPerDelivery]),
      ["phase", "statement", "exec/event", "exec/delivery", "rows written/exec", "rows written/delivery", "rows read/delivery"],
    ),
    "",
    `Rows written (D1 + DO): ${sig(d.writesPerEvent)} per event (ingest) + ${sig(d.writesPerDeliveryOnly)} per delivery → ` +
      `${sig(writesAtFanout(d, 1))} at fan-out 1, ${sig(writesAtFanout(d, 5))} at fan-out 5, ${sig(writesAtFanout(d, 50))} at fan-out 50 (measured mix: ${sig(d.rowsWritten)} at ${sig(d.fanout)}).`,
    `D1 statements: ${sig(d.statementsPerEvent)} per event (ingest) + ${sig(d.statementsPerDeliveryOnly)} per delivery → ${sig(statementsAtFanout(d, 5))} per delivery at fan-out 5.`,
    `DO requests: ${sig(d.doRequestsPerEvent)} per event (ingest) + ${sig(d.doRequestsPerDeliveryOnly)} per delivery (claim, record, alarms, …) → ${sig(doRequestsAtFanout(d, 5))} per delivery at fan-out 5.`,
    `D1 by phase (burst): ${
      Object.entries(d.phases)
        .map(([k, v]) => `${k} ${v.roundTrips} trips (${r1(v.waitMs / Math.max(1, v.roundTrips))} ms each, waiting included)/${v.statements} stmts/${v.rowsWritten} written/${v.rowsRead} read`)
        .join("; ") || "none"
    }`,
    `Queue sends (burst): ${Object.entries(b.counters.queues.sent)
      .map(([k, v]) => `${k} ${v.messages} messages in ${v.calls} calls (${r1(v.waitMs / Math.max(1, v.calls))} ms each), ${v.delayed} delayed`)
      .join("; ")}; consumer batches: ${Object.entries(b.counters.queues.consumed)
      .map(([k, v]) => `${k} ${v.batches} (avg ${r1(v.messages / Math.max(1, v.batches))} messages)`)
      .join(", ")}`,
    `DO requests (burst): ${JSON.stringify(d.doRequestsByName)}; failed attempts: burst ${JSON.stringify(b.counters.failedAttempts)}, paced ${JSON.stringify(p.counters.failedAttempts)}`,
    `Analytics Engine data points (burst; docs/metrics.md): ${b.counters.analytics.dataPoints} for ${b.counters.analytics.attempts} attempts, ${sig(b.counters.analytics.dataPoints / Math.max(1, b.delivered))} per delivery`,
    "",
    "Consumer batch sizes (batches holding that many messages; Workers bill one request per batch, the TenantLog one claim and one record per tenant per batch):",
    table(
      loads.flatMap(([load, x]) => Object.entries(x.batchSizes).map(([q, v]) => [`${load} ${q}`, v.batches, ...BATCH_BUCKETS.map((k) => v.sizes[k] ?? 0), v.messages / Math.max(1, v.batches)])),
      ["load / queue", "batches", ...BATCH_BUCKETS, "avg messages"],
    ),
    "",
    `Durable Objects by class — counts over each load, then per delivery${d.gatedDeliveries || dp.gatedDeliveries ? " and per delivery to a FIFO / rate-limited endpoint" : ""} ` +
      "(SQL rows from the cursors; KV rows modelled: put 1 written, delete of an existing key 1, get 1 read, list 1 read per entry; each setAlarm 1 row written):",
    table(
      loads.flatMap(([load, x]) =>
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
  const doSql = loads.flatMap(([load, x]) => x.doClasses.flatMap((f) => f.topSql.map((q) => [`${load} ${f.name}.${q.method}`, short(q.sql, 90), q.executions, q.rowsWritten, q.rowsRead])));
  if (doSql.length) out.push("", "Durable Object SQL statements (counts over each load):", table(doSql, ["load object method", "statement", "executions", "rows written", "rows read"]));
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
          s.d.rowsWritten,
          s.d.doRowsWritten,
          s.d.doRequests,
          s.d.queueOps,
          s.d.cost.total,
        ]),
        ["run", "events", "ep/tenant", "fan-out", "deliveries", "miss/dup", "deliv/s", "limit/s", "ratio", "e2e p50/p99 ms", "ingest ev/s", "D1 stmts/dlv", "rows W/dlv", "DO rows W/dlv", "DO req/dlv", "q ops/dlv", "USD/M"],
      ),
      "",
      `Per event and per delivery, each sweep row: ${o.sweep
        .map((s) => `${s.name}: rows ${sig(s.d.writesPerEvent)}/event + ${sig(s.d.writesPerDeliveryOnly)}/dlv, DO requests ${sig(s.d.doRequestsPerEvent)}/event + ${sig(s.d.doRequestsPerDeliveryOnly)}/dlv, D1 statements ${sig(s.d.statementsPerEvent)}/event + ${sig(s.d.statementsPerDeliveryOnly)}/dlv`)
        .join("; ")}`,
    );
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------
// The whole run: the loads, the gaps between them and the alarms they leave.

/**
 * Burst, paced and light loads together with everything between them, and the alarms their
 * logs had due within 90 s afterwards (the rollups' once-a-minute flush): the upkeep a
 * load's own window misses. Per delivery of those loads, and per tenant-minute.
 */
interface SteadyFigures {
  windowS: number;
  deliveries: number;
  tenants: number;
  doRpc: number;
  alarmRuns: number;
  alarmSets: number;
  doRowsWritten: number;
  rollupRows: number;
  d1RowsWritten: number;
  d1Statements: number;
  rowsWrittenPerDelivery: number;
  doRequestsPerDelivery: number;
  cost: CostBreakdown;
  /** Per tenant and minute of the window: alarm runs, setAlarms, rollup rows. */
  perTenantMinute: { alarmRuns: number; alarmSets: number; rollupRows: number };
}

function steadyFigures(list: Counters[], deliveries: number, windowS: number, tenants: number): SteadyFigures {
  let doRpc = 0;
  let alarmRuns = 0;
  let alarmSets = 0;
  let doRowsWritten = 0;
  let rollupRows = 0;
  let d1RowsWritten = 0;
  let d1RowsRead = 0;
  let d1Statements = 0;
  let queueMessages = 0;
  let queueRetries = 0;
  let workerRequests = 0;
  for (const c of list) {
    doRpc += sum(c.durableObjects.requests);
    alarmRuns += Object.entries(c.durableObjects.handled)
      .filter(([k]) => k.endsWith(".alarm"))
      .reduce((a, [, n]) => a + n, 0);
    for (const st of Object.values(c.durableObjects.storage ?? {})) {
      alarmSets += st.alarms.sets;
      doRowsWritten += st.sql.rowsWritten + st.kv.rowsWritten + st.asyncKv.rowsWritten + st.alarms.sets * PRICES.durableObjects.rowsWrittenPerSetAlarm;
      rollupRows += Object.values(st.bySql)
        .filter((q) => /^insert into "rollups"/i.test(q.sql))
        .reduce((a, q) => a + q.rowsWritten, 0);
    }
    d1RowsWritten += c.d1.rowsWritten;
    d1RowsRead += c.d1.rowsRead;
    d1Statements += c.d1.statements;
    queueMessages += Object.values(c.queues.sent).reduce((a, q) => a + q.messages, 0);
    queueRetries += Object.values(c.queues.consumed).reduce((a, q) => a + Math.max(q.redelivered, q.retried), 0);
    workerRequests += c.invocations.fetch + sum(c.invocations.queueBatches);
  }
  const D = Math.max(1, deliveries);
  const cost = usdPerMillion({
    d1RowsRead: d1RowsRead / D,
    d1RowsWritten: d1RowsWritten / D,
    queueMessages: queueMessages / D,
    queueRetries: queueRetries / D,
    doRequests: (doRpc + alarmRuns) / D,
    doRowsWritten: doRowsWritten / D,
    doActiveMs: 0,
    workerRequests: workerRequests / D,
    cpuMs: 0,
  });
  const tenantMinutes = Math.max(1e-9, (tenants * windowS) / 60);
  return {
    windowS,
    deliveries,
    tenants,
    doRpc,
    alarmRuns,
    alarmSets,
    doRowsWritten,
    rollupRows,
    d1RowsWritten,
    d1Statements,
    rowsWrittenPerDelivery: (d1RowsWritten + doRowsWritten) / D,
    doRequestsPerDelivery: (doRpc + alarmRuns) / D,
    cost,
    perTenantMinute: { alarmRuns: alarmRuns / tenantMinutes, alarmSets: alarmSets / tenantMinutes, rollupRows: rollupRows / tenantMinutes },
  };
}

/** Waits (≤ 150 s) until none of the world's logs has an alarm due within 90 s: what the loads left to do has run. */
async function drainAlarms(worker: RunningWorker, world: World): Promise<void> {
  const start = Date.now();
  let lastLog = 0;
  while (Date.now() - start < 150_000) {
    const res = await fetch(`${worker.url}/__bench/alarms`, { method: "POST", body: JSON.stringify({ tenants: world.tenants }) });
    const { now: at, perTenant } = (await res.json()) as { now: number; perTenant: Record<string, number | null> };
    const soon = Object.values(perTenant).filter((t) => t !== null && t <= at + 90_000);
    if (soon.length === 0) return;
    if (Date.now() - lastLog > 15_000) {
      say(`whole run: waiting for ${soon.length} logs' alarms (the latest in ${r1((Math.max(...(soon as number[])) - at) / 1000)} s)`);
      lastLog = Date.now();
    }
    await sleep(2000);
  }
  say("whole run: alarms still due after 150 s; counting as it stands");
}

// ---------------------------------------------------------------------------------------
// The purge, measured.

/** Rows of ordinary traffic that a probe step also writes (its own event row, rollups of the traffic before it): not the day's upkeep. */
const TRAFFIC_SQL = /^(ingest INSERT INTO events_d\d+ |\w+ insert into "rollups" )/i;

/**
 * Per tenant of the main world, with the clock moved RETENTION_DAYS + 1 days ahead: one
 * unkeyed event (the new day's first ingest: its tables, its `days` row, the expiry alarm),
 * then the log's alarm as the runtime runs it (the pending alarm cleared first), which drops
 * the expired day. Answers the rows and alarm runs per tenant-day and per delivery of the day.
 */
async function purgeProbe(worker: RunningWorker, world: World, deliveriesInDay: number): Promise<PurgeFigures | null> {
  const offsetDays = RETENTION_DAYS + 1;
  const ingest = {
    tenantSeq: "$tenantSeq",
    id: null,
    type: "vehicle.created",
    group: "fleet",
    dataJson: "{}",
    occurredAt: null,
    idemKey: null,
    bodyHash: "bench-purge-probe",
    now: "$now",
    fullBytes: 9_663_676_416,
  };
  say(`purge: moving the clock ${offsetDays} days ahead for ${world.tenants.length} logs (ingest, then the expiry alarm)`);
  await counters(worker, true);
  const res = await fetch(`${worker.url}/__bench/timeshift`, {
    method: "POST",
    body: JSON.stringify({
      tenants: world.tenants,
      offsetMs: offsetDays * 86_400_000,
      steps: [
        { method: "ingest", args: [ingest] },
        { method: "$deleteAlarm", args: [] },
        { method: "alarm", args: [] },
      ],
    }),
  });
  if (!res.ok) {
    say(`WARNING: the purge probe failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return null;
  }
  const all = (await res.json()) as Record<string, TimeShiftStep[]>;
  await counters(worker, true);
  const errors = [...new Set(Object.values(all).flatMap((steps) => steps.flatMap((st) => (st.error ? [`${st.method}: ${st.error}`] : []))))];
  // The alarm catches its own errors (and re-arms): a log whose day was not dropped shows no
  // `DELETE FROM days`. Only the logs that dropped it are counted.
  const dropped = (steps: TimeShiftStep[]) => steps.some((st) => st.method === "alarm" && Object.keys(st.bySql).some((k) => /^alarm DELETE FROM days /.test(k)));
  const byTenant = Object.fromEntries(Object.entries(all).filter(([, steps]) => dropped(steps)));
  const notDropped = Object.keys(all).length - Object.keys(byTenant).length;
  if (notDropped) errors.push(`${notDropped} of ${Object.keys(all).length} logs did not drop the day (their alarm failed: see the Worker's log, e.g. SQLITE_LOCKED); left out of the figures`);
  const tenants = Object.keys(byTenant).length;
  let dayRows = 0;
  let purgeRows = 0;
  let alarmRuns = 0;
  const statements = new Map<string, { sql: string; executions: number; rowsWritten: number }>();
  for (const steps of Object.values(byTenant)) {
    for (const st of steps) {
      let rows = st.kvRowsWritten + st.alarmSets * PRICES.durableObjects.rowsWrittenPerSetAlarm;
      for (const [key, q] of Object.entries(st.bySql)) {
        if (TRAFFIC_SQL.test(key)) continue;
        rows += q.rowsWritten;
        if (q.rowsWritten > 0) {
          const e = statements.get(key) ?? { sql: key, executions: 0, rowsWritten: 0 };
          e.executions += q.executions;
          e.rowsWritten += q.rowsWritten;
          statements.set(key, e);
        }
      }
      if (st.alarmSets) {
        const key = `${st.method} setAlarm`;
        const e = statements.get(key) ?? { sql: key, executions: 0, rowsWritten: 0 };
        e.executions += st.alarmSets;
        e.rowsWritten += st.alarmSets * PRICES.durableObjects.rowsWrittenPerSetAlarm;
        statements.set(key, e);
      }
      if (st.method === "ingest") dayRows += rows;
      if (st.method === "alarm") {
        purgeRows += rows;
        alarmRuns++;
      }
    }
  }
  const deliveriesInCountedDays = (deliveriesInDay * tenants) / Math.max(1, Object.keys(all).length);
  const figures: PurgeFigures = {
    tenants,
    offsetDays,
    deliveriesInDay,
    dayRowsPerTenantDay: dayRows / Math.max(1, tenants),
    purgeRowsPerTenantDay: purgeRows / Math.max(1, tenants),
    alarmRequestsPerTenantDay: alarmRuns / Math.max(1, tenants),
    // Tenants carry the same share of the world's events (round robin): the counted logs' share of the day.
    rowsPerDelivery: (dayRows + purgeRows) / Math.max(1, deliveriesInCountedDays),
    requestsPerDelivery: alarmRuns / Math.max(1, deliveriesInCountedDays),
    statements: [...statements.values()].sort((a, b) => b.rowsWritten - a.rowsWritten),
    errors,
  };
  say(
    `purge: ${sig(figures.dayRowsPerTenantDay)} rows per tenant for the new day, ${sig(figures.purgeRowsPerTenantDay)} for the drop, ${sig(figures.alarmRequestsPerTenantDay)} alarm runs → ` +
      `${sig(figures.rowsPerDelivery)} rows per delivery of the day${errors.length ? `; ERRORS: ${errors.join("; ")}` : ""}`,
  );
  return figures;
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
// --noisy (issue 18): a dead endpoint with a backlog next to a healthy tenant.
//
// Tenant A has one endpoint whose receiver never answers (bench/receiver.mjs `/hang/`,
// timeout_ms --noisy-timeout-ms) and gets --noisy-backlog events posted first, as fast as
// --concurrency clients go; then tenant B posts --noisy-rate events/s to one healthy endpoint
// for --noisy-duration s. The opening of A's circuit is read two ways: A's endpoint
// `circuit_state` in the API (polled every POLL ms: when it was first seen), and the exact
// time the TenantLog opened it, from the id of the `switchyard.endpoint.circuit_opened`
// operational event (`evt_circuit_<endpoint>_<opened at ms>`, src/consumers/circuits.ts).
// A's attempts are the receiver's `/hang/` requests (each recorded when it began); which
// consumer invocation held the queue, and for how long, is the instrumented entry's batch trace.

/**
 * What source a run measured (src/ is edited while runs go on): a hash of every file under
 * src/ (path and content) and the newest one's modification time, read just before and just
 * after the Worker is bundled.
 */
function srcFingerprint(): { hash: string; newest: string; newestAt: string } {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else files.push(f);
    }
  };
  walk(path.join(ROOT, "src"));
  files.sort();
  const h = createHash("sha256");
  let newest = { f: "", t: 0 };
  for (const f of files) {
    h.update(path.relative(ROOT, f)).update("\0").update(readFileSync(f)).update("\0");
    const t = statSync(f).mtimeMs;
    if (t > newest.t) newest = { f, t };
  }
  return { hash: h.digest("hex").slice(0, 12), newest: path.relative(ROOT, newest.f), newestAt: new Date(newest.t).toISOString() };
}

const NOISY_A = "noisy-a";
const NOISY_B = "noisy-b";
const NOISY_POLL_MS = 200;

interface NoisyResult {
  json: Record<string, unknown>;
  text: string;
  complete: boolean;
  /** For --out: the raw timeline (batch trace, A's requests, B's times). */
  detail: unknown;
}

async function benchApi<T>(worker: RunningWorker, method: string, pathname: string, body?: unknown): Promise<T> {
  const res = await fetch(`${worker.url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${pathname}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** `n` events for one tenant with one endpoint (its receiver path `path`), ids `${prefix}${i}`. */
function tenantEvents(tenant: string, prefix: string, n: number, path: string, seed: number): PlannedEvent[] {
  const rand = prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const type = EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]!.name;
    const id = `${prefix}${i}`;
    return { i, id, tenant, type, body: JSON.stringify({ id, type, data: payload(i, type) }), expected: [path] };
  });
}

async function noisyRun(ctx: { worker: RunningWorker; receiver: RunningReceiver }): Promise<NoisyResult> {
  const { worker, receiver } = ctx;
  const timeoutMs = ARGS.noisyTimeoutMs;
  await createEventTypes(worker.url, ADMIN_TOKEN);
  for (const id of [NOISY_A, NOISY_B]) await benchApi(worker, "POST", "/v1/tenants", { id, name: `Bench ${id}` });
  const pathA = `/hang/${NOISY_A}/0`;
  const pathB = `/r/${NOISY_B}/0`;
  // Catch-all endpoints, circuits at their defaults.
  const epA = await benchApi<{ id: string; timeout_ms: number; circuit: { enabled: boolean; open_after: number; cool_off_s: number } }>(worker, "POST", `/v1/tenants/${NOISY_A}/endpoints`, {
    url: `${receiver.url}${pathA}`,
    description: "bench --noisy: never answers",
    timeout_ms: timeoutMs,
  });
  const epB = await benchApi<{ id: string }>(worker, "POST", `/v1/tenants/${NOISY_B}/endpoints`, { url: `${receiver.url}${pathB}`, description: "bench --noisy: healthy" });
  const circuit = epA.circuit;
  say(`noisy: A's endpoint ${epA.id} (timeout ${epA.timeout_ms} ms, circuit ${JSON.stringify(circuit)}) → ${pathA}; B's ${epB.id} → ${pathB}`);
  const seqs = await (await fetch(`${worker.url}/__bench/tenantseqs`, { method: "POST", body: JSON.stringify({ tenants: [NOISY_A, NOISY_B] }) })).json() as { id: string; seq: number }[];
  const seqA = String(seqs.find((x) => x.id === NOISY_A)?.seq ?? "?");
  const seqB = String(seqs.find((x) => x.id === NOISY_B)?.seq ?? "?");

  // Warm-up (not measured): B's log (its first ingest creates the day's tables), the consumer's
  // caches, the connections. A's log is not warmed: any event of A's is an attempt at the hang.
  const warm = tenantEvents(NOISY_B, "nbwarm-", 10, pathB, 9);
  await burst(worker, warm, 4);
  await waitForArrivals(receiver, "nbwarm-", warm.length, "noisy warm-up");
  await quiesce(worker);
  await counters(worker, true);
  await fetch(`${worker.url}/__bench/batches?reset=1`);

  // A's circuit as the API shows it, from before A's first event to the end.
  let polling = true;
  const transitions: { t: number; state: string }[] = [];
  let lastNotOpenRead: number | null = null;
  let openSeenAt: number | null = null;
  let polls = 0;
  const poller = (async () => {
    while (polling) {
      const asked = now();
      try {
        const ep = await benchApi<{ circuit_state: string }>(worker, "GET", `/v1/tenants/${NOISY_A}/endpoints/${epA.id}`);
        polls++;
        const t = now();
        if (transitions.at(-1)?.state !== ep.circuit_state) transitions.push({ t, state: ep.circuit_state });
        if (ep.circuit_state === "open" && openSeenAt === null) openSeenAt = t;
        if (openSeenAt === null) lastNotOpenRead = asked;
      } catch (err) {
        say(`noisy: polling A's endpoint failed (${(err as Error).message})`);
      }
      await sleep(NOISY_POLL_MS);
    }
  })();

  const aEvents = tenantEvents(NOISY_A, "na-", ARGS.noisyBacklog, pathA, 11);
  say(`noisy: posting A's backlog of ${aEvents.length} events (${ARGS.concurrency} concurrent clients)`);
  const tA0 = now();
  const aPosted = await burst(worker, aEvents, ARGS.concurrency);
  const tA1 = now();
  const aAccepted = aPosted.filter((r) => r.status === 202 || r.status === 200).length;
  const refusals = (rs: Ingested[]) => {
    const bad = rs.filter((r) => r.status !== 202 && r.status !== 200 && r.status !== SKIPPED);
    const by: Record<string, number> = {};
    for (const r of bad) by[r.status] = (by[r.status] ?? 0) + 1;
    const examples = [...new Set(bad.map((r) => `${r.status} ${r.error ?? ""}`.trim()))].slice(0, 3);
    return { n: bad.length, text: bad.length ? `${bad.length} refused (${Object.entries(by).map(([k, v]) => `${k} ×${v}`).join(", ")}; e.g. ${examples.join(" | ")})` : "none refused" };
  };
  say(`noisy: A's backlog posted in ${r1((tA1 - tA0) / 1000)} s (${aAccepted} accepted); A's circuit: ${openSeenAt === null ? "not open yet" : `open since ${r1((openSeenAt - tA0) / 1000)} s`}`);

  const bEvents = tenantEvents(NOISY_B, "nb-", Math.round(ARGS.noisyRate * ARGS.noisyDuration), pathB, 12);
  say(`noisy: B posts ${bEvents.length} events at ${ARGS.noisyRate}/s`);
  const bAll = await paced(worker, bEvents, ARGS.noisyRate, ARGS.concurrency);
  const tB1 = now();
  const bIngested = bAll.filter((r) => r.status !== SKIPPED);
  const bOk = new Map(bIngested.filter((r) => r.status === 202 || r.status === 200).map((r) => [r.id, r]));
  say(`noisy: B done posting (${bOk.size} accepted, ${bAll.length - bIngested.length} skipped, ${bIngested.length - bOk.size} refused); waiting for its deliveries`);
  const arrivedB = await waitForArrivals(receiver, "nb-", bOk.size, "noisy B");
  polling = false;
  await poller;
  const tEnd = now();

  // The opening, exactly: the operational event's id carries the log's opening time.
  let openedAt: number | null = null;
  let openings = 0;
  try {
    const { data } = await benchApi<{ data: { id: string; occurred_at: string | null }[] }>(worker, "GET", `/v1/tenants/_operator/events?type=switchyard.endpoint.circuit_opened&limit=250`);
    const mine = data.filter((e) => e.id.startsWith(`evt_circuit_${epA.id}_`)).map((e) => Number(e.id.slice(`evt_circuit_${epA.id}_`.length)));
    openings = mine.length;
    if (mine.length) openedAt = Math.min(...mine);
  } catch (err) {
    say(`noisy: reading the circuit_opened events failed (${(err as Error).message}); using the API poll`);
  }
  const tOpen = openedAt ?? openSeenAt;

  // A's attempts: every request the hang path saw (each recorded when it began).
  const aReqs = (await (await fetch(`${receiver.url}/_dump?prefix=${encodeURIComponent(`/hang/${NOISY_A}/`)}`)).json() as [number, string, string][]).map((a) => a[0]).sort((x, y) => x - y);
  const attemptsToOpen = tOpen === null ? null : aReqs.filter((t) => t <= tOpen).length;
  const attemptsBeforeSeen = openSeenAt === null ? null : aReqs.filter((t) => t <= openSeenAt!).length;
  const firstAttempt = aReqs[0] ?? null;

  // B's latency: receiver arrival minus the POST's 202 (as e2e_* everywhere in the bench).
  const arrivals = await receiverDump(receiver, "nb-");
  const seen = new Map<string, number>();
  let duplicates = 0;
  for (const [t, id, p] of arrivals) {
    if (p !== pathB) continue;
    if (seen.has(id)) duplicates++;
    else seen.set(id, t);
  }
  const whole: number[] = [];
  const after: number[] = [];
  const before: number[] = [];
  const afterFromSent: number[] = [];
  const slowAfter: { accepted: number; arrived: number }[] = [];
  for (const [id, acc] of bOk) {
    const t = seen.get(id);
    if (t === undefined) continue;
    const e2e = t - acc.accepted;
    whole.push(e2e);
    if (tOpen !== null && acc.accepted >= tOpen) {
      after.push(e2e);
      afterFromSent.push(t - acc.sent);
      if (e2e > 2000) slowAfter.push({ accepted: acc.accepted, arrived: t });
    } else before.push(e2e);
  }
  const missingB = bOk.size - seen.size;

  // The consumer's batches: which invocation held the queue, and for how long.
  const trace = ((await (await fetch(`${worker.url}/__bench/batches`)).json()) as { batches: BatchTrace[] }).batches.filter((b) => b.queue === "deliveries");
  const c = await counters(worker);
  const dur = (b: BatchTrace) => (b.end ?? tEnd) - b.start;
  const rel = (t: number) => r1((t - tA0) / 1000);
  const attemptsIn = (b: BatchTrace) => aReqs.filter((t) => t >= b.start && t <= (b.end ?? tEnd)).length;
  const hanging = trace.filter((b) => dur(b) >= timeoutMs * 0.9);
  const beforeOpen = tOpen === null ? trace : trace.filter((b) => b.start < tOpen);
  const afterOpen = tOpen === null ? [] : trace.filter((b) => b.start >= tOpen);
  const sumA = (bs: BatchTrace[]) => bs.reduce((a, b) => a + (b.byTenant[seqA] ?? 0), 0);
  const sumB = (bs: BatchTrace[]) => bs.reduce((a, b) => a + (b.byTenant[seqB] ?? 0), 0);
  const busyMs = (bs: BatchTrace[]) => bs.reduce((a, b) => a + dur(b), 0);
  // After the opening: until when the queue still held A's backlog (the last batch with 10 or
  // more of A's messages); A's messages after that are stragglers (capped copies answered
  // `later`, the timed-out attempts' retries), one or two per batch.
  const drainBatches = afterOpen.filter((b) => (b.byTenant[seqA] ?? 0) >= 10);
  const drainEnd = drainBatches.at(-1)?.end ?? null;
  const stragglers = drainEnd === null ? afterOpen : afterOpen.filter((b) => b.start >= drainEnd);
  // When the B events that were waiting at the opening (accepted before it) had all arrived.
  const waitingArrived = tOpen === null ? null : Math.max(-Infinity, ...[...bOk.values()].filter((r) => r.accepted < tOpen).map((r) => seen.get(r.id) ?? -Infinity));
  const probeDue = openedAt === null ? null : openedAt + circuit.cool_off_s * 1000;
  const describe = (b: BatchTrace) =>
    `${String(rel(b.start)).padStart(6)} s  ${String(r1(dur(b) / 1000)).padStart(5)} s  ${String(b.size).padStart(3)} msgs (A ${b.byTenant[seqA] ?? 0}, B ${b.byTenant[seqB] ?? 0})  acked ${b.acked}, retried ${b.retried}; A requests begun in it: ${attemptsIn(b)}`;
  const long = trace.filter((b) => dur(b) >= 1000);

  const p = (xs: number[], q: number) => (xs.length ? r1(pct(xs, q)) : null);
  const json = {
    noisy_e2e_p99_ms: p(after, 99),
    noisy_e2e_p99_whole_ms: p(whole, 99),
    noisy_e2e_p50_ms: p(after, 50),
    noisy_e2e_p50_whole_ms: p(whole, 50),
    noisy_attempts_to_open: attemptsToOpen,
    noisy_open_after: circuit.open_after,
    noisy_timeout_ms: timeoutMs,
    noisy_opened_s: tOpen === null || firstAttempt === null ? null : r1((tOpen - firstAttempt) / 1000),
    noisy_a_accepted: aAccepted,
    noisy_b_events: bOk.size,
    noisy_b_refused: refusals(bAll).n,
    noisy_b_after_open: after.length,
    noisy_b_missing: missingB,
    noisy_b_duplicates: duplicates,
    noisy_a_attempts: aReqs.length,
    noisy_hanging_batches: hanging.length,
  };

  const lines = [
    `--noisy (issue 18): tenant A ${ARGS.noisyBacklog} events to one endpoint that never answers (timeout ${timeoutMs} ms, circuit ${JSON.stringify(circuit)}); then tenant B ${ARGS.noisyRate}/s for ${ARGS.noisyDuration} s to a healthy one`,
    `times in s from A's first POST; the local queue runs one consumer batch at a time`,
    `A's backlog: ${aAccepted}/${aEvents.length} accepted in ${r1((tA1 - tA0) / 1000)} s, ${refusals(aPosted).text}`,
    `B posted ${rel(bAll[0]?.sent ?? tA1)}–${rel(tB1)} s: ${bOk.size} accepted, ${bAll.length - bIngested.length} skipped, ${refusals(bAll).text}; run ended ${rel(tEnd)} s`,
    `A's first attempt began at ${firstAttempt === null ? "—" : rel(firstAttempt)} s; its circuit opened at ${openedAt === null ? "? (no circuit_opened event)" : `${rel(openedAt)} s (the log's time, from the circuit_opened event; ${openings} opening(s) reported)`}; ` +
      `the API first showed "open" at ${openSeenAt === null ? "never" : `${rel(openSeenAt)} s (the read before, at ${lastNotOpenRead === null ? "—" : rel(lastNotOpenRead)} s, still showed it closed; ${polls} reads)`}`,
    `A's circuit in the API: ${transitions.map((x) => `${x.state} @ ${rel(x.t)} s`).join(" → ")}`,
    `A's attempts: ${aReqs.length} requests at the hang receiver (begun at ${aReqs.map((t) => rel(t)).join(", ")} s); ${attemptsToOpen ?? "—"} begun before the opening (${attemptsBeforeSeen ?? "—"} before the API showed it); target ≤ open_after + 2 = ${circuit.open_after + 2}`,
    `recorded failed attempts (outcomes handed to record): ${JSON.stringify(c.failedAttempts)}`,
    `B's e2e (arrival − 202): whole run p50 ${p(whole, 50)} ms, p99 ${p(whole, 99)} ms, max ${whole.length ? r1(Math.max(...whole)) : "—"} ms (${whole.length} events); ` +
      `accepted before the opening: ${before.length} events, p99 ${p(before, 99) ?? "—"} ms; after: ${after.length} events, p50 ${p(after, 50) ?? "—"} ms, p99 ${p(after, 99) ?? "—"} ms ` +
      `(from the POST sent: p99 ${p(afterFromSent, 99) ?? "—"} ms), ${slowAfter.length} over 2 s${slowAfter.length ? ` (accepted ${rel(Math.min(...slowAfter.map((x) => x.accepted)))}–${rel(Math.max(...slowAfter.map((x) => x.accepted)))} s)` : ""}`,
    `B: ${arrivedB.unique}/${bOk.size} arrived, ${missingB} missing, ${duplicates} duplicates`,
    `consumer batches (deliveries queue): ${trace.length}; before the opening ${beforeOpen.length} (${sumA(beforeOpen)} A / ${sumB(beforeOpen)} B messages, ${(busyMs(beforeOpen) / 1000).toFixed(2)} s busy); ` +
      `after it ${afterOpen.length} (${sumA(afterOpen)} A / ${sumB(afterOpen)} B messages, ${(busyMs(afterOpen) / 1000).toFixed(2)} s busy)`,
    drainEnd === null
      ? `after the opening no batch held 10 or more of A's messages`
      : `A's backlog parked after the opening: ${drainBatches.length} batches with ≥ 10 of A's messages (${sumA(drainBatches)} A / ${sumB(drainBatches)} B), ${rel(drainBatches[0]!.start)}–${rel(drainEnd)} s, ${(busyMs(drainBatches) / 1000).toFixed(2)} s busy; ` +
        `after that ${sumA(stragglers)} of A's messages in ${stragglers.filter((b) => (b.byTenant[seqA] ?? 0) > 0).length} batches (copies deferred or answered later, retries of the timed-out attempts)`,
    `B's events accepted before the opening had all arrived by ${waitingArrived === null || !Number.isFinite(waitingArrived) ? "—" : `${rel(waitingArrived)} s`}; ` +
      `A's half-open probe was due at ${probeDue === null ? "—" : `${rel(probeDue)} s (opening + cool_off_s)${probeDue > tEnd ? ", after the run ended" : ""}`}`,
    `batches that held the queue ≥ 0.9 × the timeout: ${hanging.length}`,
    `batches of 1 s or more (start, duration, size, …):`,
    ...long.slice(0, 25).map((b) => `  ${describe(b)}`),
    ...(long.length > 25 ? [`  … ${long.length - 25} more`] : []),
    `queue: ${JSON.stringify(c.queues.consumed.deliveries ?? {})}; sent ${JSON.stringify(c.queues.sent)}`,
    `targets: attempts to open ${attemptsToOpen ?? "—"} ≤ ${circuit.open_after + 2}: ${attemptsToOpen !== null && attemptsToOpen <= circuit.open_after + 2 ? "met" : "MISSED"}; ` +
      `B p99 after opening ${p(after, 99) ?? "—"} ms ≤ 2000: ${after.length && pct(after, 99) <= 2000 ? "met" : "MISSED"}; ` +
      `B p99 whole run ${p(whole, 99) ?? "—"} ms ≤ 2 × ${timeoutMs}: ${whole.length && pct(whole, 99) <= 2 * timeoutMs ? "met" : "MISSED"}`,
  ];
  return {
    json,
    text: lines.join("\n"),
    complete: missingB === 0 && tOpen !== null,
    detail: { t0: tA0, openedAt, openSeenAt, transitions, aRequests: aReqs, seqA, seqB, batches: trace, bLatency: [...bOk.values()].map((r) => ({ id: r.id, sent: r.sent, accepted: r.accepted, arrived: seen.get(r.id) ?? null })) },
  };
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
    const srcBefore = ARGS.noisy ? srcFingerprint() : null;
    worker = await startWorker(ARGS.mode, state, ARGS.queueOverride);
    const srcAfter = ARGS.noisy ? srcFingerprint() : null;
    if (Object.keys(ARGS.queueOverride).length) say(`consumers' batch settings overridden with ${JSON.stringify(ARGS.queueOverride)} (wrangler.toml: max_batch_size 100, max_batch_timeout 0)`);
    const ctx: { worker: RunningWorker; receiver: RunningReceiver; gatedPaths?: Set<string> } = { worker, receiver };
    if (ARGS.noisy) {
      const res = await noisyRun(ctx);
      res.text +=
        `\nsource measured: src/ ${srcAfter!.hash} (newest file ${srcAfter!.newest}, ${srcAfter!.newestAt})` +
        (srcBefore!.hash !== srcAfter!.hash ? `; WARNING: src/ changed while the Worker was bundled (was ${srcBefore!.hash})` : "");
      if (ARGS.out) writeFileSync(ARGS.out, JSON.stringify({ at: new Date().toISOString(), args: ARGS, json: res.json, text: res.text, loadStart: LOAD_START, loadEnd: os.loadavg(), detail: res.detail }, null, 2));
      const loads = `load average ${LOAD_START.map((x) => x.toFixed(2)).join(" ")} → ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}, ${os.cpus().length} CPUs`;
      if (ARGS.json) {
        process.stderr.write(`${res.text}\n${loads}\n`);
        process.stdout.write(`${JSON.stringify(res.json)}\n`);
      } else process.stdout.write(`${res.text}\n${loads}\n\n${JSON.stringify(res.json)}\n`);
      if (!res.complete) {
        say("FAILED: some of B's deliveries never arrived, or A's circuit never opened");
        process.exitCode = 1;
      }
      say(`done in ${r1((Date.now() - T0) / 1000)} s`);
      return;
    }
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
    // Warm-up (not measured): JIT, key caches, connections; the day's tables in every log.
    const warm = await runLoad(ctx, "burst", "warm-up", planEvents(world, "warm-", Math.min(100, ARGS.events), 7), { concurrency: ARGS.concurrency, rate: ARGS.rate });

    const d1Bytes = async () => ((await (await fetch(`${ctx.worker.url}/__bench/d1size`)).json()) as { bytes: number | null }).bytes;
    const doBytes = async () => {
      try {
        const res = await fetch(`${ctx.worker.url}/__bench/dosize`, { method: "POST", body: JSON.stringify({ tenants: world.tenants }) });
        const body = (await res.json()) as { bytes: number; tenants: number };
        if (!res.ok || body.tenants !== world.tenants.length) throw new Error(`HTTP ${res.status}, ${body.tenants} logs`);
        return body.bytes;
      } catch (err) {
        say(`WARNING: the TenantLogs' size could not be read (${(err as Error).message})`);
        return null;
      }
    };
    const d1BytesBefore = await d1Bytes();
    const doBytesBefore = await doBytes();
    // From here to the end of the light load, every counter reset is kept (the whole run).
    accumulate = true;
    const steadyStart = Date.now();
    const burstLoad = await runLoad(ctx, "burst", "burst", planEvents(world, "burst-", ARGS.events, 1), { concurrency: ARGS.concurrency, rate: ARGS.rate });
    const d1BytesAfter = await d1Bytes();
    const doBytesAfter = await doBytes();
    const perBurstDelivery = (before: number | null, after: number | null) => (before !== null && after !== null && burstLoad.delivered > 0 ? (after - before) / burstLoad.delivered : null);
    const storage: StorageFigures = {
      doBytesBefore,
      doBytesAfter,
      doBytesPerDelivery: perBurstDelivery(doBytesBefore, doBytesAfter),
      d1BytesPerDelivery: perBurstDelivery(d1BytesBefore, d1BytesAfter),
      purge: null,
    };
    const pacedLoad = await runLoad(ctx, "paced", "paced", planEvents(world, "paced-", Math.round(ARGS.rate * ARGS.duration), 2), {
      concurrency: ARGS.concurrency,
      rate: ARGS.rate,
    });
    const lightLoad = await runLoad(ctx, "paced", "paced-light", planEvents(world, "light-", Math.round(ARGS.lightRate * ARGS.duration), 4), {
      concurrency: ARGS.concurrency,
      rate: ARGS.lightRate,
    });
    await drainAlarms(worker, world);
    await counters(worker, true);
    accumulate = false;
    const steady = steadyFigures(accumulated, burstLoad.delivered + pacedLoad.delivered + lightLoad.delivered, (Date.now() - steadyStart) / 1000, world.tenants.length);
    say(
      `whole run (${r1(steady.windowS)} s, ${steady.deliveries} deliveries): ${sig(steady.rowsWrittenPerDelivery)} rows written and ${sig(steady.doRequestsPerDelivery)} DO requests per delivery; ` +
        `${steady.alarmRuns} alarm runs, ${steady.alarmSets} setAlarm, ${steady.rollupRows} rollup rows`,
    );
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
        // A new tenant's first ingest creates its log and the day's tables: once per log, not per delivery.
        await runLoad(ctx, "burst", `sweep warm-up ${cfg.tag}`, planEvents(w, `${cfg.tag}warm-`, ARGS.tenants, 5), { concurrency: ARGS.concurrency, rate: ARGS.rate });
        const load = await runLoad(ctx, "burst", `sweep ${cfg.name}`, planEvents(w, `${cfg.tag}-`, cfg.events, 3), { concurrency: ARGS.concurrency, rate: ARGS.rate });
        const b = await baseline(ctx, `base-${cfg.tag}`, load.delivered, ARGS.concurrency);
        sweep.push({ name: cfg.name, events: cfg.events, endpointsPerTenant: cfg.eps, load, base: b, d: derive(load) });
      }
      sweep.splice(1, 0, { name: `4× (${ARGS.events} events), ${ARGS.endpoints} ep/tenant (main burst)`, events: ARGS.events, endpointsPerTenant: ARGS.endpoints, load: burstLoad, base, d });
    }

    // Last (it moves the isolate's clock and leaves each log a day ahead): what dropping the
    // main world's day costs, measured — one ingest RETENTION_DAYS + 1 later per tenant (the
    // new day), then the alarm that drops the old one, as the runtime runs it (alarm cleared first).
    await quiesce(worker);
    storage.purge = await purgeProbe(worker, world, warm.delivered + burstLoad.delivered + pacedLoad.delivered + lightLoad.delivered);
    const lifetime =
      storage.doBytesPerDelivery === null || storage.purge === null
        ? null
        : usdPerMillionLifetime(d.cost.total, {
            doBytesPerDelivery: storage.doBytesPerDelivery,
            d1BytesPerDelivery: Math.max(0, storage.d1BytesPerDelivery ?? 0),
            purgeRowsPerDelivery: storage.purge.rowsPerDelivery,
            purgeRequestsPerDelivery: storage.purge.requestsPerDelivery,
            retentionDays: RETENTION_DAYS,
          });

    const wallS = (Date.now() - T0) / 1000;
    const perDeliveryOf = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, sig4(v)]));
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
      paced_offered_per_s: ARGS.rate,
      paced_accepted_per_s: r1(pacedLoad.ingestPerS),
      paced_skipped: pacedLoad.skipped,
      light_paced_per_s: ARGS.lightRate,
      light_paced_e2e_p50_ms: r1(lightLoad.e2eP50),
      light_paced_e2e_p99_ms: r1(lightLoad.e2eP99),
      d1_rows_read_per_delivery: sig4(d.d1RowsRead),
      d1_rows_written_per_delivery: sig4(d.d1RowsWritten),
      d1_statements_per_delivery: sig4(d.d1Statements),
      d1_statements_per_delivery_by_phase: perDeliveryOf(d.d1StatementsByPhase),
      queue_ops_per_delivery: sig4(d.queueOps),
      do_requests_per_delivery: sig4(d.doRequests),
      do_rpc_per_delivery: sig4(d.doRpc),
      do_alarms_per_delivery: sig4(d.doAlarms),
      do_requests_per_delivery_by_method: perDeliveryOf(
        Object.fromEntries(Object.entries(d.doRequestsByName).map(([k, v]) => [k.replace(/^[A-Z_]+\./, "").replace(/^[A-Za-z]+\.alarm$/, "alarm"), v / Math.max(1, d.deliveries)])),
      ),
      usd_per_million: sig4(d.cost.total),
      usd_per_million_with_extras: sig4(d.cost.totalWithExtras),
      bytes_per_delivery: storage.doBytesPerDelivery === null ? null : Math.round(storage.doBytesPerDelivery),
      d1_bytes_per_delivery: storage.d1BytesPerDelivery === null ? null : Math.round(storage.d1BytesPerDelivery),
      purge_rows_per_delivery: storage.purge ? sig4(storage.purge.rowsPerDelivery) : null,
      usd_per_million_lifetime: lifetime ? sig4(lifetime.total) : null,
      do_rows_written_per_delivery: sig4(d.doRowsWritten),
      do_rows_read_per_delivery: sig4(d.doRowsRead),
      do_alarm_sets_per_delivery: sig4(d.doAlarmSets),
      rows_written_per_delivery: sig4(d.rowsWritten),
      steady_rows_written_per_delivery: sig4(steady.rowsWrittenPerDelivery),
      steady_do_requests_per_delivery: sig4(steady.doRequestsPerDelivery),
      steady_usd_per_million: sig4(steady.cost.total),
      steady_window_s: r1(steady.windowS),
      rows_written_per_event: sig4(d.writesPerEvent),
      rows_written_per_delivery_only: sig4(d.writesPerDeliveryOnly),
      fanout: sig4(d.fanout),
      deliveries: burstLoad.delivered,
      missing: burstLoad.missing + pacedLoad.missing + lightLoad.missing,
      duplicates: burstLoad.duplicates + pacedLoad.duplicates + lightLoad.duplicates,
      queue_batch_size: ARGS.queueOverride.maxBatchSize ?? null,
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
    const text = report({ mode: ARGS.mode, machine, calibration, world, burstLoad, pacedLoad, lightLoad, base, baseSingle, d, dp, storage, lifetime, steady, sweep, wallS });
    if (ARGS.out) {
      writeFileSync(
        ARGS.out,
        JSON.stringify(
          { at: new Date().toISOString(), args: ARGS, machine, calibration, json, burst: burstLoad, paced: pacedLoad, light: lightLoad, derived: { burst: d, paced: dp }, storage, lifetime, steady, base, baseSingle, sweep, text },
          null,
          2,
        ),
      );
    }
    const noMeta = burstLoad.counters.d1.statementsWithoutMeta + pacedLoad.counters.d1.statementsWithoutMeta;
    if (noMeta) say(`WARNING: ${noMeta} D1 statements returned no meta: rows read/written are undercounted`);
    const complete = burstLoad.missing === 0 && pacedLoad.missing === 0 && lightLoad.missing === 0 && sweep.every((s) => s.load.missing === 0);
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
