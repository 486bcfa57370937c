/**
 * A read-through cache of values a node may trust for `ttlMs` (tenant limits, allowed origins,
 * moderation hooks): a change made on another node reaches this one within that time. Bounded
 * by clearing when full, not by LRU: entries refill with one read each.
 */
export function createTtlCache<V>(ttlMs: number, load: (key: string) => Promise<V>, maxEntries = 10_000) {
  const entries = new Map<string, { value: V; until: number }>();
  return {
    async get(key: string): Promise<V> {
      const cached = entries.get(key);
      if (cached && cached.until > Date.now()) return cached.value;
      const value = await load(key);
      if (entries.size >= maxEntries) entries.clear();
      entries.set(key, { value, until: Date.now() + ttlMs });
      return value;
    },
    /** Forgets `key`: a change made on this node is seen here at once. */
    delete(key: string) {
      entries.delete(key);
    },
  };
}
