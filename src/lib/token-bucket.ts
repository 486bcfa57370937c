/**
 * A token bucket: `perSecond` refills, up to `burst`. For counters that live and die with one
 * object (a socket's incoming messages), where a shared limiter (lib/rate-limiter.ts, keys in
 * Redis) would cost a round trip per message for state no other node needs.
 */
export function createTokenBucket(perSecond: number, burst: number, now: () => number = Date.now) {
  let tokens = burst;
  let at = now();
  return {
    /** Takes one token; false when there is none left. */
    take(): boolean {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - at) / 1000) * perSecond);
      at = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
export type TokenBucket = ReturnType<typeof createTokenBucket>;
