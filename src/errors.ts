/**
 * @module The one error type and the one RFC 9457 problem+json writer.
 */

export interface FieldError {
  path: string;
  message: string;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Validation Failed",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** An error whose status and detail may reach the client. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly options: { errors?: FieldError[]; retryAfter?: number; problem?: string } = {},
  ) {
    super(detail);
    this.name = "AppError";
  }
}

/** Turns zod issues into the problem document's `errors`, paths like `filter.types[0]`. */
export function issuesToErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[]): FieldError[] {
  return issues.map((issue) => {
    let path = "";
    for (const part of issue.path) {
      path += typeof part === "number" ? `[${part}]` : path ? `.${String(part)}` : String(part);
    }
    return { path: path || "(body)", message: issue.message };
  });
}

export const notFound = (what: string) => new AppError(404, `${what} not found.`);
export const forbidden = (detail = "This token may not do that.") => new AppError(403, detail);
export const conflict = (detail: string) => new AppError(409, detail);
export const invalid = (errors: FieldError[], detail = "The request is not valid.") =>
  new AppError(422, detail, { errors });

/** `problem`: a more specific type than the status's title (e.g. `tenant-log-full`). */
export type ProblemOptions = { errors?: FieldError[]; retryAfter?: number; problem?: string };

/** An RFC 9457 problem document's members. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
}

/** The problem document every adapter shows (HTTP as problem+json, the service binding as a value). */
export function problemBody(status: number, detail: string, options: ProblemOptions = {}): ProblemBody {
  const title = TITLES[status] ?? "Error";
  const body: ProblemBody = {
    type: `https://switchyard.dev/problems/${options.problem ?? title.toLowerCase().replaceAll(" ", "-")}`,
    title,
    status,
    detail,
  };
  if (options.errors) body.errors = options.errors;
  return body;
}

/** Renders an RFC 9457 problem document. */
export function problemResponse(status: number, detail: string, options: ProblemOptions = {}): Response {
  const headers = new Headers({ "content-type": "application/problem+json" });
  if (options.retryAfter !== undefined) headers.set("retry-after", String(options.retryAfter));
  return new Response(JSON.stringify(problemBody(status, detail, options)), { status, headers });
}

/**
 * What a caller is told about any error a verb threw: an AppError as it is, our
 * dependency's failure as a 503 with a retry hint, anything else as a bare 500 (logged
 * here, never shown). The one mapping for the API's onError and the service binding.
 */
export function describeError(err: unknown): { status: number; detail: string; options: ProblemOptions } {
  if (err instanceof AppError) return { status: err.status, detail: err.detail, options: err.options };
  if (isDependencyFailure(err)) {
    console.error("a dependency failed", err);
    return { status: 503, detail: "A dependency of Switchyard is unavailable; retry later.", options: { retryAfter: DEPENDENCY_RETRY_AFTER_S } };
  }
  console.error("unhandled error", err);
  return { status: 500, detail: "Something went wrong on our side.", options: {} };
}

/**
 * Whether an error is our own dependency's (D1, a Durable Object, a queue): the request
 * may succeed later, so the client is told 503 with Retry-After, never a 500 or a 4xx.
 * Durable Object errors carry `retryable`/`overloaded`; D1 and Queues say so in the message;
 * drizzle wraps D1's error as the `cause` of its own.
 */
export function isDependencyFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const flags = e as Error & { retryable?: boolean; overloaded?: boolean };
    if (flags.retryable === true || flags.overloaded === true || DEPENDENCY_MESSAGE.test(e.message)) return true;
  }
  return false;
}

const DEPENDENCY_MESSAGE = /\bD1_|D1 DB|Durable Object|Network connection lost|Queue send failed|Too Many Requests|internal error/i;

/** Seconds a client is asked to wait after a dependency failure. */
export const DEPENDENCY_RETRY_AFTER_S = 5;
