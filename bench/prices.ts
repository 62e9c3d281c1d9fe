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
  d1Reads: number;
  queues: number;
  doRequests: number;
  doRowsWritten: number;
  doDuration: number;
  workerRequests: number;
  workerCpu: number;
  total: number;
}

/** Modelled USD per million deliveries. */
export function usdPerMillion(p: PerDelivery): CostBreakdown {
  const q = PRICES.queues;
  const c: Omit<CostBreakdown, "total"> = {
    d1Writes: p.d1RowsWritten * PRICES.d1.rowsWrittenPerMillion,
    d1Reads: p.d1RowsRead * PRICES.d1.rowsReadPerMillion,
    queues: (p.queueMessages * q.operationsPerMessage + p.queueRetries * q.operationsPerRetry) * q.operationsPerMillion,
    doRequests: p.doRequests * PRICES.durableObjects.requestsPerMillion,
    doRowsWritten: p.doRowsWritten * PRICES.durableObjects.sqliteRowsWrittenPerMillion,
    doDuration: (p.doActiveMs / 1000) * PRICES.durableObjects.memoryGb * PRICES.durableObjects.gbSecondsPerMillion,
    workerRequests: p.workerRequests * PRICES.workers.requestsPerMillion,
    workerCpu: p.cpuMs * PRICES.workers.cpuMsPerMillion,
  };
  return { ...c, total: Object.values(c).reduce((a, b) => a + b, 0) };
}

/** Deliveries a second one D1 database and one delivery queue could carry at these counts. */
export function ceilings(p: { d1Statements: number; deliveryQueueMessages: number; fanoutQueueMessagesPerDelivery: number }) {
  return {
    d1DeliveriesPerSecond: p.d1Statements > 0 ? LIMITS.d1StatementsPerSecond / p.d1Statements : Infinity,
    deliveryQueueDeliveriesPerSecond: p.deliveryQueueMessages > 0 ? LIMITS.queueMessagesPerSecond / p.deliveryQueueMessages : Infinity,
    fanoutQueueDeliveriesPerSecond: p.fanoutQueueMessagesPerDelivery > 0 ? LIMITS.queueMessagesPerSecond / p.fanoutQueueMessagesPerDelivery : Infinity,
  };
}

/**
 * USD per million deliveries over a delivery's whole life (DESIGN.md "How the benchmark
 * targets are read"): the running cost, plus its bytes held for the retention period, plus
 * the rows its purge writes (v1 deletes row by row: a delete writes what the insert wrote,
 * so the rows written at insert are the estimate; data plane v2 drops whole days instead).
 */
export function usdPerMillionLifetime(running: number, p: { bytesPerDelivery: number; purgeRowsPerDelivery: number; retentionDays: number }): number {
  const storage = ((p.bytesPerDelivery * 1e6) / 1e9) * PRICES.d1.storagePerGbMonth * (p.retentionDays / 30);
  const purge = p.purgeRowsPerDelivery * PRICES.d1.rowsWrittenPerMillion;
  return running + storage + purge;
}
