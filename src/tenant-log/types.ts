/**
 * @module The TenantLog's RPC contract: what its callers send and get back
 * (docs/data-plane-v2.md). Plain data: every value crosses a Durable Object call.
 */
import type { AttemptRecord } from "../domain/attempt";
import type { DeliveryReason, DeliveryStatus, StoredFilter } from "../db/schema";

/** A delivery message names one event and up to this many of its endpoints (one consumer lane each). */
export const ENDPOINTS_PER_JOB = 6;

export interface EndpointSnapshot {
  id: string;
  version: number;
  status: "active" | "paused" | "disabled";
  filter: StoredFilter;
  ordering: "none" | "fifo";
  rateLimit: number | null;
  /** The circuit breaker's settings (DESIGN.md "Delivery rules": circuit breaker). */
  circuit: CircuitSettings;
  deleted: boolean;
}

/** An endpoint's circuit breaker: opens after `openAfter` consecutive unreachable attempts, for `coolOffS` (doubling per re-opening, ≤ 3 600 s). */
export interface CircuitSettings {
  enabled: boolean;
  openAfter: number;
  coolOffS: number;
}

/** A change of an endpoint's circuit that `record` (or the alarm) made, for D1's endpoint row and the operational event. */
export interface CircuitChange {
  ordinal: number;
  endpointId: string;
  state: "open" | "closed";
  /** When an open circuit lets its probe through; null when closed. */
  openUntil: number | null;
  /** Consecutive timeouts / connection failures that opened it (0 when closed). */
  failures: number;
  /** When this opening began (names its `switchyard.endpoint.circuit_opened` event); null when closed. */
  openedAt: number | null;
  /**
   * A failed probe re-opened it (a longer cool-off): the same outage as the opening at
   * `openedAt`, so no new `switchyard.endpoint.circuit_opened` (D1's row still gets the new `openUntil`).
   */
  reopened?: boolean;
}

export interface IngestInput {
  /** The tenant's never-reused seq: this log's name, and the `t` of every message. */
  tenantSeq: number;
  /** The host's id; null to have the log mint one that embeds its seq (domain/ids `logEventId`). */
  id: string | null;
  type: string;
  /** The event type's group (matching reads it). */
  group: string | null;
  dataJson: string;
  occurredAt: number | null;
  /** The host `id` or the Idempotency-Key; null when there is neither. */
  idemKey: string | null;
  bodyHash: string;
  now: number;
  /** `TENANT_LOG_FULL_BYTES`: above it new events are refused (the object holds 10 GB). */
  fullBytes: number;
}

/** The body of a delivery message: an event and up to ENDPOINTS_PER_JOB endpoint ordinals at one generation. */
export interface DeliveryJob {
  e: number;
  p: number[];
  g: number;
}

/** A delivery message on the queue: a job and the tenant seq `t` naming its TenantLog. */
export interface LogDeliverMessage extends DeliveryJob {
  kind: "deliver";
  t: number;
  /**
   * Set by the deliveries DLQ when it re-drives the message (src/domain/trouble.ts): when our
   * own trouble with it began and how often it was re-driven. Kept by the consumer's own
   * retries; a webhook retry or a released line head is a new message without it.
   */
  trouble?: { since: number; redrives: number };
}

export interface LoggedEvent {
  seq: number;
  id: string;
  type: string;
  createdAt: number;
}

export type IngestResult =
  | { kind: "accepted"; event: LoggedEvent; jobs: DeliveryJob[] }
  /** The same key and body again: the original event, and its untried jobs if their first send failed (recorded by `unsent`). */
  | { kind: "duplicate"; event: LoggedEvent; jobs: DeliveryJob[] }
  | { kind: "conflict"; event: LoggedEvent }
  /** The log is past `fullBytes`: refused before anything is written (503 `tenant-log-full`). */
  | { kind: "full"; bytes: number }
  /** The tenant was deleted (its log emptied): nothing is accepted. */
  | { kind: "gone" };

export interface ClaimedEvent {
  seq: number;
  id: string;
  type: string;
  dataJson: string;
  occurredAt: number | null;
  createdAt: number;
}

export type ClaimVerdict =
  /** `startAt`: when the request may start (a rate slot under a second away; else now). */
  | { kind: "go"; e: number; ordinal: number; endpointId: string; version: number; generation: number; attemptsBefore: number; runStart: number; startAt: number }
  /** Nothing to send: the message is older than the delivery, or the delivery is not due. */
  | { kind: "stale"; e: number; ordinal: number }
  /** Written as waiting (paused, behind its FIFO head, or for a rate slot): whoever frees it enqueues it. */
  | { kind: "parked"; e: number; ordinal: number }
  /**
   * Not yet: it is due later (a wait beyond the queue's longest delay), or another copy of
   * its message holds its FIFO line. The consumer sends the job again after `delayMs`.
   */
  | { kind: "later"; e: number; ordinal: number; delayMs: number };

export interface ClaimResult {
  verdicts: ClaimVerdict[];
  /** Each event a `go` names, once. */
  events: ClaimedEvent[];
}

export interface Outcome {
  e: number;
  ordinal: number;
  generation: number;
  /** What `claim` saw: the write applies only if the log still says so. */
  attemptsBefore: number;
  runStart: number;
  /** Null when nothing was sent (the URL policy refused the URL at send time): no attempt is counted. */
  attempt: AttemptRecord | null;
  status: DeliveryStatus;
  reason: DeliveryReason | null;
  nextAttemptAt: number | null;
  /** The attempt timed out or could not connect (no answer): what the circuit counts. A 5xx is an answer. */
  unreachable?: boolean;
}

export interface RecordResult {
  recorded: number;
  /** Retries to enqueue (with their delay) before the consumer acks. */
  retries: (DeliveryJob & { delayMs: number })[];
  /** FIFO heads this batch's outcomes released, to enqueue now. */
  released: DeliveryJob[];
  /** Circuits this batch opened or closed: mirrored to D1's endpoint rows, an opening reported to `_operator`. */
  circuits?: CircuitChange[];
}

/** One delivery as a reader sees it: a written row, or an untried one that the event's matched list stands for. */
export interface LoggedDelivery {
  e: number;
  ordinal: number;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  reason: DeliveryReason | null;
  attempts: number;
  generation: number;
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  responseStatus: number | null;
  test: boolean;
  createdAt: number;
}

export interface DeliveryQuery {
  status?: DeliveryStatus;
  type?: string;
  since?: number;
  until?: number;
  /** Event seq to continue below (exclusive), from the previous page. */
  before?: number;
  limit: number;
}

/** A page: `next` is where to continue (null ends the list); a page may be short, even empty. */
export interface Page<T> {
  items: T[];
  next: number | null;
}

/** Rows one reader call may read before it answers a short page (DESIGN.md: about 10 000). */
export const READ_BUDGET = 10_000;

/**
 * What `retry` did: `queued` (send `job`), `waiting` (its line or a pause holds it), or why
 * not. A delivery whose day retention dropped is revived from `kept` as a new event row:
 * `e` is then its new event seq (its delivery's new key); `gone` when nothing of it is kept
 * (the API answers 410).
 */
export type RetryResult =
  | { kind: "queued"; job: DeliveryJob; e?: number }
  | { kind: "waiting"; e?: number }
  | { kind: "not_found" }
  | { kind: "disabled" }
  | { kind: "gone" };

/** What `giveUp` did: deliveries failed `consumer_error`, and the FIFO heads that released (the caller enqueues them). */
export interface GiveUpResult {
  failed: number;
  released: DeliveryJob[];
}

/** One hour of an endpoint's rollups (or a tenant's sum of them), for charts and summaries. */
export interface HourlyFigures {
  /** floor(created_at / 3 600 000) of the deliveries counted. */
  hour: number;
  created: number;
  delivered: number;
  failed: number;
  /** Attempt durations: counts per bucket of domain/latency-histogram. */
  latency: number[];
}
