/**
 * @module `npm run test:faults`: proves that our own trouble never fails or drops a
 * delivery. Runs the instrumented Worker through Miniflare's API and the bench receiver,
 * posts events at a steady rate as a careful client would, makes D1, every Durable Object
 * namespace (TENANT_LOG), every queue producer and `SECRETS_KEY` fail for a window (the fault plan of
 * bench/instrumented-worker.ts, injected at the bindings, so this keeps working whichever
 * store holds the log), then waits for the pipeline to settle and accounts for every
 * delivery through the API and the receiver.
 *
 *   npx tsx bench/faults.ts [--window 10] [--fault-rate 0.2] [--rate 20]
 *                           [--targets d1,do,queue,secrets] [--phases deliver,ingest,…]
 *                           [--settle 360] [--tenants 3] [--endpoints 4] [--seed 1]
 *                           [--matrix] [--json] [--keep]
 *
 * Exits 1 when an accepted event did not reach every matching endpoint (its delivery is
 * missing, still pending at the deadline, `failed` for any reason — the receiver always
 * answers 200, so every failure is ours — or never seen by the receiver), or when an
 * event could not be accepted at all. Duplicate sends are reported, not failed: at-least-once
 * allows them. --matrix runs 20 %/10 s, 50 %/10 s, 20 %/30 s and 50 %/30 s, each on fresh
 * Worker state, and prints a markdown table for docs/reliability.md. With --json, stdout is
 * one JSON line; progress and the summary go to stderr.
 */
import { parseArgs } from "node:util";
import type { EndpointFilter } from "../src/domain/filter";
import { ADMIN_TOKEN, prepareState, startReceiver, startWorker, type RunningReceiver, type RunningWorker } from "./harness";
import { createWorld, EVENT_TYPES, expectedPaths, payload, prng, type World } from "./world";

// ---------------------------------------------------------------------------------------
// Arguments.

type Target = "d1" | "do" | "queue" | "secrets";
const TARGETS: readonly Target[] = ["d1", "do", "queue", "secrets"];

const { values: argv } = parseArgs({
  options: {
    window: { type: "string", default: "10" },
    "fault-rate": { type: "string", default: "0.2" },
    rate: { type: "string", default: "20" },
    targets: { type: "string", default: TARGETS.join(",") },
    phases: { type: "string" },
    settle: { type: "string", default: "360" },
    tenants: { type: "string", default: "3" },
    endpoints: { type: "string", default: "4" },
    seed: { type: "string", default: "1" },
    matrix: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});

const ARGS = {
  window: Number(argv.window),
  faultRate: Number(argv["fault-rate"]),
  rate: Number(argv.rate),
  targets: argv.targets!.split(",").map((t) => t.trim()).filter(Boolean) as Target[],
  /** null: every phase (the Worker checks the names). */
  phases: argv.phases ? argv.phases.split(",").map((p) => p.trim()).filter(Boolean) : null,
  settle: Number(argv.settle),
  tenants: Number(argv.tenants),
  endpoints: Number(argv.endpoints),
  seed: Number(argv.seed),
  matrix: argv.matrix!,
  json: argv.json!,
  keep: argv.keep!,
};
for (const k of ["window", "rate", "settle", "tenants", "endpoints"] as const) {
  if (!Number.isFinite(ARGS[k]) || ARGS[k] <= 0) throw new Error(`--${k} must be a positive number`);
}
if (!(ARGS.faultRate >= 0 && ARGS.faultRate <= 1)) throw new Error("--fault-rate must be from 0 to 1");
for (const t of ARGS.targets) if (!TARGETS.includes(t)) throw new Error(`--targets: ${t} is not one of ${TARGETS.join(", ")}`);

// With --json, stdout carries the one JSON line only: libraries' console output goes to stderr.
if (ARGS.json) {
  console.log = (...a: unknown[]) => console.error(...a);
  console.info = (...a: unknown[]) => console.error(...a);
}

const T0 = Date.now();
const say = (msg: string) => process.stderr.write(`[faults ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const bump = (rec: Record<string, number>, key: string, by = 1) => {
  rec[key] = (rec[key] ?? 0) + by;
};
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
const listing = (o: Record<string, number>) =>
  Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");

/** Faultless posting before and after the window: the pipeline's state going in and coming out of trouble. */
const MARGIN_MS = 3000;
/** Rate-limited endpoints' limit per second: far above their share of the load, so it paces little, but each of their deliveries takes a rate slot in its TenantLog. */
const RATE_LIMIT = 50;
const POLL_MS = 3000;
const POST_TIMEOUT_MS = 30_000;
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 4000;

// ---------------------------------------------------------------------------------------
// The Worker's API.

async function api<T>(worker: RunningWorker, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${worker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

interface FaultReport {
  injected: Record<Target, Record<string, number>>;
  injectedByTarget: Record<Target, number>;
}

const setFaults = (worker: RunningWorker, rules: { target: Target; rate: number; phases?: string[]; durationMs: number }[]) =>
  api<FaultReport>(worker, "POST", "/__bench/faults", { rules });

interface ApiDelivery {
  id: string;
  event_id: string;
  status: "pending" | "delivered" | "failed";
  reason: string | null;
  attempts: number;
}

type Mode = "plain" | "fifo" | "rate-limited";

interface Endpoint {
  tenant: string;
  id: string;
  /** The receiver path it posts to. */
  path: string;
  filter: EndpointFilter;
  mode: Mode;
}

/** Every delivery of one endpoint's log (cursor paging; a page may be short and still carry a cursor). */
async function deliveriesOf(worker: RunningWorker, ep: Endpoint, status?: ApiDelivery["status"]): Promise<ApiDelivery[]> {
  const out: ApiDelivery[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: "250", ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
    const page: { data: ApiDelivery[]; next_cursor: string | null } = await api(worker, "GET", `/v1/tenants/${ep.tenant}/endpoints/${ep.id}/deliveries?${q}`);
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

// ---------------------------------------------------------------------------------------
// World: tenants and endpoints with exact, wildcard and group filters, plus (with 3 or more
// endpoints per tenant) one FIFO and one rate-limited endpoint per tenant, whose deliveries
// take their TenantLog's FIFO line and rate slots.

function filterKinds(f: EndpointFilter): string[] {
  return [
    ...(f.types.some((t) => !t.includes("*")) ? ["exact"] : []),
    ...(f.types.some((t) => t.includes("*")) ? ["wildcard"] : []),
    ...(f.groups.length ? ["group"] : []),
  ];
}

async function buildWorld(worker: RunningWorker, receiver: RunningReceiver, tag: string): Promise<{ world: World; endpoints: Endpoint[] }> {
  const world = await createWorld(worker.url, ADMIN_TOKEN, receiver.url, { tag, tenants: ARGS.tenants, endpointsPerTenant: ARGS.endpoints });
  const kinds = new Set([...world.filters.values()].flat().flatMap(filterKinds));
  for (const k of ["exact", "wildcard", "group"]) {
    if (!kinds.has(k)) throw new Error(`no ${k}-filtered endpoint in a world of ${ARGS.tenants} × ${ARGS.endpoints}: raise --tenants or --endpoints`);
  }
  const endpoints: Endpoint[] = [];
  for (const tenant of world.tenants) {
    const { data } = await api<{ data: { id: string; url: string }[] }>(worker, "GET", `/v1/tenants/${tenant}/endpoints?limit=250`);
    const byPath = new Map(data.map((e) => [new URL(e.url).pathname, e.id]));
    const filters = world.filters.get(tenant)!;
    for (const [k, filter] of filters.entries()) {
      const path = `/r/${tenant}/${k}`;
      const id = byPath.get(path);
      if (!id) throw new Error(`endpoint ${path} not found in the API's list`);
      const mode: Mode = filters.length < 3 ? "plain" : k === filters.length - 1 ? "fifo" : k === filters.length - 2 ? "rate-limited" : "plain";
      if (mode !== "plain") await api(worker, "PATCH", `/v1/tenants/${tenant}/endpoints/${id}`, mode === "fifo" ? { ordering: "fifo" } : { rate_limit: RATE_LIMIT });
      endpoints.push({ tenant, id, path, filter, mode });
    }
  }
  return { world, endpoints };
}

// ---------------------------------------------------------------------------------------
// The careful client.

interface PlannedEvent {
  key: string;
  tenant: string;
  body: string;
  /** Receiver paths of the endpoints whose filter matches it. */
  expected: string[];
}

interface Posted {
  event: PlannedEvent;
  /** The id the Worker answered with; null when never accepted. */
  id: string | null;
  tries: number;
  /** Why a try was retried: HTTP status, "network" or "timeout". */
  retried: Record<string, number>;
  /** Why it was never accepted: `why` groups ("HTTP 422", "deadline"), `detail` shows. */
  refused?: { why: string; detail: string };
}

/** Events of one run: round-robin tenants, seeded types; the Worker mints the ids, the key makes retries safe. */
function planEvents(world: World, tag: string, n: number, seed: number): PlannedEvent[] {
  const rand = prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const tenant = world.tenants[i % world.tenants.length]!;
    const type = EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]!.name;
    return { key: `${tag}-${i}`, tenant, body: JSON.stringify({ type, data: payload(i, type) }), expected: expectedPaths(world, tenant, type) };
  });
}

/** Posts until answered 202/200: 5xx, 429, network errors and timeouts are retried with backoff (and Retry-After). */
async function postCarefully(worker: RunningWorker, event: PlannedEvent, giveUpAt: number): Promise<Posted> {
  const retried: Record<string, number> = {};
  for (let tries = 1; ; tries++) {
    let wait = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (tries - 1)) * (0.5 + Math.random() / 2);
    try {
      const res = await fetch(`${worker.url}/v1/tenants/${event.tenant}/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "idempotency-key": event.key },
        body: event.body,
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.status === 202 || res.status === 200) return { event, id: (JSON.parse(text) as { id: string }).id, tries, retried };
      if (res.status < 500 && res.status !== 429) return { event, id: null, tries, retried, refused: { why: `HTTP ${res.status}`, detail: text.slice(0, 300) } };
      bump(retried, String(res.status));
      wait = Math.max(wait, (Number(res.headers.get("retry-after")) || 0) * 1000);
    } catch (err) {
      bump(retried, (err as Error).name === "TimeoutError" ? "timeout" : "network");
    }
    if (Date.now() + wait > giveUpAt) return { event, id: null, tries, retried, refused: { why: "deadline", detail: `not accepted after ${tries} tries` } };
    await sleep(wait);
  }
}

// ---------------------------------------------------------------------------------------
// One configuration.

interface RunConfig {
  label: string;
  tag: string;
  window: number;
  faultRate: number;
}

interface Result {
  label: string;
  window: number;
  faultRate: number;
  targets: Target[];
  phases: string[] | null;
  endpoints: { total: number; modes: Record<string, number> };
  /** ingestRetries: POSTs repeated; retriedFor: the answers that asked for a repeat (HTTP status, "network", "timeout"); refused: never accepted. */
  events: { posted: number; accepted: number; ingestRetries: number; retriedFor: Record<string, number>; refused: number; refusedFor: Record<string, number> };
  faults: { byTarget: Record<string, number>; byTargetAndPhase: Record<string, Record<string, number>> };
  queues: { consumerRetries: number; batchRetries: number; redelivered: number; dlqMessages: Record<string, number> };
  deliveries: {
    expected: number;
    delivered: number;
    failed: number;
    failedByReason: Record<string, number>;
    pending: number;
    /** Of those, never attempted (no row in the log yet: their message was lost or is still queued). */
    pendingUntried: number;
    missing: number;
    /** Deliveries the log has beyond one per expected (event, endpoint). */
    unexpected: number;
    /** Attempts recorded beyond the first (the receiver always answers 200: each is our trouble counted as an attempt). */
    extraAttempts: number;
  };
  /** A few (event id → receiver path) of the unexpected deliveries, e.g. events the Worker stored but answered with an error. */
  unexpectedExamples: string[];
  receiver: { arrivals: number; arrived: number; notArrived: number; duplicates: number; beyondAttempts: number; unexpected: number };
  settled: boolean;
  /** From the end of the fault window to the last delivery settling; null if it never did. */
  settleS: number | null;
  problems: string[];
  ok: boolean;
}

interface Counters {
  queues: { consumed: Record<string, { messages: number; redelivered: number; retried: number; retryAll: number }> };
}

async function runConfig(cfg: RunConfig, receiver: RunningReceiver): Promise<Result> {
  say(`${cfg.label}: migrations into a fresh persist dir`);
  const state = prepareState();
  let worker: RunningWorker | undefined;
  const stop = async () => {
    await worker?.stop().catch(() => {});
    if (ARGS.keep) say(`kept ${state.dir}`);
    else state.cleanup();
  };
  stopCurrent = stop;
  try {
    worker = await startWorker("miniflare", state);
    say(`${cfg.label}: Worker on ${worker.url}; creating the world`);
    const { world, endpoints } = await buildWorld(worker, receiver, cfg.tag);
    await api(worker, "POST", "/__bench/reset");
    return await load(cfg, worker, receiver, world, endpoints);
  } finally {
    await stop();
    stopCurrent = null;
  }
}

async function load(cfg: RunConfig, worker: RunningWorker, receiver: RunningReceiver, world: World, endpoints: Endpoint[]): Promise<Result> {
  const windowMs = cfg.window * 1000;
  const events = planEvents(world, cfg.tag, Math.round((ARGS.rate * (windowMs + 2 * MARGIN_MS)) / 1000), ARGS.seed);
  const rules = (rate: number, durationMs: number) => ARGS.targets.map((target) => ({ target, rate, ...(ARGS.phases ? { phases: ARGS.phases } : {}), durationMs }));
  // The Worker judges the phase names: a harmless plan first, so a typo fails before any event is posted.
  await setFaults(worker, rules(0, 1));
  const start = Date.now() + 100;
  const deadline = start + MARGIN_MS + windowMs + ARGS.settle * 1000;
  say(`${cfg.label}: posting ${events.length} events at ${ARGS.rate}/s; faults from ${MARGIN_MS / 1000} s for ${cfg.window} s`);

  let faultsEnded = 0;
  const faultWindow = async () => {
    await sleep(start + MARGIN_MS - Date.now());
    await setFaults(worker, rules(cfg.faultRate, windowMs));
    await sleep(windowMs);
    // The rules expire on their own; clearing them says so explicitly and keeps the counts.
    await setFaults(worker, []);
    faultsEnded = Date.now();
    say(`${cfg.label}: faults stopped`);
  };
  const postAll = async () => {
    const posts: Promise<Posted>[] = [];
    for (const [i, e] of events.entries()) {
      await sleep(start + (i * 1000) / ARGS.rate - Date.now());
      posts.push(postCarefully(worker, e, deadline));
    }
    return Promise.all(posts);
  };
  const [posted] = await Promise.all([postAll(), faultWindow()]);
  const accepted = posted.filter((p) => p.id !== null);
  const ingestRetries = posted.reduce((a, p) => a + p.tries - 1, 0);
  say(`${cfg.label}: ${accepted.length}/${posted.length} events accepted after ${ingestRetries} retries`);

  // Expected (event id, receiver path) pairs.
  const expected = new Set(accepted.flatMap((p) => p.event.expected.map((path) => `${p.id} ${path}`)));

  const snapshot = async () => {
    const byPair = new Map<string, ApiDelivery[]>();
    for (const ep of endpoints) {
      for (const d of await deliveriesOf(worker, ep)) {
        const key = `${d.event_id} ${ep.path}`;
        byPair.set(key, [...(byPair.get(key) ?? []), d]);
      }
    }
    return byPair;
  };

  // Settled: nothing pending and every expected delivery has an outcome. The TenantLog lists
  // a delivery not yet attempted as pending (its event's matched list stands for it); the
  // second check also catches an expected delivery the log does not list at all.
  let settledAt: number | null = null;
  let lastLog = 0;
  for (;;) {
    try {
      let pending = 0;
      for (const ep of endpoints) pending += (await deliveriesOf(worker, ep, "pending")).length;
      let withOutcome: number | null = null;
      if (pending === 0) {
        const byPair = await snapshot();
        withOutcome = [...expected].filter((k) => byPair.get(k)?.some((d) => d.status !== "pending")).length;
        if (withOutcome === expected.size) {
          settledAt = Date.now();
          break;
        }
      }
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        say(`${cfg.label}: ${pending} pending${withOutcome === null ? "" : `, ${expected.size - withOutcome} of ${expected.size} expected deliveries without an outcome`}`);
      }
    } catch (err) {
      say(`${cfg.label}: polling the API failed (${(err as Error).message}); polling again`);
    }
    if (Date.now() >= deadline) {
      say(`${cfg.label}: not settled ${ARGS.settle} s after the faults stopped; accounting as it stands`);
      break;
    }
    await sleep(POLL_MS);
  }

  // Accounting: the log through the API, the arrivals through the receiver.
  const byPair = await snapshot();
  const arrivalsList = (await (await fetch(`${receiver.url}/_dump?prefix=${encodeURIComponent(`/r/${cfg.tag}-`)}`)).json()) as [number, string, string][];
  const arrivals = new Map<string, number>();
  for (const [, id, path] of arrivalsList) arrivals.set(`${id} ${path}`, (arrivals.get(`${id} ${path}`) ?? 0) + 1);

  const d: Result["deliveries"] = { expected: expected.size, delivered: 0, failed: 0, failedByReason: {}, pending: 0, pendingUntried: 0, missing: 0, unexpected: 0, extraAttempts: 0 };
  const r: Result["receiver"] = { arrivals: arrivalsList.length, arrived: 0, notArrived: 0, duplicates: 0, beyondAttempts: 0, unexpected: 0 };
  const examples: Record<string, string[]> = {};
  const example = (what: string, key: string) => {
    const list = (examples[what] ??= []);
    if (list.length < 3) list.push(key.replace(" ", " → "));
  };
  for (const key of expected) {
    const rows = byPair.get(key) ?? [];
    const seen = arrivals.get(key) ?? 0;
    const row = rows[0];
    if (!row) {
      d.missing++;
      example("missing", key);
    } else if (row.status === "delivered") d.delivered++;
    else if (row.status === "failed") {
      const reason = row.reason ?? "(no reason)";
      d.failed++;
      bump(d.failedByReason, reason);
      example(`failed ${reason}`, key);
    } else {
      d.pending++;
      if (row.attempts === 0) d.pendingUntried++;
      example("pending", key);
    }
    d.unexpected += Math.max(0, rows.length - 1);
    const attempts = rows.reduce((a, x) => a + x.attempts, 0);
    d.extraAttempts += rows.reduce((a, x) => a + Math.max(0, x.attempts - 1), 0);
    if (seen > 0) r.arrived++;
    else {
      r.notArrived++;
      example("never arrived", key);
    }
    r.duplicates += Math.max(0, seen - 1);
    r.beyondAttempts += Math.max(0, seen - attempts);
  }
  for (const [key, rows] of byPair) {
    if (expected.has(key)) continue;
    d.unexpected += rows.length;
    example("unexpected", key);
  }
  for (const [key, n] of arrivals) if (!expected.has(key)) r.unexpected += n;

  const faults = await api<FaultReport>(worker, "GET", "/__bench/faults");
  const counters = await api<Counters>(worker, "GET", "/__bench/counters");
  const consumed = Object.entries(counters.queues.consumed);
  const retriedFor: Record<string, number> = {};
  for (const p of posted) for (const [k, v] of Object.entries(p.retried)) bump(retriedFor, k, v);
  const refusedFor: Record<string, number> = {};
  const refusedExamples: string[] = [];
  for (const p of posted) {
    if (!p.refused) continue;
    bump(refusedFor, p.refused.why);
    if (refusedExamples.length < 2) refusedExamples.push(`${p.event.key}: ${p.refused.detail}`);
  }
  const refused = sum(refusedFor);

  const problems = [
    ...(refused ? [`${refused} events never accepted: ${listing(refusedFor)} (e.g. ${refusedExamples.join("; ")})`] : []),
    ...(d.missing ? [`${d.missing} expected deliveries do not exist (e.g. ${examples.missing!.join(", ")})`] : []),
    ...(d.pending
      ? [
          `${d.pending} deliveries still pending (e.g. ${examples.pending!.join(", ")})` +
            (d.pendingUntried
              ? `; ${d.pendingUntried} of them never attempted: their message was lost (e.g. an ingest whose answer was lost after the TenantLog stored the event: ` +
                `its repeat answers 200 without re-sending), so only the TenantLog's alarm re-drives them, once overdue by 15 minutes (--settle 1000 waits for it)`
              : ""),
        ]
      : []),
    ...Object.entries(d.failedByReason).map(([reason, n]) => `${n} deliveries failed with ${reason} (e.g. ${examples[`failed ${reason}`]!.join(", ")})`),
    ...(r.notArrived ? [`${r.notArrived} expected deliveries never reached the receiver (e.g. ${examples["never arrived"]!.join(", ")})`] : []),
  ];
  const modes: Record<string, number> = {};
  for (const ep of endpoints) bump(modes, ep.mode);
  return {
    label: cfg.label,
    window: cfg.window,
    faultRate: cfg.faultRate,
    targets: ARGS.targets,
    phases: ARGS.phases,
    endpoints: { total: endpoints.length, modes },
    events: { posted: posted.length, accepted: accepted.length, ingestRetries, retriedFor, refused, refusedFor },
    faults: { byTarget: faults.injectedByTarget, byTargetAndPhase: faults.injected },
    queues: {
      consumerRetries: consumed.reduce((a, [, c]) => a + c.retried, 0),
      batchRetries: consumed.reduce((a, [, c]) => a + c.retryAll, 0),
      redelivered: consumed.reduce((a, [, c]) => a + c.redelivered, 0),
      dlqMessages: Object.fromEntries(consumed.filter(([name]) => name.endsWith("-dlq")).map(([name, c]) => [name, c.messages])),
    },
    deliveries: d,
    unexpectedExamples: examples.unexpected ?? [],
    receiver: r,
    settled: settledAt !== null,
    settleS: settledAt === null ? null : Math.round((settledAt - faultsEnded) / 1000),
    problems,
    ok: problems.length === 0,
  };
}

// ---------------------------------------------------------------------------------------
// Reports.

const pct = (x: number) => `${Math.round(x * 100)} %`;

function summary(res: Result): string {
  const d = res.deliveries;
  const r = res.receiver;
  const e = res.events;
  const q = res.queues;
  const byPhase = (t: string) => listing(res.faults.byTargetAndPhase[t] ?? {});
  return [
    `== ${res.label}: ${pct(res.faultRate)} faults for ${res.window} s on ${res.targets.join(", ")} (${res.phases ? `phases ${res.phases.join(", ")}` : "every phase"}) ==`,
    `endpoints: ${res.endpoints.total} (${listing(res.endpoints.modes)}); exact, wildcard and group filters`,
    `events: ${e.posted} posted, ${e.accepted} accepted after ${e.ingestRetries} ingest retries${e.ingestRetries ? ` (${listing(e.retriedFor)})` : ""}${e.refused ? `; ${e.refused} never accepted (${listing(e.refusedFor)})` : ""}`,
    `faults injected: ${TARGETS.map((t) => `${t} ${res.faults.byTarget[t] ?? 0}${byPhase(t) ? ` (${byPhase(t)})` : ""}`).join("; ")}`,
    `queues: ${q.consumerRetries} message retries, ${q.batchRetries} whole-batch retries, ${q.redelivered} redelivered; DLQ messages: ${listing(q.dlqMessages) || "none"}`,
    `deliveries (API): ${d.expected} expected → ${d.delivered} delivered, ${d.failed} failed${d.failed ? ` (${listing(d.failedByReason)})` : ""}, ${d.pending} pending${d.pendingUntried ? ` (${d.pendingUntried} never attempted)` : ""}, ${d.missing} missing; ${d.unexpected} unexpected${d.unexpected ? ` (e.g. ${res.unexpectedExamples.join(", ")})` : ""}; ${d.extraAttempts} attempts recorded beyond the first`,
    `receiver: ${r.arrived} of ${d.expected} arrived (${r.arrivals} requests); ${r.duplicates} duplicate sends, ${r.beyondAttempts} beyond the recorded attempts, ${r.unexpected} unexpected`,
    res.settled ? `settled ${res.settleS} s after the faults stopped` : `NOT settled within ${ARGS.settle} s of the faults stopping`,
    res.ok ? "RESULT: nothing lost, nothing failed" : `RESULT: FAILED\n${res.problems.map((p) => `  - ${p}`).join("\n")}`,
  ].join("\n");
}

function matrixTable(results: Result[]): string {
  const scope = `targets ${ARGS.targets.join(", ")}; ${ARGS.phases ? `phases ${ARGS.phases.join(", ")}` : "every phase"}; ${ARGS.rate} events/s from ${MARGIN_MS / 1000} s before to ${MARGIN_MS / 1000} s after the window; ${ARGS.tenants} tenants × ${ARGS.endpoints} endpoints`;
  const head = [
    "config",
    "events posted / accepted",
    "ingest retries",
    "faults injected (d1 / do / queue / secrets)",
    "deliveries expected / delivered / failed / missing",
    "duplicates",
    "settled after",
    "nothing lost",
  ];
  const rows = results.map((res) => {
    const d = res.deliveries;
    const missing = d.expected - d.delivered - d.failed;
    return [
      `${pct(res.faultRate)} for ${res.window} s`,
      `${res.events.posted} / ${res.events.accepted}`,
      `${res.events.ingestRetries}`,
      TARGETS.map((t) => res.faults.byTarget[t] ?? 0).join(" / "),
      `${d.expected} / ${d.delivered} / ${d.failed}${d.failed ? ` (${listing(d.failedByReason)})` : ""} / ${missing}${d.pending ? ` (${d.pending} pending)` : ""}`,
      `${res.receiver.duplicates}`,
      res.settled ? `${res.settleS} s` : `not within ${ARGS.settle} s`,
      res.ok ? "yes" : "**no**",
    ];
  });
  return [
    `Command: \`npx tsx bench/faults.ts --matrix\` (${scope}).`,
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------
// Main.

let stopCurrent: (() => Promise<void>) | null = null;

async function main() {
  const configs: RunConfig[] = ARGS.matrix
    ? [
        { label: "20 %/10 s", tag: "m1", faultRate: 0.2, window: 10 },
        { label: "50 %/10 s", tag: "m2", faultRate: 0.5, window: 10 },
        { label: "20 %/30 s", tag: "m3", faultRate: 0.2, window: 30 },
        { label: "50 %/30 s", tag: "m4", faultRate: 0.5, window: 30 },
      ]
    : [{ label: `${pct(ARGS.faultRate)}/${ARGS.window} s`, tag: "f", faultRate: ARGS.faultRate, window: ARGS.window }];
  const receiver = await startReceiver();
  process.once("SIGINT", () => {
    void (async () => {
      await stopCurrent?.();
      await receiver.stop();
      process.exit(130);
    })();
  });
  const results: Result[] = [];
  try {
    say(`receiver on ${receiver.url} (pid ${receiver.pid})`);
    for (const cfg of configs) {
      const res = await runConfig(cfg, receiver);
      process.stderr.write(`\n${summary(res)}\n\n`);
      results.push(res);
    }
  } finally {
    await receiver.stop();
  }
  const table = ARGS.matrix ? matrixTable(results) : null;
  if (table) (ARGS.json ? process.stderr : process.stdout).write(`${table}\n`);
  if (ARGS.json) process.stdout.write(`${JSON.stringify(ARGS.matrix ? { matrix: results, table } : results[0])}\n`);
  if (!results.every((r) => r.ok)) process.exitCode = 1;
  say(`done in ${Math.round((Date.now() - T0) / 1000)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`faults failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
