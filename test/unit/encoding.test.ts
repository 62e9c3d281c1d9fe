import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64ToBytes, base64UrlToBytes, bytesToBase64, bytesToBase64Url, bytesToHex, utf8 } from "../../src/domain/encoding";

describe("encoding", () => {
  it("agrees with Buffer for base64, base64url and hex", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const buffer = Buffer.from(bytes);
        expect(bytesToBase64(bytes)).toBe(buffer.toString("base64"));
        expect(bytesToBase64Url(bytes)).toBe(buffer.toString("base64url"));
        expect(bytesToHex(bytes)).toBe(buffer.toString("hex"));
        expect(base64ToBytes(bytesToBase64(bytes))).toEqual(bytes);
        expect(base64UrlToBytes(bytesToBase64Url(bytes))).toEqual(bytes);
      }),
    );
  });

  it.each(["QQ", "QQ=", "Q===", "QQ==\n", " QQ==", "QQ-_", "Q"])("refuses the non-strict base64 %j", (text) => {
    expect(base64ToBytes(text)).toBeNull();
  });

  it.each(["QQ==", "A", "QQ+/", "QQ\n"])("refuses the non-strict base64url %j", (text) => {
    expect(base64UrlToBytes(text)).toBeNull();
  });

  it("encodes text as UTF-8", () => {
    expect([...utf8("é€")]).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac]);
  });
});
