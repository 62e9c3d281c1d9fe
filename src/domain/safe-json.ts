/**
 * @module Finds number literals in JSON text whose value would change on the way to a
 * receiver, so an event is refused rather than silently altered.
 *
 * Switchyard stores and sends `JSON.stringify` of the parsed data, so a literal survives
 * only when the double JSON.parse makes of it is written back with the same decimal value.
 * The JSON.parse reviver's `context.source` would show each literal, but the Node 22 the
 * unit tests run on does not enable it by default, so this module scans the text itself
 * after JSON.parse has vouched for its syntax.
 */

/** What a refused number's path is told (API and portal alike). */
export const ALTERED_NUMBER_MESSAGE = "is a number that would change when re-serialised (beyond a double's range or precision, like an integer beyond 2^53); send it as a string";

type Frame =
  | { kind: "array"; path: string; index: number }
  | { kind: "object"; path: string; key: string; expectKey: boolean };

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function memberPath(parent: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

function stringEnd(text: string, start: number): number {
  let at = start + 1;
  while (text[at] !== '"') at += text[at] === "\\" ? 2 : 1;
  return at + 1;
}

function match(pattern: RegExp, text: string, at: number): string {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0] ?? "";
}

/**
 * A decimal literal's value as `{sign}{digits}e{exponent}`, digits without leading or
 * trailing zeros, so two literals have the same value exactly when these strings are equal.
 * Number arithmetic on the exponent is exact up to 2^53; a literal whose exponent is beyond
 * that is beyond the double range too (no string is long enough to offset it), so it
 * still compares unequal to any written double.
 */
function exactDecimal(literal: string): string {
  const [, sign = "", whole = "", fraction = "", exponent = "0"] = DECIMAL.exec(literal) ?? [];
  const digits = whole + fraction;
  // Index loops, not /^0+/ and /0+$/: a regex anchored at the end rescans a long run of zeros from every start.
  let first = 0;
  while (digits[first] === "0") first++;
  let end = digits.length;
  while (end > first && digits[end - 1] === "0") end--;
  if (first === end) return "0"; // -0 and 0 are one value
  return `${sign}${digits.slice(first, end)}e${Number(exponent) - fraction.length + (digits.length - end)}`;
}

function valueChanges(literal: string): boolean {
  const parsed = Number(literal);
  // Infinity is written as null, and so is NaN: never the same value.
  if (!Number.isFinite(parsed)) return true;
  const written = String(parsed);
  // Most literals are already written the way JSON.stringify writes them.
  return written !== literal && exactDecimal(written) !== exactDecimal(literal);
}

/**
 * The paths, in document order, of number literals whose value would change when the
 * document is parsed and re-serialised with JSON.stringify: beyond a double's range
 * (`1e309` becomes null), below it (`1e-400` becomes 0), or more precise than a double
 * (`9007199254740993`, `12345678901234567.0`, `1.2345678901234567e16`,
 * `0.12345678901234567890123`). A different spelling of the same value (`1.0`, `1E+2`,
 * `2.50`, `-0`, `1e21`) is not a change.
 *
 * @param root the path of the whole document: `"data"` gives `data.a[2].b`,
 *   `""` gives `a[2].b`; keys that are not identifiers use `["…"]`
 * @throws SyntaxError when `jsonText` is not valid JSON
 * @example findAlteredNumbers('{"a":[1.0,2,9007199254740993],"b":1e309}') // ["data.a[2]", "data.b"]
 */
export function findAlteredNumbers(jsonText: string, root = "data"): string[] {
  JSON.parse(jsonText);
  const found: string[] = [];
  // An explicit stack: deeply nested input must not overflow the call stack.
  const stack: Frame[] = [];
  const valuePath = (): string => {
    const top = stack.at(-1);
    if (!top) return root;
    return top.kind === "array" ? `${top.path}[${top.index}]` : memberPath(top.path, top.key);
  };
  let i = match(WHITESPACE, jsonText, 0).length;
  while (i < jsonText.length) {
    const char = jsonText[i]!;
    const top = stack.at(-1);
    let next = i + 1;
    if (char === "{") {
      stack.push({ kind: "object", path: valuePath(), key: "", expectKey: true });
    } else if (char === "[") {
      stack.push({ kind: "array", path: valuePath(), index: 0 });
    } else if (char === "}" || char === "]") {
      stack.pop();
    } else if (char === ",") {
      if (top?.kind === "array") top.index++;
      else if (top) top.expectKey = true;
    } else if (char === ":") {
      if (top?.kind === "object") top.expectKey = false;
    } else if (char === '"') {
      next = stringEnd(jsonText, i);
      if (top?.kind === "object" && top.expectKey) top.key = JSON.parse(jsonText.slice(i, next)) as string;
    } else if (char === "-" || (char >= "0" && char <= "9")) {
      const literal = match(NUMBER, jsonText, i);
      if (valueChanges(literal)) found.push(valuePath());
      next = i + literal.length;
    } else {
      next = i + (char === "f" ? "false".length : "true".length); // "null" is as long as "true"
    }
    i = next + match(WHITESPACE, jsonText, next).length;
  }
  return found;
}
