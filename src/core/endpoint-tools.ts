/**
 * @module Endpoint tools: a test send now, and delivery stats over a window.
 */
import type { Deps } from "./deps";
import { logDeliveryId, newId } from "../domain/ids";
import { ALTERED_NUMBER_MESSAGE, findAlteredNumbers } from "../domain/safe-json";
import { MAX_JSON_DEPTH, nestsDeeperThan, TOO_DEEP_MESSAGE } from "../domain/json-depth";
import { classifyAttempt } from "../domain/outcome";
import { checkEndpointUrl } from "../domain/url-policy";
import { invalid } from "../errors";
import type { AttemptRecord } from "../domain/attempt";
import { validSecrets } from "../db/queries/endpoints";
import type { DeliveryReason } from "../db/schema";
import { percentileOf } from "../domain/latency-histogram";
import { sendRequest } from "../outbound/send";
import { attemptRecordOf, buildRequest } from "../outbound/request";
import { endpointAuth, getEndpoint } from "./endpoints";
import { findEventType } from "./event-types";
import { validateAgainst } from "./json-schema";
import { unseal } from "./secrets";
import type { HourlyFigures } from "../tenant-log/types";
import { syncEndpoint } from "./tenant-logs";
import { getTenant } from "./tenants";

export interface TestSendResult {
  deliveryId: string;
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
  // Opened before anything is sent or written: without SECRETS_KEY this answers 503 and records nothing.
  const secrets = await Promise.all((await validSecrets(deps.db, endpointId, deps.now)).map((s) => unseal(deps.config, s.secretBox)));
  const auth = await endpointAuth(deps, endpoint);
  const tenantSeq = (await getTenant(deps, tenantId)).seq;
  const { log, ordinal } = await syncEndpoint(deps, tenantSeq, endpoint);
  const eventId = newId("evt", deps.now);
  // Recorded in one call after the send (DESIGN.md "Endpoints": test sends).
  const recordAs = async (attempt: AttemptRecord | null, status: "delivered" | "failed", reason: DeliveryReason | null) => {
    const { e } = await log.recordTestSend({ ordinal, id: eventId, type: input.type, dataJson, attempt, status, reason, now: deps.now });
    return logDeliveryId({ createdAt: deps.now, tenantSeq, eventSeq: e, ordinal });
  };

  const url = checkEndpointUrl(endpoint.url, deps.config.allowPrivateUrls);
  if (!url.ok) {
    const deliveryId = await recordAs(null, "failed", "url_not_allowed");
    return { deliveryId, responseStatus: null, durationMs: null, error: `url_not_allowed: ${url.message}`, responseBody: null };
  }
  const { request, loggedHeaders } = await buildRequest({
    config: deps.config,
    endpoint,
    event: { seq: 0, id: eventId, type: input.type, data: dataJson, occurredAt: null, createdAt: deps.now },
    secrets,
    auth,
    attempt: 1,
    now: Date.now(),
  });
  const sent = await sendRequest(request);
  const verdict = classifyAttempt(sent.result);
  const attempt = attemptRecordOf(1, sent, request, loggedHeaders);
  const deliveryId = await recordAs(
    attempt,
    verdict.outcome === "success" ? "delivered" : "failed",
    verdict.outcome === "success" ? null : verdict.outcome === "final" ? "non_retryable_status" : "retries_exhausted",
  );
  return { deliveryId, responseStatus: attempt.responseStatus, durationMs: attempt.durationMs, error: attempt.error, responseBody: attempt.responseBody };
}

const DAY_MS = 86_400_000;

/**
 * Counts, success rate and attempt latency of deliveries created in [since, until), from
 * the TenantLog's hourly rollups (DESIGN.md "Endpoints": stats round to hours, may lag a minute).
 */
export async function endpointStats(deps: Deps, tenantId: string, endpointId: string, window: { since?: number; until?: number }) {
  const endpoint = await getEndpoint(deps, tenantId, endpointId);
  const since = window.since ?? deps.now - DAY_MS;
  const until = window.until ?? deps.now + 1;
  if (since >= until) throw invalid([{ path: "since", message: "must be before until" }]);
  const { log, ordinal } = await syncEndpoint(deps, (await getTenant(deps, tenantId)).seq, endpoint);
  const r = await log.stats(ordinal, since, until);
  // A retried delivery can end twice in one window; pending never reads below zero.
  const counts = { pending: Math.max(0, r.created - r.delivered - r.failed), delivered: r.delivered, failed: r.failed };
  const finished = counts.delivered + counts.failed;
  return {
    since,
    until,
    counts,
    successRate: finished === 0 ? null : counts.delivered / finished,
    latency: { p50: percentileOf(r.latency, 50), p95: percentileOf(r.latency, 95) },
  };
}

/**
 * An endpoint's figures hour by hour over [since, until) (default: the last 24 h), from the
 * TenantLog's hourly rollups (flushed at most once a minute per endpoint), for the portal's
 * charts. Hours with no deliveries are absent; callers zero-fill.
 */
export async function endpointHourly(deps: Deps, tenantId: string, endpointId: string, window: { since?: number; until?: number }): Promise<HourlyFigures[]> {
  const endpoint = await getEndpoint(deps, tenantId, endpointId);
  const since = window.since ?? deps.now - DAY_MS;
  const until = window.until ?? deps.now + 1;
  if (since >= until) throw invalid([{ path: "since", message: "must be before until" }]);
  const { log, ordinal } = await syncEndpoint(deps, (await getTenant(deps, tenantId)).seq, endpoint);
  return log.hourly(ordinal, since, until);
}
