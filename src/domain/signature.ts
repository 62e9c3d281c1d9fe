/**
 * @module Signing secrets and the three signature profiles of a delivered
 * request (DESIGN "The delivered request"), on WebCrypto HMAC-SHA256.
 */

import { AsyncLruCache } from "./async-cache";
import { base64ToBytes, bytesToBase64, bytesToHex, utf8 } from "./encoding";

/** The signature profiles an endpoint can choose. */
export const SIGNATURE_PROFILES = ["standard", "hmac-sha256-hex", "timestamped-hex"] as const;

/** How a delivered request is signed. */
export type SignatureProfile = (typeof SIGNATURE_PROFILES)[number];

const STANDARD_PREFIX = "whsec_";
const STANDARD_KEY_MIN_BYTES = 24;
const STANDARD_KEY_MAX_BYTES = 64;
const HEX_SECRET_MIN_LENGTH = 24;

// An isolate serves many endpoints; importing a key costs more than the HMAC
// itself, and the bound keeps a busy isolate's memory flat.
const keys = new AsyncLruCache<CryptoKey>(1000);

/** A new secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return STANDARD_PREFIX + bytesToBase64(crypto.getRandomValues(new Uint8Array(32)));
}

function standardKeyBytes(secret: string): Uint8Array | null {
  if (!secret.startsWith(STANDARD_PREFIX)) return null;
  const key = base64ToBytes(secret.slice(STANDARD_PREFIX.length));
  return key && key.length >= STANDARD_KEY_MIN_BYTES && key.length <= STANDARD_KEY_MAX_BYTES ? key : null;
}

/** Whether `secret` suits the `standard` profile: `whsec_` + padded base64 of a 24–64 byte key. */
export function isStandardSecret(secret: string): boolean {
  return standardKeyBytes(secret) !== null;
}

/** Whether `secret` suits the hex profiles: at least 24 characters, used whole as the key. */
export function isHexProfileSecret(secret: string): boolean {
  return secret.length >= HEX_SECRET_MIN_LENGTH;
}

/** Whether `secret` may be used with `profile` (create, PATCH and rotate check this). */
export function secretFitsProfile(profile: SignatureProfile, secret: string): boolean {
  return profile === "standard" ? isStandardSecret(secret) : isHexProfileSecret(secret);
}

function hmacKey(kind: "whsec" | "utf8", secret: string, bytes: () => Uint8Array): Promise<CryptoKey> {
  return keys.get(`${kind}:${secret}`, () =>
    crypto.subtle.importKey("raw", bytes(), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
  );
}

async function hmac(key: CryptoKey, message: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(message)));
}

/** Everything needed to sign one attempt. */
export interface SignInput {
  profile: SignatureProfile;
  /** The endpoint's valid secrets, newest first; never empty. */
  secrets: string[];
  /** The event id (`webhook-id`): the same on every attempt and endpoint. */
  eventId: string;
  eventType: string;
  /** Unix seconds of this attempt: signing happens at send time, never at enqueue. */
  timestampSec: number;
  /** The delivery's attempt number over its whole life, 1-based. */
  attempt: number;
  /** The exact body string that is sent. */
  body: string;
  /** `HEADER_PREFIX`, e.g. "Switchyard". */
  prefix: string;
}

/**
 * The signature headers of one attempt, lowercase names: `webhook-id`,
 * `webhook-timestamp` and `webhook-attempt` always, plus the profile's own.
 * `standard` signs with every secret (one `v1,` entry each, for rotation);
 * the hex profiles only with the newest, since their receivers compare one value.
 *
 * @throws Error when `secrets` is empty or the newest secret does not fit the profile
 * @example
 * await signRequest({ profile: "standard", secrets: [secret], eventId: "evt_1", eventType: "a.b",
 *   timestampSec: 1614265330, attempt: 1, body, prefix: "Switchyard" })
 * // { "webhook-id": "evt_1", "webhook-timestamp": "1614265330", "webhook-attempt": "1", "webhook-signature": "v1,…" }
 */
export async function signRequest(input: SignInput): Promise<Record<string, string>> {
  const { profile, secrets, eventId, eventType, timestampSec, attempt, body } = input;
  const newest = secrets[0];
  if (newest === undefined) throw new Error("signRequest needs at least one secret");
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) throw new RangeError("timestampSec must be whole unix seconds");
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RangeError("attempt must be a positive integer");
  if (!secretFitsProfile(profile, newest)) throw new Error(`the endpoint's secret does not fit signature profile ${profile}`);

  const headers: Record<string, string> = {
    "webhook-id": eventId,
    "webhook-timestamp": String(timestampSec),
    "webhook-attempt": String(attempt),
  };
  const p = `x-${input.prefix.toLowerCase()}`;
  switch (profile) {
    case "standard": {
      const signed = `${eventId}.${timestampSec}.${body}`;
      const signatures: string[] = [];
      // An older secret made for a hex profile cannot be decoded into a key;
      // no standard receiver could verify it, so it is left out.
      for (const secret of secrets) {
        const bytes = standardKeyBytes(secret);
        if (!bytes) continue;
        const key = await hmacKey("whsec", secret, () => bytes);
        signatures.push(`v1,${bytesToBase64(await hmac(key, signed))}`);
      }
      headers["webhook-signature"] = signatures.join(" ");
      break;
    }
    case "hmac-sha256-hex": {
      const key = await hmacKey("utf8", newest, () => utf8(newest));
      headers[`${p}-signature`] = bytesToHex(await hmac(key, body));
      break;
    }
    case "timestamped-hex": {
      const key = await hmacKey("utf8", newest, () => utf8(newest));
      headers[`${p}-event-id`] = eventId;
      headers[`${p}-event-type`] = eventType;
      headers[`${p}-timestamp`] = String(timestampSec);
      headers[`${p}-retry-count`] = String(attempt - 1);
      headers[`${p}-signature`] = `sha256=${bytesToHex(await hmac(key, `${timestampSec}.${body}`))}`;
      break;
    }
  }
  return headers;
}
