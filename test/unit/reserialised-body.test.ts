/**
 * Receivers that verify over a re-serialised body rather than the raw bytes, like the fleet
 * maintenance app's Node handler (`express.json()`, then HMAC over `JSON.stringify(req.body)`),
 * verify only while the body Switchyard signs is already written the way JSON.stringify
 * writes it (docs/migrating.md, "Body formats").
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8 } from "../../src/domain/encoding";
import { buildBody, PAYLOAD_FORMATS, type PayloadFormat } from "../../src/domain/payload";
import { findAlteredNumbers } from "../../src/domain/safe-json";
import { signRequest } from "../../src/domain/signature";

const SECRET = "fleet-maintenance-secret-0123456789";
const EVENT = { id: "evt_01hf7yat0032g7gtxde3xxrpb3", type: "vehicle.serviced", timestamp: "2026-10-21T07:28:00.000Z" };

/** What ingest stores as the event's data (src/core/events.ts, parseEventBody). */
function stored(sentBody: string): string {
  expect(findAlteredNumbers(sentBody, ""), sentBody).toEqual([]);
  return JSON.stringify((JSON.parse(sentBody) as { data: unknown }).data);
}

/** Signs a body as an `hmac-sha256-hex` endpoint does, and returns what goes on the wire. */
async function deliver(body: string): Promise<{ wire: Uint8Array; headers: Record<string, string> }> {
  const headers = await signRequest({
    profile: "hmac-sha256-hex",
    secrets: [SECRET],
    eventId: EVENT.id,
    eventType: EVENT.type,
    timestampSec: Math.floor(Date.now() / 1000),
    attempt: 1,
    body,
    prefix: "Switchyard",
  });
  return { wire: utf8(body), headers };
}

/** The receiver's verification: a JSON body parser, then hex HMAC over `JSON.stringify(req.body)`. */
function reserialisingReceiverAccepts(wire: Uint8Array, headers: Record<string, string>): boolean {
  const req = { body: JSON.parse(Buffer.from(wire).toString("utf8")) as unknown, headers };
  const expected = createHmac("sha256", SECRET).update(JSON.stringify(req.body)).digest("hex");
  const given = req.headers["x-switchyard-signature"] ?? "";
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

async function sendThrough(format: PayloadFormat, sentData: string): Promise<boolean> {
  const sentBody = `{"type": "${EVENT.type}", "data": ${sentData}}`;
  const body = buildBody(format, { ...EVENT, dataJson: stored(sentBody) }, "/switchyard");
  // -0 is the same value as 0, and JSON.stringify writes it as 0.
  const sent = JSON.parse(sentData, (_, value: unknown) => (Object.is(value, -0) ? 0 : value)) as unknown;
  expect(JSON.parse(body).data, "the receiver gets the data that was sent").toEqual(sent);
  const { wire, headers } = await deliver(body);
  return reserialisingReceiverAccepts(wire, headers);
}

const CASES: [string, string][] = [
  ["unicode text, raw and escaped", '{"name": "Zoë 日本語 🚚", "escaped": "\\u00e9\\u2028\\ud83d\\ude9a", "lone": "\\ud800", "quote": "\\"\\\\\\/\\n"}'],
  ["nesting", `{"a": {"b": [{"c": [[1, [2, {"d": null}]]]}], "e": {}, "f": []}, "deep": ${"[".repeat(500)}true${"]".repeat(500)}}`],
  ["1.0 and other spellings of one value", '{"n": 1.0, "m": [2.50, -0, 1E+2, 100e-2]}'],
  ["1e21 and other exponents", '{"n": 1e21, "m": 1E+21, "small": 1e-7, "tiny": 5e-324}'],
  ["reordered keys, index-like ones included", '{"z": 1, "a": {"y": 2, "b": 3}, "10": 4, "2": 5}'],
  ["the same keys in another order", '{"2": 5, "a": {"b": 3, "y": 2}, "10": 4, "z": 1}'],
  ["whitespace between tokens", ' {\n\t"k" : [ 1 , 2 ] ,\r\n "s" : "x" } '],
];

describe("a receiver that verifies over JSON.stringify(req.body)", () => {
  for (const format of PAYLOAD_FORMATS) {
    it.each(CASES)(`verifies a ${format} body with %s`, async (_, sentData) => {
      expect(await sendThrough(format, sentData)).toBe(true);
    });
  }

  it("would reject a body that kept the sender's spelling, which is why data is stored re-serialised", async () => {
    const sentData = '{"n": 1.0, "name": "Zo\\u00eb"}';
    const { wire, headers } = await deliver(buildBody("standard", { ...EVENT, dataJson: sentData }, "/switchyard"));
    expect(reserialisingReceiverAccepts(wire, headers)).toBe(false);
  });

  it("verifies any JSON data, however it was spelt when sent", { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PAYLOAD_FORMATS), fc.jsonValue(), fc.constantFrom(undefined, 1, "\t"), async (format, data, indent) => {
        expect(await sendThrough(format, JSON.stringify(data, null, indent))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
