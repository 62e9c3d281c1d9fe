import { describe, expect, it } from "vitest";
import { nestsDeeperThan } from "../../src/domain/json-depth";

describe("nestsDeeperThan", () => {
  it.each([
    ["a scalar", "1", 0, false],
    ["[1]", "[1]", 1, false],
    ["[[1]] at limit 1", "[[1]]", 1, true],
    ["objects and arrays alike", '{"a":[{"b":1}]}', 2, true],
    ["brackets inside strings do not count", '{"a":"[[[[{{{{"}', 1, false],
    ["an escaped quote keeps the string open", '{"a":"\\"[[[["}', 1, false],
    ["siblings do not add up", "[[1],[2],[3]]", 2, false],
  ])("%s", (_name, text, limit, expected) => {
    expect(nestsDeeperThan(text, limit)).toBe(expected);
  });

  it("scans 100 000 levels without recursion", () => {
    expect(nestsDeeperThan("[".repeat(100_000) + "]".repeat(100_000), 512)).toBe(true);
  });
});
