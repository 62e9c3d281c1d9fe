import { createHmac, timingSafeEqual } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  generateSecret,
  isHexProfileSecret,
  isStandardSecret,
  secretFitsProfile,
  type SignInput,
  signRequest,
} from "../../src/domain/signature";

const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

const nowSec = () => Math.floor(Date.now() / 1000);

const input = (overrides: Partial<SignInput>): SignInput => ({
  profile: "standard",
  secrets: [generateSecret()],
  eventId: "evt_01hf7yat0032g7gtxde3xxrpb3",
  eventType: "report.completed",
  timestampSec: nowSec(),
  attempt: 1,
  body: '{"id":"evt_1","type":"report.completed","data":{"ok":true,"name":"Zoë"}}',
  prefix: "Switchyard",
  ...overrides,
});

/** How the platforms' receiver examples check a hex signature. */
function receiverAccepts(secret: string, signedText: string, header: string, scheme = ""): boolean {
  const expected = Buffer.from(scheme + createHmac("sha256", secret).update(signedText).digest("hex"));
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe("generateSecret", () => {
  it("is whsec_ and base64 of 32 random bytes", () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), "base64")).toHaveLength(32);
    expect(isStandardSecret(secret)).toBe(true);
    expect(isHexProfileSecret(secret)).toBe(true);
  });

  it("never repeats", () => {
    expect(new Set(Array.from({ length: 100 }, generateSecret)).size).toBe(100);
  });
});

describe("isStandardSecret", () => {
  const b64 = (n: number) => Buffer.alloc(n, 7).toString("base64");
  it.each([
    ["a 24-byte key", `whsec_${b64(24)}`, true],
    ["a 64-byte key", `whsec_${b64(64)}`, true],
    ["the published test vector", VECTOR.secret, true],
    ["a 23-byte key", `whsec_${b64(23)}`, false],
    ["a 65-byte key", `whsec_${b64(65)}`, false],
    ["no prefix", b64(32), false],
    ["another prefix", `whsex_${b64(32)}`, false],
    ["missing padding", `whsec_${b64(32).replace(/=+$/, "")}`, false],
    ["base64url characters", `whsec_${b64(30).replace(/A/g, "_")}-`, false],
    ["whitespace", `whsec_ ${b64(32)}`, false],
    ["empty key", "whsec_", false],
  ])("%s → %s", (_, secret, ok) => {
    expect(isStandardSecret(secret)).toBe(ok);
    expect(secretFitsProfile("standard", secret)).toBe(ok);
  });
});

describe("isHexProfileSecret", () => {
  it.each([
    ["x".repeat(24), true],
    ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true],
    ["x".repeat(23), false],
    ["", false],
  ])("%j → %s", (secret, ok) => {
    expect(isHexProfileSecret(secret)).toBe(ok);
    expect(secretFitsProfile("hmac-sha256-hex", secret)).toBe(ok);
    expect(secretFitsProfile("timestamped-hex", secret)).toBe(ok);
  });
});

describe("signRequest, profile standard", () => {
  it("reproduces the published Standard Webhooks test vector", async () => {
    const headers = await signRequest(
      input({ secrets: [VECTOR.secret], eventId: VECTOR.id, timestampSec: VECTOR.timestamp, body: VECTOR.body }),
    );
    expect(headers["webhook-signature"]).toBe(VECTOR.signature);
  });

  it("matches what the standardwebhooks library itself signs", async () => {
    const secret = generateSecret();
    const i = input({ secrets: [secret] });
    const headers = await signRequest(i);
    expect(headers["webhook-signature"]).toBe(new Webhook(secret).sign(i.eventId, new Date(i.timestampSec * 1000), i.body));
  });

  it("verifies with the standardwebhooks library", async () => {
    const i = input({});
    const headers = await signRequest(i);
    expect(new Webhook(i.secrets[0]!).verify(i.body, headers)).toEqual(JSON.parse(i.body));
  });

  it("sends exactly the common headers and the signature", async () => {
    const i = input({ attempt: 3 });
    expect(Object.keys(await signRequest(i)).sort()).toEqual(["webhook-attempt", "webhook-id", "webhook-signature", "webhook-timestamp"]);
    expect(await signRequest(i)).toMatchObject({
      "webhook-id": i.eventId,
      "webhook-timestamp": String(i.timestampSec),
      "webhook-attempt": "3",
    });
  });

  it("fails verification when the body changes", async () => {
    const i = input({});
    const headers = await signRequest(i);
    expect(() => new Webhook(i.secrets[0]!).verify(`${i.body} `, headers)).toThrow();
  });

  it("signs once per secret during a rotation, each verifying with its own secret", async () => {
    const [newer, older] = [generateSecret(), generateSecret()];
    const i = input({ secrets: [newer, older] });
    const headers = await signRequest(i);
    const parts = headers["webhook-signature"]!.split(" ");
    expect(parts).toHaveLength(2);
    expect(parts.every((p) => p.startsWith("v1,"))).toBe(true);
    for (const secret of [newer, older]) expect(() => new Webhook(secret).verify(i.body, headers)).not.toThrow();
    for (const [n, secret] of [newer, older].entries()) {
      expect(new Webhook(secret).verify(i.body, { ...headers, "webhook-signature": parts[n]! })).toBeTruthy();
    }
    expect(() => new Webhook(generateSecret()).verify(i.body, headers)).toThrow();
  });

  it("leaves out an older secret that is not a standard secret", async () => {
    const i = input({ secrets: [generateSecret(), "a-hex-profile-secret-of-some-length"] });
    expect((await signRequest(i))["webhook-signature"]!.split(" ")).toHaveLength(1);
  });

  it("refuses when the newest secret does not fit the profile", async () => {
    await expect(signRequest(input({ secrets: ["a-hex-profile-secret-of-some-length"] }))).rejects.toThrow(/does not fit/);
  });
});

describe("signRequest, profile hmac-sha256-hex", () => {
  it("signs the raw body with the whole secret string, as receiver examples check it", async () => {
    const secret = generateSecret();
    const i = input({ profile: "hmac-sha256-hex", secrets: [secret] });
    const headers = await signRequest(i);
    expect(headers["x-switchyard-signature"]).toMatch(/^[0-9a-f]{64}$/);
    expect(receiverAccepts(secret, i.body, headers["x-switchyard-signature"]!)).toBe(true);
    expect(receiverAccepts(secret, `${i.body}\n`, headers["x-switchyard-signature"]!)).toBe(false);
  });

  it("uses the configured prefix, lowercased", async () => {
    const headers = await signRequest(input({ profile: "hmac-sha256-hex", secrets: ["s".repeat(24)], prefix: "FleetCo", attempt: 2 }));
    expect(Object.keys(headers).sort()).toEqual(["webhook-attempt", "webhook-id", "webhook-timestamp", "x-fleetco-signature"]);
    expect(headers["webhook-attempt"]).toBe("2");
  });

  it("signs with the newest secret only", async () => {
    const [newer, older] = ["n".repeat(32), "o".repeat(32)];
    const i = input({ profile: "hmac-sha256-hex", secrets: [newer, older] });
    const signature = (await signRequest(i))["x-switchyard-signature"]!;
    expect(receiverAccepts(newer, i.body, signature)).toBe(true);
    expect(receiverAccepts(older, i.body, signature)).toBe(false);
  });

  it("refuses a secret shorter than 24 characters", async () => {
    await expect(signRequest(input({ profile: "hmac-sha256-hex", secrets: ["short"] }))).rejects.toThrow();
  });
});

describe("signRequest, profile timestamped-hex", () => {
  it("sends event id, type, timestamp, retry count and sha256= over {timestamp}.{body}", async () => {
    const secret = "custody-platform-secret-123456";
    const i = input({ profile: "timestamped-hex", secrets: [secret, "p".repeat(30)], attempt: 6 });
    const headers = await signRequest(i);
    expect(headers).toEqual({
      "webhook-id": i.eventId,
      "webhook-timestamp": String(i.timestampSec),
      "webhook-attempt": "6",
      "x-switchyard-event-id": i.eventId,
      "x-switchyard-event-type": "report.completed",
      "x-switchyard-timestamp": String(i.timestampSec),
      "x-switchyard-retry-count": "5",
      "x-switchyard-signature": expect.stringMatching(/^sha256=[0-9a-f]{64}$/),
    });
    expect(receiverAccepts(secret, `${i.timestampSec}.${i.body}`, headers["x-switchyard-signature"]!, "sha256=")).toBe(true);
  });

  it("counts the first attempt as retry 0", async () => {
    const headers = await signRequest(input({ profile: "timestamped-hex", secrets: ["t".repeat(24)], attempt: 1 }));
    expect(headers["x-switchyard-retry-count"]).toBe("0");
  });
});

describe("signRequest input checks", () => {
  it.each<[string, Partial<SignInput>]>([
    ["no secrets", { secrets: [] }],
    ["a fractional timestamp", { timestampSec: 1.5 }],
    ["a negative timestamp", { timestampSec: -1 }],
    ["attempt 0", { attempt: 0 }],
  ])("refuses %s", async (_, overrides) => {
    await expect(signRequest(input(overrides))).rejects.toThrow();
  });

  it("gives the same signature on repeated calls (cached keys change nothing)", async () => {
    const i = input({});
    expect(await signRequest(i)).toEqual(await signRequest(i));
  });
});
