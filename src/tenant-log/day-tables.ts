/**
 * @module The TenantLog's day-bucketed log tables (docs/data-plane-v2.md): one set per UTC
 * day of acceptance, so retention drops a whole day (`DROP TABLE` writes no billed row)
 * instead of deleting rows one by one. Drizzle cannot name tables at run time, so their SQL
 * lives here, in one place; every statement names a day it has validated.
 */

export const DAY_MS = 86_400_000;

/** The UTC day of a time (ms). */
export const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);

function checkDay(day: number): number {
  if (!Number.isSafeInteger(day) || day < 0) throw new RangeError(`not a day: ${day}`);
  return day;
}

/** Table names of one day. */
export function dayTables(day: number) {
  const d = checkDay(day);
  return { events: `events_d${d}`, deliveries: `deliveries_d${d}`, attempts: `attempts_d${d}` };
}

/**
 * The statements that create one day's tables. Row costs (workerd's `rowsWritten`):
 * - an event insert writes 1 row, 2 with an idempotency key (the partial unique index);
 * - a delivery insert `WITHOUT ROWID` writes 1 row while it is not pending (a first-try
 *   success, its attempt inline), 2 while pending (the partial index its lines, waiters and
 *   re-drives read);
 * - an attempt beyond the first writes 1 row.
 */
export function createDayTables(day: number): string[] {
  const t = dayTables(day);
  return [
    `CREATE TABLE IF NOT EXISTS ${t.events} (
      seq INTEGER PRIMARY KEY,
      id TEXT NOT NULL,
      type TEXT NOT NULL,
      data TEXT NOT NULL,
      occurred_at INTEGER,
      created_at INTEGER NOT NULL,
      idem_key TEXT,
      body_hash TEXT NOT NULL,
      matched TEXT NOT NULL,
      test INTEGER NOT NULL DEFAULT 0
    )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${t.events}_idem ON ${t.events} (idem_key) WHERE idem_key IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS ${t.deliveries} (
      ordinal INTEGER NOT NULL,
      event_seq INTEGER NOT NULL,
      status TEXT NOT NULL,
      reason TEXT,
      attempts INTEGER NOT NULL,
      run_start INTEGER NOT NULL,
      generation INTEGER NOT NULL,
      next_attempt_at INTEGER,
      last_attempt_at INTEGER,
      response_status INTEGER,
      line_seq INTEGER,
      test INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      a1_started_at INTEGER,
      a1_duration_ms INTEGER,
      a1_response_status INTEGER,
      a1_response_body TEXT,
      a1_error TEXT,
      a1_location TEXT,
      a1_request TEXT,
      PRIMARY KEY (ordinal, event_seq)
    ) WITHOUT ROWID`,
    `CREATE INDEX IF NOT EXISTS ${t.deliveries}_pending ON ${t.deliveries} (ordinal, line_seq, next_attempt_at) WHERE status = 'pending'`,
    `CREATE TABLE IF NOT EXISTS ${t.attempts} (
      ordinal INTEGER NOT NULL,
      event_seq INTEGER NOT NULL,
      n INTEGER NOT NULL,
      started_at INTEGER NOT NULL,
      duration_ms INTEGER NOT NULL,
      response_status INTEGER,
      response_body TEXT,
      error TEXT,
      location TEXT,
      request TEXT NOT NULL,
      PRIMARY KEY (ordinal, event_seq, n)
    ) WITHOUT ROWID`,
  ];
}

/** The statements that drop one day's tables (their indexes go with them; no billed row). */
export function dropDayTables(day: number): string[] {
  const t = dayTables(day);
  return [`DROP TABLE IF EXISTS ${t.attempts}`, `DROP TABLE IF EXISTS ${t.deliveries}`, `DROP TABLE IF EXISTS ${t.events}`];
}
