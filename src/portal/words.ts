/**
 * @module Plain words for the portal: delivery and endpoint states, durations, HTTP
 * answers, and subscription summaries, written for a reader who is not a developer.
 */
import type { CircuitConfig } from "../domain/circuit";
import type { EndpointFilter } from "../domain/filter";
import type { DeliveryReason, DeliveryStatus } from "../db/schema";
import { percentText } from "../ui/charts";

/** A compact duration: "45 s", "4 min", "2 h 5 min", "3 days". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  return `${Math.round(h / 24)} days`;
}

const REASONS: Record<DeliveryReason, string> = {
  retries_exhausted: "every attempt failed",
  non_retryable_status: "the receiver refused it; not retried",
  endpoint_disabled: "the endpoint was disabled",
  url_not_allowed: "the URL is not allowed",
  expired: "it waited too long to be sent",
  consumer_error: "an internal error",
};

/** Why a delivery failed, in a few words. */
export const reasonWords = (reason: DeliveryReason | null): string | null => (reason ? REASONS[reason] : null);

export type Tone = "ok" | "bad" | "wait" | "off";

export type CircuitState = "closed" | "open" | "half_open";

/**
 * A delivery's state as the log shows it: "Delivered", "Failed",
 * "Waiting to retry in 4 min", "Sending now", "Waiting for the endpoint to resume",
 * "Waiting until your system answers again" (held by an open circuit).
 */
export function deliveryState(
  d: { status: DeliveryStatus; attempts: number; nextAttemptAt: number | null },
  endpointStatus: "active" | "paused" | "disabled",
  now: number,
  circuit: CircuitState = "closed",
): { label: string; tone: Tone } {
  if (d.status === "delivered") return { label: "Delivered", tone: "ok" };
  if (d.status === "failed") return { label: "Failed", tone: "bad" };
  if (d.nextAttemptAt === null && endpointStatus === "paused") return { label: "Waiting for the endpoint to resume", tone: "wait" };
  // Behind an open circuit nothing goes (but the probe) until the receiver answers, whatever the schedule says.
  if (circuit !== "closed" && endpointStatus === "active") return { label: "Waiting until your system answers again", tone: "wait" };
  if (d.nextAttemptAt === null) return { label: "Waiting in line", tone: "wait" };
  const wait = d.nextAttemptAt - now;
  if (wait <= 1000) return { label: d.attempts === 0 ? "Sending now" : "Retrying now", tone: "wait" };
  return { label: `${d.attempts === 0 ? "Sending" : "Waiting to retry"} in ${duration(wait)}`, tone: "wait" };
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  413: "Payload Too Large",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** "200 OK", "503 Service Unavailable", or "No answer" when there was no response. */
export function httpStatus(status: number | null): string {
  if (status === null) return "No answer";
  const text = STATUS_TEXT[status];
  return text ? `${status} ${text}` : String(status);
}

/** An attempt's transport error in words ("timeout" → "The receiver did not answer in time"). */
export function attemptError(error: string | null): string | null {
  if (error === null) return null;
  if (error === "timeout") return "The receiver did not answer in time.";
  if (error === "connection") return "Could not connect to the receiver.";
  return error;
}

export const ENDPOINT_STATUS: Record<"active" | "paused" | "disabled", { label: string; tone: Tone }> = {
  active: { label: "Active", tone: "ok" },
  paused: { label: "Paused", tone: "off" },
  disabled: { label: "Disabled", tone: "bad" },
};

/** The circuit breaker's state as a badge; null while closed (nothing to say). */
export const CIRCUIT_BADGE: Record<CircuitState, { label: string; tone: Tone } | null> = {
  closed: null,
  open: { label: "Circuit open", tone: "bad" },
  half_open: { label: "Trying again", tone: "wait" },
};

/** The breaker's settings: "On: pauses after 3 timeouts in a row, then tries again after 1 min", or "Off". */
export function circuitSettingsWords(c: CircuitConfig): string {
  if (!c.enabled) return "Off: we keep sending even when your system stops answering";
  const times = c.open_after === 1 ? "1 timeout" : `${c.open_after} timeouts`;
  return `On: pauses sending after ${times} or failed connections in a row, then tries one delivery again after ${scheduleEntry(c.cool_off_s)}`;
}

/** What an endpoint is subscribed to, as short phrases: ["All events"], ["report.*", "group inspections"], … */
export function subscriptionWords(filter: EndpointFilter): { receives: string[]; except: string[] } {
  const receives = filter.types.length === 0 && filter.groups.length === 0 ? ["All events"] : [...filter.types.map((t) => (t === "*" ? "All events" : t)), ...filter.groups.map((g) => `everything in ${g}`)];
  return { receives, except: filter.exclude };
}

/** "98 %", "97.5 %" or "No deliveries yet". */
export function successRate(rate: number | null): string {
  return rate === null ? "No deliveries yet" : percentText(rate);
}

/** Seconds as a retry-schedule entry: 5 → "5 s", 300 → "5 min", 7200 → "2 h". */
export function scheduleEntry(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
