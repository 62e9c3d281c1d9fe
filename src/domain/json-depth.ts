/**
 * @module How deeply JSON text nests, found by one linear scan before anything parses or
 * re-serialises it: the runtime's recursive JSON.stringify (and the validators) overflow
 * the call stack on data tens of thousands of levels deep, which would answer 500.
 */

/** The deepest nesting of objects and arrays a body may have (docs/decisions.md). */
export const MAX_JSON_DEPTH = 512;

/** What a refused body is told (API and portal alike). */
export const TOO_DEEP_MESSAGE = `nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`;

/**
 * Whether `text` nests objects and arrays deeper than `limit` (brackets inside strings do
 * not count). It does not check that the text is valid JSON.
 *
 * @example nestsDeeperThan('[[1]]', 1) // true
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
