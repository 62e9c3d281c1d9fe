/**
 * @module Zod schemas shared by several resources: problems, pagination, times, ids.
 */
import { z } from "@hono/zod-openapi";
import { isCalendarDate } from "../core/dates";
import { CIRCUIT_LIMITS, DEFAULT_CIRCUIT } from "../domain/circuit";
import { HOST_ID_PATTERN } from "../domain/ids";
import { invalid } from "../errors";

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

/** Why each problem status is answered; a route declares the ones it can give with `problems`. */
const PROBLEM_REASONS = {
  400: "The body is not valid JSON",
  401: "Missing or invalid bearer token (checked before anything else under /v1)",
  403: "Not allowed for this token",
  404: "Not found, or not this token's to see",
  409: "Conflict with the current state",
  410: "Gone: the delivery expired with its day of the log",
  413: "The body is larger than the limit",
  415: "The body is not sent as application/json",
  422: "Validation failed; `errors` names each field",
  503: "Unavailable for now (a dependency refused, SECRETS_KEY is not set, or the tenant's log is full: see `type`); retry after Retry-After",
} as const;

export type ProblemStatus = keyof typeof PROBLEM_REASONS;

const problemResponse = (status: ProblemStatus) => ({
  description: PROBLEM_REASONS[status],
  content: { "application/problem+json": { schema: Problem } },
  // Every 503 the Worker writes carries Retry-After (src/errors.ts, docs/api-contract.md).
  ...(status === 503
    ? { headers: { "Retry-After": { description: "Seconds to wait before retrying", required: true, schema: { type: "integer" as const, minimum: 1 } } } }
    : {}),
});

/**
 * The problem+json answers of an operation, each status listed where the route can give it.
 * Every /v1 route lists 401 (the auth middleware) and 503 (`onError` on any dependency
 * failure); POST and PATCH also 413 (body limit) and 422 (JSON depth), DELETE 413; a
 * route with a JSON body schema 400 (malformed) and 415 (another content type).
 * test/integration/api-openapi.test.ts checks those, the response validation the rest.
 * @example responses: { 200: jsonResponse(Tenant, "The tenant"), ...problems(401, 403, 404, 503) }
 */
export function problems<const S extends ProblemStatus>(...statuses: S[]): { [K in S]: ReturnType<typeof problemResponse> } {
  return Object.fromEntries(statuses.map((s) => [s, problemResponse(s)])) as { [K in S]: ReturnType<typeof problemResponse> };
}

const boundedInt = (min: number, max: number) => {
  const message = `must be an integer from ${min} to ${max}`;
  return z.number({ error: message }).int(message).min(min, message).max(max, message);
};

const CIRCUIT_DOC =
  "The circuit breaker: after open_after consecutive attempts that timed out or could not connect (a 5xx does not count), " +
  "the endpoint's deliveries wait for cool_off_s seconds (doubling on each re-opening, up to 3600), spending no attempt and failing nothing; then one delivery is sent as a probe. " +
  "Success closes the circuit and releases the rest; failure re-opens it.";

/** `circuit` in a create or PATCH body: replaced whole, each member left out takes its default; null resets every member to its default. */
export const CircuitInput = z
  .strictObject({
    enabled: z.boolean({ error: "must be true or false" }).optional().openapi({ description: "false turns the breaker off (and closes an open circuit)", default: DEFAULT_CIRCUIT.enabled }),
    open_after: boundedInt(CIRCUIT_LIMITS.openAfter.min, CIRCUIT_LIMITS.openAfter.max)
      .optional()
      .openapi({ description: "Consecutive timeouts or connection failures that open the circuit", default: DEFAULT_CIRCUIT.open_after }),
    cool_off_s: boundedInt(CIRCUIT_LIMITS.coolOffS.min, CIRCUIT_LIMITS.coolOffS.max)
      .optional()
      .openapi({ description: "Seconds an open circuit waits before its probe (doubling per re-opening, at most 3600)", default: DEFAULT_CIRCUIT.cool_off_s }),
  })
  .openapi("CircuitInput", {
    description: `${CIRCUIT_DOC} Replaced whole: a member left out takes its default, not its stored value; null resets all to the defaults.`,
    example: { ...DEFAULT_CIRCUIT },
  });

/** `circuit` as every endpoint read shows it. */
export const CircuitSettings = z
  .object({
    enabled: z.boolean(),
    open_after: z.number().int().openapi({ minimum: CIRCUIT_LIMITS.openAfter.min, maximum: CIRCUIT_LIMITS.openAfter.max }),
    cool_off_s: z.number().int().openapi({ minimum: CIRCUIT_LIMITS.coolOffS.min, maximum: CIRCUIT_LIMITS.coolOffS.max }),
  })
  .openapi("Circuit", { description: CIRCUIT_DOC, example: { ...DEFAULT_CIRCUIT } });

/** Read-only `circuit_state`. */
export const CircuitStateField = z.enum(["closed", "open", "half_open"]).openapi({
  description:
    "Read-only. open: deliveries wait for the cool-off; half_open: the cool-off has passed and one delivery goes (or went) as a probe; closed otherwise, and always while the breaker is turned off.",
});

export const HostId = z.string().regex(HOST_ID_PATTERN, "must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$");

export const TenantParams = z.object({
  tid: z.string().openapi({ param: { name: "tid", in: "path" }, example: "acme" }),
});

export const Timestamp = z.string().openapi({ format: "date-time", example: "2026-11-23T12:00:00.000Z" });

/** An ISO-8601 instant in a query string; anything else is a 422. */
export const IsoInstant = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && isCalendarDate(s) && !Number.isNaN(Date.parse(s)), {
    message: "must be an ISO-8601 date-time",
  })
  .transform((s) => Date.parse(s))
  .openapi({ type: "string", format: "date-time" });

export const ListQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,3}$/, "must be an integer from 1 to 250")
    .transform(Number)
    .pipe(z.number().int().min(1, "must be an integer from 1 to 250").max(250, "must be an integer from 1 to 250"))
    .default(50)
    .openapi({ type: "integer", minimum: 1, maximum: 250, default: 50 }),
  cursor: z.string().optional(),
});

export const listOf = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() }).openapi(name);

export const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

/** Cursors are opaque: base64url of the last row's sort key. */
export function encodeCursor(key: string | number): string {
  return btoa(JSON.stringify([key])).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor<T extends string | number>(cursor: string | undefined, kind: "string" | "number"): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [key] = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))) as unknown[];
    if (typeof key === kind) return key as T;
  } catch {
    // fall through to the 422
  }
  throw invalid([{ path: "cursor", message: "is not a cursor this API returned" }]);
}

export function page<T, K extends string | number>(rows: T[], limit: number, key: (row: T) => K) {
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  const last = data[data.length - 1];
  return { data, next_cursor: more && last !== undefined ? encodeCursor(key(last)) : null };
}

/** A required JSON request body. */
export const jsonBody = <T extends z.ZodTypeAny>(schema: T) => ({ content: { "application/json": { schema } }, required: true });

/** A JSON response. */
export const jsonResponse = <T extends z.ZodTypeAny>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
