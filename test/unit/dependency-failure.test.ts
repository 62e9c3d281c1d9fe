import { describe, expect, it } from "vitest";
import { isDependencyFailure } from "../../src/errors";

const withFlags = (message: string, flags: Record<string, boolean>) => Object.assign(new Error(message), flags);

describe("isDependencyFailure: our own dependency's trouble answers 503, anything else stays a 500", () => {
  it.each([
    ["D1 overloaded", new Error("D1_ERROR: D1 DB is overloaded. Requests queued for too long.")],
    ["D1 reset", new Error("D1_ERROR: Network connection lost.")],
    ["a Durable Object reset", new Error("Durable Object reset because its code was updated.")],
    ["a retryable Durable Object error", withFlags("something", { retryable: true })],
    ["an overloaded Durable Object", withFlags("something", { overloaded: true })],
    ["a refused queue send", new Error("Queue send failed: Too Many Requests")],
    ["drizzle's wrapper around a D1 error", new Error("Failed query: select 1", { cause: new Error("D1_ERROR: D1 DB is overloaded.") })],
  ])("%s is a dependency failure", (_name, err) => {
    expect(isDependencyFailure(err)).toBe(true);
  });

  it.each([
    ["a TypeError", new TypeError("x is undefined")],
    ["a SyntaxError", new SyntaxError("Unexpected token")],
    ["a string", "D1_ERROR"],
    ["undefined", undefined],
  ])("%s is not", (_name, err) => {
    expect(isDependencyFailure(err)).toBe(false);
  });
});
