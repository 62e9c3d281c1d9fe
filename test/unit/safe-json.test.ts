import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findUnsafeIntegers } from "../../src/domain/safe-json";

describe("findUnsafeIntegers", () => {
  it.each([
    ["a safe document", '{"a":1,"b":[2,3],"c":{"d":"9007199254740993"}}', []],
    ["the largest safe integer", "[9007199254740991, -9007199254740991]", []],
    ["2^53", "9007199254740992", ["data"]],
    ["just beyond 2^53", '{"id":9007199254740993}', ["data.id"]],
    ["a negative one", '{"id":-9007199254740993}', ["data.id"]],
    ["one inside arrays and objects", '{"a":[1,2,{"b":12345678901234567890}]}', ["data.a[2].b"]],
    ["several, in document order", '[1e400, 18446744073709551616, {"x": [0, 99999999999999999999]}]', ["data[1]", "data[2].x[1]"]],
    ["a decimal or exponent literal", '{"a":9007199254740993.0,"b":1e30,"c":9007199254740993E0}', []],
    ["a key that is not an identifier", '{"a b":{"c.d":99999999999999999999,"0":99999999999999999999}}', ['data["a b"]["c.d"]', 'data["a b"]["0"]']],
    ["a key with escapes", '{"q\\"\\u0041":99999999999999999999}', ['data["q\\"A"]']],
    ["strings that look like numbers and brackets", '{"s":"[1, 99999999999999999999]","n":99999999999999999999}', ["data.n"]],
    ["whitespace everywhere", ' \n{ "a" :\t[ 1 ,\r\n 99999999999999999999 ] } \n', ["data.a[1]"]],
    ["literals beside numbers", "[true,false,null,99999999999999999999]", ["data[3]"]],
    ["empty containers", '{"a":{},"b":[],"c":99999999999999999999}', ["data.c"]],
  ])("%s", (_, json, paths) => {
    expect(findUnsafeIntegers(json)).toEqual(paths);
  });

  it("uses the given root, and none when it is empty", () => {
    expect(findUnsafeIntegers('{"data":{"n":99999999999999999999}}', "")).toEqual(["data.n"]);
    expect(findUnsafeIntegers("[99999999999999999999]", "")).toEqual(["[0]"]);
    expect(findUnsafeIntegers('{"n":99999999999999999999}', "payload")).toEqual(["payload.n"]);
  });

  it.each(["", "{", '{"a":}', "[1,]", "NaN", "01", "{'a':1}", "\uFEFF{}"])("throws SyntaxError on the invalid JSON %j", (json) => {
    expect(() => findUnsafeIntegers(json)).toThrow(SyntaxError);
  });

  it("handles deep nesting without overflowing the stack", () => {
    const depth = 100_000;
    expect(findUnsafeIntegers(`${"[".repeat(depth)}99999999999999999999${"]".repeat(depth)}`)).toEqual([`data${"[0]".repeat(depth)}`]);
  });

  it("finds exactly the integers that are not safe, wherever they are", () => {
    const unsafe = fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }).map((n) => ({ text: String(n), unsafe: true }));
    const safe = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }).map((n) => ({ text: String(n), unsafe: false }));
    fc.assert(
      fc.property(fc.array(fc.oneof(unsafe, safe)), (items) => {
        const json = `{"items":[${items.map((i) => `{"v":${i.text}}`).join(",")}]}`;
        const expected = items.flatMap((item, n) => (item.unsafe ? [`data.items[${n}].v`] : []));
        expect(findUnsafeIntegers(json)).toEqual(expected);
      }),
    );
  });
});
