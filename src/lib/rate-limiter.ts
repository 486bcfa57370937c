import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { rateLimited } from './errors.ts';

/**
 * Fixed-window counters (rate-limiter-flexible): in memory for one process, in Redis when
 * REDIS_URL is set so that every node counts against the same budget. If Redis is unreachable
 * a node falls back to counting alone (the insurance limiter) rather than refusing everyone.
 */
export function createRateLimiter({ redis, name }: { redis: Redis | null; name: string }) {
  // A limiter has one budget; tenants' budgets differ, so there is one limiter per budget.
  const limiters = new Map<number, RateLimiterAbstract>();
  const limiterFor = (points: number) => {
    let limiter = limiters.get(points);
    if (!limiter) {
      const options = { points, duration: 1, keyPrefix: `parley:rl:${name}:${points}` };
      limiter = redis
        ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) })
        : new RateLimiterMemory(options);
      limiters.set(points, limiter);
    }
    return limiter;
  };

  return {
    /** Counts one action of `key` against `perSecond`; over it, throws RATE_LIMITED. */
    async consume(key: string, perSecond: number, what: string) {
      try {
        await limiterFor(perSecond).consume(key);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        throw rateLimited(`At most ${perSecond} ${what} per second`, Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      }
    },
  };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;
