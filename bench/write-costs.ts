/**
 * @module What one first-try delivery writes, statement by statement, as D1 counts it
 * (`meta.rows_written`, index rows included) — for the current schema (the real
 * migrations) and for candidate layouts, on a throwaway local database.
 *
 *   npx tsx bench/write-costs.ts [--json]
 *
 * The candidates are suggestions for the schema owner, not the schema: they show what a
 * change would cost before anyone writes a migration.
 *
 * History since data plane v2: the log no longer lives in D1 (migration 0009 dropped
 * `events`, `deliveries` and `attempts`), so the "v1 schema" layout is skipped when its
 * tables are gone; the candidates still run on their own tables. What the v2 log writes,
 * statement by statement, is measured by `npm run bench` from the TenantLog's SQLite cursors
 * (its "Where the writes and statements go" table).
 */
import { prepareState, startWorker } from "./harness";

interface Step {
  label: string;
  sql: string;
  /** Counted toward the per-delivery total with this weight (1/fan-out for per-event rows). */
  perEvent?: boolean;
  setup?: boolean;
}

const FANOUT = 5;
const NOW = 1_795_000_000_000;

// The v1 schema, as the v1 pipeline wrote it (statements copied from src/ before data plane v2).
const current: Step[] = [
  { label: "tenant (setup)", sql: `INSERT INTO tenants (id, name, metadata, created_at, updated_at) VALUES ('wc', 'WC', '{}', 0, 0)`, setup: true },
  {
    label: "ingest: INSERT event (host id, no idempotency header)",
    perEvent: true,
    sql: `INSERT INTO events (id, tenant_id, type, data, occurred_at, created_at, idempotency_key, body_hash, fanned_out, test) VALUES ('e1', 'wc', 'report.completed', '{"n":1}', NULL, ${NOW}, NULL, 'h', 0, 0)`,
  },
  { label: "fan-out: UPDATE events SET fanned_out = 1", perEvent: true, sql: `UPDATE events SET fanned_out = 1 WHERE seq = 1 AND fanned_out = 0` },
  {
    label: "fan-out: INSERT delivery (pending, due now)",
    sql: `INSERT INTO deliveries (tenant_id, endpoint_id, event_seq, event_type, status, reason, attempts, run_start, generation, next_attempt_at, line_seq, test, created_at, response_status) VALUES ('wc', 'ep_1', 1, 'report.completed', 'pending', NULL, 0, 0, 1, ${NOW}, NULL, 0, ${NOW}, NULL)`,
  },
  {
    label: "deliver: INSERT attempt",
    sql: `INSERT INTO attempts (delivery_seq, n, started_at, duration_ms, response_status, response_body, error, location, request_method, request_url, request_headers) VALUES (1, 1, ${NOW}, 3, 200, 'ok', NULL, NULL, 'POST', 'https://example.com/hook', '{}')`,
  },
  {
    label: "deliver: UPDATE delivery → delivered",
    sql: `UPDATE deliveries SET status = 'delivered', reason = NULL, attempts = 1, next_attempt_at = NULL, last_attempt_at = ${NOW}, response_status = 200 WHERE seq = 1 AND generation = 1 AND attempts = 0 AND status = 'pending'`,
  },
];

// Candidate A: the event row stands for its not-yet-attempted deliveries (DESIGN "Storage
// and retention" allows it); a first-try success INSERTs its delivery row once, already
// delivered, with the first attempt inline; indexes that a delivered row need not enter are
// partial; no `events_unfanned` index (the Sweeper scans events above a seq watermark).
const candidateTables = (p: string, uniquePair: boolean): Step[] => [
  {
    label: "create (setup)",
    setup: true,
    sql: `CREATE TABLE ${p}_events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, tenant_id TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, occurred_at INTEGER, created_at INTEGER NOT NULL, idempotency_key TEXT, body_hash TEXT NOT NULL, fanned_out INTEGER NOT NULL, matched TEXT, test INTEGER NOT NULL)`,
  },
  { label: "index (setup)", setup: true, sql: `CREATE UNIQUE INDEX ${p}_events_tenant_id ON ${p}_events (tenant_id, id)` },
  { label: "index (setup)", setup: true, sql: `CREATE UNIQUE INDEX ${p}_events_tenant_idem ON ${p}_events (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL` },
  { label: "index (setup)", setup: true, sql: `CREATE INDEX ${p}_events_tenant_list ON ${p}_events (tenant_id) WHERE test = 0` },
  {
    label: "create (setup)",
    setup: true,
    sql: `CREATE TABLE ${p}_deliveries (seq INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, endpoint_id TEXT NOT NULL, event_seq INTEGER NOT NULL, event_type TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, attempts INTEGER NOT NULL, run_start INTEGER NOT NULL, generation INTEGER NOT NULL, next_attempt_at INTEGER, last_attempt_at INTEGER, response_status INTEGER, line_seq INTEGER, test INTEGER NOT NULL, created_at INTEGER NOT NULL, first_duration_ms INTEGER, first_response_body TEXT, first_error TEXT, first_request TEXT)`,
  },
  ...(uniquePair ? [{ label: "index (setup)", setup: true, sql: `CREATE UNIQUE INDEX ${p}_deliveries_event_endpoint ON ${p}_deliveries (event_seq, endpoint_id)` }] : []),
  { label: "index (setup)", setup: true, sql: `CREATE INDEX ${p}_deliveries_endpoint_created ON ${p}_deliveries (endpoint_id, created_at)` },
  { label: "index (setup)", setup: true, sql: `CREATE INDEX ${p}_deliveries_endpoint_status_created ON ${p}_deliveries (endpoint_id, status, created_at) WHERE status <> 'delivered'` },
  { label: "index (setup)", setup: true, sql: `CREATE INDEX ${p}_deliveries_due ON ${p}_deliveries (next_attempt_at) WHERE status = 'pending' AND next_attempt_at IS NOT NULL` },
  {
    label: "create (setup)",
    setup: true,
    sql: `CREATE TABLE ${p}_attempts (delivery_seq INTEGER NOT NULL, n INTEGER NOT NULL, started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, response_status INTEGER, response_body TEXT, error TEXT, location TEXT, request_method TEXT NOT NULL, request_url TEXT NOT NULL, request_headers TEXT NOT NULL, PRIMARY KEY (delivery_seq, n)) WITHOUT ROWID`,
  },
  {
    label: "ingest: INSERT event",
    perEvent: true,
    sql: `INSERT INTO ${p}_events (id, tenant_id, type, data, occurred_at, created_at, idempotency_key, body_hash, fanned_out, matched, test) VALUES ('e1', 'wc', 'report.completed', '{"n":1}', NULL, ${NOW}, NULL, 'h', 0, NULL, 0)`,
  },
  {
    label: "fan-out: UPDATE event SET fanned_out = 1, matched = '[…]'",
    perEvent: true,
    sql: `UPDATE ${p}_events SET fanned_out = 1, matched = '["ep_1","ep_2","ep_3","ep_4","ep_5"]' WHERE seq = 1 AND fanned_out = 0`,
  },
];

const deliveredOnce = (p: string, seq: string, label: string): Step => ({
  label,
  sql: `INSERT INTO ${p}_deliveries (seq, tenant_id, endpoint_id, event_seq, event_type, status, reason, attempts, run_start, generation, next_attempt_at, last_attempt_at, response_status, line_seq, test, created_at, first_duration_ms, first_response_body, first_error, first_request) VALUES (${seq}, 'wc', 'ep_1', 1, 'report.completed', 'delivered', NULL, 1, 0, 1, NULL, ${NOW}, 200, NULL, 0, ${NOW}, 3, 'ok', NULL, '{"method":"POST"}') ON CONFLICT DO NOTHING`,
});

const candidateA: Step[] = [...candidateTables("xa", true), deliveredOnce("xa", "NULL", "deliver: INSERT delivery once, delivered, attempt inline")];

// Candidate B: as A, and the delivery key is derived (event seq × 2^16 + the endpoint's
// place in `matched`), so the INTEGER PRIMARY KEY itself dedupes: no (event, endpoint) index.
const candidateB: Step[] = [
  ...candidateTables("xb", false),
  deliveredOnce("xb", `${1 * 65536 + 0}`, "deliver: INSERT delivery once (derived key), attempt inline"),
  { ...deliveredOnce("xb", `${1 * 65536 + 0}`, "deliver: the same INSERT again (a duplicate message)"), perEvent: false },
];

// Failure path of the candidates, for contrast: a first attempt that fails and is retried.
const candidateRetry: Step[] = [
  {
    label: "deliver: INSERT delivery pending retry, attempt 1 inline",
    sql: `INSERT INTO xa_deliveries (tenant_id, endpoint_id, event_seq, event_type, status, reason, attempts, run_start, generation, next_attempt_at, last_attempt_at, response_status, line_seq, test, created_at, first_duration_ms, first_response_body, first_error, first_request) VALUES ('wc', 'ep_2', 1, 'report.completed', 'pending', NULL, 1, 0, 1, ${NOW + 5000}, ${NOW}, 503, NULL, 0, ${NOW}, 3, 'busy', NULL, '{}')`,
  },
  {
    label: "retry: INSERT attempt 2 (WITHOUT ROWID attempts)",
    sql: `INSERT INTO xa_attempts (delivery_seq, n, started_at, duration_ms, response_status, response_body, error, location, request_method, request_url, request_headers) VALUES (2, 2, ${NOW + 5000}, 3, 200, 'ok', NULL, NULL, 'POST', 'https://example.com/hook', '{}')`,
  },
  {
    label: "retry: UPDATE delivery → delivered",
    sql: `UPDATE xa_deliveries SET status = 'delivered', attempts = 2, next_attempt_at = NULL, last_attempt_at = ${NOW + 5000}, response_status = 200 WHERE seq = 2 AND status = 'pending'`,
  },
];

// Many rows, one statement: D1's ~1 000 statements/s bounds statements, not rows.
const jsonEach: Step[] = [
  {
    label: "5 delivered rows in ONE statement (json_each of one bound JSON array)",
    sql: `INSERT INTO xb_deliveries (seq, tenant_id, endpoint_id, event_seq, event_type, status, attempts, run_start, generation, last_attempt_at, response_status, test, created_at, first_duration_ms, first_response_body)
          SELECT 2 * 65536 + j.key, 'wc', j.value ->> '$.ep', 2, 'report.completed', 'delivered', 1, 0, 1, ${NOW}, 200, 0, ${NOW}, 3, 'ok'
          FROM json_each('[{"ep":"ep_1"},{"ep":"ep_2"},{"ep":"ep_3"},{"ep":"ep_4"},{"ep":"ep_5"}]') AS j WHERE true ON CONFLICT DO NOTHING`,
  },
];

interface Row {
  layout: string;
  label: string;
  rowsWritten: number;
  perEvent: boolean;
  error?: string;
}

async function main() {
  const state = prepareState();
  const worker = await startWorker("miniflare", state);
  const rows: Row[] = [];
  try {
    const run = async (layout: string, steps: Step[], skipIfGone = false) => {
      const res = (await (
        await fetch(`${worker.url}/__bench/sql`, { method: "POST", body: JSON.stringify({ statements: steps.map((s) => s.sql) }) })
      ).json()) as { rowsWritten: number; error?: string }[];
      if (skipIfGone && res.some((r) => r.error && /no such table/i.test(r.error))) {
        process.stderr.write(`${layout}: skipped, its tables are gone (data plane v2; migration 0009)\n`);
        return;
      }
      steps.forEach((s, i) => {
        const r = res[i]!;
        if (r.error) throw new Error(`${layout} / ${s.label}: ${r.error}`);
        if (!s.setup) rows.push({ layout, label: s.label, rowsWritten: r.rowsWritten, perEvent: !!s.perEvent });
      });
    };
    await run("v1 schema", current, true);
    await run("A: write once", candidateA);
    await run("B: write once, derived key", candidateB);
    await run("A, failure path", candidateRetry);
    await run("B, many rows per statement", jsonEach);
  } finally {
    await worker.stop();
    state.cleanup();
  }
  const total = (layout: string, skip: (r: Row) => boolean = () => false) =>
    rows.filter((r) => r.layout === layout && !skip(r)).reduce((a, r) => a + (r.perEvent ? r.rowsWritten / FANOUT : r.rowsWritten), 0);
  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify({ fanout: FANOUT, rows })}\n`);
    return;
  }
  const w = Math.max(...rows.map((r) => r.label.length));
  let last = "";
  for (const r of rows) {
    if (r.layout !== last) process.stdout.write(`\n${r.layout}\n`);
    last = r.layout;
    process.stdout.write(`  ${r.label.padEnd(w)}  ${String(r.rowsWritten).padStart(3)} rows${r.perEvent ? ` (per event: ${r.rowsWritten / FANOUT} per delivery at fan-out ${FANOUT})` : ""}\n`);
  }
  process.stdout.write(
    `\nPer first-try delivery at fan-out ${FANOUT}: v1 ${rows.some((r) => r.layout === "v1 schema") ? total("v1 schema") : "(skipped)"}, A ${total("A: write once")}, ` +
      `B ${total("B: write once, derived key", (r) => r.label.includes("again"))} rows written.\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`write-costs failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
