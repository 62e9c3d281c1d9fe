/**
 * @module TenantLog: one SQLite-backed Durable Object per tenant, the store of data plane v2
 * (docs/data-plane-v2.md). Built so far: the schema and its migrations, the
 * endpoint snapshot, ingest (dedupe, matching, one event row whose matched list stands for
 * the untried deliveries), the per-batch `claim` / `record`, FIFO lines (a line moves when
 * its head's outcome is recorded) and rate slots (waiters parked, released by the alarm at
 * the endpoint's pace), readers, retry (from `kept` once a day is dropped) and resume,
 * rollups, the outbox, retention by dropping whole days, and the lifecycle's loose ends:
 * disabled endpoints' deliveries failed in chunks, unsent keyed events sent by the alarm,
 * unkeyed ones forgotten, deliveries given up by the DLQ, overdue ones re-driven, and each
 * endpoint's circuit breaker (closed → open → half-open → closed: deliveries parked while
 * open, one probe, the backlog released when it closes; tenant-log-circuit.test.ts). Row costs
 * and behaviour are proven in test/integration/tenant-log.test.ts and
 * tenant-log-lifecycle.test.ts (the switch and what is left: docs/data-plane-v2.md). Its
 * RPC types are in ./types.
 *
 * Every public method is an RPC call; each runs its SQL synchronously inside one
 * `transactionSync`, so no other call interleaves with a decision and its write.
 */
import { DurableObject } from "cloudflare:workers";
import { drizzle, type DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import { openDb, type Db } from "../db/client";
import { DELIVERY_FAILED_TYPE } from "../core/event-types";
import { OPERATOR_TENANT } from "../core/tenants";
import { tenantIdentity } from "../db/queries/tenants";
import type { AttemptRecord } from "../domain/attempt";
import { insertLogDeadLetters, type LogDeadLetter } from "../db/queries/dead-letters";
import { writeTenantHours } from "../db/queries/tenant-hours";
import type { DeliveryReason, DeliveryStatus } from "../db/schema";
import { and, eq, gte, lt, sql } from "drizzle-orm";
import { matchesFilter } from "../domain/filter";
import { logDeliveryId, logEventId, parseLogEventId } from "../domain/ids";
import { addHistogram, emptyHistogram, latencyBucket } from "../domain/latency-histogram";
import { rateSpacingMs } from "../domain/rate-limit";
import { coolOffMs, DEFAULT_CIRCUIT } from "../domain/circuit";
import { getConfig } from "../config";
import { sendJobs } from "../core/jobs";
import { emitOperational } from "../core/operational";
import { createDayTables, DAY_MS, dayOf, dayTables, dropDayTables } from "./day-tables";
import migrations from "./migrations/migrations.js";
import * as schema from "./schema";
import {
  ENDPOINTS_PER_JOB,
  type RetryResult,
  READ_BUDGET,
  type ClaimedEvent,
  type ClaimResult,
  type ClaimVerdict,
  type CircuitChange,
  type CircuitSettings,
  type DeliveryJob,
  type DeliveryQuery,
  type EndpointSnapshot,
  type GiveUpResult,
  type IngestInput,
  type IngestResult,
  type LoggedDelivery,
  type LoggedEvent,
  type Outcome,
  type Page,
  type RecordResult,
  type HourlyFigures,
} from "./types";


/** Payload a claim answers at most (DESIGN.md: 100 payloads of 256 KB would not fit in 128 MB); the rest is answered `later`. */
const CLAIM_PAYLOAD_BYTES = 8 * 1024 * 1024;

/** A wait shorter than this is served by the message that claimed it rather than parked. */
const EARLY_MARGIN_MS = 500;

/** Rollups are written at most this often per endpoint: never a row per delivery. */
const ROLLUP_FLUSH_MS = 60_000;
const HOUR_MS = 3_600_000;

interface RollupDelta {
  ordinal: number;
  hour: number;
  created: number;
  delivered: number;
  failed: number;
  latency: number[];
}

/** Parked deliveries one `resume` call releases (a call reads at most about 10 000 rows). */
const RESUME_CHUNK = 500;

/**
 * The tenant's hour totals go to D1 (`tenant_hours`, for the operator console) at most this
 * often: one D1 statement per active tenant per minute, never one per delivery.
 */
const SUMMARY_EVERY_MS = 60_000;

/** Outbox rows one flush hands to D1 (one statement; its JSON stays far below D1's statement size). */
const OUTBOX_BATCH = 100;

/** The alarm releases rate-limited waiters one second's worth at a time. */
const RELEASE_EVERY_MS = 1000;

/** How long an admitted FIFO head holds its line before another copy may start it (the longest timeout plus a margin for signing and recording). */
const LINE_LEASE_MS = 60_000;

/**
 * A `go` beyond the caller's per-endpoint cap (the consumer's: at most 2 sends to one
 * endpoint per invocation) is answered `later`, this long away plus up to as much again.
 */
const CAPPED_DELAY_MS = 1000;

/**
 * How long a half-open circuit's probe holds its endpoint: as a FIFO head's lease, the longest
 * timeout plus a margin. A probe whose outcome never comes back does not strand the endpoint:
 * then another delivery may probe.
 */
const PROBE_LEASE_MS = LINE_LEASE_MS;

/** A pending delivery this late has lost its message: the alarm re-drives it (docs/data-plane-v2.md "The outbox, rollups, alarm, retention"). */
const OVERDUE_MS = 15 * 60_000;
/** Events one alarm run reads looking for untried deliveries whose message was lost. */
const UNTRIED_SCAN = 2000;
/** The one key a deleted tenant's log keeps. */
const TOMBSTONE_KEY = "deleted";

/** Rows a scan reads per statement: each chunk is read whole, so no cursor outlives its loop. */
const SCAN_CHUNK = 256;

/** Overdue deliveries one alarm run re-drives; it re-arms at once when more are left. */
const REDRIVE_CHUNK = 500;

/** A keyed event whose first send failed is sent by the alarm this much later, "within about a minute" (docs/data-plane-v2.md "The outbox, rollups, alarm, retention"). */
const UNSENT_DELAY_MS = 60_000;

/** Unsent events one alarm run sends (their seqs travel as one JSON parameter). */
const UNSENT_BATCH = 100;

/** Pending deliveries one call fails `endpoint_disabled` (a call reads at most about 10 000 rows). */
const DISABLE_CHUNK = 500;

/**
 * An endpoint's circuit breaker (DESIGN.md "Delivery rules": circuit breaker). Half-open is
 * `open` once `openUntil` has passed: one delivery may then go as the probe. Stored in
 * `circuits` only while not pristine (see `#saveCircuit`).
 */
interface Circuit {
  state: "closed" | "open";
  failures: number;
  openUntil: number | null;
  openedAt: number | null;
  reopenings: number;
  /** The probe: released by the alarm (not started yet) or admitted by a claim; it holds the endpoint until `until`. */
  probe: { e: number; until: number; started: boolean } | null;
  /** Closed, with parked deliveries the alarm still releases in chunks. */
  draining: boolean;
}

const pristineCircuit = (): Circuit => ({ state: "closed", failures: 0, openUntil: null, openedAt: null, reopenings: 0, probe: null, draining: false });

/** The settings a snapshot carries; one synced before the circuit existed has none and gets the default. */
function circuitSettingsOf(settings: CircuitSettings | null | undefined): CircuitSettings {
  return settings ?? { enabled: DEFAULT_CIRCUIT.enabled, openAfter: DEFAULT_CIRCUIT.open_after, coolOffS: DEFAULT_CIRCUIT.cool_off_s };
}

/** One recorded outcome as the circuit sees it. */
interface CircuitSighting {
  e: number;
  /** When the attempt ended (or the outcome was recorded, when nothing was sent). */
  at: number;
  attempted: boolean;
  /** Timed out or could not connect: no answer at all. */
  unreachable: boolean;
}

interface DeliveryRowRaw extends Record<string, SqlStorageValue> {
  status: string;
  attempts: number;
  run_start: number;
  generation: number;
  next_attempt_at: number | null;
  line_seq: number | null;
}

export class TenantLog extends DurableObject<Env> {
  #db: DrizzleSqliteDODatabase<typeof schema>;
  #sql: SqlStorage;
  /** Live endpoints by ordinal, loaded once per instance and kept by syncEndpoint. */
  #endpoints = new Map<number, EndpointSnapshot>();
  /** Days with their first seq, ascending. */
  #days: { day: number; firstSeq: number }[] = [];
  #nextSeq = 1;
  /**
   * The head each FIFO endpoint has admitted and until when. In memory: after an eviction
   * a head may be admitted once more (at-least-once), never a later event before it.
   */
  #leases = new Map<number, { e: number; until: number }>();
  /**
   * Deliveries a claim let go and no record has answered yet (`ordinal:e` → lease end): a
   * repeat POST must not re-send one that is being sent. In memory: after an eviction a
   * repeat may send one twice (at-least-once).
   */
  #inFlight = new Map<string, number>();
  /** Each rate-limited endpoint's latest admitted start. In memory: after an eviction at most one start comes early. */
  #lastStart = new Map<number, number>();
  /** Circuits that are not pristine, by ordinal (the `circuits` table, loaded once per instance). */
  #circuits = new Map<number, Circuit>();
  /** Rollup deltas not yet written, by `${ordinal}:${hour}`, and when each endpoint last flushed. */
  #rollups = new Map<string, RollupDelta>();
  #flushedAt = new Map<number, number>();
  /** When tenant-hour totals last went to D1. In memory: after an eviction the next go at once. */
  #summariesAt = 0;
  /** Whether the outbox holds tenant-hour totals (null: not known yet, read once), so ingest never reads the outbox. */
  #summaryWaiting: boolean | null = null;
  /** A new day began in this call: the expiry alarm is (re)armed after it. */
  #expiryDue = false;
  /** The tenant's seq, which every message names (stored once, from the first ingest). */
  #tenantSeq: number | null = null;
  /**
   * When the alarm must next look for overdue deliveries (Infinity: none is known to be
   * waiting). In memory: 0 after a restart, so the first alarm run looks (and re-arms).
   */
  #redriveAt = 0;
  /** When the alarm last looked: an alarm that runs anyway looks again after OVERDUE_MS, which catches work made due elsewhere. */
  #scannedAt = 0;
  /** The tenant was deleted (`deleteAll`): nothing is accepted any more. */
  #gone = false;
  /** The lowest event seq that may still have an untried delivery (kept in `meta.untried_floor`). */
  #untriedFloor = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#db = drizzle(ctx.storage, { schema });
    void ctx.blockConcurrencyWhile(async () => {
      await migrate(this.#db, migrations);
      this.#load();
    });
  }

  /**
   * Stores what decides whether and when the endpoint is sent to; an older `version` than
   * the stored one changes nothing. Returns the endpoint's ordinal in this log.
   */
  async syncEndpoint(snapshot: EndpointSnapshot): Promise<number> {
    const { ordinal, failed, more, wake } = this.ctx.storage.transactionSync(() => {
      const known = [...this.#endpoints.entries()].find(([, e]) => e.id === snapshot.id);
      if (known && known[1].version >= snapshot.version) return { ordinal: known[0], failed: 0, more: false, wake: false };
      const circuit = circuitSettingsOf(snapshot.circuit);
      const values = [snapshot.version, snapshot.status, JSON.stringify(snapshot.filter), snapshot.ordering, snapshot.rateLimit, snapshot.deleted ? 1 : 0, JSON.stringify(circuit)];
      let ordinal: number;
      if (known) {
        ordinal = known[0];
        this.#sql.exec(`UPDATE endpoints SET version = ?, status = ?, filter = ?, ordering = ?, rate_limit = ?, deleted = ?, circuit = ? WHERE ordinal = ?`, ...values, ordinal);
      } else {
        ordinal = (this.#sql.exec<{ ordinal: number }>(`INSERT INTO endpoints (id, version, status, filter, ordering, rate_limit, deleted, circuit) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ordinal`, snapshot.id, ...values).one()).ordinal;
      }
      const was = known?.[1].status;
      this.#endpoints.set(ordinal, { ...snapshot, circuit });
      // A deleted endpoint's circuit goes at once; one turned off lets its parked deliveries go (the alarm releases them).
      const wake = snapshot.deleted ? this.#dropCircuit(ordinal) : !circuit.enabled && this.#switchCircuitOff(ordinal);
      let failed = 0;
      let more = false;
      if (snapshot.status === "disabled" && !snapshot.deleted && was !== undefined && was !== "disabled") {
        // Its pending deliveries fail `endpoint_disabled` in chunks the alarm continues
        // (docs/data-plane-v2.md); the chore is stored only when a chunk leaves work behind.
        ({ failed, more } = this.#failPending(ordinal, DISABLE_CHUNK));
        if (more) this.#sql.exec(`INSERT OR IGNORE INTO disabling (ordinal) VALUES (?)`, ordinal);
      } else if (was === "disabled" && snapshot.status !== "disabled") {
        // Enabled again before the chunks were done: what is still pending stays pending.
        this.#sql.exec(`DELETE FROM disabling WHERE ordinal = ?`, ordinal);
      }
      return { ordinal, failed, more, wake };
    });
    if (failed) await this.#armRollupFlush();
    if (more || wake) await this.#armAlarm(Date.now());
    return ordinal;
  }

  /**
   * Accepts an event: dedupe on its key, match the endpoints (paused ones are skipped, a
   * disabled one gets a `failed` / `endpoint_disabled` delivery), store ONE event row whose
   * matched list stands for its untried deliveries, and answer the delivery jobs to send.
   */
  async ingest(input: IngestInput): Promise<IngestResult> {
    if (this.#gone) return { kind: "gone" };
    const result = this.ctx.storage.transactionSync(() => this.#ingestOne(input));
    await this.#armRollupFlush();
    await this.#armExpiryIfDayBegan();
    // Its untried deliveries have no row: if their message is lost, only the alarm's look
    // above the untried floor finds them (one setAlarm at most per OVERDUE_MS of traffic).
    if (result.kind === "accepted" && result.jobs.length) await this.#armRedrive(input.now + OVERDUE_MS);
    return result;
  }

  /**
   * Several events in one call, one transaction (the outbox of every other tenant hands
   * `_operator` its operational events this way: one call per flush, not one per event).
   */
  async ingestMany(inputs: IngestInput[]): Promise<IngestResult[]> {
    if (this.#gone) return inputs.map(() => ({ kind: "gone" }));
    const results = this.ctx.storage.transactionSync(() => inputs.map((input) => this.#ingestOne(input)));
    await this.#armRollupFlush();
    await this.#armExpiryIfDayBegan();
    if (results.some((r) => r.kind === "accepted" && r.jobs.length)) await this.#armRedrive(Date.now() + OVERDUE_MS);
    return results;
  }

  /**
   * Which of the batch's deliveries may start now (one call per tenant per consumer batch).
   * Untried deliveries have no row: generation 0 stands for them. An open circuit parks its
   * endpoint's deliveries; once its cool-off has passed (half-open) one goes as the probe.
   * `perEndpoint` caps the `go`s of one endpoint in this claim (the consumer's per-invocation
   * cap): the rest are answered `later`, a second or two away, having taken no FIFO lease,
   * rate slot, probe or payload.
   */
  async claim(jobs: DeliveryJob[], now: number, perEndpoint = Infinity): Promise<ClaimResult> {
    let rateWaiting = false;
    let counted = false;
    let probeUntil = Infinity;
    const result = this.ctx.storage.transactionSync((): ClaimResult => {
      const verdicts: ClaimVerdict[] = [];
      const events = new Map<number, ClaimedEvent>();
      const goes = new Map<number, number>();
      let payloadBytes = 0;
      for (const job of jobs) {
        // A message for an event whose day retention dropped: nothing is left to send.
        if (!this.#holds(job.e)) {
          for (const ordinal of job.p) verdicts.push({ kind: "stale", e: job.e, ordinal });
          continue;
        }
        const t = dayTables(this.#dayOfSeq(job.e));
        for (const ordinal of job.p) {
          const endpoint = this.#endpoints.get(ordinal);
          if (!endpoint || endpoint.deleted) {
            verdicts.push({ kind: "stale", e: job.e, ordinal });
            continue;
          }
          const row = this.#sql.exec<DeliveryRowRaw>(`SELECT status, attempts, run_start, generation, next_attempt_at, line_seq FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`, ordinal, job.e).toArray()[0];
          if (endpoint.status === "disabled") {
            // Never sent: it ends here, as the chunks of its endpoint's disabling end the rest.
            if (row ? row.status === "pending" : job.g === 0) counted = this.#failDisabled(t, ordinal, job.e, row !== undefined) || counted;
            verdicts.push({ kind: "stale", e: job.e, ordinal });
            continue;
          }
          const current = row ? row.status === "pending" && row.generation === job.g && row.next_attempt_at !== null : job.g === 0;
          if (!current) {
            verdicts.push({ kind: "stale", e: job.e, ordinal });
            continue;
          }
          if (row && row.next_attempt_at! > now + EARLY_MARGIN_MS) {
            verdicts.push({ kind: "later", e: job.e, ordinal, delayMs: row.next_attempt_at! - now });
            continue;
          }
          const turn = row?.line_seq != null ? this.#turnOf(ordinal, job.e, now) : { kind: "go" as const };
          if (turn.kind === "in-flight") {
            // Another copy of this head's message holds the line; if that copy never records,
            // this one starts the head once the lease has lapsed.
            verdicts.push({ kind: "later", e: job.e, ordinal, delayMs: turn.until - now });
            continue;
          }
          // An open circuit parks the delivery (no attempt, nothing failed) until its probe closes it.
          const gate = this.#circuitGate(ordinal, job.e, now);
          if (endpoint.status === "paused" || turn.kind === "behind" || gate.kind === "park") {
            // A head parked by a pause or an open circuit gives its lease back: whoever frees it starts it.
            if (turn.kind === "go") this.#leases.delete(ordinal);
            this.#park(t, ordinal, job.e, row);
            verdicts.push({ kind: "parked", e: job.e, ordinal });
            continue;
          }
          if (gate.kind === "later") {
            // Another copy of the probe's message was admitted: this one may start it once the probe's lease lapses.
            if (turn.kind === "go") this.#leases.delete(ordinal);
            verdicts.push({ kind: "later", e: job.e, ordinal, delayMs: gate.delayMs });
            continue;
          }
          if ((goes.get(ordinal) ?? 0) >= perEndpoint) {
            if (turn.kind === "go") this.#leases.delete(ordinal);
            verdicts.push({ kind: "later", e: job.e, ordinal, delayMs: CAPPED_DELAY_MS + Math.floor(Math.random() * CAPPED_DELAY_MS) });
            continue;
          }
          // A rate slot: a start under a second away is served by the consumer (it waits until
          // `startAt`); a later one is parked, and the alarm releases waiters at the endpoint's pace.
          let startAt = now;
          if (endpoint.rateLimit !== null) {
            startAt = Math.max(now, (this.#lastStart.get(ordinal) ?? 0) + rateSpacingMs(endpoint.rateLimit));
            if (startAt - now >= 1000) {
              if (turn.kind === "go") this.#leases.delete(ordinal);
              this.#park(t, ordinal, job.e, row);
              verdicts.push({ kind: "parked", e: job.e, ordinal });
              rateWaiting = true;
              continue;
            }
          }
          if (!events.has(job.e)) {
            if (payloadBytes >= CLAIM_PAYLOAD_BYTES) {
              // The consumer holds every payload of its batch at once (128 MB per isolate,
              // shared): the rest come back in a new message at once, not as a retry.
              if (turn.kind === "go") this.#leases.delete(ordinal);
              verdicts.push({ kind: "later", e: job.e, ordinal, delayMs: 0 });
              continue;
            }
            const ev = this.#sql.exec<{ id: string; type: string; data: string; occurred_at: number | null; created_at: number }>(`SELECT id, type, data, occurred_at, created_at FROM ${t.events} WHERE seq = ?`, job.e).toArray()[0];
            if (!ev) {
              verdicts.push({ kind: "stale", e: job.e, ordinal });
              continue;
            }
            payloadBytes += ev.data.length;
            events.set(job.e, { seq: job.e, id: ev.id, type: ev.type, dataJson: ev.data, occurredAt: ev.occurred_at, createdAt: ev.created_at });
          }
          if (endpoint.rateLimit !== null) this.#lastStart.set(ordinal, startAt);
          if (gate.probe) probeUntil = Math.min(probeUntil, this.#startProbe(ordinal, job.e, now));
          goes.set(ordinal, (goes.get(ordinal) ?? 0) + 1);
          if (this.#inFlight.size >= 10_000) for (const [key, until] of this.#inFlight) if (until <= now) this.#inFlight.delete(key);
          this.#inFlight.set(`${ordinal}:${job.e}`, now + LINE_LEASE_MS);
          verdicts.push({ kind: "go", e: job.e, ordinal, endpointId: endpoint.id, version: endpoint.version, generation: row?.generation ?? 0, attemptsBefore: row?.attempts ?? 0, runStart: row?.run_start ?? 0, startAt });
        }
      }
      return { verdicts, events: [...events.values()] };
    });
    if (rateWaiting) await this.#armAlarm(now + RELEASE_EVERY_MS);
    if (counted) await this.#armRollupFlush();
    // A probe whose outcome never comes back must not strand the endpoint: at the end of its
    // lease the alarm lets another delivery probe.
    if (probeUntil !== Infinity) await this.#armAlarm(probeUntil);
    return result;
  }

  /**
   * Records the batch's outcomes (one call per tenant per consumer batch), each conditional
   * on the generation and attempt count its claim saw. A first-try success writes one row:
   * the delivery, its attempt inline (and nothing for its circuit while that is closed with
   * nothing counted). Each endpoint's circuit counts its unreachable attempts, opens, re-opens
   * after a failed probe or closes after an answered one (releasing what it parked); the
   * changes are answered in `circuits`.
   */
  async record(outcomes: Outcome[]): Promise<RecordResult> {
    let outboxWritten = false;
    let redriveBy = Infinity;
    let wakeAt = Infinity;
    const result = this.ctx.storage.transactionSync((): RecordResult => {
      let recorded = 0;
      const retries: RecordResult["retries"] = [];
      const released: DeliveryJob[] = [];
      const sightings = new Map<number, CircuitSighting[]>();
      const lineMoves: { ordinal: number; at: number }[] = [];
      for (const o of outcomes) {
        if (!this.#holds(o.e)) continue; // its day was dropped while it was being sent
        const t = dayTables(this.#dayOfSeq(o.e));
        const row = this.#sql
          .exec<DeliveryRowRaw & { last_attempt_at: number | null; response_status: number | null }>(
            `SELECT status, attempts, run_start, generation, next_attempt_at, line_seq, last_attempt_at, response_status FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`,
            o.ordinal,
            o.e,
          )
          .toArray()[0];
        const a = o.attempt;
        const attempts = o.attemptsBefore + (a ? 1 : 0);
        this.#inFlight.delete(`${o.ordinal}:${o.e}`);
        const current = row ? row.status === "pending" && row.generation === o.generation && row.attempts === o.attemptsBefore : o.generation === 0 && o.attemptsBefore === 0;
        if (!current) {
          // The same outcome again (a retried record whose first try wrote and then lost its
          // answer): answer what follows from it again, or its retry or next head is never sent.
          if (row && a && row.generation === o.generation && row.attempts === attempts && row.last_attempt_at === a.startedAt) {
            if (row.status === "pending" && row.next_attempt_at !== null) retries.push({ e: o.e, p: [o.ordinal], g: o.generation, delayMs: Math.max(0, row.next_attempt_at - a.startedAt - a.durationMs) });
            const head = row.status !== "pending" && row.line_seq !== null ? this.#lineHead(o.ordinal) : undefined;
            if (head && head.nextAttemptAt !== null) released.push({ e: head.e, p: [o.ordinal], g: head.generation });
          }
          continue;
        }
        const ev = this.#sql.exec<{ id: string; type: string; created_at: number }>(`SELECT id, type, created_at FROM ${t.events} WHERE seq = ?`, o.e).toArray()[0];
        if (!ev) continue; // forgotten (its first send failed) while a copy of its message was out
        const createdAt = ev.created_at;
        this.#count(o.ordinal, createdAt, { delivered: o.status === "delivered" ? 1 : 0, failed: o.status === "failed" ? 1 : 0, ...(a ? { durationMs: a.durationMs } : {}) });
        const request = a && JSON.stringify({ method: a.requestMethod, url: a.requestUrl, headers: a.requestHeaders });
        if (!row) {
          this.#sql.exec(
            `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, reason, attempts, run_start, generation, next_attempt_at, last_attempt_at, response_status, test, created_at,
               a1_started_at, a1_duration_ms, a1_response_status, a1_response_body, a1_error, a1_location, a1_request)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
            o.ordinal, o.e, o.status, o.reason, attempts, o.runStart, o.generation, o.nextAttemptAt, a?.startedAt ?? null, a?.responseStatus ?? null, createdAt,
            a?.startedAt ?? null, a?.durationMs ?? null, a?.responseStatus ?? null, a?.responseBody ?? null, a?.error ?? null, a?.location ?? null, request,
          );
        } else {
          this.#sql.exec(
            `UPDATE ${t.deliveries} SET status = ?, reason = ?, attempts = ?, next_attempt_at = ?, last_attempt_at = COALESCE(?, last_attempt_at), response_status = COALESCE(?, response_status)
             WHERE ordinal = ? AND event_seq = ?`,
            o.status, o.reason, attempts, o.nextAttemptAt, a?.startedAt ?? null, a?.responseStatus ?? null, o.ordinal, o.e,
          );
          if (a) {
            this.#sql.exec(
              `INSERT INTO ${t.attempts} (ordinal, event_seq, n, started_at, duration_ms, response_status, response_body, error, location, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
              o.ordinal, o.e, attempts, a.startedAt, a.durationMs, a.responseStatus, a.responseBody, a.error, a.location, request,
            );
          }
        }
        recorded++;
        // A start that ran later than admitted moves the endpoint's pace: the next claim spaces from it.
        if (a && this.#endpoints.get(o.ordinal)?.rateLimit != null) this.#lastStart.set(o.ordinal, Math.max(this.#lastStart.get(o.ordinal) ?? 0, a.startedAt));
        if (o.status === "failed" && o.reason !== "endpoint_disabled") {
          // Every failed delivery keeps a dead letter (endpoint_disabled ones excepted), handed
          // to D1 by the alarm: never a D1 write on the hot path.
          const deadLetter: LogDeadLetter = {
            deliveryId: logDeliveryId({ createdAt: ev.created_at, tenantSeq: this.#tenantSeq!, eventSeq: o.e, ordinal: o.ordinal }),
            endpointId: this.#endpoints.get(o.ordinal)!.id,
            eventSeq: o.e,
            ordinal: o.ordinal,
            generation: o.generation,
            eventId: ev.id,
            eventType: ev.type,
            reason: o.reason!,
            attempts,
            lastResponseStatus: a?.responseStatus ?? row?.response_status ?? null,
            createdAt: a ? a.startedAt + a.durationMs : Date.now(),
          };
          this.#sql.exec(`INSERT INTO outbox (kind, body) VALUES ('dead_letter', ?)`, JSON.stringify(deadLetter));
          outboxWritten = true;
        }
        if (o.status === "pending" && o.nextAttemptAt !== null) {
          const after = a ? a.startedAt + a.durationMs : o.nextAttemptAt;
          retries.push({ e: o.e, p: [o.ordinal], g: o.generation, delayMs: Math.max(0, o.nextAttemptAt - after) });
          redriveBy = Math.min(redriveBy, o.nextAttemptAt + OVERDUE_MS);
        }
        // A head waiting for its retry holds its line; one that ended releases it (once its circuit is known).
        if (this.#leases.get(o.ordinal)?.e === o.e) this.#leases.delete(o.ordinal);
        if (o.status !== "pending" && row?.line_seq != null) lineMoves.push({ ordinal: o.ordinal, at: a ? a.startedAt + a.durationMs : Date.now() });
        const sighting = { e: o.e, at: a ? a.startedAt + a.durationMs : Date.now(), attempted: a !== null, unreachable: a !== null && o.unreachable === true };
        const list = sightings.get(o.ordinal);
        if (list) list.push(sighting);
        else sightings.set(o.ordinal, [sighting]);
      }
      const circuits: CircuitChange[] = [];
      for (const [ordinal, seen] of sightings) {
        const applied = this.#applyCircuit(ordinal, seen);
        if (!applied) continue;
        circuits.push(...applied.changes);
        released.push(...applied.released);
        wakeAt = Math.min(wakeAt, applied.wakeAt);
      }
      for (const { ordinal, at } of lineMoves) {
        // Behind an open circuit the next head stays parked: the probe, or the close, starts it.
        if (this.#circuits.get(ordinal)?.state === "open") continue;
        const next = this.#startHead(ordinal, at);
        if (next) released.push(next);
      }
      if (released.length) redriveBy = Math.min(redriveBy, Date.now() + OVERDUE_MS);
      this.#flushRollups(Date.now(), false);
      return { recorded, retries, released, ...(circuits.length ? { circuits } : {}) };
    });
    await this.#armRollupFlush();
    if (outboxWritten) await this.#armAlarm(Date.now());
    // An opened circuit's probe, a probe that sent nothing, a backlog still to release.
    if (wakeAt !== Infinity) await this.#armAlarm(wakeAt);
    // If the retry's message is lost (the consumer's send failed after this write), the
    // alarm re-drives it once overdue; an earlier alarm (the rollups') makes this free.
    await this.#armRedrive(redriveBy);
    return result;
  }

  /**
   * An endpoint's deliveries, newest event first. The events table is the spine (its
   * INTEGER key in reverse): each event that matched the endpoint is looked up by the
   * delivery key, so an untried delivery (no row yet) is listed in its place and a cursor
   * never moves. Reads at most READ_BUDGET events per call.
   */
  async listDeliveries(ordinal: number, q: DeliveryQuery): Promise<Page<LoggedDelivery>> {
    const items: LoggedDelivery[] = [];
    const since = q.since ?? 0;
    let read = 0;
    let cursor = q.before ?? this.#nextSeq;
    for (let i = this.#days.length - 1; i >= 0; i--) {
      const { day, firstSeq } = this.#days[i]!;
      if (firstSeq >= cursor) continue;
      const t = dayTables(day);
      // Seqs and acceptance times rise together: the scan stops at the first event before `since`.
      for (let chunk: EventRowRaw[]; read < READ_BUDGET; ) {
        // Whole chunks (toArray): a cursor left open by an early return would hold a lock that refuses retention's DROP TABLE.
        chunk = this.#sql.exec<EventRowRaw>(`SELECT seq, id, type, created_at, matched FROM ${t.events} WHERE seq < ? ORDER BY seq DESC LIMIT ?`, cursor, Math.min(SCAN_CHUNK, READ_BUDGET - read)).toArray();
        for (const ev of chunk) {
          if (ev.created_at < since) return { items, next: null };
          read++;
          cursor = ev.seq;
          if (q.until !== undefined && ev.created_at >= q.until) continue;
          if ((q.type !== undefined && ev.type !== q.type) || !(JSON.parse(ev.matched) as number[]).includes(ordinal)) continue;
          const d = this.#deliveryOf(t.deliveries, ordinal, ev);
          if (q.status === undefined || d.status === q.status) items.push(d);
          if (items.length === q.limit) return { items, next: cursor };
        }
        if (chunk.length < SCAN_CHUNK) break;
      }
      if (read >= READ_BUDGET) return { items, next: cursor };
      cursor = firstSeq;
    }
    return { items, next: null };
  }

  /** One delivery with every attempt, ascending; undefined when the event or its match is gone. */
  async getDelivery(ordinal: number, e: number): Promise<(LoggedDelivery & { dataJson: string; occurredAt: number | null; attemptList: AttemptRecord[] }) | undefined> {
    if (!this.#holds(e)) return undefined;
    const t = dayTables(this.#dayOfSeq(e));
    const ev = this.#sql.exec<EventRowRaw & { data: string; occurred_at: number | null }>(`SELECT seq, id, type, created_at, matched, data, occurred_at FROM ${t.events} WHERE seq = ?`, e).toArray()[0];
    if (!ev || !(JSON.parse(ev.matched) as number[]).includes(ordinal)) return undefined;
    const row = this.#sql.exec<AttemptColumns>(`SELECT a1_started_at, a1_duration_ms, a1_response_status, a1_response_body, a1_error, a1_location, a1_request FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`, ordinal, e).toArray()[0];
    const attemptList: AttemptRecord[] = [];
    if (row?.a1_started_at != null) {
      attemptList.push(attemptOf(1, { started_at: row.a1_started_at, duration_ms: row.a1_duration_ms!, response_status: row.a1_response_status, response_body: row.a1_response_body, error: row.a1_error, location: row.a1_location, request: row.a1_request! }));
    }
    for (const a of this.#sql.exec<AttemptRowRaw>(`SELECT n, started_at, duration_ms, response_status, response_body, error, location, request FROM ${t.attempts} WHERE ordinal = ? AND event_seq = ? ORDER BY n`, ordinal, e)) {
      attemptList.push(attemptOf(a.n, a));
    }
    return { ...this.#deliveryOf(t.deliveries, ordinal, ev), dataJson: ev.data, occurredAt: ev.occurred_at, attemptList };
  }

  /** One ingest (see `ingest`); the caller holds the transaction. */
  #ingestOne(input: IngestInput): IngestResult {
    if (this.#tenantSeq === null) {
      this.#sql.exec(`INSERT INTO meta (key, value) VALUES ('tenant_seq', ?)`, input.tenantSeq);
      this.#tenantSeq = input.tenantSeq;
    }
    if (input.idemKey !== null) {
      const found = this.#findByKey(input.idemKey);
      if (found) {
        const event = { seq: found.seq, id: found.id, type: found.type, createdAt: found.created_at };
        if (found.body_hash !== input.bodyHash || found.type !== input.type) return { kind: "conflict", event };
        // Its first send may have failed, or its answer been lost: the deliveries still untried
        // are sent again, each with a new generation so that copies of a first message still in
        // the queue go stale (two copies in flight at once could send twice). The caller sends
        // them now; if that fails too it records the event unsent again.
        this.#sql.exec(`DELETE FROM unsent WHERE seq = ?`, found.seq);
        return { kind: "duplicate", event, jobs: this.#redriveUntriedOf(found.seq, JSON.parse(found.matched) as number[], input.now) };
      }
    }
    // Refused whole, before any write, rather than failing writes mid-stream at 10 GB.
    const bytes = this.ctx.storage.sql.databaseSize;
    if (bytes > input.fullBytes) return { kind: "full", bytes };
    const seq = this.#nextSeq;
    const t = dayTables(this.#ensureDay(input.now, seq));
    const id = input.id ?? logEventId({ createdAt: input.now, tenantSeq: input.tenantSeq, eventSeq: seq });
    const matched: number[] = [];
    for (const [ordinal, endpoint] of this.#endpoints) {
      if (!endpoint.deleted && endpoint.status !== "paused" && matchesFilter(endpoint.filter, input.type, input.group)) matched.push(ordinal);
    }
    this.#sql.exec(
      `INSERT INTO ${t.events} (seq, id, type, data, occurred_at, created_at, idem_key, body_hash, matched) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      seq,
      id,
      input.type,
      input.dataJson,
      input.occurredAt,
      input.now,
      input.idemKey,
      input.bodyHash,
      JSON.stringify(matched),
    );
    const dueNow: number[] = [];
    for (const ordinal of matched) {
      const endpoint = this.#endpoints.get(ordinal)!;
      if (endpoint.status === "disabled") {
        // Nothing is lost while an endpoint is disabled: the failed delivery can be replayed.
        this.#sql.exec(
          `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, reason, attempts, run_start, generation, test, created_at) VALUES (?, ?, 'failed', 'endpoint_disabled', 0, 0, 0, 0, ?)`,
          ordinal,
          seq,
          input.now,
        );
      } else if (endpoint.ordering === "fifo") {
        // Written at once, in the call that assigns its seq, so no later event can overtake
        // it: the head of an empty line is due now, the rest wait parked until it moves.
        const head = this.#lineHead(ordinal) === undefined;
        this.#sql.exec(
          `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, attempts, run_start, generation, next_attempt_at, line_seq, test, created_at) VALUES (?, ?, 'pending', 0, 0, 0, ?, ?, 0, ?)`,
          ordinal,
          seq,
          head ? input.now : null,
          seq,
          input.now,
        );
        if (head) dueNow.push(ordinal);
      } else {
        dueNow.push(ordinal);
      }
    }
    this.#nextSeq = seq + 1;
    for (const ordinal of matched) this.#count(ordinal, input.now, { created: 1, failed: this.#endpoints.get(ordinal)!.status === "disabled" ? 1 : 0 });
    this.#flushRollups(input.now, false);
    return { kind: "accepted", event: { seq, id, type: input.type, createdAt: input.now }, jobs: jobsOf(seq, dueNow, 0) };
  }

  /**
   * The seq of an event by its id: a generated id names its seq (checked against the stored
   * id, since a host may post any id), a host's id is its idempotency key (indexed).
   */
  async findEventSeq(id: string): Promise<number | undefined> {
    const key = parseLogEventId(id);
    if (key && key.tenantSeq === this.#tenantSeq && this.#holds(key.eventSeq)) {
      const row = this.#sql.exec<{ id: string }>(`SELECT id FROM ${dayTables(this.#dayOfSeq(key.eventSeq)).events} WHERE seq = ?`, key.eventSeq).toArray()[0];
      if (row?.id === id) return key.eventSeq;
    }
    return this.#findByKey(id)?.seq;
  }

  /** An event with the delivery of every endpoint it matched at acceptance (untried ones included). */
  async getEvent(e: number): Promise<(ClaimedEvent & { deliveries: LoggedDelivery[] }) | undefined> {
    if (!this.#holds(e)) return undefined;
    const t = dayTables(this.#dayOfSeq(e));
    const ev = this.#sql.exec<EventRowRaw & { data: string; occurred_at: number | null }>(`SELECT seq, id, type, created_at, matched, data, occurred_at FROM ${t.events} WHERE seq = ?`, e).toArray()[0];
    if (!ev) return undefined;
    const deliveries = (JSON.parse(ev.matched) as number[]).map((ordinal) => this.#deliveryOf(t.deliveries, ordinal, ev));
    return { seq: ev.seq, id: ev.id, type: ev.type, dataJson: ev.data, occurredAt: ev.occurred_at, createdAt: ev.created_at, deliveries };
  }

  /** Events newest first, by the INTEGER key of each day; at most READ_BUDGET read per call. */
  async listEvents(q: { type?: string; since?: number; until?: number; before?: number; limit: number }): Promise<Page<LoggedEvent & { occurredAt: number | null }>> {
    const items: (LoggedEvent & { occurredAt: number | null })[] = [];
    let read = 0;
    let cursor = q.before ?? this.#nextSeq;
    for (let i = this.#days.length - 1; i >= 0; i--) {
      const { day, firstSeq } = this.#days[i]!;
      if (firstSeq >= cursor) continue;
      for (let chunk: { seq: number; id: string; type: string; created_at: number; occurred_at: number | null; test: number }[]; read < READ_BUDGET; ) {
        // Whole chunks: see listDeliveries.
        chunk = this.#sql
          .exec<{ seq: number; id: string; type: string; created_at: number; occurred_at: number | null; test: number }>(
            `SELECT seq, id, type, created_at, occurred_at, test FROM ${dayTables(day).events} WHERE seq < ? ORDER BY seq DESC LIMIT ?`,
            cursor,
            Math.min(SCAN_CHUNK, READ_BUDGET - read),
          )
          .toArray();
        for (const ev of chunk) {
          if (q.since !== undefined && ev.created_at < q.since) return { items, next: null };
          read++;
          cursor = ev.seq;
          // Test sends have event rows of their own, but are not events the host posted.
          if (ev.test === 1 || (q.until !== undefined && ev.created_at >= q.until) || (q.type !== undefined && ev.type !== q.type)) continue;
          items.push({ seq: ev.seq, id: ev.id, type: ev.type, createdAt: ev.created_at, occurredAt: ev.occurred_at });
          if (items.length === q.limit) return { items, next: cursor };
        }
        if (chunk.length < SCAN_CHUNK) break;
      }
      if (read >= READ_BUDGET) return { items, next: cursor };
      cursor = firstSeq;
    }
    return { items, next: null };
  }

  /**
   * Retries one delivery (DESIGN.md "Deliveries"): a failed or delivered one becomes pending,
   * one waiting for its retry becomes due now; the schedule restarts, the attempt count
   * continues, and a new generation makes older messages stale. On a FIFO endpoint it takes
   * a new place at the back of its line; on a paused one it waits for the resume. One whose
   * day retention dropped is revived from `kept` under a new event seq (answered as `e`), or
   * is `gone`.
   */
  async retry(ordinal: number, e: number, now: number): Promise<RetryResult> {
    const result = this.ctx.storage.transactionSync(() => this.#retryOne(ordinal, e, now));
    if ((result.kind === "queued" || result.kind === "waiting") && result.e !== undefined) {
      await this.#armRollupFlush();
      await this.#armExpiryIfDayBegan();
    }
    if (result.kind === "queued") await this.#armRedrive(now + OVERDUE_MS);
    return result;
  }

  /**
   * A keyed event whose first `deliveries` send failed (the API answered 503): stored, so the
   * alarm sends its untried deliveries about a minute later even if the client never comes
   * back (docs/data-plane-v2.md "The outbox, rollups, alarm, retention"). One row written; repeating it changes nothing.
   */
  async unsent(e: number, now: number): Promise<void> {
    const stored = this.ctx.storage.transactionSync(() => {
      if (!this.#holds(e)) return false;
      this.#sql.exec(`INSERT INTO unsent (seq, due_at) VALUES (?, ?) ON CONFLICT (seq) DO NOTHING`, e, now + UNSENT_DELAY_MS);
      return true;
    });
    if (stored) await this.#armAlarm(now + UNSENT_DELAY_MS);
  }

  /**
   * Removes an unkeyed event whose first send failed: the API answers 503 and the client
   * posts it again, so keeping it would double it. Its event row goes with the delivery rows
   * ingest (or a claim) wrote for it and its rollup counts. An event with a delivery that was
   * attempted, retried or delivered stays: it was sent after all. Idempotent.
   */
  async forget(e: number): Promise<void> {
    const now = Date.now();
    const released = this.ctx.storage.transactionSync((): DeliveryJob[] => {
      if (!this.#holds(e)) return [];
      const t = dayTables(this.#dayOfSeq(e));
      const ev = this.#sql.exec<{ created_at: number; matched: string; idem_key: string | null }>(`SELECT created_at, matched, idem_key FROM ${t.events} WHERE seq = ?`, e).toArray()[0];
      // A keyed event stays: a repeat of its POST finds it by its key.
      if (!ev || ev.idem_key !== null) return [];
      const rows = (JSON.parse(ev.matched) as number[]).map((ordinal) => ({
        ordinal,
        row: this.#sql
          .exec<{ status: string; reason: string | null; attempts: number; generation: number; line_seq: number | null }>(
            `SELECT status, reason, attempts, generation, line_seq FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`,
            ordinal,
            e,
          )
          .toArray()[0],
      }));
      const untouched = rows.every(({ row }) => !row || (row.attempts === 0 && row.generation === 0 && (row.status === "pending" || row.reason === "endpoint_disabled")));
      if (!untouched) return [];
      const heads = rows.filter(({ ordinal, row }) => row?.line_seq != null && this.#lineHead(ordinal)?.e === e).map(({ ordinal }) => ordinal);
      for (const { ordinal, row } of rows) {
        if (row) this.#sql.exec(`DELETE FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`, ordinal, e);
        this.#count(ordinal, ev.created_at, { created: -1, failed: row?.status === "failed" ? -1 : 0 });
      }
      this.#sql.exec(`DELETE FROM ${t.events} WHERE seq = ?`, e);
      // A restarted object takes its next seq from the newest event row: without this, the
      // newest event's seq (named by its id and by any copy of its message) would be reused.
      if (e + 1 === this.#nextSeq) this.#sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)`, this.#nextSeq);
      const released: DeliveryJob[] = [];
      for (const ordinal of heads) {
        this.#leases.delete(ordinal);
        const next = this.#startHead(ordinal, now);
        if (next) released.push(next);
      }
      return released;
    });
    await this.#armRollupFlush();
    if (released.length === 0) return;
    try {
      await this.#send(released, this.#tenantSeq, false);
    } catch (err) {
      // The caller's send has just failed too: the heads stay due and the alarm re-drives them once overdue.
      console.error("sending the FIFO heads a forgotten event released failed; the alarm re-drives them", err);
      await this.#armRedrive(now + OVERDUE_MS);
    }
  }

  /**
   * The deliveries DLQ gives up deliveries re-driven for our own trouble for
   * CONSUMER_GIVE_UP_H (docs/data-plane-v2.md "The outbox, rollups, alarm, retention"): each one
   * still current — pending at the job's generation, or untried at generation 0 — fails
   * `consumer_error` with a dead letter through the outbox (its D1 row names the
   * `deliveries` queue; it is also a `switchyard.delivery.failed`). A FIFO line it held
   * moves: the released heads are answered for the caller to enqueue. Older jobs change nothing.
   */
  async giveUp(jobs: DeliveryJob[], now: number): Promise<GiveUpResult> {
    const result = this.ctx.storage.transactionSync((): GiveUpResult => {
      let failed = 0;
      const released: DeliveryJob[] = [];
      for (const job of jobs) {
        if (!this.#holds(job.e)) continue;
        const t = dayTables(this.#dayOfSeq(job.e));
        const ev = this.#sql.exec<EventRowRaw>(`SELECT seq, id, type, created_at, matched FROM ${t.events} WHERE seq = ?`, job.e).toArray()[0];
        if (!ev) continue;
        const matched = JSON.parse(ev.matched) as number[];
        for (const ordinal of job.p) {
          const endpoint = this.#endpoints.get(ordinal);
          if (!endpoint || endpoint.deleted || !matched.includes(ordinal)) continue;
          const row = this.#sql
            .exec<{ status: string; attempts: number; generation: number; line_seq: number | null; response_status: number | null }>(
              `SELECT status, attempts, generation, line_seq, response_status FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`,
              ordinal,
              job.e,
            )
            .toArray()[0];
          if (!(row ? row.status === "pending" && row.generation === job.g : job.g === 0)) continue;
          if (row) {
            this.#sql.exec(`UPDATE ${t.deliveries} SET status = 'failed', reason = 'consumer_error', next_attempt_at = NULL WHERE ordinal = ? AND event_seq = ?`, ordinal, job.e);
          } else {
            this.#sql.exec(
              `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, reason, attempts, run_start, generation, test, created_at) VALUES (?, ?, 'failed', 'consumer_error', 0, 0, 0, 0, ?)`,
              ordinal,
              job.e,
              ev.created_at,
            );
          }
          this.#count(ordinal, ev.created_at, { failed: 1 });
          const deadLetter: LogDeadLetter = {
            deliveryId: logDeliveryId({ createdAt: ev.created_at, tenantSeq: this.#tenantSeq!, eventSeq: job.e, ordinal }),
            endpointId: endpoint.id,
            eventSeq: job.e,
            ordinal,
            generation: job.g,
            eventId: ev.id,
            eventType: ev.type,
            reason: "consumer_error",
            attempts: row?.attempts ?? 0,
            lastResponseStatus: row?.response_status ?? null,
            createdAt: now,
            queue: "deliveries",
          };
          this.#sql.exec(`INSERT INTO outbox (kind, body) VALUES ('dead_letter', ?)`, JSON.stringify(deadLetter));
          failed++;
          if (this.#leases.get(ordinal)?.e === job.e) this.#leases.delete(ordinal);
          if (row?.line_seq != null) {
            const next = this.#startHead(ordinal, now);
            if (next) released.push(next);
          }
        }
      }
      return { failed, released };
    });
    if (result.failed) {
      await this.#armRollupFlush();
      await this.#armAlarm(now); // the outbox
    }
    if (result.released.length) await this.#armRedrive(now + OVERDUE_MS);
    return result;
  }

  /**
   * Replays an endpoint's deliveries whose event was created in [since, until) with that
   * status: each is retried (as `retry` does), in event order, so on a FIFO endpoint they
   * join the back of the line in event order. The first chunk's jobs are answered; the
   * alarm continues the rest, so a replay of 100 000 never holds the object for long.
   */
  async replay(ordinal: number, q: { since: number; until: number; status: "failed" | "delivered" }, now: number): Promise<{ count: number; jobs: DeliveryJob[]; seqs: { first: number; last: number } | null }> {
    const result = this.ctx.storage.transactionSync(() => {
      let count = 0;
      let first = Infinity;
      let last = -Infinity;
      for (const { day } of this.#days) {
        const r = this.#sql
          .exec<{ n: number; lo: number | null; hi: number | null }>(
            `SELECT COUNT(*) AS n, MIN(event_seq) AS lo, MAX(event_seq) AS hi FROM ${dayTables(day).deliveries} WHERE ordinal = ? AND status = ? AND created_at >= ? AND created_at < ?`,
            ordinal,
            q.status,
            q.since,
            q.until,
          )
          .one();
        count += r.n;
        if (r.lo !== null) first = Math.min(first, r.lo);
        if (r.hi !== null) last = Math.max(last, r.hi);
      }
      this.#sql.exec(`INSERT OR REPLACE INTO replays (ordinal, since, until, status, after) VALUES (?, ?, ?, ?, 0)`, ordinal, q.since, q.until, q.status);
      return { count, seqs: count > 0 ? { first, last } : null, ...this.#continueReplay(ordinal, now) };
    });
    if (result.more) await this.#armAlarm(now);
    return { count: result.count, jobs: result.jobs, seqs: result.seqs };
  }

  /**
   * An endpoint's figures for deliveries created in [since, until), rounded to whole hours:
   * read from the hourly rollups (and the deltas not yet written), never the deliveries.
   */
  async stats(ordinal: number, since: number, until: number): Promise<{ created: number; delivered: number; failed: number; latency: number[] }> {
    const from = Math.floor(since / HOUR_MS);
    const to = Math.ceil(until / HOUR_MS);
    const total = { created: 0, delivered: 0, failed: 0, latency: emptyHistogram() };
    const add = (r: { created: number; delivered: number; failed: number; latency: number[] }) => {
      total.created += r.created;
      total.delivered += r.delivered;
      total.failed += r.failed;
      addHistogram(total.latency, r.latency);
    };
    for (const r of this.#db.select().from(schema.rollups).where(and(eq(schema.rollups.ordinal, ordinal), gte(schema.rollups.hour, from), lt(schema.rollups.hour, to))).all()) add(r);
    for (const d of this.#rollups.values()) if (d.ordinal === ordinal && d.hour >= from && d.hour < to) add(d);
    return total;
  }

  /**
   * An endpoint's figures hour by hour for deliveries created in [since, until), for charts:
   * the hourly rollups with the deltas not yet written added in. Hours with nothing are absent.
   */
  async hourly(ordinal: number, since: number, until: number): Promise<HourlyFigures[]> {
    const from = Math.floor(since / HOUR_MS);
    const to = Math.ceil(until / HOUR_MS);
    const byHour = new Map<number, HourlyFigures>();
    const add = (r: HourlyFigures) => {
      let h = byHour.get(r.hour);
      if (!h) byHour.set(r.hour, (h = { hour: r.hour, created: 0, delivered: 0, failed: 0, latency: emptyHistogram() }));
      h.created += r.created;
      h.delivered += r.delivered;
      h.failed += r.failed;
      addHistogram(h.latency, r.latency);
    };
    for (const r of this.#db.select().from(schema.rollups).where(and(eq(schema.rollups.ordinal, ordinal), gte(schema.rollups.hour, from), lt(schema.rollups.hour, to))).all()) add(r);
    for (const d of this.#rollups.values()) if (d.ordinal === ordinal && d.hour >= from && d.hour < to) add(d);
    return [...byHour.values()].sort((a, b) => a.hour - b.hour);
  }

  /**
   * After a pause ends (the snapshot synced says `active`): makes up to `limit` of the
   * endpoint's parked deliveries due with a new generation and returns their jobs, oldest
   * first; `more` asks the caller to call again. A FIFO line starts its head; a
   * rate-limited endpoint's waiters are left to the alarm, which releases them at its pace.
   */
  async resume(ordinal: number, now: number, limit = RESUME_CHUNK): Promise<{ jobs: DeliveryJob[]; more: boolean }> {
    const endpoint = this.#endpoints.get(ordinal);
    if (!endpoint || endpoint.deleted || endpoint.status !== "active") return { jobs: [], more: false };
    const circuit = this.#circuits.get(ordinal);
    if (circuit?.state === "open") {
      // Behind an open circuit they would only be parked again: the alarm sends the probe, and its close releases the rest.
      await this.#armAlarm(Math.max(now, circuit.openUntil ?? now));
      return { jobs: [], more: false };
    }
    if (endpoint.rateLimit !== null) {
      await this.#armAlarm(now);
      return { jobs: [], more: false };
    }
    return this.ctx.storage.transactionSync(() => {
      if (endpoint.ordering === "fifo") {
        const head = this.#startHead(ordinal, now);
        return { jobs: head ? [head] : [], more: false };
      }
      return this.#releaseParked(ordinal, limit, now);
    });
  }

  /**
   * Records a test send after it was made (DESIGN.md "Endpoints": test sends), in one call:
   * its own event row (not in the events list) and one delivery row with the attempt inline,
   * `test` set. Never retried, no dead letter, not in the stats.
   */
  async recordTestSend(input: { ordinal: number; id: string; type: string; dataJson: string; attempt: AttemptRecord | null; status: "delivered" | "failed"; reason: DeliveryReason | null; now: number }): Promise<{ e: number }> {
    const result = this.ctx.storage.transactionSync(() => {
      const seq = this.#nextSeq;
      const t = dayTables(this.#ensureDay(input.now, seq));
      const a = input.attempt;
      this.#sql.exec(
        `INSERT INTO ${t.events} (seq, id, type, data, occurred_at, created_at, idem_key, body_hash, matched, test) VALUES (?, ?, ?, ?, NULL, ?, NULL, '', ?, 1)`,
        seq,
        input.id,
        input.type,
        input.dataJson,
        input.now,
        JSON.stringify([input.ordinal]),
      );
      this.#sql.exec(
        `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, reason, attempts, run_start, generation, last_attempt_at, response_status, test, created_at,
           a1_started_at, a1_duration_ms, a1_response_status, a1_response_body, a1_error, a1_location, a1_request)
         VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`,
        input.ordinal, seq, input.status, input.reason, a ? 1 : 0, a?.startedAt ?? null, a?.responseStatus ?? null, input.now,
        a?.startedAt ?? null, a?.durationMs ?? null, a?.responseStatus ?? null, a?.responseBody ?? null, a?.error ?? null, a?.location ?? null,
        a && JSON.stringify({ method: a.requestMethod, url: a.requestUrl, headers: a.requestHeaders }),
      );
      this.#nextSeq = seq + 1;
      return { e: seq };
    });
    await this.#armExpiryIfDayBegan();
    return result;
  }

  /** Deletes the whole log (the tenant is gone); nothing calls this object afterwards. */
  async deleteAll(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // One key stays: an ingest that still reaches this object (an API isolate that cached the
    // tenant for a few seconds) is refused rather than re-creating a log nobody owns.
    this.ctx.storage.kv.put(TOMBSTONE_KEY, 1);
    this.#gone = true;
    this.#endpoints.clear();
    this.#days = [];
    this.#leases.clear();
    this.#inFlight.clear();
    this.#lastStart.clear();
    this.#circuits.clear();
    this.#tenantSeq = null;
    this.#nextSeq = 1;
    this.#redriveAt = 0;
    this.#untriedFloor = 0;
  }

  /**
   * Continues disabled endpoints' chunks, writes pending rollups, drops an expired day,
   * releases rate-limited waiters at their endpoint's pace (one second's slots per run),
   * continues replays, sends an open circuit's probe once its cool-off is over and the
   * backlog of one that closed, sends unsent events, re-drives overdue deliveries, hands the
   * outbox to D1, and re-arms once, for the earliest work left. It never throws: an alarm that throws
   * is dropped after six retries, and a waiter would be stranded.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    try {
      const { jobs, more, expiring, disablingLeft, draining } = this.ctx.storage.transactionSync(() => {
        const disablingLeft = this.#continueDisabling();
        this.#flushRollups(now, true);
        const expiring = this.#expireOldestDay(now);
        const waiters = this.#releaseRateWaiters(now);
        const probes = this.#releaseProbes(now);
        const drains = this.#continueDrains(now);
        return { jobs: [...waiters.jobs, ...probes, ...drains.jobs], more: waiters.more, expiring, disablingLeft, draining: drains.more };
      });
      const replays = this.ctx.storage.transactionSync(() =>
        this.#sql.exec<{ ordinal: number }>(`SELECT ordinal FROM replays`).toArray().map((r) => this.#continueReplay(r.ordinal, now)),
      );
      jobs.push(...replays.flatMap((r) => r.jobs));
      if (jobs.length) await this.#send(jobs);
      const unsentNext = await this.#sendUnsent(now);
      await this.#redrive(now);
      const outboxLeft = await this.#flushOutbox(now);
      // One setAlarm at most (each is a billed row): the earliest of what is left.
      let next = Math.min(unsentNext, this.#redriveAt, this.#expiryAt(), this.#circuitWakeAt(now), this.#summaryDueAt());
      if (more) next = Math.min(next, now + RELEASE_EVERY_MS);
      if (outboxLeft || expiring || disablingLeft || draining || replays.some((r) => r.more)) next = Date.now();
      if (next !== Infinity) await this.#armAlarm(next);
    } catch (err) {
      console.error("TenantLog alarm failed; trying again shortly", err);
      await this.ctx.storage.setAlarm(now + 5 * RELEASE_EVERY_MS).catch((armErr: unknown) => console.error("re-arming the TenantLog alarm failed", armErr));
    }
  }

  #load(): void {
    this.#gone = this.ctx.storage.kv.get(TOMBSTONE_KEY) !== undefined;
    for (const r of this.#db.select().from(schema.endpoints).all()) {
      this.#endpoints.set(r.ordinal, { id: r.id, version: r.version, status: r.status, filter: r.filter, ordering: r.ordering, rateLimit: r.rateLimit, circuit: circuitSettingsOf(r.circuit), deleted: r.deleted });
    }
    for (const c of this.#db.select().from(schema.circuits).all()) {
      this.#circuits.set(c.ordinal, {
        state: c.state,
        failures: c.failures,
        openUntil: c.openUntil,
        openedAt: c.openedAt,
        reopenings: c.reopenings,
        probe: c.probeSeq === null || c.probeUntil === null ? null : { e: c.probeSeq, until: c.probeUntil, started: c.probeStarted },
        draining: c.draining,
      });
    }
    this.#days = this.#db.select().from(schema.days).orderBy(schema.days.day).all();
    const meta = new Map(this.#db.select().from(schema.meta).all().map((m) => [m.key, m.value]));
    this.#tenantSeq = meta.get("tenant_seq") ?? null;
    this.#untriedFloor = meta.get("untried_floor") ?? 0;
    const newest = this.#days.at(-1);
    if (newest) {
      const max = this.#sql.exec<{ seq: number | null }>(`SELECT MAX(seq) AS seq FROM ${dayTables(newest.day).events}`).one().seq;
      this.#nextSeq = (max ?? newest.firstSeq - 1) + 1;
    }
    // Line places handed to retries are seqs too.
    this.#nextSeq = Math.max(this.#nextSeq, meta.get("next_seq") ?? 0);
  }

  /** The day of `now`, its tables created on its first event (seqs keep increasing across days). */
  #ensureDay(now: number, seq: number): number {
    const day = Math.max(dayOf(now), this.#days.at(-1)?.day ?? 0);
    if (this.#days.at(-1)?.day !== day) {
      for (const statement of createDayTables(day)) this.#sql.exec(statement);
      this.#sql.exec(`INSERT INTO days (day, first_seq) VALUES (?, ?)`, day, seq);
      this.#days.push({ day, firstSeq: seq });
      this.#expiryDue = true;
    }
    return day;
  }

  async #armExpiryIfDayBegan(): Promise<void> {
    if (!this.#expiryDue) return;
    this.#expiryDue = false;
    await this.#armExpiry();
  }

  /** After a new day: the alarm must run when the oldest day expires (no Cron reaches a Durable Object). */
  async #armExpiry(): Promise<void> {
    const at = this.#expiryAt();
    if (at !== Infinity) await this.#armAlarm(at);
  }

  /** When the oldest day expires (Infinity: no day yet). */
  #expiryAt(): number {
    const oldest = this.#days[0];
    return oldest ? (oldest.day + getConfig(this.env).retentionDays + 1) * DAY_MS : Infinity;
  }

  /**
   * Drops the oldest day once it is past RETENTION_DAYS (DESIGN.md "Storage and retention"):
   * its still-pending deliveries (untried ones included) fail `expired` with a dead letter,
   * its dead-lettered ones are copied to `kept` (replayable until DEAD_LETTER_DAYS), then
   * its tables are dropped whole — a `DROP TABLE` writes no billed row. Returns whether
   * another day is due as well.
   */
  #expireOldestDay(now: number): boolean {
    const config = getConfig(this.env);
    this.#sql.exec(`DELETE FROM kept WHERE expires_at <= ?`, now);
    const oldest = this.#days[0];
    if (!oldest || this.#days.length === 1 || oldest.day >= dayOf(now) - config.retentionDays) return false;
    const t = dayTables(oldest.day);
    const keptUntil = now + config.deadLetterDays * DAY_MS;
    const written = new Set<string>();
    for (const row of this.#sql.exec<Record<string, SqlStorageValue> & { ordinal: number; event_seq: number; status: string; reason: string | null }>(
      `SELECT * FROM ${t.deliveries} WHERE status != 'delivered'`,
    )) {
      written.add(`${row.ordinal}:${row.event_seq}`);
      if (row.status === "failed" && row.reason !== "endpoint_disabled") this.#keep(t, row.ordinal, row.event_seq, row, keptUntil);
      if (row.status === "pending") this.#expire(t, row.ordinal, row.event_seq, { ...row, status: "failed", reason: "expired" }, keptUntil, now);
    }
    for (const { ordinal, event_seq } of this.#sql.exec<{ ordinal: number; event_seq: number }>(`SELECT ordinal, event_seq FROM ${t.deliveries} WHERE status = 'delivered'`)) written.add(`${ordinal}:${event_seq}`);
    // Untried deliveries have no row: the matched lists name them.
    for (const ev of this.#sql.exec<{ seq: number; matched: string }>(`SELECT seq, matched FROM ${t.events}`)) {
      for (const ordinal of JSON.parse(ev.matched) as number[]) {
        if (written.has(`${ordinal}:${ev.seq}`) || this.#endpoints.get(ordinal)?.deleted !== false) continue;
        this.#expire(t, ordinal, ev.seq, { status: "failed", reason: "expired", attempts: 0, generation: 0 }, keptUntil, now);
      }
    }
    for (const statement of dropDayTables(oldest.day)) this.#sql.exec(statement);
    this.#sql.exec(`DELETE FROM days WHERE day = ?`, oldest.day);
    this.#days.shift();
    const next = this.#days[0];
    return next !== undefined && this.#days.length > 1 && next.day < dayOf(now) - config.retentionDays;
  }

  /** Fails an expired delivery: a dead letter through the outbox, and a `kept` copy to replay it. */
  #expire(t: ReturnType<typeof dayTables>, ordinal: number, e: number, delivery: Record<string, SqlStorageValue>, keptUntil: number, now: number): void {
    const ev = this.#sql.exec<{ id: string; type: string; created_at: number }>(`SELECT id, type, created_at FROM ${t.events} WHERE seq = ?`, e).one();
    const deadLetter: LogDeadLetter = {
      deliveryId: logDeliveryId({ createdAt: ev.created_at, tenantSeq: this.#tenantSeq!, eventSeq: e, ordinal }),
      endpointId: this.#endpoints.get(ordinal)!.id,
      eventSeq: e,
      ordinal,
      generation: Number(delivery.generation ?? 0),
      eventId: ev.id,
      eventType: ev.type,
      reason: "expired",
      attempts: Number(delivery.attempts ?? 0),
      lastResponseStatus: (delivery.response_status as number | null | undefined) ?? null,
      createdAt: now,
    };
    this.#sql.exec(`INSERT INTO outbox (kind, body) VALUES ('dead_letter', ?)`, JSON.stringify(deadLetter));
    this.#keep(t, ordinal, e, delivery, keptUntil);
  }

  #keep(t: ReturnType<typeof dayTables>, ordinal: number, e: number, delivery: Record<string, SqlStorageValue>, until: number): void {
    const event = this.#sql.exec(`SELECT id, type, data, occurred_at, created_at FROM ${t.events} WHERE seq = ?`, e).one();
    this.#sql.exec(`INSERT OR REPLACE INTO kept (ordinal, event_seq, event, delivery, expires_at) VALUES (?, ?, ?, ?, ?)`, ordinal, e, JSON.stringify(event), JSON.stringify(delivery), until);
  }

  /** Adds to the hour (of creation) of an endpoint's figures, in memory until the next flush. */
  #count(ordinal: number, createdAt: number, add: { created?: number; delivered?: number; failed?: number; durationMs?: number }): void {
    const hour = Math.floor(createdAt / HOUR_MS);
    const key = `${ordinal}:${hour}`;
    let d = this.#rollups.get(key);
    if (!d) this.#rollups.set(key, (d = { ordinal, hour, created: 0, delivered: 0, failed: 0, latency: emptyHistogram() }));
    d.created += add.created ?? 0;
    d.delivered += add.delivered ?? 0;
    d.failed += add.failed ?? 0;
    if (add.durationMs !== undefined) d.latency[latencyBucket(add.durationMs)]!++;
  }

  /**
   * Writes the deltas of endpoints last flushed a minute ago or more (`all`: every delta), and
   * marks each hour they touched in the outbox (one mark per hour): the hand-over sums that
   * hour's totals for the console's `tenant_hours` row (DESIGN.md "Cross-store effects go
   * through an outbox").
   */
  #flushRollups(now: number, all: boolean): void {
    const hours = new Set<number>();
    for (const [key, d] of this.#rollups) {
      if (!all && now - (this.#flushedAt.get(d.ordinal) ?? 0) < ROLLUP_FLUSH_MS) continue;
      const stored = this.#db.select().from(schema.rollups).where(and(eq(schema.rollups.ordinal, d.ordinal), eq(schema.rollups.hour, d.hour))).get();
      const latency = emptyHistogram();
      if (stored) addHistogram(latency, stored.latency);
      addHistogram(latency, d.latency);
      this.#db
        .insert(schema.rollups)
        .values({ ordinal: d.ordinal, hour: d.hour, created: d.created, delivered: d.delivered, failed: d.failed, latency })
        .onConflictDoUpdate({
          target: [schema.rollups.ordinal, schema.rollups.hour],
          set: { created: sql`created + ${d.created}`, delivered: sql`delivered + ${d.delivered}`, failed: sql`failed + ${d.failed}`, latency },
        })
        .run();
      this.#rollups.delete(key);
      this.#flushedAt.set(d.ordinal, now);
      hours.add(d.hour);
    }
    // Only the hour is marked here: its totals are summed once per hand-over, not once per
    // endpoint flush (which would read every endpoint's row of the hour for each endpoint).
    // A mark replaced while a hand-over awaits D1 gets a later seq and survives its delete.
    for (const hour of hours) {
      this.#sql.exec(`DELETE FROM outbox WHERE kind = 'tenant_hour' AND json_extract(body, '$.hour') = ?`, hour);
      this.#sql.exec(`INSERT INTO outbox (kind, body) VALUES ('tenant_hour', ?)`, JSON.stringify({ hour }));
      this.#summaryWaiting = true;
    }
  }

  /** The tenant's whole totals for one hour: each endpoint's rollup row, read by its key. */
  #hourTotals(hour: number): HourlyFigures {
    const total = { hour, created: 0, delivered: 0, failed: 0, latency: emptyHistogram() };
    for (const ordinal of this.#endpoints.keys()) {
      const r = this.#db.select().from(schema.rollups).where(and(eq(schema.rollups.ordinal, ordinal), eq(schema.rollups.hour, hour))).get();
      if (!r) continue;
      total.created += r.created;
      total.delivered += r.delivered;
      total.failed += r.failed;
      addHistogram(total.latency, r.latency);
    }
    return total;
  }

  /** When waiting tenant-hour totals are due in D1, or Infinity when none waits. */
  #summaryDueAt(): number {
    this.#summaryWaiting ??= this.#sql.exec(`SELECT 1 FROM outbox WHERE kind = 'tenant_hour' LIMIT 1`).toArray().length > 0;
    return this.#summaryWaiting ? this.#summariesAt + SUMMARY_EVERY_MS : Infinity;
  }

  /** Arms the alarm for the earliest pending rollup flush (deltas would otherwise wait for traffic) or tenant-hour totals. */
  async #armRollupFlush(): Promise<void> {
    let earliest = this.#summaryDueAt();
    for (const d of this.#rollups.values()) earliest = Math.min(earliest, (this.#flushedAt.get(d.ordinal) ?? 0) + ROLLUP_FLUSH_MS);
    if (earliest !== Infinity) await this.#armAlarm(earliest);
  }

  /** Makes up to one second's slots of parked waiters due (new generation), per rate-limited endpoint. */
  #releaseRateWaiters(now: number): { jobs: DeliveryJob[]; more: boolean } {
    const jobs: DeliveryJob[] = [];
    let more = false;
    for (const [ordinal, endpoint] of this.#endpoints) {
      if (endpoint.rateLimit === null || endpoint.deleted || endpoint.status !== "active") continue;
      // Behind an open circuit they would only be parked again: its probe and its close release them.
      if (this.#circuits.get(ordinal)?.state === "open") continue;
      if (endpoint.ordering === "fifo") {
        const head = this.#startHead(ordinal, now);
        if (head) jobs.push(head);
        continue;
      }
      const spacing = rateSpacingMs(endpoint.rateLimit);
      const first = Math.max(now, (this.#lastStart.get(ordinal) ?? 0) + spacing);
      const slots = first - now >= RELEASE_EVERY_MS ? 0 : Math.floor((now + RELEASE_EVERY_MS - first) / spacing) + 1;
      const released = this.#releaseParked(ordinal, slots, now);
      jobs.push(...released.jobs);
      more ||= released.more;
    }
    return { jobs, more };
  }

  /**
   * Makes up to `limit` of an endpoint's parked deliveries (outside any FIFO line) due now
   * with a new generation, oldest first; `more` when others still wait.
   */
  #releaseParked(ordinal: number, limit: number, now: number): { jobs: DeliveryJob[]; more: boolean } {
    const jobs: DeliveryJob[] = [];
    for (const { day } of this.#days) {
      const t = dayTables(day);
      const parked = this.#sql
        .exec<{ event_seq: number; generation: number }>(
          `SELECT event_seq, generation FROM ${t.deliveries} WHERE ordinal = ? AND status = 'pending' AND line_seq IS NULL AND next_attempt_at IS NULL ORDER BY event_seq LIMIT ?`,
          ordinal,
          limit - jobs.length + 1,
        )
        .toArray();
      for (const p of parked) {
        if (jobs.length === limit) return { jobs, more: true };
        this.#sql.exec(`UPDATE ${t.deliveries} SET next_attempt_at = ?, generation = ? WHERE ordinal = ? AND event_seq = ?`, now, p.generation + 1, ordinal, p.event_seq);
        jobs.push({ e: p.event_seq, p: [ordinal], g: p.generation + 1 });
      }
    }
    return { jobs, more: false };
  }

  /**
   * Sends jobs to the delivery queue; if the send fails, parks them again (so none is left
   * due without a message) and throws. `park` false leaves them as they are, for callers
   * that keep their own record of what is still to send (unsent events, re-drives).
   */
  async #send(jobs: DeliveryJob[], t = this.#tenantSeq, park = true): Promise<void> {
    // Jobs exist only after an ingest, which stored the tenant seq.
    if (t === null) throw new Error("TenantLog has no tenant seq yet: nothing was ever ingested");
    try {
      await sendJobs(this.env, t, jobs);
    } catch (err) {
      // Another log's jobs (`_operator`'s) are re-sent by the next flush: their ingest is idempotent.
      if (t !== this.#tenantSeq || !park) throw err;
      this.ctx.storage.transactionSync(() => {
        for (const j of jobs) {
          for (const ordinal of j.p) {
            this.#sql.exec(`UPDATE ${dayTables(this.#dayOfSeq(j.e)).deliveries} SET next_attempt_at = NULL WHERE ordinal = ? AND event_seq = ? AND generation = ?`, ordinal, j.e, j.g);
          }
        }
      });
      throw err;
    }
  }

  /**
   * Hands up to OUTBOX_BATCH dead letters to D1 in one statement, and the waiting tenant-hour
   * totals in another once SUMMARY_EVERY_MS has passed since the last, then deletes what it
   * handed over. D1's inserts are conditional on each dead letter's log key, and hour totals
   * are whole totals, so a flush repeated after a crash between the two stores nothing twice.
   * Returns whether rows that are due are left.
   */
  async #flushOutbox(now: number): Promise<boolean> {
    if (this.#tenantSeq === null) return false;
    const deadRows = this.#db.select().from(schema.outbox).where(eq(schema.outbox.kind, "dead_letter")).orderBy(schema.outbox.seq).limit(OUTBOX_BATCH).all();
    const hourRows =
      now >= this.#summariesAt + SUMMARY_EVERY_MS
        ? this.#db.select().from(schema.outbox).where(eq(schema.outbox.kind, "tenant_hour")).orderBy(schema.outbox.seq).limit(OUTBOX_BATCH).all()
        : [];
    if (deadRows.length === 0 && hourRows.length === 0) return false;
    const db = openDb(this.env.DB);
    if (deadRows.length) {
      const deadLetters = deadRows.map((r) => r.body as LogDeadLetter);
      await insertLogDeadLetters(db, this.#tenantSeq, deadLetters);
      await this.#reportFailures(db, deadLetters);
      this.#sql.exec(`DELETE FROM outbox WHERE kind = 'dead_letter' AND seq <= ?`, deadRows.at(-1)!.seq);
    }
    if (hourRows.length) {
      await writeTenantHours(db, this.#tenantSeq, hourRows.map((r) => this.#hourTotals((r.body as { hour: number }).hour)), now);
      this.#summariesAt = now;
      // Marks replaced while D1 was written have a later seq and stay for the next flush.
      this.#sql.exec(`DELETE FROM outbox WHERE kind = 'tenant_hour' AND seq <= ?`, hourRows.at(-1)!.seq);
      this.#summaryWaiting = null;
    }
    return deadRows.length === OUTBOX_BATCH || hourRows.length === OUTBOX_BATCH;
  }

  /**
   * Each dead letter is also a `switchyard.delivery.failed` for `_operator` (DESIGN.md
   * "Operational events"), sent in ONE `ingestMany` call per flush with deterministic ids,
   * so a repeated flush adds nothing and `_operator`, which hears from every tenant, never
   * becomes a hot object. `_operator`'s own failures report nothing (no loops).
   */
  async #reportFailures(db: Db, deadLetters: LogDeadLetter[]): Promise<void> {
    const who = await tenantIdentity(db, this.#tenantSeq!);
    if (!who || who.tenantId === OPERATOR_TENANT) return;
    await emitOperational(
      { db, env: this.env, config: getConfig(this.env), now: Date.now() },
      deadLetters.map((dl) => ({
        type: DELIVERY_FAILED_TYPE,
        dataJson: JSON.stringify({
          tenant_id: who.tenantId,
          endpoint_id: dl.endpointId,
          delivery_id: dl.deliveryId,
          event_id: dl.eventId,
          event_type: dl.eventType,
          reason: dl.reason,
          attempts: dl.attempts,
          last_response_status: dl.lastResponseStatus,
        }),
        id: `${dl.deliveryId}_${dl.generation}`,
        occurredAt: dl.createdAt,
      })),
    );
  }

  /** Sets the alarm for `at` unless one is set earlier (each setAlarm is a billed row). */
  async #armAlarm(at: number): Promise<void> {
    // "At once" may be computed as 0 (a deadline not yet known); setAlarm refuses times <= 0.
    at = Math.max(at, 1);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** The delivery of `ordinal` for an event: its row, or the untried delivery the matched list stands for. */
  #deliveryOf(table: string, ordinal: number, ev: EventRowRaw): LoggedDelivery {
    const row = this.#sql
      .exec<DeliveryRowRaw & { reason: string | null; last_attempt_at: number | null; response_status: number | null; test: number }>(
        `SELECT status, reason, attempts, run_start, generation, next_attempt_at, line_seq, last_attempt_at, response_status, test FROM ${table} WHERE ordinal = ? AND event_seq = ?`,
        ordinal,
        ev.seq,
      )
      .toArray()[0];
    const base = { e: ev.seq, ordinal, endpointId: this.#endpoints.get(ordinal)?.id ?? "", eventId: ev.id, eventType: ev.type, createdAt: ev.created_at };
    if (!row) return { ...base, status: "pending", reason: null, attempts: 0, generation: 0, nextAttemptAt: ev.created_at, lastAttemptAt: null, responseStatus: null, test: false };
    return {
      ...base,
      status: row.status as DeliveryStatus,
      reason: row.reason as DeliveryReason | null,
      attempts: row.attempts,
      generation: row.generation,
      nextAttemptAt: row.next_attempt_at,
      lastAttemptAt: row.last_attempt_at,
      responseStatus: row.response_status,
      test: row.test === 1,
    };
  }

  /** Whether event `seq` is in a day this log still holds (retention drops the oldest). */
  #holds(seq: number): boolean {
    return this.#days.length > 0 && seq >= this.#days[0]!.firstSeq && seq < this.#nextSeq;
  }

  #dayOfSeq(seq: number): number {
    for (let i = this.#days.length - 1; i >= 0; i--) if (this.#days[i]!.firstSeq <= seq) return this.#days[i]!.day;
    throw new RangeError(`no day holds event ${seq}`);
  }

  #findByKey(idemKey: string) {
    for (let i = this.#days.length - 1; i >= 0; i--) {
      const t = dayTables(this.#days[i]!.day);
      const row = this.#sql
        .exec<{ seq: number; id: string; type: string; created_at: number; body_hash: string; matched: string }>(`SELECT seq, id, type, created_at, body_hash, matched FROM ${t.events} WHERE idem_key = ?`, idemKey)
        .toArray()[0];
      if (row) return row;
    }
    return undefined;
  }

  /**
   * The jobs ingest answered for an event that are still owed: matched endpoints without a
   * delivery row, and a FIFO line head ingest wrote due and no claim has touched since (its
   * message was in the same lost send; without it the whole line would wait). A point lookup
   * per endpoint: the key is (ordinal, event_seq), so `WHERE event_seq = ?` alone would scan.
   */
  #untriedJobs(seq: number, matched: number[]): DeliveryJob[] {
    const t = dayTables(this.#dayOfSeq(seq));
    const owed = matched.filter((ordinal) => {
      if (this.#endpoints.get(ordinal)?.deleted !== false) return false;
      const row = this.#sql.exec<DeliveryRowRaw>(`SELECT status, attempts, run_start, generation, next_attempt_at, line_seq FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`, ordinal, seq).toArray()[0];
      return !row || (row.status === "pending" && row.generation === 0 && row.attempts === 0 && row.line_seq !== null && row.next_attempt_at !== null);
    });
    return jobsOf(seq, owed, 0);
  }

  /**
   * Gives each delivery of the event that is still untried and due (no row; or a row never
   * attempted, due, and not a FIFO head in flight) a new generation, due now, and answers
   * their jobs: a repeat POST re-sends what its first answer may have failed to.
   */
  #redriveUntriedOf(seq: number, matched: number[], now: number): DeliveryJob[] {
    const t = dayTables(this.#dayOfSeq(seq));
    const jobs: DeliveryJob[] = [];
    for (const ordinal of matched) {
      const endpoint = this.#endpoints.get(ordinal);
      if (!endpoint || endpoint.deleted || endpoint.status !== "active") continue;
      const sending = this.#inFlight.get(`${ordinal}:${seq}`);
      if (sending !== undefined && sending > now) continue;
      const row = this.#sql.exec<DeliveryRowRaw>(`SELECT status, attempts, run_start, generation, next_attempt_at, line_seq FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`, ordinal, seq).toArray()[0];
      if (!row) {
        this.#sql.exec(`INSERT INTO ${t.deliveries} (ordinal, event_seq, status, attempts, run_start, generation, next_attempt_at, test, created_at) SELECT ?, ?, 'pending', 0, 0, 1, ?, 0, created_at FROM ${t.events} WHERE seq = ?`, ordinal, seq, now, seq);
        jobs.push({ e: seq, p: [ordinal], g: 1 });
      } else if (row.status === "pending" && row.attempts === 0 && row.next_attempt_at !== null && this.#leases.get(ordinal)?.e !== seq) {
        this.#sql.exec(`UPDATE ${t.deliveries} SET generation = ?, next_attempt_at = ? WHERE ordinal = ? AND event_seq = ?`, row.generation + 1, now, ordinal, seq);
        jobs.push({ e: seq, p: [ordinal], g: row.generation + 1 });
      }
    }
    return jobs;
  }

  /** The pending delivery with the lowest line place of a FIFO endpoint (each day's pending index, oldest day first). */
  #lineHead(ordinal: number): { e: number; day: number; nextAttemptAt: number | null; generation: number } | undefined {
    for (const { day } of this.#days) {
      const row = this.#sql
        .exec<{ event_seq: number; next_attempt_at: number | null; generation: number }>(
          `SELECT event_seq, next_attempt_at, generation FROM ${dayTables(day).deliveries} WHERE ordinal = ? AND status = 'pending' AND line_seq IS NOT NULL ORDER BY line_seq LIMIT 1`,
          ordinal,
        )
        .toArray()[0];
      if (row) return { e: row.event_seq, day, nextAttemptAt: row.next_attempt_at, generation: row.generation };
    }
    return undefined;
  }

  /** Retries one delivery (see `retry`); the caller holds the transaction. */
  #retryOne(ordinal: number, e: number, now: number): RetryResult {
    const endpoint = this.#endpoints.get(ordinal);
    if (!endpoint || endpoint.deleted) return { kind: "not_found" };
    if (endpoint.status === "disabled") return { kind: "disabled" };
    // A retried delivery has no dead letter: one still waiting in the outbox never reaches D1
    // (the caller removes one already there). The outbox is small: its rows are failures only.
    this.#sql.exec(`DELETE FROM outbox WHERE kind = 'dead_letter' AND json_extract(body, '$.ordinal') = ? AND json_extract(body, '$.eventSeq') = ?`, ordinal, e);
    if (!this.#holds(e)) return e >= 1 && e < (this.#days[0]?.firstSeq ?? this.#nextSeq) ? this.#revive(ordinal, e, endpoint, now) : { kind: "not_found" };
    const t = dayTables(this.#dayOfSeq(e));
    const ev = this.#sql.exec<EventRowRaw>(`SELECT seq, id, type, created_at, matched FROM ${t.events} WHERE seq = ?`, e).toArray()[0];
    if (!ev || !(JSON.parse(ev.matched) as number[]).includes(ordinal)) return { kind: "not_found" };
    const row = this.#sql.exec<DeliveryRowRaw>(`SELECT status, attempts, run_start, generation, next_attempt_at, line_seq FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`, ordinal, e).toArray()[0];
    if (!row) return { kind: "queued", job: { e, p: [ordinal], g: 0 } }; // untried: already due
    const fifo = endpoint.ordering === "fifo";
    const head = fifo ? this.#lineHead(ordinal) : undefined;
    const waits = endpoint.status === "paused" || (head !== undefined && head.e !== e);
    const generation = row.generation + 1;
    this.#sql.exec(
      `UPDATE ${t.deliveries} SET status = 'pending', reason = NULL, run_start = attempts, generation = ?, next_attempt_at = ?, line_seq = ? WHERE ordinal = ? AND event_seq = ?`,
      generation,
      waits ? null : now,
      fifo ? this.#takeLinePlace() : null,
      ordinal,
      e,
    );
    if (this.#leases.get(ordinal)?.e === e) this.#leases.delete(ordinal);
    return waits ? { kind: "waiting" } : { kind: "queued", job: { e, p: [ordinal], g: generation } };
  }

  /**
   * Retries a delivery whose day retention dropped, from its `kept` copy (a dead letter stays
   * replayable for DEAD_LETTER_DAYS: docs/data-plane-v2.md "The outbox, rollups, alarm, retention"): its event is written
   * into today's tables as a new event row — a new seq (so a new line place, at the back), the
   * same public id, type, data and occurred_at — with a pending delivery whose attempt count
   * continues and whose schedule restarts. Generation 1: no message of the old key can claim
   * it. `gone` when nothing of it is kept; the caller answers 410.
   */
  #revive(ordinal: number, e: number, endpoint: EndpointSnapshot, now: number): RetryResult {
    const kept = this.#sql.exec<{ event: string; delivery: string }>(`SELECT event, delivery FROM kept WHERE ordinal = ? AND event_seq = ?`, ordinal, e).toArray()[0];
    if (!kept) return { kind: "gone" };
    const event = JSON.parse(kept.event) as { id: string; type: string; data: string; occurred_at: number | null };
    const d = JSON.parse(kept.delivery) as Record<string, SqlStorageValue | undefined>;
    const col = (name: string) => d[name] ?? null;
    const fifo = endpoint.ordering === "fifo";
    // Read before its own row exists: any line place is ahead of the new seq.
    const waits = endpoint.status === "paused" || (fifo && this.#lineHead(ordinal) !== undefined);
    const seq = this.#nextSeq;
    const t = dayTables(this.#ensureDay(now, seq));
    this.#sql.exec(
      `INSERT INTO ${t.events} (seq, id, type, data, occurred_at, created_at, idem_key, body_hash, matched) VALUES (?, ?, ?, ?, ?, ?, NULL, '', ?)`,
      seq,
      event.id,
      event.type,
      event.data,
      event.occurred_at,
      now,
      JSON.stringify([ordinal]),
    );
    this.#nextSeq = seq + 1;
    const attempts = Number(d.attempts ?? 0);
    this.#sql.exec(
      `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, attempts, run_start, generation, next_attempt_at, last_attempt_at, response_status, line_seq, test, created_at,
         a1_started_at, a1_duration_ms, a1_response_status, a1_response_body, a1_error, a1_location, a1_request)
       VALUES (?, ?, 'pending', ?, ?, 1, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ordinal, seq, attempts, attempts, waits ? null : now, col("last_attempt_at"), col("response_status"), fifo ? seq : null, now,
      col("a1_started_at"), col("a1_duration_ms"), col("a1_response_status"), col("a1_response_body"), col("a1_error"), col("a1_location"), col("a1_request"),
    );
    this.#sql.exec(`DELETE FROM kept WHERE ordinal = ? AND event_seq = ?`, ordinal, e);
    this.#count(ordinal, now, { created: 1 });
    return waits ? { kind: "waiting", e: seq } : { kind: "queued", job: { e: seq, p: [ordinal], g: 1 }, e: seq };
  }

  /**
   * A place at the back of every line: a seq no event takes (later events queue behind it).
   * Stored, so an object rebuilt after eviction never hands the same place to an event.
   */
  #takeLinePlace(): number {
    const place = this.#nextSeq++;
    this.#sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)`, this.#nextSeq);
    return place;
  }

  /** Retries the next chunk of an endpoint's replay; the caller holds the transaction. */
  #continueReplay(ordinal: number, now: number): { jobs: DeliveryJob[]; more: boolean } {
    const replay = this.#sql.exec<{ since: number; until: number; status: string; after: number }>(`SELECT since, until, status, after FROM replays WHERE ordinal = ?`, ordinal).toArray()[0];
    if (!replay) return { jobs: [], more: false };
    const jobs: DeliveryJob[] = [];
    let after = replay.after;
    let left = RESUME_CHUNK;
    for (const { day, firstSeq } of this.#days) {
      if (left === 0) break;
      const next = this.#days.find((d) => d.firstSeq > firstSeq)?.firstSeq ?? Infinity;
      if (next <= after) continue;
      const picked = this.#sql
        .exec<{ event_seq: number }>(
          `SELECT event_seq FROM ${dayTables(day).deliveries} WHERE ordinal = ? AND event_seq > ? AND status = ? AND created_at >= ? AND created_at < ? ORDER BY event_seq LIMIT ?`,
          ordinal,
          after,
          replay.status,
          replay.since,
          replay.until,
          left,
        )
        .toArray();
      for (const { event_seq } of picked) {
        const r = this.#retryOne(ordinal, event_seq, now);
        if (r.kind === "queued") jobs.push(r.job);
        after = event_seq;
        left--;
      }
    }
    const more = left === 0;
    if (more) this.#sql.exec(`UPDATE replays SET after = ? WHERE ordinal = ?`, after, ordinal);
    else this.#sql.exec(`DELETE FROM replays WHERE ordinal = ?`, ordinal);
    return { jobs, more };
  }

  /** Whether event `e` may start on its FIFO line now; `go` takes the line's lease. */
  #turnOf(ordinal: number, e: number, now: number): { kind: "go" } | { kind: "in-flight"; until: number } | { kind: "behind" } {
    if (this.#lineHead(ordinal)?.e !== e) return { kind: "behind" };
    const lease = this.#leases.get(ordinal);
    if (lease && lease.until > now) return { kind: "in-flight", until: lease.until };
    this.#leases.set(ordinal, { e, until: now + LINE_LEASE_MS });
    return { kind: "go" };
  }

  /** Makes a parked head due with a new generation (older messages go stale); returns its job. */
  #startHead(ordinal: number, now: number): DeliveryJob | undefined {
    const head = this.#lineHead(ordinal);
    if (!head || head.nextAttemptAt !== null || this.#endpoints.get(ordinal)?.status !== "active") return undefined;
    const generation = head.generation + 1;
    this.#sql.exec(`UPDATE ${dayTables(head.day).deliveries} SET next_attempt_at = ?, generation = ? WHERE ordinal = ? AND event_seq = ?`, now, generation, ordinal, head.e);
    return { e: head.e, p: [ordinal], g: generation };
  }

  /**
   * Fails up to `limit` of a disabled endpoint's pending deliveries that have rows (parked,
   * waiting for a retry, FIFO lines) `endpoint_disabled`, oldest day first, through each
   * day's pending index. No dead letter and no operational event (docs/data-plane-v2.md "The outbox, rollups, alarm, retention");
   * the rollups count them failed. Its untried ones end at their claim.
   */
  #failPending(ordinal: number, limit: number): { failed: number; more: boolean } {
    this.#leases.delete(ordinal);
    let failed = 0;
    for (const { day } of this.#days) {
      const t = dayTables(day);
      const rows = this.#sql
        .exec<{ event_seq: number; created_at: number }>(
          `SELECT event_seq, created_at FROM ${t.deliveries} INDEXED BY ${t.deliveries}_pending WHERE ordinal = ? AND status = 'pending' AND test = 0 LIMIT ?`,
          ordinal,
          limit - failed + 1,
        )
        .toArray();
      for (const r of rows) {
        if (failed === limit) return { failed, more: true };
        this.#sql.exec(`UPDATE ${t.deliveries} SET status = 'failed', reason = 'endpoint_disabled', next_attempt_at = NULL WHERE ordinal = ? AND event_seq = ?`, ordinal, r.event_seq);
        this.#count(ordinal, r.created_at, { failed: 1 });
        failed++;
      }
    }
    return { failed, more: false };
  }

  /** The next chunk of each endpoint still being disabled, DISABLE_CHUNK in all; whether work is left. */
  #continueDisabling(): boolean {
    let left = DISABLE_CHUNK;
    for (const { ordinal } of this.#sql.exec<{ ordinal: number }>(`SELECT ordinal FROM disabling`).toArray()) {
      if (left === 0) return true;
      const endpoint = this.#endpoints.get(ordinal);
      // Enabled again (or deleted) meanwhile: what is still pending stays pending.
      if (endpoint && !endpoint.deleted && endpoint.status === "disabled") {
        const chunk = this.#failPending(ordinal, left);
        left -= chunk.failed;
        if (chunk.more) return true;
      }
      this.#sql.exec(`DELETE FROM disabling WHERE ordinal = ?`, ordinal);
    }
    return false;
  }

  /**
   * Ends one delivery of a disabled endpoint at its claim: its row (pending) or a new one
   * (untried) reads `failed` / `endpoint_disabled`. Returns whether it counted one.
   */
  #failDisabled(t: ReturnType<typeof dayTables>, ordinal: number, e: number, hasRow: boolean): boolean {
    const ev = this.#sql.exec<{ created_at: number; matched: string }>(`SELECT created_at, matched FROM ${t.events} WHERE seq = ?`, e).toArray()[0];
    if (!ev || !(JSON.parse(ev.matched) as number[]).includes(ordinal)) return false;
    if (hasRow) {
      this.#sql.exec(`UPDATE ${t.deliveries} SET status = 'failed', reason = 'endpoint_disabled', next_attempt_at = NULL WHERE ordinal = ? AND event_seq = ? AND status = 'pending'`, ordinal, e);
    } else {
      this.#sql.exec(
        `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, reason, attempts, run_start, generation, test, created_at) VALUES (?, ?, 'failed', 'endpoint_disabled', 0, 0, 0, 0, ?)`,
        ordinal,
        e,
        ev.created_at,
      );
    }
    if (this.#leases.get(ordinal)?.e === e) this.#leases.delete(ordinal);
    this.#count(ordinal, ev.created_at, { failed: 1 });
    return true;
  }

  /** The alarm must look for overdue deliveries by `at` (Infinity: nothing to look for). */
  async #armRedrive(at: number): Promise<void> {
    if (at === Infinity) return;
    this.#redriveAt = Math.min(this.#redriveAt, at);
    await this.#armAlarm(at);
  }

  /**
   * Sends the owed jobs of unsent events that are due, then drops their records; if the send
   * fails the records stay and the alarm tries again. Returns when the next one is due.
   */
  async #sendUnsent(now: number): Promise<number> {
    const { seqs, jobs } = this.ctx.storage.transactionSync(() => {
      const seqs = this.#sql.exec<{ seq: number }>(`SELECT seq FROM unsent WHERE due_at <= ? ORDER BY seq LIMIT ?`, now, UNSENT_BATCH).toArray().map((r) => r.seq);
      const jobs: DeliveryJob[] = [];
      for (const seq of seqs) {
        if (!this.#holds(seq)) continue;
        const ev = this.#sql.exec<{ matched: string }>(`SELECT matched FROM ${dayTables(this.#dayOfSeq(seq)).events} WHERE seq = ?`, seq).toArray()[0];
        if (ev) jobs.push(...this.#untriedJobs(seq, JSON.parse(ev.matched) as number[]));
      }
      return { seqs, jobs };
    });
    if (jobs.length) await this.#send(jobs, this.#tenantSeq, false);
    return this.ctx.storage.transactionSync(() => {
      if (seqs.length) this.#sql.exec(`DELETE FROM unsent WHERE seq IN (SELECT value FROM json_each(?))`, JSON.stringify(seqs));
      return this.#sql.exec<{ at: number | null }>(`SELECT MIN(due_at) AS at FROM unsent`).one().at ?? Infinity;
    });
  }

  /**
   * Re-drives overdue deliveries when one may be due (or the last look is OVERDUE_MS old);
   * if their send fails they are put back as they were, still overdue, and it throws.
   */
  async #redrive(now: number): Promise<void> {
    if (now < this.#redriveAt && now - this.#scannedAt < OVERDUE_MS) return;
    const found = this.ctx.storage.transactionSync(() => this.#redriveOverdue(now));
    this.#scannedAt = now;
    this.#redriveAt = found.next;
    if (found.jobs.length === 0) return;
    try {
      await this.#send(found.jobs, this.#tenantSeq, false);
    } catch (err) {
      this.ctx.storage.transactionSync(() => {
        for (const r of found.restore) {
          this.#sql.exec(`UPDATE ${dayTables(r.day).deliveries} SET next_attempt_at = ? WHERE ordinal = ? AND event_seq = ? AND generation = ?`, r.at, r.ordinal, r.e, r.g);
        }
      });
      this.#redriveAt = 0;
      throw err;
    }
  }

  /**
   * Pending deliveries overdue by OVERDUE_MS have lost their message (a send that failed
   * after the write, a message the queue dropped): each gets a new generation (older copies
   * go stale) and is due now, at most REDRIVE_CHUNK per run. Every lookup is a range of a
   * day's pending index — (ordinal, line_seq NULL, next_attempt_at ≤ cutoff) — plus each
   * FIFO line's head, so parked waiters and line places behind a head are never read. A
   * delivery merely waiting for its retry is not touched. `next`: when the alarm must look
   * again (the earliest remaining deadline; now when the chunk was full).
   */
  #redriveOverdue(now: number): { jobs: DeliveryJob[]; restore: { day: number; ordinal: number; e: number; g: number; at: number }[]; next: number } {
    const cutoff = now - OVERDUE_MS;
    const jobs: DeliveryJob[] = [];
    const restore: { day: number; ordinal: number; e: number; g: number; at: number }[] = [];
    let earliest = Infinity;
    const redrive = (day: number, ordinal: number, e: number, generation: number, at: number) => {
      this.#sql.exec(`UPDATE ${dayTables(day).deliveries} SET generation = ?, next_attempt_at = ? WHERE ordinal = ? AND event_seq = ?`, generation + 1, now, ordinal, e);
      jobs.push({ e, p: [ordinal], g: generation + 1 });
      restore.push({ day, ordinal, e, g: generation + 1, at });
      earliest = Math.min(earliest, now);
    };
    for (const [ordinal, endpoint] of this.#endpoints) {
      // A disabled endpoint's deliveries are being failed instead.
      if (endpoint.deleted || endpoint.status === "disabled") continue;
      for (const { day } of this.#days) {
        const t = dayTables(day);
        const overdue = this.#sql
          .exec<{ event_seq: number; generation: number; next_attempt_at: number }>(
            `SELECT event_seq, generation, next_attempt_at FROM ${t.deliveries} INDEXED BY ${t.deliveries}_pending
             WHERE ordinal = ? AND status = 'pending' AND line_seq IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`,
            ordinal,
            cutoff,
            REDRIVE_CHUNK - jobs.length + 1,
          )
          .toArray();
        for (const r of overdue) {
          if (jobs.length === REDRIVE_CHUNK) return { jobs, restore, next: now };
          redrive(day, ordinal, r.event_seq, r.generation, r.next_attempt_at);
        }
        const later = this.#sql
          .exec<{ at: number | null }>(
            `SELECT MIN(next_attempt_at) AS at FROM ${t.deliveries} INDEXED BY ${t.deliveries}_pending WHERE ordinal = ? AND status = 'pending' AND line_seq IS NULL AND next_attempt_at > ?`,
            ordinal,
            cutoff,
          )
          .one().at;
        if (later !== null) earliest = Math.min(earliest, later);
      }
      // Behind a line's head every place is parked (NULL): only the head can be overdue.
      const head = this.#lineHead(ordinal);
      if (head?.nextAttemptAt == null) continue;
      if (head.nextAttemptAt > cutoff) {
        earliest = Math.min(earliest, head.nextAttemptAt);
        continue;
      }
      if (jobs.length === REDRIVE_CHUNK) return { jobs, restore, next: now };
      this.#leases.delete(ordinal);
      redrive(head.day, ordinal, head.e, head.generation, head.nextAttemptAt);
    }
    const untried = this.#redriveUntried(now, REDRIVE_CHUNK - jobs.length);
    jobs.push(...untried.jobs);
    restore.push(...untried.restore);
    if (untried.full) return { jobs, restore, next: now };
    const next = Math.min(earliest === Infinity ? Infinity : earliest + OVERDUE_MS, untried.next);
    return { jobs, restore, next };
  }

  /**
   * Untried deliveries (no row: the event's matched list stands for them) whose message was
   * lost: events above the untried floor accepted before now − OVERDUE_MS. Each gets a row
   * at generation 1, due now (the lost message's copies, at generation 0, go stale), and the
   * floor moves past events with no untried delivery left. Reads at most UNTRIED_SCAN events.
   */
  #redriveUntried(now: number, budget: number): { jobs: DeliveryJob[]; restore: { day: number; ordinal: number; e: number; g: number; at: number }[]; next: number; full: boolean } {
    const cutoff = now - OVERDUE_MS;
    const jobs: DeliveryJob[] = [];
    const restore: { day: number; ordinal: number; e: number; g: number; at: number }[] = [];
    let floor = Math.max(this.#untriedFloor, this.#days[0]?.firstSeq ?? 0);
    let next = Infinity;
    let scanned = 0;
    let full = false;
    scan: for (let i = 0; i < this.#days.length; i++) {
      const { day } = this.#days[i]!;
      if ((this.#days[i + 1]?.firstSeq ?? Infinity) <= floor) continue;
      const t = dayTables(day);
      for (let chunk: { seq: number; created_at: number; matched: string; test: number }[]; ; ) {
        // Whole chunks (toArray): leaving a live cursor by `break` would hold a lock that refuses retention's DROP TABLE.
        const size = Math.min(SCAN_CHUNK, UNTRIED_SCAN - scanned);
        chunk = this.#sql.exec<{ seq: number; created_at: number; matched: string; test: number }>(`SELECT seq, created_at, matched, test FROM ${t.events} WHERE seq >= ? ORDER BY seq LIMIT ?`, floor, size).toArray();
        for (const ev of chunk) {
          scanned++;
          if (ev.created_at > cutoff) {
            next = ev.created_at + OVERDUE_MS;
            break scan;
          }
          const owed = ev.test === 1 ? [] : (JSON.parse(ev.matched) as number[]).filter((ordinal) => this.#endpoints.get(ordinal)?.deleted === false);
          const untried = owed.filter((ordinal) => this.#sql.exec(`SELECT 1 FROM ${t.deliveries} WHERE ordinal = ? AND event_seq = ?`, ordinal, ev.seq).toArray().length === 0);
          if (jobs.length + untried.length > budget) {
            full = true;
            break scan;
          }
          for (const ordinal of untried) {
            this.#sql.exec(
              `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, attempts, run_start, generation, next_attempt_at, test, created_at) VALUES (?, ?, 'pending', 0, 0, 1, ?, 0, ?)`,
              ordinal,
              ev.seq,
              now,
              ev.created_at,
            );
            jobs.push({ e: ev.seq, p: [ordinal], g: 1 });
            // A failed send puts it back overdue: the written-rows look above finds it next time.
            restore.push({ day, ordinal, e: ev.seq, g: 1, at: ev.created_at });
          }
          floor = ev.seq + 1;
          if (scanned === UNTRIED_SCAN) {
            full = true;
            break scan;
          }
        }
        if (chunk.length < size) break;
      }
    }
    if (floor !== this.#untriedFloor) {
      this.#untriedFloor = floor;
      this.#sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('untried_floor', ?)`, floor);
    }
    return { jobs, restore, next, full };
  }

  /**
   * What an endpoint's circuit says of one delivery at `now`. No side effect: the claim
   * starts the probe only once the delivery really goes. Closed: go. Open within its
   * cool-off: park. Half-open: the first delivery to come goes as the probe (or the one the
   * alarm released for it); others park while the probe holds the endpoint; a second copy of
   * an admitted probe's message comes back when the probe's lease lapses.
   */
  #circuitGate(ordinal: number, e: number, now: number): { kind: "go"; probe: boolean } | { kind: "park" } | { kind: "later"; delayMs: number } {
    const c = this.#circuits.get(ordinal);
    if (!c || c.state !== "open") return { kind: "go", probe: false };
    if (now < c.openUntil!) return { kind: "park" };
    const p = c.probe;
    if (p && p.until > now) {
      if (p.e !== e) return { kind: "park" };
      return p.started ? { kind: "later", delayMs: p.until - now } : { kind: "go", probe: true };
    }
    return { kind: "go", probe: true };
  }

  /** Admits delivery `e` as its endpoint's probe (1 row written); answers the end of its lease. */
  #startProbe(ordinal: number, e: number, now: number): number {
    const c = this.#circuitOf(ordinal);
    c.probe = { e, until: now + PROBE_LEASE_MS, started: true };
    this.#saveCircuit(ordinal, c);
    return c.probe.until;
  }

  /** A copy of an endpoint's circuit (pristine when it has no row), to change and then save. */
  #circuitOf(ordinal: number): Circuit {
    const c = this.#circuits.get(ordinal);
    return c ? { ...c, probe: c.probe && { ...c.probe } } : pristineCircuit();
  }

  /**
   * Stores a circuit. A pristine one (closed, nothing counted, no probe, nothing left to
   * release) has no row, so a healthy endpoint's success path writes nothing; any other is
   * one upserted row (1 row written), removed (1) when it becomes pristine again.
   */
  #saveCircuit(ordinal: number, c: Circuit): void {
    if (c.state === "closed" && c.failures === 0 && c.reopenings === 0 && c.probe === null && !c.draining) {
      if (this.#circuits.delete(ordinal)) this.#sql.exec(`DELETE FROM circuits WHERE ordinal = ?`, ordinal);
      return;
    }
    this.#circuits.set(ordinal, c);
    this.#sql.exec(
      `INSERT INTO circuits (ordinal, state, failures, open_until, opened_at, reopenings, probe_seq, probe_until, probe_started, draining) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ordinal) DO UPDATE SET state = excluded.state, failures = excluded.failures, open_until = excluded.open_until, opened_at = excluded.opened_at,
         reopenings = excluded.reopenings, probe_seq = excluded.probe_seq, probe_until = excluded.probe_until, probe_started = excluded.probe_started, draining = excluded.draining`,
      ordinal, c.state, c.failures, c.openUntil, c.openedAt, c.reopenings, c.probe?.e ?? null, c.probe?.until ?? null, c.probe?.started ? 1 : 0, c.draining ? 1 : 0,
    );
  }

  /** A deleted endpoint's circuit goes with it (DESIGN.md "Endpoints": DELETE). Answers false: nothing to wake. */
  #dropCircuit(ordinal: number): boolean {
    if (this.#circuits.delete(ordinal)) this.#sql.exec(`DELETE FROM circuits WHERE ordinal = ?`, ordinal);
    return false;
  }

  /**
   * The endpoint turned its circuit off: nothing is counted any more, and an open circuit
   * closes at once, its parked deliveries released by the alarm. Answers whether the alarm must run.
   */
  #switchCircuitOff(ordinal: number): boolean {
    const c = this.#circuits.get(ordinal);
    if (!c) return false;
    const release = c.state === "open" || c.draining;
    this.#saveCircuit(ordinal, { ...pristineCircuit(), draining: release });
    return release;
  }

  /**
   * Applies one record's outcomes for an endpoint to its circuit, in the order their attempts
   * ended: an unreachable attempt counts (opening the circuit at `openAfter`, re-opening it
   * with a doubled cool-off when it was the probe or came after the cool-off); an answered
   * one — any status — resets the count and closes an open circuit (the probe's answer, or
   * any answer that came after the opening), releasing what it parked. An outcome without an
   * attempt says nothing of the receiver. Undefined when there is nothing to do: a closed
   * circuit with nothing counted and no unreachable attempt (the success path) writes nothing.
   */
  #applyCircuit(ordinal: number, seen: CircuitSighting[]): { changes: CircuitChange[]; released: DeliveryJob[]; wakeAt: number } | undefined {
    const endpoint = this.#endpoints.get(ordinal);
    if (!endpoint || endpoint.deleted) return undefined;
    if (!this.#circuits.has(ordinal) && !seen.some((x) => x.unreachable)) return undefined;
    const settings = endpoint.circuit;
    const c = this.#circuitOf(ordinal);
    const changes: CircuitChange[] = [];
    const report = (state: "open" | "closed", reopened = false) =>
      changes.push({ ordinal, endpointId: endpoint.id, state, openUntil: c.openUntil, failures: c.failures, openedAt: c.openedAt, ...(reopened ? { reopened } : {}) });
    let closedAt: number | null = null;
    let wakeAt = Infinity;
    for (const x of [...seen].sort((p, q) => p.at - q.at)) {
      const probe = c.probe?.e === x.e;
      if (probe) c.probe = null;
      if (!x.attempted) {
        // The probe sent nothing (its URL was refused at send time): another one goes at once.
        if (probe && c.state === "open") wakeAt = Math.min(wakeAt, x.at);
        continue;
      }
      if (!x.unreachable) {
        if (c.state === "closed") {
          c.failures = 0;
        } else if (probe || x.at >= c.openedAt!) {
          Object.assign(c, { state: "closed", failures: 0, openUntil: null, openedAt: null, reopenings: 0, probe: null });
          closedAt = x.at;
          report("closed");
        }
        continue;
      }
      if (!settings.enabled) continue;
      c.failures++;
      if (c.state === "closed") {
        if (c.failures < settings.openAfter) continue;
        Object.assign(c, { state: "open", openedAt: x.at, openUntil: x.at + coolOffMs(settings.coolOffS, 0), reopenings: 0, probe: null, draining: false });
        closedAt = null;
        report("open");
      } else if (probe || x.at >= c.openUntil!) {
        // A failed probe: the same outage, a longer cool-off.
        c.reopenings++;
        c.openUntil = x.at + coolOffMs(settings.coolOffS, c.reopenings);
        report("open", true);
      }
    }
    let released: DeliveryJob[] = [];
    if (c.state === "open") {
      wakeAt = Math.min(wakeAt, c.openUntil!);
    } else if (closedAt !== null) {
      released = this.#releaseClosed(ordinal, c, closedAt);
      // A rate-limited endpoint's waiters go at its pace, from the alarm; a long backlog continues there.
      if (c.draining || endpoint.rateLimit !== null) wakeAt = Math.min(wakeAt, closedAt);
    }
    this.#saveCircuit(ordinal, c);
    return { changes, released, wakeAt };
  }

  /**
   * A circuit closed: the deliveries it parked go again (new generation, due now). A FIFO
   * line starts its head; others are released RESUME_CHUNK at a time (`draining` while more
   * wait, continued by the alarm); a rate-limited endpoint's waiters are left to the alarm,
   * which releases them at its pace. A paused endpoint keeps them for its resume; a disabled
   * one is failing them.
   */
  #releaseClosed(ordinal: number, c: Circuit, now: number): DeliveryJob[] {
    c.draining = false;
    const endpoint = this.#endpoints.get(ordinal);
    if (!endpoint || endpoint.deleted || endpoint.status !== "active" || endpoint.rateLimit !== null) return [];
    const jobs: DeliveryJob[] = [];
    const head = this.#startHead(ordinal, now);
    if (head) jobs.push(head);
    const parked = this.#releaseParked(ordinal, RESUME_CHUNK, now);
    jobs.push(...parked.jobs);
    c.draining = parked.more;
    return jobs;
  }

  /**
   * The next chunk of each closed circuit's backlog, RESUME_CHUNK in all per run. An endpoint
   * stays `draining` until a run finds nothing left, so a chunk whose send failed (parked
   * again by `#send`) is released by the next run. `more` asks for another run at once.
   */
  #continueDrains(now: number): { jobs: DeliveryJob[]; more: boolean } {
    const jobs: DeliveryJob[] = [];
    let more = false;
    for (const [ordinal, circuit] of [...this.#circuits]) {
      if (!circuit.draining) continue;
      if (jobs.length >= RESUME_CHUNK) return { jobs, more: true };
      const c = this.#circuitOf(ordinal);
      const released = c.state === "closed" ? this.#releaseClosed(ordinal, c, now) : [];
      c.draining = released.length > 0;
      more ||= c.draining;
      jobs.push(...released);
      this.#saveCircuit(ordinal, c);
    }
    return { jobs, more };
  }

  /**
   * Open circuits whose cool-off is over with no probe out (or one whose lease lapsed): one
   * parked delivery — the FIFO line's head, else the oldest — is made due with a new
   * generation and marked as the probe, for the alarm to send. With nothing parked, the next
   * delivery to be claimed probes.
   */
  #releaseProbes(now: number): DeliveryJob[] {
    const jobs: DeliveryJob[] = [];
    for (const [ordinal, circuit] of [...this.#circuits]) {
      if (circuit.state !== "open" || now < circuit.openUntil! || (circuit.probe !== null && circuit.probe.until > now)) continue;
      const endpoint = this.#endpoints.get(ordinal);
      if (!endpoint || endpoint.deleted || endpoint.status !== "active") continue;
      const c = this.#circuitOf(ordinal);
      const job = this.#startHead(ordinal, now) ?? this.#releaseParked(ordinal, 1, now).jobs[0];
      c.probe = job ? { e: job.e, until: now + PROBE_LEASE_MS, started: false } : null;
      if (job) jobs.push(job);
      if (job || circuit.probe !== null) this.#saveCircuit(ordinal, c);
    }
    return jobs;
  }

  /** When the alarm must next look at a circuit: an open one's end of cool-off, or its probe's lease (Infinity: none). */
  #circuitWakeAt(now: number): number {
    let at = Infinity;
    for (const [ordinal, c] of this.#circuits) {
      if (c.state !== "open") continue;
      const endpoint = this.#endpoints.get(ordinal);
      if (!endpoint || endpoint.deleted || endpoint.status !== "active") continue;
      if (now < c.openUntil!) at = Math.min(at, c.openUntil!);
      else if (c.probe !== null && c.probe.until > now) at = Math.min(at, c.probe.until);
    }
    return at;
  }

  #park(t: ReturnType<typeof dayTables>, ordinal: number, seq: number, row: DeliveryRowRaw | undefined): void {
    if (row) {
      this.#sql.exec(`UPDATE ${t.deliveries} SET next_attempt_at = NULL WHERE ordinal = ? AND event_seq = ?`, ordinal, seq);
      return;
    }
    this.#sql.exec(
      `INSERT INTO ${t.deliveries} (ordinal, event_seq, status, attempts, run_start, generation, next_attempt_at, test, created_at)
       SELECT ?, ?, 'pending', 0, 0, 0, NULL, 0, created_at FROM ${t.events} WHERE seq = ?`,
      ordinal,
      seq,
      seq,
    );
  }
}

function jobsOf(seq: number, ordinals: number[], generation: number): DeliveryJob[] {
  const jobs: DeliveryJob[] = [];
  for (let i = 0; i < ordinals.length; i += ENDPOINTS_PER_JOB) jobs.push({ e: seq, p: ordinals.slice(i, i + ENDPOINTS_PER_JOB), g: generation });
  return jobs;
}

interface EventRowRaw extends Record<string, SqlStorageValue> {
  seq: number;
  id: string;
  type: string;
  created_at: number;
  matched: string;
}

interface AttemptColumns extends Record<string, SqlStorageValue> {
  a1_started_at: number | null;
  a1_duration_ms: number | null;
  a1_response_status: number | null;
  a1_response_body: string | null;
  a1_error: string | null;
  a1_location: string | null;
  a1_request: string | null;
}

interface AttemptValues {
  started_at: number;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
  location: string | null;
  request: string;
}

interface AttemptRowRaw extends AttemptValues, Record<string, SqlStorageValue> {
  n: number;
}

function attemptOf(n: number, a: AttemptValues): AttemptRecord {
  const request = JSON.parse(a.request) as { method: string; url: string; headers: Record<string, string> };
  return {
    n,
    startedAt: a.started_at,
    durationMs: a.duration_ms,
    responseStatus: a.response_status,
    responseBody: a.response_body,
    error: a.error,
    location: a.location,
    requestMethod: request.method,
    requestUrl: request.url,
    requestHeaders: request.headers,
  };
}
