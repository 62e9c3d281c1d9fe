import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decryptSecret, encryptSecret, isValidSecretsKey, needsReencrypt } from "../../src/domain/secret-box";

const key = (fill: number) => Buffer.alloc(32, fill).toString("base64");
const CURRENT = key(1);
const PREVIOUS = key(2);
const fingerprint = (keyB64: string) => createHash("sha256").update(Buffer.from(keyB64, "base64")).digest("hex").slice(0, 8);

describe("encryptSecret and decryptSecret", () => {
  it("seal as v1.<key fingerprint>.<iv>.<ciphertext>", async () => {
    const box = await encryptSecret("whsec_abc", CURRENT);
    const [version, fp, iv, ciphertext] = box.split(".");
    expect(version).toBe("v1");
    expect(fp).toBe(fingerprint(CURRENT));
    expect(Buffer.from(iv!, "base64url")).toHaveLength(12);
    // AES-GCM: ciphertext as long as the plaintext, plus a 16-byte tag.
    expect(Buffer.from(ciphertext!, "base64url")).toHaveLength(9 + 16);
    expect(box).not.toContain("whsec_abc");
  });

  it("round-trips any string", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "grapheme" }), async (plain) => {
        expect(await decryptSecret(await encryptSecret(plain, CURRENT), [CURRENT])).toBe(plain);
      }),
      { numRuns: 50 },
    );
  });

  it("uses a fresh IV each time", async () => {
    expect(await encryptSecret("same", CURRENT)).not.toBe(await encryptSecret("same", CURRENT));
  });

  it("opens a box sealed with the previous key during a key rotation", async () => {
    const box = await encryptSecret("old secret", PREVIOUS);
    expect(await decryptSecret(box, [CURRENT, PREVIOUS])).toBe("old secret");
  });

  it("names the missing key when no configured key sealed the box", async () => {
    const box = await encryptSecret("s", PREVIOUS);
    await expect(decryptSecret(box, [CURRENT])).rejects.toThrow(
      `secret was sealed with key ${fingerprint(PREVIOUS)}, which is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS`,
    );
  });

  it("refuses a box whose ciphertext was altered", async () => {
    const box = await encryptSecret("secret", CURRENT);
    const parts = box.split(".");
    const tampered = Buffer.from(parts[3]!, "base64url");
    tampered[0]! ^= 1;
    parts[3] = tampered.toString("base64url");
    await expect(decryptSecret(parts.join("."), [CURRENT])).rejects.toThrow(/failed authentication/);
  });

  it.each(["", "plain text", "v2.aaaaaaaa.AAAAAAAAAAAAAAAA.AAAA", "v1.XYZ.AAAAAAAAAAAAAAAA.AAAA", "v1.aaaaaaaa.A.AAAA", "v1.aaaaaaaa.AAAAAAAAAAAAAAAA.AAAA.extra"])(
    "refuses the malformed box %j",
    async (box) => {
      await expect(decryptSecret(box, [CURRENT])).rejects.toThrow("not a v1 secret box");
    },
  );

  it("refuses to seal with an invalid key, without echoing it", async () => {
    await expect(encryptSecret("s", "c2hvcnQ=")).rejects.toThrow("SECRETS_KEY must be base64 of exactly 32 bytes");
  });
});

describe("needsReencrypt", () => {
  it("is false for a box sealed with the current key and true for one sealed with another", async () => {
    expect(await needsReencrypt(await encryptSecret("s", CURRENT), CURRENT)).toBe(false);
    expect(await needsReencrypt(await encryptSecret("s", PREVIOUS), CURRENT)).toBe(true);
  });
});

describe("isValidSecretsKey", () => {
  it.each([
    ["32 bytes", key(9), true],
    ["the test configuration's key", "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=", true],
    ["32 bytes with the trailing newline of a piped secret", `${key(9)}\n`, true],
    ["31 bytes", Buffer.alloc(31).toString("base64"), false],
    ["33 bytes", Buffer.alloc(33).toString("base64"), false],
    ["no padding", key(9).replace(/=$/, ""), false],
    ["not base64", "!".repeat(44), false],
    ["empty", "", false],
  ])("%s → %s", (_, k, ok) => {
    expect(isValidSecretsKey(k)).toBe(ok);
  });
});
