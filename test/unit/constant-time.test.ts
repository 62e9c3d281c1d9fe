import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { constantTimeEqual, sha256Hex } from "../../src/domain/constant-time";

describe("constantTimeEqual", () => {
  it.each([
    ["", "", true],
    ["token", "token", true],
    ["token", "tokeN", false],
    ["token", "token ", false],
    ["short", "a much longer string", false],
    ["", "x", false],
    ["Zoë", "Zoë", true],
  ])("%j vs %j → %s", async (a, b, equal) => {
    expect(await constantTimeEqual(a, b)).toBe(equal);
  });

  it("agrees with === on any pair of strings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string(), async (a, b) => {
        expect(await constantTimeEqual(a, b)).toBe(a === b);
        expect(await constantTimeEqual(a, a)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe("sha256Hex", () => {
  it.each(["", "abc", "Zoë 😀"])("matches node:crypto for %j", async (text) => {
    expect(await sha256Hex(text)).toBe(createHash("sha256").update(text, "utf8").digest("hex"));
  });

  it("gives the well-known digest of abc", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
