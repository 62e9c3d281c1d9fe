/**
 * @module What one attempt's result means for its delivery (DESIGN "Delivery
 * rules", Outcome): success, retry later, or final.
 */

/**
 * Why an attempt got no HTTP answer. `timeout` and `connection` are the usual
 * ones; any other string is a more specific reason, treated the same way.
 */
// `string & {}` keeps the two literals visible in editors without closing the set.
export type AttemptError = "timeout" | "connection" | (string & {});

/** The result of one attempt: an HTTP answer, or no answer. */
export type AttemptResult =
  | {
      kind: "response";
      status: number;
      /** The `Location` header; redirects are never followed, only recorded. */
      location: string | null;
      /** The parsed `Retry-After` header, in seconds. */
      retryAfterSeconds: number | null;
    }
  | { kind: "error"; error: AttemptError };

/** What happens to the delivery after an attempt. */
export type AttemptOutcome = { outcome: "success" } | { outcome: "retry" } | { outcome: "final" };

const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429]);

/**
 * Classifies an attempt: 2xx succeeds; no answer, 5xx, 408 and 429 are
 * retried; every other status (1xx, 3xx, other 4xx, 410 included) is final.
 *
 * @example classifyAttempt({ kind: "response", status: 503, location: null, retryAfterSeconds: 30 }) // { outcome: "retry" }
 */
export function classifyAttempt(result: AttemptResult): AttemptOutcome {
  // Without an answer the receiver may never have seen the request, so another try is safe.
  if (result.kind === "error") return { outcome: "retry" };
  const { status } = result;
  if (status >= 200 && status <= 299) return { outcome: "success" };
  if ((status >= 500 && status <= 599) || RETRYABLE_STATUSES.has(status)) return { outcome: "retry" };
  return { outcome: "final" };
}

/**
 * Whether an attempt counts as a failure for auto-disable (`failing_since`):
 * anything but a 2xx, redirects included.
 */
export function isFailure(result: AttemptResult): boolean {
  return classifyAttempt(result).outcome !== "success";
}

/**
 * The `Retry-After` to honour for the next wait: only on a 429 or 503, the
 * answers where the header means "come back later" (on a 3xx it means
 * something else, and other statuses are not retried on its say-so).
 */
export function honouredRetryAfter(result: AttemptResult): number | null {
  if (result.kind !== "response" || (result.status !== 429 && result.status !== 503)) return null;
  return result.retryAfterSeconds;
}
