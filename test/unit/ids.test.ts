import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isEventTypeName, isHostId, newId, parseSeqId, seqId } from "../../src/domain/ids";

const CROCKFORD = /^[0-9a-hjkmnp-tv-z]+$/;

describe("newId", () => {
  it("is the prefix, 10 time characters and 16 random Crockford base32 characters", () => {
    const id = newId("evt", 1_700_000_000_000);
    expect(id).toMatch(/^evt_[0-9a-hjkmnp-tv-z]{26}$/);
    expect(id.slice(4, 14)).toBe("01hf7yat00");
  });

  it.each(["ten", "ep", "evt", "key", "dlv", "dl"] as const)("carries the %s_ prefix", (prefix) => {
    expect(newId(prefix).startsWith(`${prefix}_`)).toBe(true);
  });

  it("encodes time zero as all zeros", () => {
    expect(newId("ep", 0).slice(3, 13)).toBe("0000000000");
  });

  it("gives different ids in the same millisecond", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId("ep", 5)));
    expect(ids.size).toBe(1000);
  });

  it("sorts ids by creation time to the millisecond", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 48 }), fc.nat({ max: 2 ** 48 }), (a, b) => {
        fc.pre(a !== b);
        expect(newId("evt", a) < newId("evt", b)).toBe(a < b);
      }),
    );
  });

  it.each([-1, 1.5, Number.NaN, 32 ** 10])("refuses the time %s", (nowMs) => {
    expect(() => newId("ep", nowMs)).toThrow(RangeError);
  });
});

describe("seqId and parseSeqId", () => {
  it.each([
    [1, "dlv_00000000001"],
    [31, "dlv_0000000000z"],
    [32, "dlv_00000000010"],
    [Number.MAX_SAFE_INTEGER, "dlv_7zzzzzzzzzz"],
  ])("encodes %s as %s", (seq, id) => {
    expect(seqId("dlv", seq)).toBe(id);
    expect(parseSeqId("dlv", id)).toBe(seq);
  });

  it("round-trips every positive safe integer", () => {
    fc.assert(
      fc.property(fc.constantFrom("dlv" as const, "dl" as const), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (prefix, seq) => {
        const id = seqId(prefix, seq);
        expect(id).toHaveLength(prefix.length + 12);
        expect(parseSeqId(prefix, id)).toBe(seq);
      }),
    );
  });

  it("orders ids as strings the way their numbers are ordered", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (a, b) => {
        expect(seqId("dl", a) < seqId("dl", b)).toBe(a < b);
      }),
    );
  });

  it.each([0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN])("refuses to encode %s", (seq) => {
    expect(() => seqId("dlv", seq)).toThrow(RangeError);
  });

  it.each([
    ["wrong prefix", "dl", "dlv_00000000001"],
    ["other prefix", "dlv", "dl_00000000001"],
    ["no separator", "dlv", "dlv00000000001"],
    ["too short", "dlv", "dlv_0000000001"],
    ["too long", "dlv", "dlv_000000000001"],
    ["upper case", "dlv", "dlv_0000000000Z"],
    ["letter outside the alphabet", "dlv", "dlv_0000000000u"],
    ["zero", "dlv", "dlv_00000000000"],
    ["beyond 2^53 − 1", "dlv", "dlv_80000000000"],
    ["largest 11-character value", "dlv", "dlv_zzzzzzzzzzz"],
    ["a time-based id", "dlv", "dlv_01hf7yat0032g7gtxde3xxrpb3"],
    ["empty", "dlv", ""],
  ] as const)("answers null for %s", (_, prefix, id) => {
    expect(parseSeqId(prefix, id)).toBeNull();
  });
});

describe("isHostId", () => {
  it.each(["a", "A9", "tenant_1", "acme-corp", "0", "x".repeat(64)])("accepts %s", (id) => {
    expect(isHostId(id)).toBe(true);
  });

  it.each(["", "_operator", "-a", "a.b", "a b", "é", "x".repeat(65), "a\n"])("refuses %j", (id) => {
    expect(isHostId(id)).toBe(false);
  });
});

describe("isEventTypeName", () => {
  it.each(["report.completed", "maintenance.task.created", "a.b", "v2_x.y_1", `a.${"b".repeat(126)}`])("accepts %s", (name) => {
    expect(isEventTypeName(name)).toBe(true);
  });

  it.each(["report", "Report.completed", "a..b", ".a.b", "a.b.", "a.*", "a-b.c", "a.b ", "", `a.${"b".repeat(127)}`])(
    "refuses %j",
    (name) => {
      expect(isEventTypeName(name)).toBe(false);
    },
  );
});
