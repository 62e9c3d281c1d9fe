/**
 * @module A small least-recently-used cache of promises, for values that are
 * costly to build once per isolate (imported CryptoKeys).
 */

/**
 * Caches the promise returned by a factory, so concurrent callers share one
 * build; a rejected build is forgotten so the next call tries again.
 */
export class AsyncLruCache<V> {
  readonly #entries = new Map<string, Promise<V>>();

  /** @param capacity the most entries kept; the least recently used goes first */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  /** Entries currently held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cached value for `key`, built by `create` when absent.
   *
   * @example
   * const key = await keys.get(secret, () => crypto.subtle.importKey(...));
   */
  get(key: string, create: () => Promise<V>): Promise<V> {
    const cached = this.#entries.get(key);
    if (cached) {
      // Re-inserting moves the entry to the back of Map's insertion order.
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached;
    }
    const built = create().catch((error: unknown) => {
      if (this.#entries.get(key) === built) this.#entries.delete(key);
      throw error;
    });
    this.#entries.set(key, built);
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return built;
  }
}
