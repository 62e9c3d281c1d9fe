import { describe, expect, it } from "vitest";
import { type AttemptResult, classifyAttempt, honouredRetryAfter, isFailure } from "../../src/domain/outcome";

const response = (status: number, retryAfterSeconds: number | null = null): AttemptResult => ({
  kind: "response",
  status,
  location: null,
  retryAfterSeconds,
});

describe("classifyAttempt", () => {
  it.each([200, 201, 202, 204, 226, 299])("a %s is a success", (status) => {
    expect(classifyAttempt(response(status))).toEqual({ outcome: "success" });
  });

  it.each([500, 501, 502, 503, 504, 520, 599, 408, 429])("a %s is retried", (status) => {
    expect(classifyAttempt(response(status))).toEqual({ outcome: "retry" });
  });

  it.each(["timeout", "connection", "tls handshake failed"])("a %s error is retried", (error) => {
    expect(classifyAttempt({ kind: "error", error })).toEqual({ outcome: "retry" });
  });

  it.each([100, 101, 199, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413, 422, 499, 600])(
    "a %s is final",
    (status) => {
      expect(classifyAttempt(response(status))).toEqual({ outcome: "final" });
    },
  );

  it("a redirect is final and keeps its location for the record", () => {
    const redirect: AttemptResult = { kind: "response", status: 301, location: "https://elsewhere.example/", retryAfterSeconds: null };
    expect(classifyAttempt(redirect)).toEqual({ outcome: "final" });
  });
});

describe("isFailure", () => {
  it.each([
    [response(200), false],
    [response(204), false],
    [response(302), true],
    [response(410), true],
    [response(503), true],
    [{ kind: "error", error: "timeout" } as const, true],
  ])("%j → %s", (result, failed) => {
    expect(isFailure(result)).toBe(failed);
  });
});

describe("honouredRetryAfter", () => {
  it.each([
    [response(429, 30), 30],
    [response(503, 30), 30],
    [response(503, null), null],
    [response(500, 30), null],
    [response(301, 30), null],
    [response(200, 30), null],
    [{ kind: "error", error: "timeout" } as const, null],
  ])("%j → %s", (result, seconds) => {
    expect(honouredRetryAfter(result)).toBe(seconds);
  });
});
