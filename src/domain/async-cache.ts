/**
 * @module A small least-recently-used cache of promises, for values that are
 * costly to build once per isolate (imported CryptoKeys, rows the hot path reads).
 */

/**
 * Caches the promise returned by a factory, so concurrent callers share one
 * build; a rejected build is forgotten so the next call tries again. With
 * `ttlMs`, an entry older than that is built again.
 */
export class AsyncLruCache<V> {
  readonly #entries = new Map<string, { value: Promise<V>; at: number }>();

  /**
   * @param capacity the most entries kept; the least recently used goes first
   * @param ttlMs how long an entry is trusted (Infinity: until evicted)
   */
  constructor(
    readonly capacity: number,
    readonly ttlMs = Infinity,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  /** Entries currently held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cached value for `key`, built by `create` when absent or expired.
   *
   * @example
   * const key = await keys.get(secret, () => crypto.subtle.importKey(...));
   */
  get(key: string, create: () => Promise<V>, now = Date.now()): Promise<V> {
    const cached = this.#entries.get(key);
    if (cached && now - cached.at < this.ttlMs) {
      // Re-inserting moves the entry to the back of Map's insertion order.
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached.value;
    }
    const built = create().catch((error: unknown) => {
      if (this.#entries.get(key)?.value === built) this.#entries.delete(key);
      throw error;
    });
    this.#entries.delete(key);
    this.#entries.set(key, { value: built, at: now });
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return built;
  }

  /** Forgets `key` (the value changed in this isolate). */
  delete(key: string): void {
    this.#entries.delete(key);
  }
}

/**
 * A least-recently-used cache of resolved values, for values read through a binding (D1):
 * workerd refuses to let one request await I/O another request started ("Cannot perform I/O
 * on behalf of a different request"), so concurrent misses each read for themselves and
 * only the result is shared. A failed read is not kept; with `ttlMs`, an entry older than
 * that is read again.
 */
export class ValueCache<V> {
  readonly #entries = new Map<string, { value: V; at: number }>();

  constructor(
    readonly capacity: number,
    readonly ttlMs = Infinity,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  async get(key: string, read: () => Promise<V>, now = Date.now()): Promise<V> {
    const cached = this.#entries.get(key);
    if (cached && now - cached.at < this.ttlMs) {
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached.value;
    }
    const value = await read();
    this.#entries.delete(key);
    this.#entries.set(key, { value, at: now });
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return value;
  }

  /** Forgets `key` (the value changed in this isolate). */
  delete(key: string): void {
    this.#entries.delete(key);
  }
}
