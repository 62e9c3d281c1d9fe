/**
 * @module The rate-limit rule (DESIGN.md "Delivery rules"): successive starts of an
 * endpoint at least 1/r s apart, so no one-second window holds more than r starts.
 * Spacing, not a token bucket: a bucket lets 2r through across a window boundary.
 */

/**
 * Margin added to 1/r, as a fraction of it: up to ~1/(5r) s of network jitter between the
 * decision and the request reaching the receiver cannot put r + 1 arrivals in one second.
 */
const RATE_MARGIN = 0.2;

/**
 * Milliseconds between two starts at `rateLimit` starts per second.
 * @example rateSpacingMs(5) // 240
 */
export function rateSpacingMs(rateLimit: number): number {
  return (1000 / rateLimit) * (1 + RATE_MARGIN);
}
