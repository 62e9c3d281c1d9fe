/**
 * The final accounting of the reliability tests (issue 13): after faults or load, is
 * anything lost? Pure code over plain data, so the integration tests (reading the API and
 * the tenants' TenantLogs inside workerd) and the load test (reading the API of a Worker
 * under `wrangler dev`) share it.
 *
 * Rules checked (DESIGN "Architecture — data plane v2" and "Delivery rules"):
 * - every accepted event has exactly one delivery per matching endpoint (matched inside
 *   ingest: an untried delivery counts, as `pending`), and no delivery to an endpoint that
 *   does not match;
 * - every delivery is `delivered`, or `failed` with exactly one dead letter;
 *   none is `pending` past its `next_attempt_at` (stuck); with `final`, none is pending at all;
 * - the receiver saw each delivered event at its endpoint at least once, and every
 *   recorded attempt (a request that was made) at least once;
 * - duplicates: requests the receiver saw beyond the attempts the log recorded (the
 *   at-least-once double sends the design allows: a crash after a 2xx, two copies at once).
 */

export interface AccountedEvent {
  id: string;
  tenantId: string;
  /** Ids of the endpoints the event matches (active or disabled when it was accepted, filter matching). */
  expectedEndpoints: string[];
}

export interface AccountedDelivery {
  id: string;
  eventId: string;
  endpointId: string;
  status: string;
  reason: string | null;
  /** The count of attempts recorded. */
  attempts: number;
  /** Epoch ms; an untried delivery is due from its event's acceptance; null while parked. */
  nextAttemptAt: number | null;
}

export interface AccountingInput {
  events: AccountedEvent[];
  /** Every delivery of those events (all endpoints, not only expected ones). */
  deliveries: AccountedDelivery[];
  /** Dead letters by delivery id (a count: more than one is a problem too). */
  deadLetters: Map<string, number>;
  /** Requests the receiver saw: `${endpointId} ${eventId}` → count. */
  received: Map<string, number>;
  now: number;
  /** Require that nothing is pending any more (the run has settled). */
  final: boolean;
}

export interface AccountingReport {
  events: number;
  deliveries: number;
  delivered: number;
  failed: number;
  pending: number;
  stuck: number;
  deadLetters: number;
  attempts: number;
  /** Attempts beyond each delivery's first. */
  retries: number;
  /** Requests the receivers saw in all. */
  receiverRequests: number;
  /** Requests seen beyond the attempts recorded (double sends). */
  duplicates: number;
  failedByReason: Record<string, number>;
  /** Everything that breaks a rule; empty when nothing was lost. */
  problems: string[];
}

const KNOWN_REASONS = new Set(["retries_exhausted", "non_retryable_status", "endpoint_disabled", "url_not_allowed", "expired", "consumer_error"]);

export const receivedKey = (endpointId: string, eventId: string) => `${endpointId} ${eventId}`;

export function account(input: AccountingInput): AccountingReport {
  const problems: string[] = [];
  const problem = (p: string) => {
    if (problems.length < 50) problems.push(p);
    else if (problems.length === 50) problems.push("… more problems not listed");
  };
  const byEvent = new Map<string, AccountedDelivery[]>();
  for (const d of input.deliveries) {
    const list = byEvent.get(d.eventId) ?? [];
    list.push(d);
    byEvent.set(d.eventId, list);
  }
  const report: AccountingReport = {
    events: input.events.length,
    deliveries: input.deliveries.length,
    delivered: 0,
    failed: 0,
    pending: 0,
    stuck: 0,
    deadLetters: 0,
    attempts: 0,
    retries: 0,
    receiverRequests: 0,
    duplicates: 0,
    failedByReason: {},
    problems,
  };
  const eventIds = new Set<string>();
  for (const ev of input.events) {
    eventIds.add(ev.id);
    const got = byEvent.get(ev.id) ?? [];
    const perEndpoint = new Map<string, number>();
    for (const d of got) perEndpoint.set(d.endpointId, (perEndpoint.get(d.endpointId) ?? 0) + 1);
    for (const ep of ev.expectedEndpoints) {
      const n = perEndpoint.get(ep) ?? 0;
      if (n !== 1) problem(`event ${ev.id} → endpoint ${ep}: ${n} deliveries (want exactly 1)`);
    }
    const expected = new Set(ev.expectedEndpoints);
    for (const ep of perEndpoint.keys()) if (!expected.has(ep)) problem(`event ${ev.id}: a delivery to ${ep}, which it does not match`);
  }
  for (const d of input.deliveries) {
    if (!eventIds.has(d.eventId)) problem(`delivery ${d.id} belongs to an event that was not accepted (${d.eventId})`);
    report.attempts += d.attempts;
    report.retries += Math.max(0, d.attempts - 1);
    const dls = input.deadLetters.get(d.id) ?? 0;
    report.deadLetters += dls;
    const seen = input.received.get(receivedKey(d.endpointId, d.eventId)) ?? 0;
    report.duplicates += Math.max(0, seen - d.attempts);
    // Every recorded attempt is a request that was made: the receiver must have seen it.
    if (seen < d.attempts) problem(`delivery ${d.id}: ${d.attempts} attempt(s) recorded but the receiver saw ${seen}`);
    if (d.status === "delivered") {
      report.delivered += 1;
      if (dls !== 0) problem(`delivery ${d.id} is delivered but has ${dls} dead letter(s)`);
      if (seen < 1) problem(`delivery ${d.id} is delivered but the receiver never saw event ${d.eventId} at ${d.endpointId}`);
      if (d.attempts < 1) problem(`delivery ${d.id} is delivered with no attempt recorded`);
    } else if (d.status === "failed") {
      report.failed += 1;
      const reason = d.reason ?? "(none)";
      report.failedByReason[reason] = (report.failedByReason[reason] ?? 0) + 1;
      if (dls !== 1) problem(`delivery ${d.id} failed (${reason}) with ${dls} dead letter(s) (want exactly 1)`);
      if (!KNOWN_REASONS.has(reason)) problem(`delivery ${d.id} failed with an unknown reason ${reason}`);
    } else if (d.status === "pending") {
      report.pending += 1;
      if (d.nextAttemptAt !== null && d.nextAttemptAt < input.now) {
        report.stuck += 1;
        problem(`delivery ${d.id} is pending ${input.now - d.nextAttemptAt} ms past its next_attempt_at`);
      } else if (input.final) problem(`delivery ${d.id} is still pending (next_attempt_at ${d.nextAttemptAt})`);
    } else problem(`delivery ${d.id} has status ${d.status}`);
  }
  for (const n of input.received.values()) report.receiverRequests += n;
  return report;
}

/** A one-line summary for logs and docs. */
export function summary(r: AccountingReport): string {
  const reasons = Object.entries(r.failedByReason)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return (
    `events ${r.events}, deliveries ${r.deliveries} (delivered ${r.delivered}, failed ${r.failed}${reasons ? ` [${reasons}]` : ""}, pending ${r.pending}, stuck ${r.stuck}), ` +
    `attempts ${r.attempts}, retries ${r.retries}, dead letters ${r.deadLetters}, receiver requests ${r.receiverRequests}, duplicates ${r.duplicates}, problems ${r.problems.length}`
  );
}
