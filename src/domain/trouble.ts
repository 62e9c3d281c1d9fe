/**
 * @module Our own trouble is weather, not an outcome (docs/production.md, "Consumer
 * settings"): when D1, a Durable Object, a queue send or `SECRETS_KEY` fails, the message
 * is retried later with exponential backoff, and a message that reaches a DLQ is
 * re-driven to its queue. Only a delivery re-driven for `CONSUMER_GIVE_UP_H` fails, with
 * reason `consumer_error`. Time and randomness are arguments.
 */

/** First delay of a consumer's own retry; it doubles per attempt (2, 4, 8, 16, 32 s with max_retries 5). */
const RETRY_BASE_SECONDS = 2;
const RETRY_CAP_SECONDS = 300;
/** First delay of a DLQ re-drive; it doubles per re-drive up to an hour. */
const REDRIVE_BASE_SECONDS = 60;
const REDRIVE_CAP_SECONDS = 3600;
/** Jitter spreads the retries of a batch that failed together, so they do not return as one clump. */
const JITTER = 0.2;

/** Where a message stands in its trouble: set when it first reaches a DLQ, carried by every re-drive. */
export interface Trouble {
  /** Epoch ms when a DLQ first saw the message. */
  since: number;
  /** Re-drives so far. */
  redrives: number;
}

const jittered = (seconds: number, random: number) => Math.max(1, Math.round(seconds * (1 - JITTER + random * 2 * JITTER)));

/**
 * `delaySeconds` for `msg.retry()` after our own dependency failed.
 *
 * @param attempts the message's `attempts` (1 on its first delivery)
 * @param random a number in [0, 1)
 * @example consumerRetryDelaySeconds(3, 0.5) // 8
 */
export function consumerRetryDelaySeconds(attempts: number, random: number): number {
  const exponent = Math.max(0, Math.min(attempts - 1, 20));
  return jittered(Math.min(RETRY_BASE_SECONDS * 2 ** exponent, RETRY_CAP_SECONDS), random);
}

/**
 * The trouble record and delay of the next re-drive of a message a DLQ received.
 *
 * @example nextRedrive(undefined, 1_000, 0.5) // { trouble: { since: 1000, redrives: 1 }, delaySeconds: 60 }
 */
export function nextRedrive(previous: Trouble | undefined, now: number, random: number): { trouble: Trouble; delaySeconds: number } {
  const redrives = previous?.redrives ?? 0;
  return {
    trouble: { since: previous?.since ?? now, redrives: redrives + 1 },
    delaySeconds: jittered(Math.min(REDRIVE_BASE_SECONDS * 2 ** Math.min(redrives, 20), REDRIVE_CAP_SECONDS), random),
  };
}

/** True once a delivery has been re-driven for our own trouble for `giveUpHours`. */
export function troubleGivesUp(trouble: Trouble | undefined, now: number, giveUpHours: number): boolean {
  return trouble !== undefined && now - trouble.since >= giveUpHours * 3_600_000;
}
