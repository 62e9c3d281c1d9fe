/**
 * @module Builds the delivered request of one attempt (DESIGN: "The delivered request"),
 * signed now, never at enqueue time.
 */
import type { Config } from "../config";
import type { EndpointAuth } from "../core/endpoints";
import { bytesToBase64, utf8 } from "../domain/encoding";
import { buildBody, contentType } from "../domain/payload";
import { signRequest } from "../domain/signature";
import type { EndpointRow } from "../db/queries/endpoints";
import type { DeliveryEvent } from "../domain/attempt";
import type { AttemptRecord } from "../domain/attempt";
import type { OutboundRequest, OutboundResult } from "./send";

export const USER_AGENT = "Switchyard/0.1.0";
export const REDACTED = "[redacted]";

/** The exact body an endpoint receives for an event (also shown in the delivery detail). */
export function bodyFor(config: Config, endpoint: Pick<EndpointRow, "format">, event: DeliveryEvent): string {
  return buildBody(
    endpoint.format,
    { id: event.id, type: event.type, dataJson: event.data, timestamp: new Date(event.occurredAt ?? event.createdAt).toISOString() },
    config.eventSource,
  );
}

function authHeader(auth: EndpointAuth): string {
  if (auth.type === "bearer") return `Bearer ${auth.token}`;
  return `Basic ${bytesToBase64(utf8(`${auth.username}:${auth.password}`))}`;
}

/** The request to send and its headers as the log keeps them (auth and signatures redacted). */
export async function buildRequest(input: {
  config: Config;
  endpoint: EndpointRow;
  event: DeliveryEvent;
  secrets: string[];
  auth: EndpointAuth | null;
  attempt: number;
  now: number;
}): Promise<{ request: OutboundRequest; loggedHeaders: Record<string, string> }> {
  const { config, endpoint, event } = input;
  const body = bodyFor(config, endpoint, event);
  const signed = await signRequest({
    profile: endpoint.signature,
    secrets: input.secrets,
    eventId: event.id,
    eventType: event.type,
    timestampSec: Math.floor(input.now / 1000),
    attempt: input.attempt,
    body,
    prefix: config.headerPrefix,
  });
  const headers: Record<string, string> = {
    ...endpoint.headers,
    "user-agent": USER_AGENT,
    "content-type": contentType(endpoint.format),
    ...signed,
  };
  if (input.auth) headers.authorization = authHeader(input.auth);
  const signatureHeader = endpoint.signature === "standard" ? "webhook-signature" : `x-${config.headerPrefix.toLowerCase()}-signature`;
  const loggedHeaders = Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, k.toLowerCase() === "authorization" || k.toLowerCase() === signatureHeader ? REDACTED : v]),
  );
  return { request: { url: endpoint.url, method: endpoint.method, headers, body, timeoutMs: endpoint.timeoutMs }, loggedHeaders };
}

/** What the log keeps of one sent attempt (response bodies are already capped by outbound/send). */
export function attemptRecordOf(n: number, sent: OutboundResult, request: OutboundRequest, loggedHeaders: Record<string, string>): AttemptRecord {
  return {
    n,
    startedAt: sent.startedAt,
    durationMs: sent.durationMs,
    responseStatus: sent.result.kind === "response" ? sent.result.status : null,
    responseBody: sent.responseBody,
    error: sent.result.kind === "error" ? sent.result.error : null,
    location: sent.result.kind === "response" ? sent.result.location : null,
    requestMethod: request.method,
    requestUrl: request.url,
    requestHeaders: loggedHeaders,
  };
}
