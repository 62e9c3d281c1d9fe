/**
 * @module Identifiers: generated ids that sort by creation time, fixed-width
 * sequence ids that sort numerically, and the patterns for host-supplied ids
 * and event-type names.
 */

/** The type prefixes of generated ids (DESIGN "Public HTTP API"). */
export type IdPrefix = "ten" | "ep" | "evt" | "key" | "dlv" | "dl";

// Crockford base32 without i, l, o, u; digits precede letters in ASCII, so
// fixed-width strings compare like the numbers they encode.
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
const SEQ_CHARS = 11;
const SEQ_ID = /^[0-9a-hjkmnp-tv-z]{11}$/;

function encodeFixed(value: number, width: number): string {
  let out = "";
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/**
 * A new opaque id: the prefix, 10 characters of millisecond time and 16 random
 * characters (80 bits), so ids sort by creation time to the millisecond.
 *
 * @param nowMs the creation time in unix milliseconds
 * @example newId("ep", 1_700_000_000_000) // "ep_01hf7yat00" + 16 random characters
 */
export function newId(prefix: IdPrefix, nowMs: number = Date.now()): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs >= 32 ** TIME_CHARS) {
    throw new RangeError(`newId needs a non-negative integer time in ms, got ${nowMs}`);
  }
  const random = crypto.getRandomValues(new Uint8Array(RANDOM_CHARS));
  let tail = "";
  // 256 is a multiple of 32, so masking each byte keeps the characters uniform.
  for (const byte of random) tail += ALPHABET[byte & 31];
  return `${prefix}_${encodeFixed(nowMs, TIME_CHARS)}${tail}`;
}

/**
 * An id made from a positive integer sequence number, fixed-width so that
 * string order equals numeric order.
 *
 * @example seqId("dlv", 1) // "dlv_00000000001"
 */
export function seqId(prefix: "dlv" | "dl", seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`seqId needs a positive safe integer, got ${seq}`);
  return `${prefix}_${encodeFixed(seq, SEQ_CHARS)}`;
}

/**
 * The sequence number inside an id made by {@link seqId}.
 *
 * @returns the number, or null for anything else (wrong prefix, wrong length or
 *   alphabet, upper case, zero, beyond 2^53 − 1)
 */
export function parseSeqId(prefix: "dlv" | "dl", id: string): number | null {
  const head = `${prefix}_`;
  if (!id.startsWith(head)) return null;
  const body = id.slice(head.length);
  if (!SEQ_ID.test(body)) return null;
  let value = 0;
  for (const char of body) value = value * 32 + ALPHABET.indexOf(char);
  // Past 2^53 the sum is inexact but stays above the limit, so this still rejects it.
  return Number.isSafeInteger(value) && value >= 1 ? value : null;
}

/** Widths of the parts of a data plane v2 id (docs/data-plane-v2.md "Ids"). */
const LOG_TENANT_CHARS = 7; // 32^7 ≈ 3.4 × 10^10 tenants
const LOG_EVENT_CHARS = 11; // event seqs up to 2^53
const LOG_ORDINAL_CHARS = 4; // 32^4 ≈ 10^6 endpoints per tenant

/** Where a delivery or a generated event lives: its TenantLog (the tenant seq) and its keys there. */
export interface LogKey {
  /** Acceptance time of the event (ms): ids sort by it first. */
  createdAt: number;
  tenantSeq: number;
  eventSeq: number;
}

function decodeFixed(body: string): number | null {
  let value = 0;
  for (const char of body) {
    const digit = ALPHABET.indexOf(char);
    if (digit < 0) return null;
    value = value * 32 + digit;
  }
  return Number.isSafeInteger(value) ? value : null;
}

function logKeyChars(key: LogKey): string {
  for (const [name, value, width] of [
    ["createdAt", key.createdAt, TIME_CHARS],
    ["tenantSeq", key.tenantSeq, LOG_TENANT_CHARS],
    ["eventSeq", key.eventSeq, LOG_EVENT_CHARS],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0 || value >= 32 ** width) throw new RangeError(`${name} out of range: ${value}`);
  }
  return encodeFixed(key.createdAt, TIME_CHARS) + encodeFixed(key.tenantSeq, LOG_TENANT_CHARS) + encodeFixed(key.eventSeq, LOG_EVENT_CHARS);
}

function parseLogKey(body: string): LogKey | null {
  const createdAt = decodeFixed(body.slice(0, TIME_CHARS));
  const tenantSeq = decodeFixed(body.slice(TIME_CHARS, TIME_CHARS + LOG_TENANT_CHARS));
  const eventSeq = decodeFixed(body.slice(TIME_CHARS + LOG_TENANT_CHARS, TIME_CHARS + LOG_TENANT_CHARS + LOG_EVENT_CHARS));
  return createdAt === null || tenantSeq === null || eventSeq === null ? null : { createdAt, tenantSeq, eventSeq };
}

const LOG_EVENT_ID = new RegExp(`^evt_[0-9a-hjkmnp-tv-z]{${TIME_CHARS + LOG_TENANT_CHARS + LOG_EVENT_CHARS}}$`);
const LOG_DELIVERY_ID = new RegExp(`^dlv_[0-9a-hjkmnp-tv-z]{${TIME_CHARS + LOG_TENANT_CHARS + LOG_EVENT_CHARS + LOG_ORDINAL_CHARS}}$`);

/**
 * A generated event id of data plane v2: it sorts by acceptance time and names the tenant's
 * log and the event's seq in it, so the event is found from its id alone (DESIGN.md
 * "Public HTTP API"). Minted by the TenantLog, which assigns the seq.
 *
 * @example logEventId({ createdAt: 1_700_000_000_000, tenantSeq: 3, eventSeq: 42 }) // "evt_01hf7yat00" + "0000003" + "0000000001a"
 */
export function logEventId(key: LogKey): string {
  return `evt_${logKeyChars(key)}`;
}

/** The log key inside an id made by {@link logEventId}; null for anything else (a host's id included). */
export function parseLogEventId(id: string): LogKey | null {
  return LOG_EVENT_ID.test(id) ? parseLogKey(id.slice(4)) : null;
}

/**
 * A delivery id of data plane v2: the event's log key and the endpoint's ordinal in that
 * log, so it sorts by acceptance time and is found from its id alone.
 */
export function logDeliveryId(key: LogKey & { ordinal: number }): string {
  if (!Number.isSafeInteger(key.ordinal) || key.ordinal < 0 || key.ordinal >= 32 ** LOG_ORDINAL_CHARS) throw new RangeError(`ordinal out of range: ${key.ordinal}`);
  return `dlv_${logKeyChars(key)}${encodeFixed(key.ordinal, LOG_ORDINAL_CHARS)}`;
}

/** The key inside an id made by {@link logDeliveryId}; null for anything else. */
export function parseLogDeliveryId(id: string): (LogKey & { ordinal: number }) | null {
  if (!LOG_DELIVERY_ID.test(id)) return null;
  const key = parseLogKey(id.slice(4));
  const ordinal = decodeFixed(id.slice(4 + TIME_CHARS + LOG_TENANT_CHARS + LOG_EVENT_CHARS));
  return key === null || ordinal === null ? null : { ...key, ordinal };
}

/**
 * Host-supplied tenant and event ids: no `.` (Standard Webhooks forbids it in
 * ids) and no leading `_` (reserved tenants such as `_operator`).
 */
export const HOST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Whether `value` is a valid host-supplied tenant or event id. */
export function isHostId(value: string): boolean {
  return HOST_ID_PATTERN.test(value);
}

/** The longest event-type name accepted. */
export const EVENT_TYPE_NAME_MAX_LENGTH = 128;

/**
 * Event-type names: two or more dot-separated segments of `[a-z0-9_]`, at most
 * {@link EVENT_TYPE_NAME_MAX_LENGTH} characters (the lookahead keeps the
 * pattern complete on its own, e.g. inside a zod schema).
 */
export const EVENT_TYPE_NAME_PATTERN = /^(?=.{3,128}$)[a-z0-9_]+(?:\.[a-z0-9_]+)+$/;

/** Whether `value` is a valid event-type name such as `report.completed`. */
export function isEventTypeName(value: string): boolean {
  return EVENT_TYPE_NAME_PATTERN.test(value);
}
