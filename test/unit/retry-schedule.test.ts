import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY_SCHEDULE,
  nextRetryWait,
  parseRetryAfter,
  queueDelaySeconds,
} from "../../src/domain/retry-schedule";

const NOW = Date.UTC(2026, 9, 21, 7, 28, 0); // Wed, 21 Oct 2026 07:28:00 GMT

describe("DEFAULT_RETRY_SCHEDULE", () => {
  it("is Svix's schedule: eight attempts over about 27.5 hours", () => {
    expect(DEFAULT_RETRY_SCHEDULE).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
    const hours = DEFAULT_RETRY_SCHEDULE.reduce((a, b) => a + b, 0) / 3600;
    expect(hours).toBeCloseTo(27.5, 0);
  });

  it("cannot be changed by a caller", () => {
    expect(Object.isFrozen(DEFAULT_RETRY_SCHEDULE)).toBe(true);
  });
});

describe("parseRetryAfter", () => {
  it.each([
    ["0", 0],
    ["120", 120],
    [" 30 ", 30],
    ["007", 7],
    ["86400", 86400],
  ])("reads delta-seconds %j as %s", (value, seconds) => {
    expect(parseRetryAfter(value, NOW)).toBe(seconds);
  });

  it.each([
    ["an IMF-fixdate", "Wed, 21 Oct 2026 07:30:00 GMT", 120],
    ["an IMF-fixdate in lower case", "wed, 21 oct 2026 07:30:00 gmt", 120],
    ["an RFC 850 date", "Wednesday, 21-Oct-26 07:29:00 GMT", 60],
    ["an asctime date", "Wed Oct 21 08:28:00 2026", 3600],
    ["an asctime date with a one-digit day", "Sun Nov  1 07:28:00 2026", 11 * 86400],
    ["a date in the past", "Tue, 20 Oct 2026 07:28:00 GMT", 0],
    ["the date of now", "Wed, 21 Oct 2026 07:28:00 GMT", 0],
  ])("reads %s", (_, value, seconds) => {
    expect(parseRetryAfter(value, NOW)).toBe(seconds);
  });

  it("rounds a date up to whole seconds so the wait never ends early", () => {
    expect(parseRetryAfter("Wed, 21 Oct 2026 07:28:10 GMT", NOW + 300)).toBe(10);
  });

  it("reads an RFC 850 two-digit year as the most recent past century when it would be over 50 years ahead", () => {
    expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", NOW)).toBe(0);
    expect(parseRetryAfter("Thursday, 21-Oct-76 07:28:00 GMT", NOW)).toBe((Date.UTC(2076, 9, 21, 7, 28) - NOW) / 1000);
  });

  it.each([
    ["absent", undefined],
    ["null", null],
    ["empty", ""],
    ["negative", "-5"],
    ["fractional", "1.5"],
    ["exponent", "1e3"],
    ["words", "soon"],
    ["a date without GMT", "Wed, 21 Oct 2026 07:30:00"],
    ["an ISO date", "2026-10-21T07:30:00Z"],
    ["the 31st of February", "Sat, 31 Feb 2026 07:30:00 GMT"],
    ["hour 24", "Wed, 21 Oct 2026 24:00:00 GMT"],
    ["an unknown month", "Wed, 21 Foo 2026 07:30:00 GMT"],
  ])("answers null for %s", (_, value) => {
    expect(parseRetryAfter(value, NOW)).toBeNull();
  });
});

describe("nextRetryWait", () => {
  const wait = (attemptsThisRun: number, random = 0.5, retryAfterSeconds: number | null = null, schedule = DEFAULT_RETRY_SCHEDULE) =>
    nextRetryWait({ schedule, attemptsThisRun, retryAfterSeconds, random });

  it.each(DEFAULT_RETRY_SCHEDULE.map((seconds, i) => [i + 1, seconds]))(
    "after attempt %s of a run waits the scheduled %s s at the jitter midpoint",
    (attempts, seconds) => {
      expect(wait(attempts)).toBeCloseTo(seconds, 9);
    },
  );

  it.each([
    [0, 4.5],
    [0.25, 4.75],
    [0.75, 5.25],
  ])("with random %s waits %s s of a 5 s step", (random, seconds) => {
    expect(wait(1, random)).toBeCloseTo(seconds, 9);
  });

  it("keeps jitter within ±10 % of the scheduled wait", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 86400 }), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (schedule, pick, random) => {
          const attempts = (pick % schedule.length) + 1;
          const base = schedule[attempts - 1]!;
          const result = wait(attempts, random, null, schedule)!;
          expect(result).toBeGreaterThanOrEqual(base * 0.9 - 1e-9);
          expect(result).toBeLessThan(base * 1.1 + 1e-9);
        },
      ),
    );
  });

  it("answers null once the schedule is exhausted: k entries allow k + 1 attempts", () => {
    expect(wait(7)).not.toBeNull();
    expect(wait(8)).toBeNull();
    expect(wait(4, 0.5, null, [5, 30, 120])).toBeNull();
  });

  it("answers null after the only attempt of an empty schedule", () => {
    expect(wait(1, 0.5, null, [])).toBeNull();
  });

  it("waits for Retry-After when it is longer than the scheduled wait", () => {
    expect(wait(1, 0.99, 120)).toBe(120);
  });

  it("keeps the scheduled wait when Retry-After is shorter", () => {
    expect(wait(2, 0.5, 60)).toBeCloseTo(300, 9);
  });

  it("caps Retry-After at 3600 s", () => {
    expect(wait(1, 0.5, 999_999)).toBe(3600);
  });

  it("never lets jitter shorten Retry-After", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (retryAfter, random) => {
        expect(wait(1, random, retryAfter)!).toBeGreaterThanOrEqual(Math.min(retryAfter, 3600));
      }),
    );
  });

  it("still answers null when exhausted, even with Retry-After", () => {
    expect(wait(8, 0.5, 10)).toBeNull();
  });

  it.each([0, -1, 1.5])("refuses attemptsThisRun %s", (attempts) => {
    expect(() => wait(attempts)).toThrow(RangeError);
  });
});

describe("queueDelaySeconds", () => {
  it.each([
    [0, 0],
    [4.5, 5],
    [5, 5],
    [299.0001, 300],
    [86_400, 86_400],
    [90_000, 86_400],
    [Number.POSITIVE_INFINITY, 86_400],
    [-3, 0],
  ])("turns a wait of %s s into delaySeconds %s", (wait, delay) => {
    expect(queueDelaySeconds(wait)).toBe(delay);
  });

  it("refuses NaN", () => {
    expect(() => queueDelaySeconds(Number.NaN)).toThrow(RangeError);
  });
});
