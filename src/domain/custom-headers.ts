/**
 * @module Validation of an endpoint's custom headers: nothing that would break
 * the request, or override what Switchyard itself sets.
 */

/** The most custom headers an endpoint may have. */
export const MAX_CUSTOM_HEADERS = 20;

/** The longest custom header value, in characters. */
export const MAX_CUSTOM_HEADER_VALUE_LENGTH = 4096;

/** One validation problem, in the API's `errors` shape. */
export interface HeaderProblem {
  path: string;
  message: string;
}

// RFC 9110 §5.6.2 token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LINE_BREAK_OR_NUL = /[\r\n\0]/;
// RFC 9110 field-value: visible ASCII, space, tab and obs-text (0x80–0xFF);
// `fetch` refuses anything above 0xFF outright.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const RESERVED = new Set([
  "host",
  "content-type",
  "content-length",
  "user-agent",
  // Hop-by-hop: they describe one connection, not the message.
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Whether `value` can be sent as a header value unchanged: field-value characters only
 * (no CR, LF, NUL or other controls; nothing above U+00FF) and no leading or trailing
 * space or tab, which fetch would trim. Used for auth tokens, whose header Switchyard builds.
 */
export function isSendableHeaderValue(value: string): boolean {
  return FIELD_VALUE.test(value) && !/^[ \t]|[ \t]$/.test(value);
}

/**
 * Checks an endpoint's custom headers.
 *
 * @param opts.prefix `HEADER_PREFIX`: `x-<prefix>-*` belongs to the hex profiles
 * @param opts.hasAuth whether the endpoint has `auth`, which then owns `authorization`
 * @returns problems with paths like `headers.X-Foo`; empty when all is well
 * @example checkCustomHeaders({ Host: "x" }, { prefix: "Switchyard", hasAuth: false })
 * // [{ path: "headers.Host", message: "is set by Switchyard and cannot be overridden" }]
 */
export function checkCustomHeaders(headers: Record<string, string>, opts: { prefix: string; hasAuth: boolean }): HeaderProblem[] {
  const problems: HeaderProblem[] = [];
  const names = Object.keys(headers);
  if (names.length > MAX_CUSTOM_HEADERS) {
    problems.push({ path: "headers", message: `must have at most ${MAX_CUSTOM_HEADERS} entries` });
  }
  const ownPrefix = `x-${opts.prefix.toLowerCase()}-`;
  const seen = new Set<string>();
  for (const name of names) {
    const path = `headers.${name}`;
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) {
      problems.push({ path, message: "is not a valid header name" });
    } else if (RESERVED.has(lower) || lower.startsWith("webhook-") || lower.startsWith(ownPrefix)) {
      problems.push({ path, message: "is set by Switchyard and cannot be overridden" });
    } else if (lower === "authorization" && opts.hasAuth) {
      problems.push({ path, message: "cannot be set while auth is configured" });
    } else if (seen.has(lower)) {
      // Header names ignore case: two spellings would be merged into one value.
      problems.push({ path, message: "repeats another header's name (case is ignored)" });
    }
    seen.add(lower);

    const value = headers[name] ?? "";
    if (LINE_BREAK_OR_NUL.test(value)) {
      problems.push({ path, message: "must not contain CR, LF or NUL" });
    } else if (!FIELD_VALUE.test(value)) {
      problems.push({ path, message: "contains a character that cannot be sent in a header" });
    }
    if (value.length > MAX_CUSTOM_HEADER_VALUE_LENGTH) {
      problems.push({ path, message: `must be at most ${MAX_CUSTOM_HEADER_VALUE_LENGTH} characters` });
    }
  }
  return problems;
}
