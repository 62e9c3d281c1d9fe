import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isHostId, logDeliveryId, logEventId, parseLogDeliveryId, parseLogEventId } from "../../src/domain/ids";

const key = fc.record({
  createdAt: fc.integer({ min: 0, max: 32 ** 10 - 1 }),
  tenantSeq: fc.integer({ min: 0, max: 32 ** 7 - 1 }),
  eventSeq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

describe("data plane v2 ids (docs/data-plane-v2.md)", () => {
  it("an event id and a delivery id give back the key they were made from", () => {
    fc.assert(
      fc.property(key, fc.integer({ min: 0, max: 32 ** 4 - 1 }), (k, ordinal) => {
        expect(parseLogEventId(logEventId(k))).toEqual(k);
        expect(parseLogDeliveryId(logDeliveryId({ ...k, ordinal }))).toEqual({ ...k, ordinal });
      }),
      { numRuns: 500 },
    );
  }, 30_000);

  it("ids sort by acceptance time, then tenant, then event", () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        const order = (x: typeof a) => [x.createdAt, x.tenantSeq, x.eventSeq];
        const cmp = (x: number[], y: number[]) => {
          for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
          return 0;
        };
        const expected = cmp(order(a), order(b));
        const ida = logEventId(a);
        const idb = logEventId(b);
        expect(Math.sign(ida < idb ? -1 : ida > idb ? 1 : 0)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  }, 30_000);

  it.each([
    ["a host's id", "order-123"],
    ["the wrong prefix", "dlv_01hf7yat0000000030000000001a"],
    ["a letter outside the alphabet", "evt_01hf7yat0u00000030000000001a"],
    ["upper case", "evt_01HF7YAT0000000030000000001a"],
    ["too short", "evt_01hf7yat00"],
    ["a v1 delivery id", "dlv_00000000001"],
  ])("%s is not a log id", (_what, id) => {
    expect(id.startsWith("evt_") ? parseLogEventId(id) : parseLogDeliveryId(id)).toBeNull();
  });

  it("a generated event id is a valid event id for receivers (Standard Webhooks: no dots)", () => {
    expect(isHostId(logEventId({ createdAt: Date.now(), tenantSeq: 3, eventSeq: 42 }))).toBe(true);
  });

  it.each([
    [{ createdAt: -1, tenantSeq: 1, eventSeq: 1 }],
    [{ createdAt: 1, tenantSeq: 32 ** 7, eventSeq: 1 }],
    [{ createdAt: 1, tenantSeq: 1, eventSeq: 1.5 }],
  ])("refuses a key out of range: %j", (k) => {
    expect(() => logEventId(k)).toThrow(RangeError);
  });
});
