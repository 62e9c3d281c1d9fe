import { describe, expect, it } from "vitest";
import { AsyncLruCache, ValueCache } from "../../src/domain/async-cache";

describe("AsyncLruCache", () => {
  it("builds a value once, even for concurrent callers", async () => {
    const cache = new AsyncLruCache<number>(10);
    let builds = 0;
    const build = async () => ++builds;
    expect(await Promise.all([cache.get("k", build), cache.get("k", build)])).toEqual([1, 1]);
    expect(builds).toBe(1);
  });

  it("drops the least recently used entry beyond its capacity", async () => {
    const cache = new AsyncLruCache<string>(2);
    let builds = 0;
    const build = (v: string) => async () => (builds++, v);
    await cache.get("a", build("a"));
    await cache.get("b", build("b"));
    await cache.get("a", build("a")); // a is now the most recent
    await cache.get("c", build("c")); // evicts b
    expect(cache.size).toBe(2);
    expect(builds).toBe(3);
    await cache.get("a", build("a"));
    expect(builds).toBe(3);
    await cache.get("b", build("b"));
    expect(builds).toBe(4);
  });

  it("forgets a failed build so the next call tries again", async () => {
    const cache = new AsyncLruCache<number>(2);
    await expect(cache.get("k", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(cache.size).toBe(0);
    expect(await cache.get("k", async () => 7)).toBe(7);
  });

  it.each([0, -1, 1.5])("refuses the capacity %s", (capacity) => {
    expect(() => new AsyncLruCache(capacity)).toThrow(RangeError);
  });
});

describe("ValueCache", () => {
  it("keeps resolved values only: concurrent misses each read (no request awaits another's I/O), later calls get the value", async () => {
    const cache = new ValueCache<number>(10);
    let reads = 0;
    const read = async () => {
      reads++;
      await Promise.resolve();
      return 42;
    };
    expect(await Promise.all([cache.get("k", read, 0), cache.get("k", read, 0)])).toEqual([42, 42]);
    expect(reads).toBe(2);
    expect(await cache.get("k", read, 5)).toBe(42);
    expect(reads).toBe(2);
  });

  it("reads again after ttlMs and after delete; a failed read is not kept", async () => {
    const cache = new ValueCache<string>(10, 1000);
    let n = 0;
    const read = async () => `v${++n}`;
    expect(await cache.get("k", read, 0)).toBe("v1");
    expect(await cache.get("k", read, 999)).toBe("v1");
    expect(await cache.get("k", read, 1000)).toBe("v2");
    cache.delete("k");
    expect(await cache.get("k", read, 1001)).toBe("v3");
    await expect(cache.get("x", () => Promise.reject(new Error("boom")), 0)).rejects.toThrow("boom");
    expect(await cache.get("x", read, 0)).toBe("v4");
  });
});
