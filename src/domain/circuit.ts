/**
 * @module The circuit breaker's rules (DESIGN.md "Delivery rules": circuit breaker): what
 * counts toward opening, the defaults and bounds an endpoint may set, and the cool-off.
 */
import type { AttemptResult } from "./outcome";

/** Settings as the API shows them (`circuit` in the endpoint resource). */
export interface CircuitConfig {
  enabled: boolean;
  open_after: number;
  cool_off_s: number;
}

/**
 * On by default. Three consecutive timeouts or connection failures: one is weather, two in a
 * row can be a blip, three at the default 15 s timeout mean 45 s without an answer. A
 * minute's cool-off, then one probe.
 */
export const DEFAULT_CIRCUIT: CircuitConfig = Object.freeze({ enabled: true, open_after: 3, cool_off_s: 60 });

export const CIRCUIT_LIMITS = Object.freeze({ openAfter: { min: 1, max: 20 }, coolOffS: { min: 10, max: 3600 } });

/** The longest cool-off after repeated re-openings. */
export const MAX_COOL_OFF_S = 3600;

/** What the circuit counts: no answer at all (a timeout or a failed connection). A 5xx is the receiver's answer. */
export function isUnreachable(result: AttemptResult): boolean {
  return result.kind === "error";
}

/** The cool-off of the `reopenings`-th re-opening in a row (0 for the first opening): doubling, capped. */
export function coolOffMs(coolOffS: number, reopenings: number): number {
  return Math.min(coolOffS * 2 ** Math.min(reopenings, 20), MAX_COOL_OFF_S) * 1000;
}
