/**
 * @module Bench-only Worker entry: the real handlers of src/index.ts with every binding
 * wrapped so that one run can count what a delivery costs. Nothing in src/ changes.
 *
 * Counted:
 * - D1: round trips and statements per API call (prepare/bind/first/all/run/raw/batch), and
 *   `meta.rows_read` / `meta.rows_written` exactly as each result's meta reports them (D1
 *   already counts index rows there). `first()` and `raw()` hide their meta from callers, so
 *   the meta is read one layer down, at the binding's own transport call
 *   (`_sendOrThrow` / `_queryOrThrow` of the D1 session object), which sees every statement
 *   of every call, batch included. Each statement is attributed to a phase (ingest, deliver,
 *   deliveries-dlq, do:TenantLog, scheduled, …) through AsyncLocalStorage and to its SQL text.
 * - Queues: messages sent per producer (and how many carried a delay), consumer batches and
 *   messages per queue, redeliveries (`attempts > 1`), `retry()` / `ack()` calls.
 * - Durable Objects: requests per namespace as seen by callers (stub calls), alarm and RPC
 *   invocations as seen by the objects, and the callers' wall time per request. What each
 *   object class stores, in SQLite rows: every `ctx.storage.sql.exec` cursor's `rowsWritten`
 *   and `rowsRead` (drizzle's durable-sqlite driver goes through it too), the synchronous KV
 *   API (`ctx.storage.kv`) and the async one (`ctx.storage.get/put/delete/list`, and inside
 *   `transaction`), and every `setAlarm` / `deleteAlarm` / `getAlarm`, each attributed to the
 *   object method (RPC or alarm) that ran it. See "Durable Object storage" below for what is
 *   measured and what is modelled.
 * - Failed attempts, by status and error, read from the outcomes the consumer hands to
 *   `TenantLog.record` (every attempt is recorded there).
 * - Worker invocations: fetch (bench routes excluded) and one per consumer batch.
 * - Workers Analytics Engine: `writeDataPoint` calls, and the attempts they stand for
 *   (`double1`, docs/metrics.md), so a run reports data points per delivery.
 *
 * Faults (bench/faults.ts): our own dependencies failing, injected at the bindings only —
 * the D1 binding, every Durable Object namespace (TENANT_LOG), every queue producer, `SECRETS_KEY` — never
 * by knowing a table or a statement, so the plan holds whatever store the log lives in. See
 * "Fault plan" below for the targets, the errors thrown and the phases a rule may name.
 *
 * Bench routes (this entry only, never deployed): GET /__bench/counters[?reset=1], POST
 * /__bench/reset, POST /__bench/baseline (the limit: signed POSTs straight to a receiver,
 * no D1/queue/DO), GET /__bench/d1probe (local D1 calibration), POST /__bench/sql (meta of
 * statements on the throwaway database, for bench/write-costs.ts), GET /__bench/d1size (the
 * D1 database's bytes), POST /__bench/dosize (the SQLite bytes of some tenants' TenantLogs,
 * `ctx.storage.sql.databaseSize`: bytes per delivery), GET /__bench/batches[?reset=1] (each
 * consumer batch's start, end, size, messages per tenant, acks and retries), POST
 * /__bench/tenantseqs (tenant id → seq), POST /__bench/alarms (when their
 * alarms are set for), POST /__bench/timeshift (runs object
 * methods with the clock moved forward, e.g. an ingest a retention period later and the alarm
 * that drops the expired day: the purge's rows, measured), GET|POST /__bench/faults
 * (the fault plan and what it injected). Faults never reach a bench route: those use the
 * runtime's own env, never a wrapped one.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import worker, { TenantLog as RealTenantLog } from "../src/index";
import { buildBody, contentType } from "../src/domain/payload";
import { signRequest } from "../src/domain/signature";
import { sendRequest } from "../src/outbound/send";
import { USER_AGENT } from "../src/outbound/request";

// ---------------------------------------------------------------------------------------
// Counters (module state: in workerd the Worker and its Durable Objects share the isolate,
// which the bench checks by comparing caller-side and object-side DO request counts).

interface SqlStat {
  phase: string;
  sql: string;
  executions: number;
  rowsRead: number;
  rowsWritten: number;
  changes: number;
  /** Wall ms of the round trips this statement was part of (shared by a batch's statements). */
  waitMs: number;
}

interface PhaseStat {
  waitMs: number;
  roundTrips: number;
  statements: number;
  rowsRead: number;
  rowsWritten: number;
}

/** Rows one storage API of one Durable Object class read and wrote. */
export interface DoKvStat {
  gets: number;
  puts: number;
  deletes: number;
  lists: number;
  rowsRead: number;
  rowsWritten: number;
}

/** What one Durable Object class stored (bench/run.ts reads it from /__bench/counters). */
export interface DoStorageStat {
  /** `ctx.storage.sql.exec`: statements, and their cursors' `rowsRead` / `rowsWritten` (measured). */
  sql: { execs: number; rowsRead: number; rowsWritten: number };
  /** `ctx.storage.kv` (synchronous KV): rows modelled, see countKv. */
  kv: DoKvStat;
  /** `ctx.storage.get/put/delete/list` and the same calls on a `transaction`'s txn: rows modelled. */
  asyncKv: DoKvStat & { deleteAlls: number };
  /** Calls; each `setAlarm` is one billed row written (Cloudflare's pricing), not included in the rows above. */
  alarms: { sets: number; deletes: number; gets: number };
  transactions: { sync: number; async: number };
  /** Per object method (RPC method, "alarm", or "constructor" for migrations) and statement text (as sqlKey folds it). */
  bySql: Record<string, { method: string; sql: string; executions: number; rowsRead: number; rowsWritten: number }>;
  /** Per object method: SQL rows, KV rows (modelled) and `setAlarm` calls it made. */
  byMethod: Record<string, DoMethodStat>;
}

export interface DoMethodStat {
  sqlExecs: number;
  sqlRowsWritten: number;
  sqlRowsRead: number;
  kvRowsWritten: number;
  alarmSets: number;
}

const freshKv = (): DoKvStat => ({ gets: 0, puts: 0, deletes: 0, lists: 0, rowsRead: 0, rowsWritten: 0 });

function freshCounters() {
  return {
    startedAt: Date.now(),
    invocations: { fetch: 0, benchFetch: 0, queueBatches: {} as Record<string, number>, scheduled: 0 },
    d1: {
      /** Calls of the binding's API (first/all/run/raw/batch/exec) per method. */
      apiCalls: {} as Record<string, number>,
      /** Round trips and statements seen at the transport (with meta). */
      roundTrips: 0,
      /** Wall ms spent waiting for D1 round trips (Date.now advances across I/O in workerd). */
      waitMs: 0,
      statements: 0,
      rowsRead: 0,
      rowsWritten: 0,
      /** Statements whose result carried no meta (only when the transport hook is missing). */
      statementsWithoutMeta: 0,
      byPhase: {} as Record<string, PhaseStat>,
      bySql: {} as Record<string, SqlStat>,
    },
    queues: {
      sent: {} as Record<string, { calls: number; messages: number; delayed: number; waitMs: number }>,
      /** `sizes`: consumer batches per size bucket (BATCH_BUCKETS). */
      consumed: {} as Record<string, { batches: number; messages: number; redelivered: number; acked: number; retried: number; retryAll: number; sizes: Record<string, number> }>,
    },
    durableObjects: {
      /** Caller side: stub calls per namespace and method. */
      requests: {} as Record<string, number>,
      callerWallMs: {} as Record<string, number>,
      /** Object side: RPC methods and alarms that ran. */
      handled: {} as Record<string, number>,
      constructed: {} as Record<string, number>,
      /** Object side: storage per exported class (see "Durable Object storage"). */
      storage: {} as Record<string, DoStorageStat>,
    },
    /** Failed attempts by "status error", read from the attempt rows' bound values. */
    failedAttempts: {} as Record<string, number>,
    /** `writeDataPoint` calls, and the attempts their `double1` counts (docs/metrics.md). */
    analytics: { dataPoints: 0, attempts: 0 },
    hookInstalled: false,
  };
}

let counters = freshCounters();
let hookInstalled = false;

const bump = (rec: Record<string, number>, key: string, by = 1) => {
  rec[key] = (rec[key] ?? 0) + by;
};

// ---------------------------------------------------------------------------------------
// Phase attribution.

const phaseStore = new AsyncLocalStorage<string>();
const currentPhase = () => phaseStore.getStore() ?? "unknown";
/** Inside a Durable Object: the method (RPC or "alarm") whose call is running. */
const doMethodStore = new AsyncLocalStorage<string>();
const currentDoMethod = () => doMethodStore.getStore() ?? "constructor";

// ---------------------------------------------------------------------------------------
// Fault plan.

/**
 * What a rule breaks, and how (Cloudflare's own messages, so code that reads them is tested
 * as in production):
 * - "d1": the D1 binding's first/all/run/raw/batch/exec reject with
 *   `D1_ERROR: D1 DB is overloaded. Requests queued for too long.` before the real call (an
 *   overloaded D1 never ran the request);
 * - "do": a Durable Object stub's calls (RPC methods and fetch) reject, at random either
 *   with `Durable Object reset because its code was updated.` before the call reaches the
 *   object, or with `Network connection lost.` after the object ran it (the caller cannot
 *   tell whether it ran); both carry `retryable: true` as the runtime's do;
 * - "queue": a producer's send/sendBatch rejects with `Queue send failed: Too Many Requests`
 *   before anything is enqueued;
 * - "secrets": `SECRETS_KEY` and `SECRETS_KEY_PREVIOUS` read as undefined (a missing or
 *   half-rotated key), decided once per env object (one per invocation or DO call while a
 *   secrets rule is live), since `getConfig` reads both keys once per env and caches them.
 *   So a secrets fault counts an invocation that lost its keys, whether or not it then
 *   needed one (ingest and fan-out read the config but never a key).
 */
type FaultTarget = "d1" | "do" | "queue" | "secrets";
const FAULT_TARGETS: readonly FaultTarget[] = ["d1", "do", "queue", "secrets"];

/**
 * Phases a rule may name in `phases` (none = every phase, "unknown" included):
 * - "ingest": POST /v1/tenants/{tid}/events; "api": every other Worker request (API, portal);
 * - "deliver", "deliveries-dlq": that queue's consumer (queue names without `switchyard-`;
 *   the deliveries consumer is "deliver");
 * - "scheduled": the Cron Trigger;
 * - "do:<class>": inside a Durable Object of that exported class, i.e. "do:TenantLog" (a
 *   class added later needs no change here).
 * A stub call counts in its caller's phase; an object's own D1, queue and stub calls in its
 * "do:<class>" phase.
 */
const HANDLER_PHASES = ["ingest", "api", "deliver", "deliveries-dlq", "scheduled"];
const isFaultPhase = (p: unknown): p is string => typeof p === "string" && (HANDLER_PHASES.includes(p) || /^do:[A-Za-z_$][\w$]*$/.test(p));

interface FaultRule {
  target: FaultTarget;
  rate: number;
  /** null: every phase. */
  phases: string[] | null;
  startsAt: number;
  endsAt: number;
}

let faultRules: FaultRule[] = [];
const freshInjected = (): Record<FaultTarget, Record<string, number>> => ({ d1: {}, do: {}, queue: {}, secrets: {} });
/** Faults injected under the current plan, by target and phase (kept after the plan ends, for reading). */
let faultsInjected = freshInjected();

const liveRule = (r: FaultRule, now: number) => now >= r.startsAt && now < r.endsAt;

/** Whether this call fails: the first live rule of `target` covering `phase`, drawn at its rate. */
function injectFault(target: FaultTarget, phase: string): boolean {
  if (faultRules.length === 0) return false;
  const now = Date.now();
  const rule = faultRules.find((r) => r.target === target && liveRule(r, now) && (r.phases === null || r.phases.includes(phase)));
  if (!rule || Math.random() >= rule.rate) return false;
  bump(faultsInjected[target], phase);
  return true;
}

/** A secrets rule is live (whatever its phases): envs must then be fresh, see wrapEnv. */
const secretsFaultLive = () => faultRules.some((r) => r.target === "secrets" && liveRule(r, Date.now()));

/** The rules of a POST /__bench/faults body, starting `now`, or what is wrong with it. */
function parseFaultRules(input: unknown, now: number): FaultRule[] | string {
  const rules = (input as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) return "the body must be {rules: [{target, rate, phases?, durationMs}]}";
  const out: FaultRule[] = [];
  for (const [i, raw] of rules.entries()) {
    const { target, rate, phases, durationMs } = (raw ?? {}) as Record<string, unknown>;
    if (!FAULT_TARGETS.includes(target as FaultTarget)) return `rules[${i}].target must be one of ${FAULT_TARGETS.join(", ")}`;
    if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) return `rules[${i}].rate must be a number from 0 to 1`;
    if (typeof durationMs !== "number" || !Number.isFinite(durationMs) || durationMs <= 0) return `rules[${i}].durationMs must be a positive number`;
    if (phases !== undefined && !(Array.isArray(phases) && phases.every(isFaultPhase))) {
      return `rules[${i}].phases must list phases among ${HANDLER_PHASES.join(", ")}, do:<class>`;
    }
    out.push({ target: target as FaultTarget, rate, phases: phases?.length ? phases : null, startsAt: now, endsAt: now + durationMs });
  }
  return out;
}

function faultReport() {
  const now = Date.now();
  return {
    now,
    rules: faultRules.map((r) => ({ ...r, active: liveRule(r, now) })),
    injected: faultsInjected,
    injectedByTarget: Object.fromEntries(FAULT_TARGETS.map((t) => [t, Object.values(faultsInjected[t]).reduce((a, b) => a + b, 0)])),
  };
}

const D1_OVERLOADED = "D1_ERROR: D1 DB is overloaded. Requests queued for too long.";
const QUEUE_REFUSED = "Queue send failed: Too Many Requests";
const DO_RESET = "Durable Object reset because its code was updated.";
const DO_CONNECTION_LOST = "Network connection lost.";
const doError = (message: string) => Object.assign(new Error(message), { retryable: true });

/** Collapses a statement to a stable key: whitespace squeezed, long VALUES lists folded. */
function sqlKey(sql: string): string {
  return sql
    .replace(/\s+/g, " ")
    .replace(/(\(\?(?:, \?)*(?:, \d+)*(?:, \?)*\))(?:, \(\?[^)]*\))+/g, "$1, …")
    .trim()
    .slice(0, 160);
}

interface D1Meta {
  rows_read?: number;
  rows_written?: number;
  changes?: number;
}

function recordStatements(sqls: string[], results: unknown[], waitMs = 0): void {
  const phase = currentPhase();
  const p = (counters.d1.byPhase[phase] ??= { waitMs: 0, roundTrips: 0, statements: 0, rowsRead: 0, rowsWritten: 0 });
  counters.d1.roundTrips++;
  counters.d1.waitMs += waitMs;
  p.roundTrips++;
  p.waitMs += waitMs;
  sqls.forEach((sql, i) => {
    const meta = (results[i] as { meta?: D1Meta } | undefined)?.meta;
    const read = meta?.rows_read ?? 0;
    const written = meta?.rows_written ?? 0;
    if (!meta) counters.d1.statementsWithoutMeta++;
    counters.d1.statements++;
    counters.d1.rowsRead += read;
    counters.d1.rowsWritten += written;
    p.statements++;
    p.rowsRead += read;
    p.rowsWritten += written;
    const key = `${phase}|${sqlKey(sql)}`;
    const s = (counters.d1.bySql[key] ??= { phase, sql: sqlKey(sql), executions: 0, rowsRead: 0, rowsWritten: 0, changes: 0, waitMs: 0 });
    s.executions++;
    s.waitMs += waitMs;
    s.rowsRead += read;
    s.rowsWritten += written;
    s.changes += meta?.changes ?? 0;
  });
}

type AnyFn = (...args: unknown[]) => Promise<unknown>;

/**
 * Hooks the D1 session's transport once per isolate: every first/all/run/raw/batch goes
 * through `_sendOrThrow` (HTTP) or `_queryOrThrow` (JS RPC), whose results carry meta.
 */
function installD1Hook(db: D1Database): void {
  if (hookInstalled) return;
  // Older runtimes expose the statement's session (`stmt.dbSession`); newer ones keep it in a
  // private field, but `withSession()` returns a session of the base class that owns both
  // transport methods, and the database's own always-primary session inherits them.
  const stmt = db.prepare("SELECT 1") as unknown as { dbSession?: object };
  const session = stmt.dbSession ?? (db.withSession("first-unconstrained") as unknown as object);
  let proto: Record<string, unknown> | null = Object.getPrototypeOf(session);
  let patched = false;
  while (proto && proto !== Object.prototype) {
    const owner = proto;
    if (Object.prototype.hasOwnProperty.call(owner, "_sendOrThrow")) {
      const orig = owner._sendOrThrow as AnyFn;
      owner._sendOrThrow = async function (this: unknown, endpoint: unknown, query: unknown, params: unknown, format: unknown, ...rest: unknown[]) {
        const started = Date.now();
        const res = await orig.call(this, endpoint, query, params, format, ...rest);
        const sqls = Array.isArray(query) ? (query as string[]) : [query as string];
        recordStatements(sqls, Array.isArray(res) ? res : [res], Date.now() - started);
        return res;
      };
      patched = true;
    }
    if (Object.prototype.hasOwnProperty.call(owner, "_queryOrThrow")) {
      const orig = owner._queryOrThrow as AnyFn;
      owner._queryOrThrow = async function (this: unknown, request: unknown, ...rest: unknown[]) {
        const started = Date.now();
        const res = await orig.call(this, request, ...rest);
        const sqls = ((request as { queries?: { sql: string }[] }).queries ?? []).map((q) => q.sql);
        recordStatements(sqls, Array.isArray(res) ? res : [res], Date.now() - started);
        return res;
      };
      patched = true;
    }
    proto = Object.getPrototypeOf(owner);
  }
  hookInstalled = patched;
}

// ---------------------------------------------------------------------------------------
// Binding wrappers.

const REAL = Symbol("real statement");
const SQL = Symbol("statement text");

/** The D1 binding with its API calls counted (meta comes from the transport hook). */
function wrapD1(db: D1Database, phase: string | null): D1Database {
  installD1Hook(db);
  const inPhase = <T>(fn: () => Promise<T>): Promise<T> => (phase && !phaseStore.getStore() ? phaseStore.run(phase, fn) : fn());
  const counted = <T>(method: string, fn: () => Promise<T>, results?: (r: T) => unknown[], sqls?: string[]): Promise<T> => {
    bump(counters.d1.apiCalls, method);
    // A rejected promise, never a synchronous throw: callers may chain `.catch` on the call.
    if (injectFault("d1", phaseStore.getStore() ?? phase ?? "unknown")) return Promise.reject(new Error(D1_OVERLOADED));
    return inPhase(async () => {
      const r = await fn();
      // Without the hook, count what the results tell (first/raw carry no meta).
      if (!hookInstalled && sqls) recordStatements(sqls, results ? results(r) : []);
      return r;
    });
  };
  const wrapStmt = (real: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const w = {
      [REAL]: real,
      [SQL]: sql,
      bind: (...values: unknown[]) => wrapStmt(real.bind(...values), sql),
      first: (col?: string) => counted("first", () => (col === undefined ? real.first() : real.first(col)), undefined, [sql]),
      all: () => counted("all", () => real.all(), (r) => [r], [sql]),
      run: () => counted("run", () => real.run(), (r) => [r], [sql]),
      raw: (opts?: { columnNames?: boolean }) => counted("raw", () => real.raw(opts as { columnNames: true }), undefined, [sql]),
    };
    return w as unknown as D1PreparedStatement;
  };
  const unwrap = (s: D1PreparedStatement): D1PreparedStatement => (s as unknown as Record<symbol, D1PreparedStatement>)[REAL] ?? s;
  const sqlOf = (s: D1PreparedStatement) => (s as unknown as Record<symbol, string | undefined>)[SQL] ?? "(unknown)";
  const w = {
    prepare: (sql: string) => wrapStmt(db.prepare(sql), sql),
    batch: (stmts: D1PreparedStatement[]) =>
      counted(
        "batch",
        () => db.batch(stmts.map(unwrap)),
        (r) => r,
        stmts.map(sqlOf),
      ),
    exec: (sql: string) => counted("exec", () => db.exec(sql)),
    withSession: (...a: Parameters<D1Database["withSession"]>) => db.withSession(...a),
    dump: () => db.dump(),
  };
  return w as unknown as D1Database;
}

function wrapQueue(q: Queue, name: string): Queue {
  const sent = () => (counters.queues.sent[name] ??= { calls: 0, messages: 0, delayed: 0, waitMs: 0 });
  const w = {
    send: async (body: unknown, opts?: QueueSendOptions) => {
      if (injectFault("queue", currentPhase())) throw new Error(QUEUE_REFUSED);
      const s = sent();
      s.calls++;
      s.messages++;
      if (opts?.delaySeconds) s.delayed++;
      const started = Date.now();
      try {
        return await q.send(body, opts);
      } finally {
        s.waitMs += Date.now() - started;
      }
    },
    sendBatch: async (msgs: Iterable<MessageSendRequest>, opts?: QueueSendBatchOptions) => {
      if (injectFault("queue", currentPhase())) throw new Error(QUEUE_REFUSED);
      const list = [...msgs];
      const s = sent();
      s.calls++;
      s.messages += list.length;
      s.delayed += list.filter((m) => (m.delaySeconds ?? opts?.delaySeconds ?? 0) > 0).length;
      const started = Date.now();
      try {
        return await q.sendBatch(list, opts);
      } finally {
        s.waitMs += Date.now() - started;
      }
    },
  };
  return w as unknown as Queue;
}

/** An Analytics Engine dataset that counts data points (a local no-op underneath). */
function wrapAnalytics(dataset: AnalyticsEngineDataset): AnalyticsEngineDataset {
  return {
    writeDataPoint: (point?: AnalyticsEngineDataPoint) => {
      counters.analytics.dataPoints++;
      counters.analytics.attempts += point?.doubles?.[0] ?? 0;
      dataset.writeDataPoint(point);
    },
  };
}

/** A Durable Object namespace whose stubs count every call (one call = one DO request) and fail some under a "do" rule. */
function wrapNamespace<T extends Rpc.DurableObjectBranded | undefined>(ns: DurableObjectNamespace<T>, name: string): DurableObjectNamespace<T> {
  const wrapStub = (stub: DurableObjectStub<T>) =>
    new Proxy(stub as object, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof prop !== "string" || prop === "then" || typeof v !== "function") return v;
        return (...args: unknown[]) => {
          bump(counters.durableObjects.requests, `${name}.${prop}`);
          const fault = injectFault("do", currentPhase()) ? (Math.random() < 0.5 ? DO_RESET : DO_CONNECTION_LOST) : null;
          if (fault === DO_RESET) return Promise.reject(doError(DO_RESET));
          const started = Date.now();
          // Reflect.apply: `.apply` on an RPC stub would itself be a remote method name.
          const r = Reflect.apply(v as (...a: unknown[]) => unknown, target, args);
          // A plain promise: property reads on an RPC promise would be pipelined remote calls.
          const p = Promise.resolve(r);
          const done = () => bump(counters.durableObjects.callerWallMs, name, Date.now() - started);
          p.then(done, done);
          // The object ran the call; the answer is lost on its way back (a real error passes through).
          return fault === DO_CONNECTION_LOST ? p.then(() => Promise.reject(doError(DO_CONNECTION_LOST))) : p;
        };
      },
    }) as DurableObjectStub<T>;
  const w = {
    idFromName: (n: string) => ns.idFromName(n),
    idFromString: (s: string) => ns.idFromString(s),
    newUniqueId: (o?: DurableObjectNamespaceNewUniqueIdOptions) => ns.newUniqueId(o),
    get: (id: DurableObjectId, o?: DurableObjectNamespaceGetDurableObjectOptions) => wrapStub(ns.get(id, o)),
    getByName: (n: string, o?: DurableObjectNamespaceGetDurableObjectOptions) => wrapStub(ns.getByName(n, o)),
    jurisdiction: (j: DurableObjectJurisdiction) => ns.jurisdiction(j),
  };
  return w as unknown as DurableObjectNamespace<T>;
}

/** Counter names of queue producers, as bench/run.ts reads them; any other binding counts under its own name. */
const QUEUE_COUNTER_NAMES: Record<string, string> = { DELIVERY_QUEUE: "deliveries" };
const SECRET_VARS = ["SECRETS_KEY", "SECRETS_KEY_PREVIOUS"] as const;

/**
 * Which binding this is, by shape, so that every D1 database, queue producer and DO
 * namespace is wrapped whatever wrangler.toml names them. Anything with `fetch` is left
 * alone: a service binding answers every property name with an RPC method.
 */
function bindingKind(v: unknown): "d1" | "queue" | "do" | "analytics" | null {
  if (typeof v !== "object" || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.fetch === "function") return null;
  if (typeof o.prepare === "function" && typeof o.batch === "function" && typeof o.exec === "function") return "d1";
  if (typeof o.send === "function" && typeof o.sendBatch === "function") return "queue";
  if (typeof o.idFromName === "function" && typeof o.get === "function") return "do";
  if (typeof o.writeDataPoint === "function") return "analytics";
  return null;
}

/**
 * Env with every binding counted (and faultable); `phase` pins D1 attribution (the DOs'
 * own env). With `secretsFaults`, the keys are getters that a secrets rule may hide.
 */
function buildEnv(env: Env, phase: string | null, secretsFaults: boolean): Env {
  const raw = env as unknown as Record<string, unknown>;
  const w: Record<string, unknown> = { ...raw };
  for (const [name, binding] of Object.entries(raw)) {
    const kind = bindingKind(binding);
    if (kind === "d1") w[name] = wrapD1(binding as D1Database, phase);
    else if (kind === "queue") w[name] = wrapQueue(binding as Queue, QUEUE_COUNTER_NAMES[name] ?? name);
    else if (kind === "do") w[name] = wrapNamespace(binding as DurableObjectNamespace, name);
    else if (kind === "analytics") w[name] = wrapAnalytics(binding as AnalyticsEngineDataset);
  }
  if (secretsFaults) {
    let hidden: boolean | undefined;
    for (const key of SECRET_VARS) {
      const value = raw[key];
      Object.defineProperty(w, key, {
        enumerable: true,
        get: () => ((hidden ??= injectFault("secrets", phaseStore.getStore() ?? phase ?? "unknown")) ? undefined : value),
      });
    }
  }
  return w as unknown as Env;
}

const wrappedEnvs = new WeakMap<object, Env>();

/**
 * The handlers' env: one wrapped env per runtime env, except while a secrets rule is live.
 * src/config.ts caches the config, keys included, per env object, so then every
 * invocation gets a fresh env whose keys are decided anew; the cached one never hides them.
 */
function wrapEnv(env: Env): Env {
  if (secretsFaultLive()) return buildEnv(env, null, true);
  let w = wrappedEnvs.get(env);
  if (!w) wrappedEnvs.set(env, (w = buildEnv(env, null, false)));
  return w;
}

/** Consumer batch-size buckets, as bench/run.ts reports them (a batch holds 1 to 100 messages). */
const BATCH_BUCKETS: readonly [label: string, max: number][] = [
  ["1", 1],
  ["2-5", 5],
  ["6-10", 10],
  ["11-50", 50],
  ["51-100", 100],
];
const batchBucket = (n: number) => BATCH_BUCKETS.find(([, max]) => n <= max)?.[0] ?? ">100";

/**
 * One consumer batch as it ran (GET /__bench/batches): when its invocation began and ended,
 * its messages per tenant seq (`body.t`), and how many it acked and retried. The local
 * simulator runs one batch per queue at a time, so the trace shows which invocation held the
 * queue and for how long (`npm run bench -- --noisy`).
 */
export interface BatchTrace {
  queue: string;
  start: number;
  end: number | null;
  size: number;
  byTenant: Record<string, number>;
  acked: number;
  retried: number;
}
/** The latest batches, oldest first (bounded: a long run keeps its last MAX_TRACE). */
let batchTrace: BatchTrace[] = [];
const MAX_TRACE = 20_000;

function wrapBatch<B>(batch: MessageBatch<B>, queueName: string, trace?: BatchTrace): MessageBatch<B> {
  const c = (counters.queues.consumed[queueName] ??= { batches: 0, messages: 0, redelivered: 0, acked: 0, retried: 0, retryAll: 0, sizes: {} });
  c.batches++;
  c.messages += batch.messages.length;
  bump(c.sizes, batchBucket(batch.messages.length));
  c.redelivered += batch.messages.filter((m) => m.attempts > 1).length;
  const messages = batch.messages.map((m) => ({
    get id() {
      return m.id;
    },
    get timestamp() {
      return m.timestamp;
    },
    get body() {
      return m.body;
    },
    get attempts() {
      return m.attempts;
    },
    ack: () => {
      c.acked++;
      if (trace) trace.acked++;
      m.ack();
    },
    retry: (o?: QueueRetryOptions) => {
      c.retried++;
      if (trace) trace.retried++;
      m.retry(o);
    },
  }));
  return {
    queue: batch.queue,
    metadata: (batch as { metadata?: unknown }).metadata,
    messages,
    ackAll: () => {
      c.acked += messages.length;
      if (trace) trace.acked += messages.length;
      batch.ackAll();
    },
    retryAll: (o?: QueueRetryOptions) => {
      c.retryAll++;
      if (trace) trace.retried += messages.length;
      batch.retryAll(o);
    },
  } as unknown as MessageBatch<B>;
}

// ---------------------------------------------------------------------------------------
// Durable Object storage: what each object class writes, in billed SQLite rows.
//
// Measured: `ctx.storage.sql.exec` cursors report `rowsWritten` (final as soon as exec
// returns) and `rowsRead` (growing while the cursor is consumed). Each cursor is handed to
// the object behind a proxy that adds the growth of both after every call on it (next,
// toArray, one, raw()'s iterator, for…of), so a cursor is counted once whether it is
// consumed, half consumed (drizzle's `.get()` reads one row) or never touched.
// Modelled (no cursor to read; SQLite-backed objects keep KV pairs in a hidden table that
// Cloudflare bills in rows): a put is 1 row written, a delete 1 row written when the key
// existed (as its answer says), a get 1 row read per key asked, a list 1 row read per
// entry returned. Each `setAlarm` is one billed row written (counted as `alarms.sets`);
// `deleteAlarm` and `getAlarm` are counted as calls only. `deleteAll` is counted as a call
// (its rows are unknown; no object uses it).
//
// The storage object is patched in place, before the real constructor runs: its `sql` and
// `kv` become counted proxies of the real ones, and its async methods counted wrappers that
// call the real method with the real receiver and return exactly what it returns. So code
// that keeps `ctx.storage` (drizzle(ctx.storage)), reads `this.ctx.storage` later, or runs
// in `blockConcurrencyWhile` is counted alike.

const doStat = (label: string): DoStorageStat =>
  (counters.durableObjects.storage[label] ??= {
    sql: { execs: 0, rowsRead: 0, rowsWritten: 0 },
    kv: freshKv(),
    asyncKv: { ...freshKv(), deleteAlls: 0 },
    alarms: { sets: 0, deletes: 0, gets: 0 },
    transactions: { sync: 0, async: 0 },
    bySql: {},
    byMethod: {},
  });

/** The running method's share of one class's storage counts. */
const methodStat = (label: string): DoMethodStat =>
  (doStat(label).byMethod[currentDoMethod()] ??= { sqlExecs: 0, sqlRowsWritten: 0, sqlRowsRead: 0, kvRowsWritten: 0, alarmSets: 0 });

/**
 * A proxy of a native cursor or iterator: every method runs on the real object (native
 * methods need their receiver), then `after` sees the call and its result, even when it
 * threw. A method answering the object itself answers the proxy; one answering another
 * iterator (a cursor's `raw()`) answers a proxy of it. Properties (getters included) are
 * read from the real object.
 */
function observed<T extends object>(target: T, after: (method: PropertyKey, result: unknown) => void): T {
  const proxy: T = new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = Reflect.apply(v as (...a: unknown[]) => unknown, t, args);
        } finally {
          after(prop, result);
        }
        if (result === t) return proxy;
        if (typeof result === "object" && result !== null && !Array.isArray(result) && typeof (result as { next?: unknown }).next === "function") return observed(result, after);
        return result;
      };
    },
  });
  return proxy;
}

function countedCursor<T extends Record<string, SqlStorageValue>>(cursor: SqlStorageCursor<T>, label: string, method: string, sql: string): SqlStorageCursor<T> {
  let read = 0;
  let written = 0;
  const key = `${method} ${sql}`;
  const sync = () => {
    const r = cursor.rowsRead;
    const w = cursor.rowsWritten;
    if (r === read && w === written) return;
    const st = doStat(label);
    const q = (st.bySql[key] ??= { method, sql, executions: 0, rowsRead: 0, rowsWritten: 0 });
    const m = (st.byMethod[method] ??= { sqlExecs: 0, sqlRowsWritten: 0, sqlRowsRead: 0, kvRowsWritten: 0, alarmSets: 0 });
    st.sql.rowsRead += r - read;
    st.sql.rowsWritten += w - written;
    q.rowsRead += r - read;
    q.rowsWritten += w - written;
    m.sqlRowsRead += r - read;
    m.sqlRowsWritten += w - written;
    read = r;
    written = w;
  };
  sync();
  return observed(cursor, sync);
}

function countedSql(sql: SqlStorage, label: string): SqlStorage {
  return new Proxy(sql, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      if (prop === "exec") {
        return (query: string, ...bindings: unknown[]) => {
          const cursor = t.exec(query, ...bindings);
          const sqlText = sqlKey(query);
          const method = currentDoMethod();
          const st = doStat(label);
          st.sql.execs++;
          methodStat(label).sqlExecs++;
          (st.bySql[`${method} ${sqlText}`] ??= { method, sql: sqlText, executions: 0, rowsRead: 0, rowsWritten: 0 }).executions++;
          return countedCursor(cursor, label, method, sqlText);
        };
      }
      // Methods keep their receiver; classes (`Cursor`, `Statement`) stay themselves.
      return typeof v === "function" && /^[a-z]/.test(String(prop)) ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

function countedKv(kv: SyncKvStorage, label: string): SyncKvStorage {
  const st = () => doStat(label).kv;
  return new Proxy(kv, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      switch (prop) {
        case "get":
          return (key: string) => {
            const r = t.get(key);
            st().gets++;
            st().rowsRead++;
            return r;
          };
        case "put":
          return (key: string, value: unknown) => {
            t.put(key, value);
            st().puts++;
            st().rowsWritten++;
            methodStat(label).kvRowsWritten++;
          };
        case "delete":
          return (key: string | string[]) => {
            // The types take one key; an array (should a runtime accept one) counts each deleted.
            const r = (t.delete as (k: unknown) => unknown)(key);
            st().deletes++;
            st().rowsWritten += typeof r === "number" ? r : r ? 1 : 0;
            methodStat(label).kvRowsWritten += typeof r === "number" ? r : r ? 1 : 0;
            return r;
          };
        case "list":
          return (opts?: SyncKvListOptions) => {
            st().lists++;
            return observed(t.list(opts) as unknown as object, (method, r) => {
              if (method === "next" && r && !(r as IteratorResult<unknown>).done) st().rowsRead++;
              if (method === "toArray" && Array.isArray(r)) st().rowsRead += r.length;
            });
          };
        default:
          return typeof v === "function" && /^[a-z]/.test(String(prop)) ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      }
    },
  });
}

type AsyncKvLike = Pick<DurableObjectStorage, "get" | "put" | "delete" | "list" | "getAlarm" | "setAlarm" | "deleteAlarm"> & { deleteAll?: DurableObjectStorage["deleteAll"] };
type Fn = (...a: unknown[]) => unknown;

/** Counted versions of the async KV and alarm methods of `target` (the storage, or a transaction's txn). */
function asyncKvMethods(target: AsyncKvLike, label: string): Record<string, Fn> {
  const st = () => doStat(label);
  // The real methods, read now: once patched, the storage's own properties are these wrappers.
  const real = Object.fromEntries(
    (["get", "put", "delete", "list", "getAlarm", "setAlarm", "deleteAlarm", "deleteAll"] as const).map((n) => [n, (target as unknown as Record<string, Fn | undefined>)[n]]),
  ) as Record<keyof AsyncKvLike, Fn | undefined>;
  const call = (name: keyof AsyncKvLike, args: unknown[]) => Reflect.apply(real[name]!, target, args);
  /** Counts from a promise's value without changing the promise the object gets. */
  const onValue = (p: unknown, f: (v: unknown) => void) => {
    if (p && typeof (p as Promise<unknown>).then === "function") (p as Promise<unknown>).then(f, () => {});
    else f(p);
    return p;
  };
  const out: Record<string, Fn> = {
    get: (...args) => {
      const r = call("get", args);
      st().asyncKv.gets++;
      st().asyncKv.rowsRead += Array.isArray(args[0]) ? args[0].length : 1;
      return r;
    },
    put: (...args) => {
      const r = call("put", args);
      const rows = typeof args[0] === "string" ? 1 : Object.keys((args[0] ?? {}) as object).length;
      st().asyncKv.puts++;
      st().asyncKv.rowsWritten += rows;
      methodStat(label).kvRowsWritten += rows;
      return r;
    },
    delete: (...args) => {
      st().asyncKv.deletes++;
      const m = methodStat(label);
      return onValue(call("delete", args), (v) => {
        const rows = typeof v === "number" ? v : v ? 1 : 0;
        st().asyncKv.rowsWritten += rows;
        m.kvRowsWritten += rows;
      });
    },
    list: (...args) => {
      st().asyncKv.lists++;
      return onValue(call("list", args), (v) => (st().asyncKv.rowsRead += v instanceof Map ? v.size : 0));
    },
    getAlarm: (...args) => {
      const r = call("getAlarm", args);
      st().alarms.gets++;
      return r;
    },
    setAlarm: (...args) => {
      const r = call("setAlarm", args);
      st().alarms.sets++;
      methodStat(label).alarmSets++;
      return r;
    },
    deleteAlarm: (...args) => {
      const r = call("deleteAlarm", args);
      st().alarms.deletes++;
      return r;
    },
  };
  if (typeof real.deleteAll === "function") {
    out.deleteAll = (...args) => {
      const r = call("deleteAll", args);
      st().asyncKv.deleteAlls++;
      return r;
    };
  }
  return out;
}

const STORAGE_COUNTED = Symbol("storage counted");

/** Patches one object's storage in place (once): see the section's comment. */
function countStorage(storage: DurableObjectStorage, label: string): void {
  const s = storage as unknown as Record<PropertyKey, unknown>;
  if (s[STORAGE_COUNTED]) return;
  const define = (name: PropertyKey, value: unknown) => Object.defineProperty(storage, name, { configurable: true, enumerable: false, writable: true, value });
  // Read the real ones first (prototype getters and methods), then shadow them. A class
  // without SQLite throws on `sql` / `kv`: those are then left as they are.
  const tryGet = <K extends "sql" | "kv">(k: K): DurableObjectStorage[K] | undefined => {
    try {
      return storage[k];
    } catch {
      return undefined;
    }
  };
  const sql = tryGet("sql");
  const kv = tryGet("kv");
  const transaction = storage.transaction as DurableObjectStorage["transaction"] | undefined;
  const transactionSync = storage.transactionSync as DurableObjectStorage["transactionSync"] | undefined;
  if (sql) define("sql", countedSql(sql, label));
  if (kv) define("kv", countedKv(kv, label));
  for (const [name, fn] of Object.entries(asyncKvMethods(storage, label))) define(name, fn);
  if (transactionSync) {
    define("transactionSync", <T>(closure: () => T): T => {
      doStat(label).transactions.sync++;
      return Reflect.apply(transactionSync, storage, [closure]) as T;
    });
  }
  if (transaction) {
    // The closure gets its txn with the same counted KV and alarm methods.
    define("transaction", <T>(closure: (txn: DurableObjectTransaction) => Promise<T>): Promise<T> => {
      doStat(label).transactions.async++;
      return Reflect.apply(transaction, storage, [
        (txn: DurableObjectTransaction) => {
          const methods = asyncKvMethods(txn as unknown as AsyncKvLike, label);
          const counted = new Proxy(txn, {
            get(t, prop) {
              if (typeof prop === "string" && Object.prototype.hasOwnProperty.call(methods, prop)) return methods[prop];
              const v = Reflect.get(t, prop, t) as unknown;
              return typeof v === "function" ? (v as Fn).bind(t) : v;
            },
          });
          return closure(counted);
        },
      ]) as Promise<T>;
    });
  }
  define(STORAGE_COUNTED, true);
}

// ---------------------------------------------------------------------------------------
// Durable Objects: the real classes, given a counted env, each method run in its phase.

type Ctor = abstract new (ctx: DurableObjectState, env: Env) => object;

/** Each instrumented object's runtime env and its steady wrapped one (never hiding the keys). */
const objectEnvs = new WeakMap<object, { raw: Env; steady: Env }>();

/** Each instrumented object's state (for the bench-only methods). */
const objectCtxs = new WeakMap<object, DurableObjectState>();

/** A class's storage counts so far, for a difference across a few calls. */
function storageTotals(label: string) {
  const st = doStat(label);
  return {
    sqlRowsWritten: st.sql.rowsWritten,
    kvRowsWritten: st.kv.rowsWritten + st.asyncKv.rowsWritten,
    alarmSets: st.alarms.sets,
    bySql: Object.fromEntries(Object.entries(st.bySql).map(([k, q]) => [k, { executions: q.executions, rowsWritten: q.rowsWritten }])),
  };
}

/** What one step of /__bench/timeshift did. */
export interface TimeShiftStep {
  method: string;
  error: string | null;
  sqlRowsWritten: number;
  kvRowsWritten: number;
  alarmSets: number;
  /** Statements that ran, "method sql" → executions and rows written. */
  bySql: Record<string, { executions: number; rowsWritten: number }>;
}

/** Failed attempts by "status error", from the outcomes handed to `record` (each attempt is recorded there once). */
function countFailedAttempts(outcomes: unknown): void {
  if (!Array.isArray(outcomes)) return;
  for (const o of outcomes as { status?: string; reason?: string | null; attempt?: { responseStatus: number | null; error: string | null } | null }[]) {
    const a = o.attempt;
    if (!a) {
      if (o.status === "failed") bump(counters.failedAttempts, `no attempt ${o.reason ?? ""}`.trim());
      continue;
    }
    if (a.responseStatus === null || a.responseStatus < 200 || a.responseStatus >= 300) bump(counters.failedAttempts, `${a.responseStatus ?? "no response"} ${a.error ?? ""}`.trim());
  }
}

function instrumentDO<C extends Ctor>(Base: C, label: string): C {
  // @ts-expect-error -- a mixin over an abstract constructor
  class Instrumented extends Base {
    constructor(ctx: DurableObjectState, env: Env) {
      const steady = buildEnv(env, `do:${label}`, false);
      countStorage(ctx.storage, label);
      super(ctx, steady);
      objectEnvs.set(this, { raw: env, steady });
      objectCtxs.set(this, ctx);
      bump(counters.durableObjects.constructed, label);
    }

    /** Bench only (never counted): this object's SQLite bytes, pages in use and free. */
    __benchDatabaseSize(): number {
      return objectCtxs.get(this)!.storage.sql.databaseSize;
    }

    /** Bench only: when this object's alarm is set for (null: none); counted as one `getAlarm` call, no row. */
    __benchAlarmAt(): Promise<number | null> {
      return objectCtxs.get(this)!.storage.getAlarm();
    }

    /**
     * Bench only: runs the object's own methods one after another with `Date.now` moved
     * `offsetMs` ahead (e.g. an ingest a retention period later, then the alarm that drops
     * the expired day; "$deleteAlarm" clears the pending alarm first, as the runtime does
     * before it runs one), and answers what each wrote. The calls themselves are counted as
     * any other. Nothing else may run meanwhile: the clock of the whole isolate moves.
     */
    async __benchTimeShift(offsetMs: number, steps: { method: string; args: unknown[] }[]): Promise<TimeShiftStep[]> {
      const realNow = Date.now;
      const out: TimeShiftStep[] = [];
      Date.now = () => realNow.call(Date) + offsetMs;
      try {
        for (const step of steps) {
          const before = storageTotals(label);
          let error: string | null = null;
          try {
            // "$deleteAlarm": what the runtime does before it runs an alarm.
            if (step.method === "$deleteAlarm") await objectCtxs.get(this)!.storage.deleteAlarm();
            else await ((this as unknown as Record<string, (...a: unknown[]) => unknown>)[step.method]!).apply(this, step.args);
          } catch (err) {
            error = String(err);
          }
          const after = storageTotals(label);
          const bySql: TimeShiftStep["bySql"] = {};
          for (const [k, q] of Object.entries(after.bySql)) {
            const b = before.bySql[k] ?? { executions: 0, rowsWritten: 0 };
            if (q.executions !== b.executions || q.rowsWritten !== b.rowsWritten) bySql[k] = { executions: q.executions - b.executions, rowsWritten: q.rowsWritten - b.rowsWritten };
          }
          out.push({
            method: step.method,
            error,
            sqlRowsWritten: after.sqlRowsWritten - before.sqlRowsWritten,
            kvRowsWritten: after.kvRowsWritten - before.kvRowsWritten,
            alarmSets: after.alarmSets - before.alarmSets,
            bySql,
          });
        }
      } finally {
        Date.now = realNow;
      }
      return out;
    }
  }
  const names = new Set<string>();
  for (let p: object | null = Base.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      if (n !== "constructor" && typeof Object.getOwnPropertyDescriptor(p, n)?.value === "function") names.add(n);
    }
  }
  for (const n of names) {
    const orig = (Base.prototype as Record<string, unknown>)[n] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof orig !== "function") continue;
    Object.defineProperty(Instrumented.prototype, n, {
      configurable: true,
      writable: true,
      value: function (this: { env: Env }, ...args: unknown[]) {
        const phase = `do:${label}`;
        if (phaseStore.getStore() === phase) return orig.apply(this, args); // a nested call (alarm → sweep)
        bump(counters.durableObjects.handled, `${label}.${n}`);
        if (n === "record") countFailedAttempts(args[0]);
        // The object keeps its env for life and getConfig caches per env: as in wrapEnv,
        // a live secrets rule needs a fresh env per call.
        const envs = objectEnvs.get(this);
        if (envs) this.env = secretsFaultLive() ? buildEnv(envs.raw, phase, true) : envs.steady;
        return phaseStore.run(phase, () => doMethodStore.run(n, () => orig.apply(this, args)));
      },
    });
  }
  return Instrumented as unknown as C;
}

export const TenantLog = instrumentDO(RealTenantLog, "TenantLog");

// ---------------------------------------------------------------------------------------
// The limit: the same signing and sending code, no D1, queue or Durable Object in the way.

interface BaselineInput {
  url: string;
  n: number;
  secret: string;
  dataJson: string;
  type: string;
  idPrefix: string;
  concurrency?: number;
}

async function runBaseline(input: BaselineInput): Promise<{ ok: number; failed: number; ms: number }> {
  const started = Date.now();
  let ok = 0;
  let failed = 0;
  let next = 0;
  const limit = Math.min(input.concurrency ?? 6, 6);
  const lanes = Array.from({ length: Math.min(limit, input.n) }, async () => {
    while (next < input.n) {
      const i = next++;
      const id = `${input.idPrefix}-${i}`;
      const body = buildBody("standard", { id, type: input.type, dataJson: input.dataJson, timestamp: new Date().toISOString() }, "/switchyard");
      const signed = await signRequest({
        profile: "standard",
        secrets: [input.secret],
        eventId: id,
        eventType: input.type,
        timestampSec: Math.floor(Date.now() / 1000),
        attempt: 1,
        body,
        prefix: "Switchyard",
      });
      const sent = await sendRequest({
        url: input.url,
        method: "POST",
        headers: { "user-agent": USER_AGENT, "content-type": contentType("standard"), ...signed },
        body,
        timeoutMs: 15_000,
      });
      if (sent.result.kind === "response" && sent.result.status >= 200 && sent.result.status < 300) ok++;
      else failed++;
    }
  });
  await Promise.all(lanes);
  return { ok, failed, ms: Date.now() - started };
}

// ---------------------------------------------------------------------------------------
// The entry.

/** Live tenants' seqs (their TenantLogs' names), read with the runtime's own D1 binding. */
async function tenantSeqs(env: Env, ids: string[]): Promise<{ id: string; seq: number }[]> {
  const { results } = await env.DB.prepare(`SELECT id, seq FROM tenants WHERE id IN (SELECT value FROM json_each(?)) AND deleted_at IS NULL`)
    .bind(JSON.stringify(ids))
    .all<{ id: string; seq: number }>();
  return results;
}

interface BenchStub {
  __benchDatabaseSize(): Promise<number>;
  __benchAlarmAt(): Promise<number | null>;
  __benchTimeShift(offsetMs: number, steps: { method: string; args: unknown[] }[]): Promise<TimeShiftStep[]>;
}
const benchStub = (env: Env, seq: number) => env.TENANT_LOG.getByName(String(seq)) as unknown as BenchStub;

function phaseOfRequest(req: Request): string {
  const url = new URL(req.url);
  return req.method === "POST" && /^\/v1\/tenants\/[^/]+\/events$/.test(url.pathname) ? "ingest" : "api";
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/__bench/")) {
      counters.invocations.benchFetch++;
      if (url.pathname === "/__bench/counters") {
        installD1Hook(env.DB);
        const out = { ...counters, hookInstalled, now: Date.now() };
        if (url.searchParams.get("reset") === "1") counters = freshCounters();
        return Response.json(out);
      }
      if (url.pathname === "/__bench/reset" && request.method === "POST") {
        counters = freshCounters();
        return Response.json({ ok: true });
      }
      if (url.pathname === "/__bench/batches") {
        // The consumer batches traced since the last reset (see BatchTrace).
        const out = { now: Date.now(), batches: batchTrace };
        if (url.searchParams.get("reset") === "1") batchTrace = [];
        return Response.json(out);
      }
      if (url.pathname === "/__bench/tenantseqs" && request.method === "POST") {
        // Tenant id → seq (the `t` of their queue messages), for reading the batch trace.
        const { tenants } = (await request.json()) as { tenants: string[] };
        return Response.json(await tenantSeqs(env, tenants));
      }
      if (url.pathname === "/__bench/d1size") {
        // The database's bytes as D1 reports them after a statement (`meta.size_after`).
        const r = await env.DB.prepare("SELECT 1").run();
        return Response.json({ bytes: (r.meta as { size_after?: number }).size_after ?? null });
      }
      if (url.pathname === "/__bench/dosize" && request.method === "POST") {
        // The SQLite bytes of these tenants' TenantLogs (runtime env: never counted).
        const { tenants } = (await request.json()) as { tenants: string[] };
        const perTenant: Record<string, number> = {};
        for (const { id, seq } of await tenantSeqs(env, tenants)) perTenant[id] = await benchStub(env, seq).__benchDatabaseSize();
        return Response.json({ bytes: Object.values(perTenant).reduce((a, b) => a + b, 0), tenants: Object.keys(perTenant).length, perTenant });
      }
      if (url.pathname === "/__bench/alarms" && request.method === "POST") {
        // When each of these tenants' TenantLog alarms is set for (null: none).
        const { tenants } = (await request.json()) as { tenants: string[] };
        const perTenant: Record<string, number | null> = {};
        for (const { id, seq } of await tenantSeqs(env, tenants)) perTenant[id] = await benchStub(env, seq).__benchAlarmAt();
        return Response.json({ now: Date.now(), perTenant });
      }
      if (url.pathname === "/__bench/timeshift" && request.method === "POST") {
        // Per tenant, one after another (the isolate's clock moves): the steps' args may say
        // "$now" (the moved clock) and "$tenantSeq".
        const { tenants, offsetMs, steps } = (await request.json()) as { tenants: string[]; offsetMs: number; steps: { method: string; args: unknown[] }[] };
        const out: Record<string, TimeShiftStep[]> = {};
        for (const { id, seq } of await tenantSeqs(env, tenants)) {
          const fill = (v: unknown): unknown =>
            v === "$now" ? Date.now() + offsetMs : v === "$tenantSeq" ? seq : Array.isArray(v) ? v.map(fill) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)])) : v;
          out[id] = await benchStub(env, seq).__benchTimeShift(offsetMs, steps.map((st) => ({ method: st.method, args: st.args.map(fill) })));
        }
        return Response.json(out);
      }
      if (url.pathname === "/__bench/d1probe") {
        // Calibration of the local D1: round trips of a trivial read and a no-op write,
        // `concurrency` at a time; runs outside every phase, so it is never counted.
        const n = Number(url.searchParams.get("n") ?? 200);
        const concurrency = Number(url.searchParams.get("concurrency") ?? 1);
        const kind = url.searchParams.get("kind") ?? "read";
        const sql = kind === "write" ? "UPDATE tenants SET updated_at = updated_at WHERE id = '_operator'" : "SELECT 1 AS one";
        const started = Date.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next++ < n) await env.DB.prepare(sql).run();
          }),
        );
        const ms = Date.now() - started;
        return Response.json({ kind, n, concurrency, ms, perSecond: (n * 1000) / ms });
      }
      if (url.pathname === "/__bench/sql" && request.method === "POST") {
        // bench/write-costs.ts: runs statements one by one on the bench's throwaway database
        // and answers each one's meta (rows written as D1 counts them). Never counted.
        const { statements } = (await request.json()) as { statements: string[] };
        const out: { sql: string; rowsWritten: number; rowsRead: number; changes: number; error?: string }[] = [];
        for (const sql of statements) {
          try {
            const r = await env.DB.prepare(sql).run();
            out.push({ sql, rowsWritten: r.meta.rows_written ?? 0, rowsRead: r.meta.rows_read ?? 0, changes: r.meta.changes ?? 0 });
          } catch (err) {
            out.push({ sql, rowsWritten: 0, rowsRead: 0, changes: 0, error: (err as Error).message });
          }
        }
        return Response.json(out);
      }
      if (url.pathname === "/__bench/faults") {
        if (request.method === "POST") {
          const rules = parseFaultRules(await request.json().catch(() => null), Date.now());
          if (typeof rules === "string") return Response.json({ error: rules }, { status: 400 });
          // A new plan counts afresh; clearing keeps the counts so they can still be read.
          if (rules.length) faultsInjected = freshInjected();
          faultRules = rules;
        }
        return Response.json(faultReport());
      }
      if (url.pathname === "/__bench/baseline" && request.method === "POST") {
        return Response.json(await runBaseline((await request.json()) as BaselineInput));
      }
      return new Response("no such bench route", { status: 404 });
    }
    counters.invocations.fetch++;
    return phaseStore.run(phaseOfRequest(request), () => worker.fetch(request, wrapEnv(env), ctx));
  },

  async queue(batch, env) {
    const name = batch.queue.replace(/^switchyard-/, "");
    bump(counters.invocations.queueBatches, name);
    const phase = name === "deliveries" ? "deliver" : name;
    const byTenant: Record<string, number> = {};
    for (const m of batch.messages) bump(byTenant, String((m.body as { t?: unknown } | null)?.t ?? "?"));
    const trace: BatchTrace = { queue: name, start: Date.now(), end: null, size: batch.messages.length, byTenant, acked: 0, retried: 0 };
    batchTrace.push(trace);
    if (batchTrace.length > MAX_TRACE) batchTrace = batchTrace.slice(-MAX_TRACE);
    try {
      return await phaseStore.run(phase, () => worker.queue(wrapBatch(batch, name, trace) as Parameters<typeof worker.queue>[0], wrapEnv(env)));
    } finally {
      trace.end = Date.now();
    }
  },

  async scheduled(controller, env) {
    counters.invocations.scheduled++;
    return phaseStore.run("scheduled", () => worker.scheduled(controller, wrapEnv(env)));
  },
} satisfies ExportedHandler<Env, unknown>;
