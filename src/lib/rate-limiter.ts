import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { rateLimited } from './errors.ts';

/** Where a key stands after one action: allowed or not, what is left, when the window resets. */
export type RateDecision = { allowed: boolean; limit: number; remaining: number; resetSeconds: number };

/**
 * Fixed-window counters (rate-limiter-flexible): in memory for one process, in Redis when
 * REDIS_URL is set so that every node counts against the same budget. If Redis is unreachable
 * a node falls back to counting alone (the insurance limiter) rather than refusing everyone.
 */
export function createRateLimiter({ redis, name, windowSeconds = 1 }: { redis: Redis | null; name: string; windowSeconds?: number }) {
  // A limiter has one budget; tenants' budgets differ, so there is one limiter per budget.
  const limiters = new Map<number, RateLimiterAbstract>();
  const limiterFor = (points: number) => {
    let limiter = limiters.get(points);
    if (!limiter) {
      const options = { points, duration: windowSeconds, keyPrefix: `parley:rl:${name}:${points}` };
      limiter = redis
        ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) })
        : new RateLimiterMemory(options);
      limiters.set(points, limiter);
    }
    return limiter;
  };

  /** Counts one action of `key` against `limit` per window. */
  async function take(key: string, limit: number): Promise<RateDecision> {
    const decision = (res: RateLimiterRes, allowed: boolean): RateDecision => ({
      allowed,
      limit,
      remaining: Math.max(0, res.remainingPoints),
      resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
    });
    try {
      return decision(await limiterFor(limit).consume(key), true);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      return decision(err, false);
    }
  }

  /** Gives back one action of `key` (one that turned out not to count). */
  async function refund(key: string, limit: number): Promise<void> {
    await limiterFor(limit).reward(key, 1);
  }

  return {
    windowSeconds,
    take,
    refund,
    /** Counts one action of `key` against `limit` per window; over it, throws RATE_LIMITED. */
    async consume(key: string, limit: number, what: string) {
      const result = await take(key, limit);
      if (!result.allowed) throw rateLimited(`At most ${limit} ${what} per ${windowSeconds === 1 ? 'second' : `${windowSeconds} seconds`}`, result.resetSeconds);
    },
  };
}
export type RateLimiter = ReturnType<typeof createRateLimiter>;
