/**
 * @module Finds integers in JSON text that JavaScript cannot hold exactly
 * (beyond 2^53), so an event is refused rather than silently altered.
 *
 * The JSON.parse reviver's `context.source` would show each literal, but the
 * Node 22 the unit tests run on does not enable it by default, so this module
 * scans the text itself after JSON.parse has vouched for its syntax.
 */

type Frame =
  | { kind: "array"; path: string; index: number }
  | { kind: "object"; path: string; key: string; expectKey: boolean };

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
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
 * The paths, in document order, of integer literals beyond 2^53 in magnitude
 * (written without `.` or an exponent, and not a safe integer once parsed).
 *
 * @param root the path of the whole document: `"data"` gives `data.a[2].b`,
 *   `""` gives `a[2].b`; keys that are not identifiers use `["…"]`
 * @throws SyntaxError when `jsonText` is not valid JSON
 * @example findUnsafeIntegers('{"a":[1,2,9007199254740993]}') // ["data.a[2]"]
 */
export function findUnsafeIntegers(jsonText: string, root = "data"): string[] {
  return findNumberLiterals(jsonText, root, (literal) => !/[.eE]/.test(literal) && !Number.isSafeInteger(Number(literal)));
}

/**
 * The paths of number literals too large for a double (`1e309`): JSON.parse makes them
 * Infinity and JSON.stringify then writes `null`, so the event would be silently altered.
 *
 * @throws SyntaxError when `jsonText` is not valid JSON
 * @example findOverflowingNumbers('{"a":1e309}') // ["data.a"]
 */
export function findOverflowingNumbers(jsonText: string, root = "data"): string[] {
  return findNumberLiterals(jsonText, root, (literal) => !Number.isFinite(Number(literal)));
}

function findNumberLiterals(jsonText: string, root: string, refuse: (literal: string) => boolean): string[] {
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
      if (refuse(literal)) found.push(valuePath());
      next = i + literal.length;
    } else {
      next = i + (char === "f" ? "false".length : "true".length); // "null" is as long as "true"
    }
    i = next + match(WHITESPACE, jsonText, next).length;
  }
  return found;
}
