/**
 * Issue 6, end to end: standing in for an existing platform. Each signature profile is
 * checked at the receiver with that platform's published receiver code (standardwebhooks;
 * node:crypto HMAC + timingSafeEqual), CloudEvents field by field, method, custom headers,
 * auth, redaction in the log, supplied secrets used as-is, and `filter.groups` subscriptions.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  api,
  at,
  createEndpoint,
  createEventType,
  createTenant,
  deliveryOf,
  forEvent,
  getDelivery,
  getEndpoint,
  postEvent,
  receivedAt,
  sleep,
  uid,
  verifyHmacHex,
  verifyProfile,
  verifyStandard,
  verifyTimestampedHex,
  waitFor,
  waitForReceived,
  type Profile,
} from "./helpers";

const SIGNATURE_HEADER: Record<Profile, string> = {
  standard: "webhook-signature",
  "hmac-sha256-hex": "x-switchyard-signature",
  "timestamped-hex": "x-switchyard-signature",
};

/** The delivery detail's recorded request (once delivered) and a check that no secret leaks in it. */
async function deliveredDetail(tid: string, eventId: string, endpointId: string, secrets: string[]): Promise<any> {
  const { delivery_id } = await deliveryOf(tid, eventId, endpointId);
  const detail = await waitFor(
    async () => {
      const d = await getDelivery(tid, delivery_id);
      return d.status === "delivered" ? d : undefined;
    },
    { timeoutMs: 15_000, what: `delivery ${delivery_id} delivered` },
  );
  const text = JSON.stringify(detail);
  for (const s of secrets) expect(text, "a secret or auth value appears in the delivery detail").not.toContain(s);
  return detail;
}

interface ProfileCase {
  name: string;
  signature: Profile;
  /** A secret to bring from the system being migrated, or none (generated). */
  secret?: string;
}

const cases: ProfileCase[] = [
  { name: "standard (generated whsec_ secret)", signature: "standard" },
  { name: "standard (supplied whsec_ secret)", signature: "standard", secret: `whsec_${Buffer.from("migrated-standard-secret-32-bytes!").toString("base64")}` },
  { name: "hmac-sha256-hex (supplied secret)", signature: "hmac-sha256-hex", secret: "fleet-app-legacy-secret-0123456789" },
  { name: "hmac-sha256-hex (generated secret, the whole whsec_ string is the key)", signature: "hmac-sha256-hex" },
  { name: "timestamped-hex (supplied secret)", signature: "timestamped-hex", secret: "custody-platform-secret-abcdefghij" },
];

describe.concurrent("signature profiles", () => {
  it.each(cases)("$name: verified at the receiver on every attempt; filter.groups subscription", async ({ signature, secret: supplied }) => {
    const tid = await createTenant("sig");
    const group = `grp_${uid()}`;
    const grouped = await createEventType({ prefix: "sig_grouped", group });
    const other = await createEventType({ prefix: "sig_other" });
    const key = uid();
    // First attempt 500, second 200: the second attempt shows the counters move.
    const path = `/fail-each/1/sig-${key}`;
    const allPath = `/ok/sig-all-${key}`;
    const ep = await createEndpoint(tid, { url: at(path), signature, retry_schedule: [1], filter: { groups: [group] }, ...(supplied ? { secret: supplied } : {}) });
    if (supplied) expect(ep.secret).toBe(supplied);
    else expect(ep.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(ep).toMatchObject({ signature, filter: { types: [], exclude: [], groups: [group] } });
    const secret = ep.secret;
    // A catch-all endpoint: once it has the un-grouped event, that event's fan-out has run.
    const all = await createEndpoint(tid, { url: at(allPath) });

    const notMatching = await postEvent(tid, { type: other, data: { group: false } });
    const matching = await postEvent(tid, { type: grouped, data: { group: true, amount: 12.5, note: "ünïcode" } });

    const got = await waitForReceived(path, 2, { timeoutMs: 20_000 });
    const catchAll = await waitForReceived(allPath, 2);
    for (const r of catchAll) verifyStandard(all.secret, r);
    await sleep(500);
    expect(await receivedAt(path)).toHaveLength(2);
    // Only the grouped event reached the group subscription.
    expect(forEvent(got, notMatching.id)).toEqual([]);
    expect(got.map((r) => r.headers["webhook-id"])).toEqual([matching.id, matching.id]);

    got.forEach((r, i) => {
      const payload = verifyProfile(signature, secret, r);
      expect(payload).toEqual({ id: matching.id, type: grouped, timestamp: matching.created_at, data: { group: true, amount: 12.5, note: "ünïcode" } });
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["webhook-id"]).toBe(matching.id);
      expect(r.headers["webhook-attempt"]).toBe(String(i + 1));
      expect(Math.abs(Number(r.headers["webhook-timestamp"]) - r.at / 1000)).toBeLessThan(5);
      if (signature === "standard") {
        expect(r.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+={0,2}$/);
        expect(r.headers["x-switchyard-signature"]).toBeUndefined();
      }
      if (signature === "hmac-sha256-hex") {
        expect(r.headers["x-switchyard-signature"]).toMatch(/^[0-9a-f]{64}$/);
        expect(r.headers["webhook-signature"]).toBeUndefined();
      }
      if (signature === "timestamped-hex") {
        expect(r.headers["x-switchyard-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
        expect(r.headers["x-switchyard-event-id"]).toBe(matching.id);
        expect(r.headers["x-switchyard-event-type"]).toBe(grouped);
        expect(r.headers["x-switchyard-timestamp"]).toBe(r.headers["webhook-timestamp"]);
        expect(r.headers["x-switchyard-retry-count"]).toBe(String(i));
      }
      // Another secret must not verify.
      const wrong = signature === "standard" ? `whsec_${randomBytes(32).toString("base64")}` : `${secret}x`;
      expect(() => verifyProfile(signature, wrong, r)).toThrow();
    });

    const detail = await deliveredDetail(tid, matching.id, ep.id, [secret]);
    expect(detail.request.headers[SIGNATURE_HEADER[signature]]).toBe("[redacted]");
    expect(detail.request.body).toBe(got[1]!.body);
    expect(detail.request.method).toBe("POST");
    expect(detail.attempts.map((a: any) => a.response_status)).toEqual([500, 200]);
    expect((await api("GET", `/v1/tenants/${tid}/endpoints/${ep.id}/secret`)).body.secret).toBe(secret);
  });

  it("cloudevents, PUT, custom headers, bearer auth: field by field, verified with standardwebhooks, redacted in the log", async () => {
    const tid = await createTenant("ce");
    const type = await createEventType({ prefix: "ce" });
    const path = `/ok/ce-${uid()}`;
    const token = `tok-${uid()}-${uid()}`;
    const ep = await createEndpoint(tid, {
      url: at(path),
      format: "cloudevents",
      method: "PUT",
      headers: { "X-Custom": "custom-value", "X-Tenant-Ref": "acme-42" },
      auth: { type: "bearer", token },
    });
    expect(ep.auth).toEqual({ type: "bearer" });
    expect(JSON.stringify(await getEndpoint(tid, ep.id))).not.toContain(token);
    const occurredAt = "2026-05-06T07:08:09.123Z";
    const data = { vehicle: { vin: "1HGCM82633A004352" }, list: [1, 2, 3], flag: null };
    const ev = await postEvent(tid, { type, data, occurred_at: occurredAt });

    const [r] = await waitForReceived(path, 1);
    const verified = verifyStandard(ep.secret, r!);
    const body = JSON.parse(r!.body);
    expect(verified).toEqual(body);
    expect(Object.keys(body).sort()).toEqual(["data", "datacontenttype", "id", "source", "specversion", "time", "type"]);
    expect(body.specversion).toBe("1.0");
    expect(body.id).toBe(ev.id);
    expect(body.source).toBe("/switchyard");
    expect(body.type).toBe(type);
    expect(body.time).toBe(occurredAt);
    expect(body.datacontenttype).toBe("application/json");
    expect(body.data).toEqual(data);
    expect(r!.headers["content-type"]).toBe("application/cloudevents+json; charset=utf-8");
    expect(r!.method).toBe("PUT");
    expect(r!.headers["x-custom"]).toBe("custom-value");
    expect(r!.headers["x-tenant-ref"]).toBe("acme-42");
    expect(r!.headers.authorization).toBe(`Bearer ${token}`);
    expect(r!.headers["user-agent"]).toMatch(/^Switchyard\//);

    const detail = await deliveredDetail(tid, ev.id, ep.id, [token, ep.secret]);
    expect(detail.request.method).toBe("PUT");
    expect(detail.request.url).toBe(at(path));
    expect(detail.request.body).toBe(r!.body);
    const headers = lower(detail.request.headers);
    expect(headers.authorization).toBe("[redacted]");
    expect(headers["webhook-signature"]).toBe("[redacted]");
    expect(headers["x-custom"]).toBe("custom-value");
    expect(headers["content-type"]).toBe("application/cloudevents+json; charset=utf-8");
    expect(headers["webhook-id"]).toBe(ev.id);
  });

  it("cloudevents with timestamped-hex and basic auth: verified with node:crypto, redacted in the log", async () => {
    const tid = await createTenant("cebasic");
    const type = await createEventType({ prefix: "cebasic" });
    const path = `/ok/cebasic-${uid()}`;
    const secret = `custody-${uid()}-${uid()}-secret`;
    const password = `pw-${uid()}:with colon`;
    const ep = await createEndpoint(tid, {
      url: at(path),
      format: "cloudevents",
      signature: "timestamped-hex",
      secret,
      headers: { "X-Api-Version": "2" },
      auth: { type: "basic", username: "switchyard", password },
    });
    expect(ep.secret).toBe(secret);
    const ev = await postEvent(tid, { type, data: { ok: true } });

    const [r] = await waitForReceived(path, 1);
    const body = verifyTimestampedHex(secret, r!);
    expect(body).toEqual({ specversion: "1.0", id: ev.id, source: "/switchyard", type, time: ev.created_at, datacontenttype: "application/json", data: { ok: true } });
    expect(r!.headers["x-switchyard-event-id"]).toBe(ev.id);
    expect(r!.headers["x-switchyard-event-type"]).toBe(type);
    expect(r!.headers["x-switchyard-retry-count"]).toBe("0");
    expect(r!.headers["content-type"]).toBe("application/cloudevents+json; charset=utf-8");
    expect(r!.method).toBe("POST");
    expect(r!.headers["x-api-version"]).toBe("2");
    expect(r!.headers.authorization).toBe(`Basic ${Buffer.from(`switchyard:${password}`).toString("base64")}`);
    expect(() => verifyHmacHex(secret, r!)).toThrow(); // the timestamp is part of what is signed

    const detail = await deliveredDetail(tid, ev.id, ep.id, [secret, password, Buffer.from(`switchyard:${password}`).toString("base64")]);
    const headers = lower(detail.request.headers);
    expect(headers.authorization).toBe("[redacted]");
    expect(headers["x-switchyard-signature"]).toBe("[redacted]");
    expect(headers["x-switchyard-event-id"]).toBe(ev.id);
    expect(headers["x-api-version"]).toBe("2");
    expect(detail.request.body).toBe(r!.body);
  });
});

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
