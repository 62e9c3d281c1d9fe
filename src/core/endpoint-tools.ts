/**
 * @module Endpoint tools: a test send now, and delivery stats over a window.
 */
import type { Deps } from "../api/context";
import { newId } from "../domain/ids";
import { ALTERED_NUMBER_MESSAGE, findAlteredNumbers } from "../domain/safe-json";
import { MAX_JSON_DEPTH, nestsDeeperThan, TOO_DEEP_MESSAGE } from "../domain/json-depth";
import { classifyAttempt } from "../domain/outcome";
import { checkEndpointUrl } from "../domain/url-policy";
import { invalid } from "../errors";
import { insertTestDelivery, outcomeStatements, runBatch } from "../db/queries/deliveries";
import { validSecrets } from "../db/queries/endpoints";
import * as log from "../db/queries/log";
import { sendRequest } from "../outbound/send";
import { attemptRecordOf, buildRequest } from "../pipeline/request";
import { endpointAuth, getEndpoint } from "./endpoints";
import { findEventType } from "./event-types";
import { validateAgainst } from "./json-schema";
import { unseal } from "./secrets";

export interface TestSendResult {
  deliverySeq: number;
  responseStatus: number | null;
  durationMs: number | null;
  error: string | null;
  responseBody: string | null;
}

/**
 * Sends one signed request now, whatever the endpoint's status, line or rate limit (but
 * not past the URL policy). Recorded as a `test` delivery that is never retried, has no
 * dead letter, and counts neither in stats nor toward auto-disable.
 */
export async function sendTestEvent(
  deps: Deps,
  tenantId: string,
  endpointId: string,
  input: { type: string; data?: unknown },
  /** The JSON text `input` (root "") or its `data` (root "data") was parsed from: a number it would alter is refused, as at ingest. */
  source: { text: string; root: "" | "data" },
): Promise<TestSendResult> {
  if (nestsDeeperThan(source.text, MAX_JSON_DEPTH)) throw invalid([{ path: "data", message: TOO_DEEP_MESSAGE }]);
  const altered = findAlteredNumbers(source.text, source.root).filter((path) => path === "data" || path.startsWith("data.") || path.startsWith("data["));
  if (altered.length) throw invalid(altered.map((path) => ({ path, message: ALTERED_NUMBER_MESSAGE })));
  const endpoint = await getEndpoint(deps, tenantId, endpointId);
  const eventType = await findEventType(deps, input.type);
  if (!eventType) throw invalid([{ path: "type", message: `unknown event type ${input.type}` }]);
  const data = input.data !== undefined ? input.data : eventType.example;
  if (data === undefined || data === null) throw invalid([{ path: "data", message: "is required: this event type has no example" }]);
  if (input.data !== undefined && eventType.schema) {
    const errors = validateAgainst(eventType.schema, data, "data");
    if (errors.length) throw invalid(errors);
  }
  const dataJson = JSON.stringify(data);
  // Opened before anything is written: without SECRETS_KEY this answers 503 and records nothing.
  const secrets = await Promise.all((await validSecrets(deps.db, endpointId, deps.now)).map((s) => unseal(deps.config, s.secretBox)));
  const auth = await endpointAuth(deps, endpoint);
  const eventId = newId("evt", deps.now);
  const { eventSeq, deliverySeq } = await insertTestDelivery(deps.db, { eventId, tenantId, endpointId, type: input.type, data: dataJson, now: deps.now });
  const base = { deliverySeq, generation: 1, attemptsBefore: 0, nextAttemptAt: null, now: deps.now, test: true };

  const url = checkEndpointUrl(endpoint.url, deps.config.allowPrivateUrls);
  if (!url.ok) {
    await runBatch(deps.db, outcomeStatements(deps.db, { ...base, attempt: null, status: "failed", reason: "url_not_allowed" }));
    return { deliverySeq, responseStatus: null, durationMs: null, error: `url_not_allowed: ${url.message}`, responseBody: null };
  }
  const { request, loggedHeaders } = await buildRequest({
    config: deps.config,
    endpoint,
    event: { seq: eventSeq, id: eventId, type: input.type, data: dataJson, occurredAt: null, createdAt: deps.now },
    secrets,
    auth,
    attempt: 1,
    now: Date.now(),
  });
  const sent = await sendRequest(request);
  const verdict = classifyAttempt(sent.result);
  const attempt = attemptRecordOf(1, sent, request, loggedHeaders);
  await runBatch(
    deps.db,
    outcomeStatements(deps.db, {
      ...base,
      attempt,
      status: verdict.outcome === "success" ? "delivered" : "failed",
      reason: verdict.outcome === "success" ? null : verdict.outcome === "final" ? "non_retryable_status" : "retries_exhausted",
    }),
  );
  return { deliverySeq, responseStatus: attempt.responseStatus, durationMs: attempt.durationMs, error: attempt.error, responseBody: attempt.responseBody };
}

/** Most recent attempt durations sampled for the latency percentiles. */
const LATENCY_SAMPLE = 10_000;
const DAY_MS = 86_400_000;

function percentile(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Counts, success rate and attempt latency of deliveries created in [since, until). */
export async function endpointStats(deps: Deps, tenantId: string, endpointId: string, window: { since?: number; until?: number }) {
  await getEndpoint(deps, tenantId, endpointId);
  const since = window.since ?? deps.now - DAY_MS;
  const until = window.until ?? deps.now + 1;
  if (since >= until) throw invalid([{ path: "since", message: "must be before until" }]);
  const counts = await log.countByStatus(deps.db, endpointId, since, until);
  const durations = (await log.attemptDurations(deps.db, endpointId, since, until, LATENCY_SAMPLE)).sort((a, b) => a - b);
  const finished = counts.delivered + counts.failed;
  return {
    since,
    until,
    counts,
    successRate: finished === 0 ? null : counts.delivered / finished,
    latency: { p50: percentile(durations, 50), p95: percentile(durations, 95) },
  };
}
