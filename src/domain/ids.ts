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
