/**
 * @module The retry schedule: how long to wait after a retryable failure,
 * with jitter and `Retry-After`. Time and randomness are arguments.
 */

/**
 * Seconds before each retry when an endpoint sets no `retry_schedule` (Svix's:
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — eight attempts over about 27.5 h).
 */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = Object.freeze([5, 300, 1800, 7200, 18000, 36000, 36000]);

/** The longest `Retry-After` honoured, in seconds. */
export const RETRY_AFTER_CAP_SECONDS = 3600;

/** The largest `delaySeconds` Cloudflare Queues accepts (86 401 throws). */
export const MAX_QUEUE_DELAY_SECONDS = 86_400;

const JITTER = 0.1;

const DAYS = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAYS = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
// RFC 9110 §5.6.7: recipients must accept all three forms. Matched without
// case because some servers get the capitals wrong, and the meaning is clear.
const IMF_FIXDATE = new RegExp(`^${DAYS}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, "i");
const RFC850_DATE = new RegExp(`^${LONG_DAYS}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, "i");
const ASCTIME_DATE = new RegExp(`^${DAYS} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, "i");

/**
 * Reads a `Retry-After` header: delta-seconds or an HTTP-date.
 *
 * @param nowMs the time the answer arrived, in unix milliseconds
 * @returns seconds to wait (≥ 0; a past date gives 0), or null when absent or invalid
 * @example parseRetryAfter("120", now) // 120
 * @example parseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", now) // seconds until then
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = parseHttpDate(text, nowMs);
  return at === null ? null : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

function parseHttpDate(text: string, nowMs: number): number | null {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), m.slice(4));
  m = RFC850_DATE.exec(text);
  if (m) {
    // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = nowYear - (nowYear % 100) + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    return utc(year, m[2]!, Number(m[1]), m.slice(4));
  }
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m.slice(3, 6));
  return null;
}

function utc(year: number, monthName: string, day: number, [h, min, s]: string[]): number | null {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  const hours = Number(h);
  const minutes = Number(min);
  const seconds = Number(s);
  if (hours > 23 || minutes > 59 || seconds > 60) return null;
  const midnight = Date.UTC(year, month, day);
  // Date.UTC rolls 31 Feb over into March; a real date keeps its day.
  if (new Date(midnight).getUTCDate() !== day) return null;
  return midnight + ((hours * 60 + minutes) * 60 + seconds) * 1000;
}

/** What {@link nextRetryWait} needs to know about the failure that just happened. */
export interface RetryWaitInput {
  /** The endpoint's schedule, or {@link DEFAULT_RETRY_SCHEDULE}. */
  schedule: readonly number[];
  /** Attempts made in the current run, including the one that just failed (≥ 1). */
  attemptsThisRun: number;
  /** An honoured `Retry-After` (429 or 503), in seconds, else null. */
  retryAfterSeconds: number | null;
  /** A uniform random number in [0, 1). */
  random: number;
}

/**
 * Seconds to wait before the next attempt: the scheduled wait with ±10 %
 * jitter, raised to `Retry-After` (capped at 3600 s) when given, so jitter
 * never shortens a receiver's `Retry-After`.
 *
 * @returns the wait, or null when the schedule is exhausted (a schedule of k
 *   entries allows k + 1 attempts per run)
 * @example nextRetryWait({ schedule: [5, 30], attemptsThisRun: 1, retryAfterSeconds: null, random: 0.5 }) // 5
 */
export function nextRetryWait(input: RetryWaitInput): number | null {
  const { schedule, attemptsThisRun, retryAfterSeconds, random } = input;
  if (!Number.isInteger(attemptsThisRun) || attemptsThisRun < 1) {
    throw new RangeError(`attemptsThisRun must be a positive integer, got ${attemptsThisRun}`);
  }
  const scheduled = schedule[attemptsThisRun - 1];
  if (scheduled === undefined) return null;
  const jittered = scheduled * (1 + (random * 2 * JITTER - JITTER));
  return retryAfterSeconds === null ? jittered : Math.max(jittered, Math.min(retryAfterSeconds, RETRY_AFTER_CAP_SECONDS));
}

/**
 * The queue message's `delaySeconds` for a wait: whole seconds, rounded up so
 * the message never arrives before it is due, within what Queues accepts.
 * A longer wait is re-enqueued with the remainder when the message arrives.
 */
export function queueDelaySeconds(waitSeconds: number): number {
  if (Number.isNaN(waitSeconds)) throw new RangeError("waitSeconds must be a number");
  return Math.max(0, Math.min(Math.ceil(waitSeconds), MAX_QUEUE_DELAY_SECONDS));
}
