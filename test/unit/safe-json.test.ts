import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findAlteredNumbers } from "../../src/domain/safe-json";

/** Loaded 2-core CI: property tests get room beyond vitest's default 5 s. */
const PROPERTY_TIMEOUT = { timeout: 30_000 };

const LITERAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * The exact value of a decimal literal as mantissa × 10^exponent, in BigInt. Written apart
 * from the module's normaliser (scaling, not zero-stripping) so the two check each other.
 */
function exactValue(literal: string): { mantissa: bigint; exponent: number } {
  const m = LITERAL.exec(literal);
  if (!m) throw new Error(`not a decimal literal: ${literal}`);
  const [, sign = "", whole = "", fraction = "", exponent = "0"] = m;
  return { mantissa: BigInt(sign + whole + fraction), exponent: Number(exponent) - fraction.length };
}

function sameValue(a: string, b: string): boolean {
  const x = exactValue(a);
  const y = exactValue(b);
  const low = Math.min(x.exponent, y.exponent);
  return x.mantissa * 10n ** BigInt(x.exponent - low) === y.mantissa * 10n ** BigInt(y.exponent - low);
}

/** Whether the value a receiver gets (JSON.stringify of JSON.parse) is the literal's value. */
function survives(literal: string): boolean {
  const parsed = JSON.parse(literal) as number;
  return Number.isFinite(parsed) && sameValue(literal, JSON.stringify(parsed));
}

const refused = (literal: string) => findAlteredNumbers(`[${literal}]`).length > 0;

const digits = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(..."0123456789"), minLength, maxLength });

/** Other spellings of the same decimal value: the point moved, zeros appended, `E`, `+`, `0.` prefix. */
const respelling = (literal: string) =>
  fc.record({ point: fc.nat(), zeros: fc.nat({ max: 3 }), e: fc.constantFrom("e", "E"), plus: fc.boolean(), zeroPrefix: fc.boolean() }).map((o) => {
    const { mantissa, exponent } = exactValue(literal);
    const sign = literal.startsWith("-") ? "-" : "";
    const expText = (n: number) => `${o.e}${n >= 0 && o.plus ? "+" : ""}${n}`;
    // JSON allows one leading zero only.
    if (mantissa === 0n) return `${sign}0${o.zeros ? `.${"0".repeat(o.zeros)}` : ""}${expText(o.point % 400)}`;
    const body = (mantissa < 0n ? -mantissa : mantissa).toString() + "0".repeat(o.zeros);
    const exp = exponent - o.zeros;
    if (o.zeroPrefix) return `${sign}0.${body}${expText(exp + body.length)}`;
    const point = 1 + (o.point % body.length);
    const fraction = body.slice(point);
    return `${sign}${body.slice(0, point)}${fraction ? `.${fraction}` : ""}${expText(exp + fraction.length)}`;
  });

const finiteDouble = fc.double({ noNaN: true, noDefaultInfinity: true });

describe("findAlteredNumbers", () => {
  it.each([
    ["a safe document", '{"a":1,"b":[2,3],"c":{"d":"9007199254740993"}}', []],
    ["the largest safe integer", "[9007199254740991, -9007199254740991]", []],
    ["2^53, which a double holds and writes back exactly", "9007199254740992", []],
    ["just beyond 2^53", '{"id":9007199254740993}', ["data.id"]],
    ["a negative one", '{"id":-9007199254740993}', ["data.id"]],
    ["one inside arrays and objects", '{"a":[1,2,{"b":12345678901234567890}]}', ["data.a[2].b"]],
    ["several, in document order", '[1e400, 18446744073709551616, {"x": [0, 99999999999999999999]}]', ["data[0]", "data[1]", "data[2].x[1]"]],
    ["decimal and exponent spellings of the same integers", '{"a":9007199254740993.0,"b":1e30,"c":9007199254740993E0}', ["data.a", "data.c"]],
    ["a key that is not an identifier", '{"a b":{"c.d":99999999999999999999,"0":99999999999999999999}}', ['data["a b"]["c.d"]', 'data["a b"]["0"]']],
    ["a key with escapes", '{"q\\"\\u0041":99999999999999999999}', ['data["q\\"A"]']],
    ["strings that look like numbers and brackets", '{"s":"[1, 99999999999999999999]","n":99999999999999999999}', ["data.n"]],
    ["whitespace everywhere", ' \n{ "a" :\t[ 1 ,\r\n 99999999999999999999 ] } \n', ["data.a[1]"]],
    ["literals beside numbers", "[true,false,null,99999999999999999999]", ["data[3]"]],
    ["empty containers", '{"a":{},"b":[],"c":99999999999999999999}', ["data.c"]],
    [
      "spellings mixed in one document",
      '{"ok":[1.0,1e21,0.1,-0],"bad":{"x y":12345678901234567.0},"list":[2.50,1.2345678901234567e16,1e-400]}',
      ['data.bad["x y"]', "data.list[1]", "data.list[2]"],
    ],
  ])("%s", (_, json, paths) => {
    expect(findAlteredNumbers(json)).toEqual(paths);
  });

  it.each([
    // The same value in another spelling.
    ["1.0", []],
    ["1e21", []],
    ["0.1", []],
    ["100", []],
    ["-0", []],
    ["-0.0e-5", []],
    ["1E+2", []],
    ["2.50", []],
    ["100e-2", []],
    ["0.000001", []],
    ["1e-7", []],
    ["9007199254740992.000", []],
    ["18014398509481984", []],
    ["100000000000000000000000", []],
    ["5e-324", []],
    ["1.7976931348623157e308", []],
    ["0.0000000000000000000000000000000000000001e40", []],
    // A different value once re-serialised.
    ["9007199254740993", ["data.n[0]"]],
    ["12345678901234567.0", ["data.n[0]"]],
    ["1.2345678901234567e16", ["data.n[0]"]],
    ["18446744073709551616", ["data.n[0]"]],
    ["1e309", ["data.n[0]"]],
    ["-1e309", ["data.n[0]"]],
    ["1.7976931348623159e308", ["data.n[0]"]],
    ["1e-400", ["data.n[0]"]],
    ["-2e-400", ["data.n[0]"]],
    ["4.9406564584124654e-324", ["data.n[0]"]],
    ["0.12345678901234567890123", ["data.n[0]"]],
    ["1e99999999999999999999", ["data.n[0]"]],
    ["1e-99999999999999999999", ["data.n[0]"]],
  ])("%s → %j", (literal, paths) => {
    expect(findAlteredNumbers(`{"n":[${literal}]}`)).toEqual(paths);
  });

  it("uses the given root, and none when it is empty", () => {
    expect(findAlteredNumbers('{"data":{"n":99999999999999999999}}', "")).toEqual(["data.n"]);
    expect(findAlteredNumbers("[99999999999999999999]", "")).toEqual(["[0]"]);
    expect(findAlteredNumbers('{"n":99999999999999999999}', "payload")).toEqual(["payload.n"]);
  });

  it.each(["", "{", '{"a":}', "[1,]", "NaN", "01", "1.", ".5", "{'a':1}", "\uFEFF{}"])("throws SyntaxError on the invalid JSON %j", (json) => {
    expect(() => findAlteredNumbers(json)).toThrow(SyntaxError);
  });

  it("handles deep nesting without overflowing the stack", () => {
    const depth = 100_000;
    expect(findAlteredNumbers(`${"[".repeat(depth)}99999999999999999999${"]".repeat(depth)}`)).toEqual([`data${"[0]".repeat(depth)}`]);
  });

  it("stays linear on a long run of zeros", () => {
    const zeros = "0".repeat(200_000);
    const started = performance.now();
    expect(findAlteredNumbers(`[1.${zeros}1, 1${zeros}e-200000, 0.${zeros}1e200001]`)).toEqual(["data[0]"]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("finds exactly the integers whose value changes, wherever they are", PROPERTY_TIMEOUT, () => {
    const big = fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }).map(String);
    const safe = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }).map(String);
    fc.assert(
      fc.property(fc.array(fc.oneof(big, safe)), (items) => {
        const json = `{"items":[${items.map((text) => `{"v":${text}}`).join(",")}]}`;
        const expected = items.flatMap((text, n) => (survives(text) ? [] : [`data.items[${n}].v`]));
        expect(findAlteredNumbers(json)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it("accepts every finite double as JSON.stringify writes it, and re-spelt", PROPERTY_TIMEOUT, () => {
    fc.assert(
      fc.property(
        finiteDouble.chain((x) => fc.tuple(fc.constant(x), respelling(JSON.stringify(x)))),
        ([x, respelt]) => {
          const written = JSON.stringify(x);
          const spellings = [written, written.toUpperCase(), written.replace("e+", "e"), respelt];
          if (/^-?\d+$/.test(written)) spellings.push(`${written}.0`, `${written}.000`, `${written}e0`);
          for (const literal of spellings) {
            expect(JSON.parse(literal) === x, literal).toBe(true);
            expect(findAlteredNumbers(`{"x":${literal}}`), literal).toEqual([]);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("accepts a literal exactly when the value a receiver gets is the literal's value", PROPERTY_TIMEOUT, () => {
    const arbitraryLiteral = fc
      .record({
        sign: fc.constantFrom("", "-"),
        whole: fc.oneof(fc.constant("0"), fc.tuple(fc.constantFrom(..."123456789"), digits(0, 24)).map(([lead, rest]) => lead + rest)),
        fraction: fc.option(digits(1, 24), { nil: "" }),
        exponent: fc.option(fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), fc.integer({ min: 0, max: 420 })), { nil: undefined }),
      })
      .map(({ sign, whole, fraction, exponent }) => `${sign}${whole}${fraction ? `.${fraction}` : ""}${exponent ? exponent.join("") : ""}`);
    const nearDouble = finiteDouble.chain((x) => respelling(JSON.stringify(x)));
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(arbitraryLiteral, nearDouble), (literal) => {
        const kept = survives(literal);
        if (kept) accepted++;
        expect(refused(literal), literal).toBe(!kept);
      }),
      { numRuns: 2_000 },
    );
    expect(accepted).toBeGreaterThan(200);
  });

  // "Differs" as a receiver sees it: 10^23's double is not 10^23, yet it is written back as 1e+23.
  it("refuses every integer beyond 2^53 whose re-serialised double differs, in plain, .0 and exponent spelling", PROPERTY_TIMEOUT, () => {
    const inexact = fc
      .tuple(fc.constantFrom(1n, -1n), fc.bigInt({ min: 2n ** 53n + 1n, max: 10n ** 30n }))
      .map(([sign, n]) => sign * n)
      .filter((n) => !sameValue(String(n), JSON.stringify(Number(n))));
    fc.assert(
      fc.property(inexact, (n) => {
        const text = String(n);
        const sign = n < 0n ? "-" : "";
        const magnitude = text.replace("-", "");
        const spellings = [
          text,
          `${text}.0`,
          `${sign}${magnitude[0]}.${magnitude.slice(1)}e${magnitude.length - 1}`,
          `${sign}${magnitude[0]}.${magnitude.slice(1)}E+${magnitude.length - 1}`,
          `${text}0e-1`,
        ];
        for (const literal of spellings) expect(findAlteredNumbers(`{"n":${literal}}`), literal).toEqual(["data.n"]);
      }),
      { numRuns: 500 },
    );
  });
});
