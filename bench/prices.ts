/**
 * @module Cloudflare prices the cost model uses (Workers Paid plan, usage beyond the
 * included allowances; the allowances are left out so the figure is the marginal cost at
 * scale), and the production limits the ceilings are derived from.
 *
 * Source: Cloudflare's pricing pages for Workers, D1, Queues and Durable Objects, as
 * quoted in DESIGN.md "Platform facts". Re-check them when this date gets old.
 */
export const PRICES = {
  asOf: "2026-11-23",
  plan: "Workers Paid, beyond included usage",
  d1: {
    rowsWrittenPerMillion: 1.0,
    rowsReadPerMillion: 0.001,
    storagePerGbMonth: 0.75,
  },
  queues: {
    operationsPerMillion: 0.4,
    /** A message is written, read and deleted: about 3 operations (per 64 KB). */
    operationsPerMessage: 3,
    /** Each redelivery (retry) is one more read. */
    operationsPerRetry: 1,
  },
  durableObjects: {
    requestsPerMillion: 0.15,
    /** Active wall time, billed at 128 MB per object. */
    gbSecondsPerMillion: 12.5,
    memoryGb: 0.128,
    sqliteRowsWrittenPerMillion: 1.0,
    /** Each `setAlarm` is billed as one SQLite row written. */
    rowsWrittenPerSetAlarm: 1,
    /** SQLite storage (DESIGN.md "Platform facts"). */
    storagePerGbMonth: 0.2,
  },
  workers: {
    /** Every fetch and every consumer batch is one request. */
    requestsPerMillion: 0.3,
    cpuMsPerMillion: 0.02,
  },
} as const;

export const LIMITS = {
  asOf: "2026-11-23",
  /** One D1 database runs statements one at a time: about 1 000 a second at ~1 ms each. */
  d1StatementsPerSecond: 1000,
  /** Messages a second one queue accepts. */
  queueMessagesPerSecond: 5000,
  /** Concurrent consumer invocations per queue. */
  queueMaxConcurrentConsumers: 250,
  /** Outbound connections one invocation holds. */
  connectionsPerInvocation: 6,
  /** Requests a second one Durable Object (a tenant's TenantLog) takes: the soft limit. */
  durableObjectRequestsPerSecond: 1000,
} as const;

/** Operation counts per delivery, as measured. */
export interface PerDelivery {
  d1RowsRead: number;
  d1RowsWritten: number;
  queueMessages: number;
  queueRetries: number;
  /** Caller-side stub calls plus alarm invocations (each one billed request). */
  doRequests: number;
  /** SQLite rows Durable Objects wrote: `sql.exec` cursors, KV rows, one per `setAlarm`. */
  doRowsWritten: number;
  /** Wall time Durable Objects were busy serving those requests, ms (caller side). */
  doActiveMs: number;
  workerRequests: number;
  /** CPU ms; the bench measures the whole local runtime, so this is an upper bound. */
  cpuMs: number;
}

export interface CostBreakdown {
  d1Writes: number;
  queues: number;
  doRequests: number;
  doRowsWritten: number;
  workerRequests: number;
  /** `usd_per_million`: the items DESIGN.md prices per operation, above. */
  total: number;
  /** Not in `total` (see `extras`): D1 rows read, and two upper bounds that local runs inflate. */
  d1Reads: number;
  doDuration: number;
  workerCpu: number;
  /** total + d1Reads + doDuration + workerCpu. */
  totalWithExtras: number;
}

/**
 * Modelled USD per million deliveries. `total` is what `usd_per_million` reports: D1 rows
 * written, Durable Object rows written and requests, queue operations and Worker requests
 * (DESIGN.md "Platform facts": "cost per delivery is dominated by rows written and queue
 * operations: count them"). D1 rows read ($0.001/M), Durable Object duration (the callers'
 * wall time at 128 MB: on a loaded 2-core machine, far above production) and Worker CPU
 * (the whole local runtime's, D1 and the objects included) are priced apart.
 */
export function usdPerMillion(p: PerDelivery): CostBreakdown {
  const q = PRICES.queues;
  const c = {
    d1Writes: p.d1RowsWritten * PRICES.d1.rowsWrittenPerMillion,
    queues: (p.queueMessages * q.operationsPerMessage + p.queueRetries * q.operationsPerRetry) * q.operationsPerMillion,
    doRequests: p.doRequests * PRICES.durableObjects.requestsPerMillion,
    doRowsWritten: p.doRowsWritten * PRICES.durableObjects.sqliteRowsWrittenPerMillion,
    workerRequests: p.workerRequests * PRICES.workers.requestsPerMillion,
  };
  const extras = {
    d1Reads: p.d1RowsRead * PRICES.d1.rowsReadPerMillion,
    doDuration: (p.doActiveMs / 1000) * PRICES.durableObjects.memoryGb * PRICES.durableObjects.gbSecondsPerMillion,
    workerCpu: p.cpuMs * PRICES.workers.cpuMsPerMillion,
  };
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  return { ...c, ...extras, total, totalWithExtras: total + Object.values(extras).reduce((a, b) => a + b, 0) };
}

/** Deliveries a second one D1 database, one delivery queue and one tenant's TenantLog could carry at these counts. */
export function ceilings(p: { d1Statements: number; deliveryQueueMessages: number; doRequests: number }) {
  return {
    d1DeliveriesPerSecond: p.d1Statements > 0 ? LIMITS.d1StatementsPerSecond / p.d1Statements : Infinity,
    deliveryQueueDeliveriesPerSecond: p.deliveryQueueMessages > 0 ? LIMITS.queueMessagesPerSecond / p.deliveryQueueMessages : Infinity,
    tenantLogDeliveriesPerSecond: p.doRequests > 0 ? LIMITS.durableObjectRequestsPerSecond / p.doRequests : Infinity,
  };
}

/** What a delivery costs beyond its running cost, over its whole life. */
export interface LifetimeInput {
  /** SQLite bytes per delivery in the TenantLogs (`ctx.storage.sql.databaseSize` growth), held RETENTION_DAYS. */
  doBytesPerDelivery: number;
  /** D1 bytes per delivery (dead letters only in v2), held as long. */
  d1BytesPerDelivery: number;
  /** Rows the purge and the day's own upkeep write per delivery: the expiry alarm's rows, its `setAlarm`s, the new day's tables. */
  purgeRowsPerDelivery: number;
  /** Alarm invocations per delivery for the purge (billed requests). */
  purgeRequestsPerDelivery: number;
  retentionDays: number;
}

/**
 * USD per million deliveries over a delivery's whole life (DESIGN.md "How the benchmark
 * targets are read"): the running cost, plus its bytes held for the retention period, plus
 * the rows and alarm requests of dropping its day (data plane v2 drops whole days:
 * `DROP TABLE` writes no row; the bench measures what the drop does write).
 */
export function usdPerMillionLifetime(running: number, p: LifetimeInput): { total: number; storage: number; purge: number } {
  const months = p.retentionDays / 30;
  const storage = ((p.doBytesPerDelivery * 1e6) / 1e9) * PRICES.durableObjects.storagePerGbMonth * months + ((p.d1BytesPerDelivery * 1e6) / 1e9) * PRICES.d1.storagePerGbMonth * months;
  const purge = p.purgeRowsPerDelivery * PRICES.durableObjects.sqliteRowsWrittenPerMillion + p.purgeRequestsPerDelivery * PRICES.durableObjects.requestsPerMillion;
  return { total: running + storage + purge, storage, purge };
}
