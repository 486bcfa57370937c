import type { Redis } from 'ioredis';
import type { ExpiringSet } from './expiring-set.ts';

/** KEYS: the set. ARGV: now, limit. Pops the expired members atomically, so several reapers never share one. */
const POP_EXPIRED = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

type Commands = { popExpired(key: string, now: number, limit: number): Promise<string[]> };

/** An ExpiringSet shared by every node: a Redis sorted set scored by deadline. */
export function createRedisExpiringSet(redis: Redis, key: string): ExpiringSet {
  const r = redis as Redis & Commands;
  if (typeof r.popExpired !== 'function') redis.defineCommand('popExpired', { numberOfKeys: 1, lua: POP_EXPIRED });
  return {
    async put(member, deadline) {
      await r.zadd(key, deadline, member);
    },
    async delete(member) {
      return (await r.zrem(key, member)) === 1;
    },
    popExpired: (now, limit) => r.popExpired(key, now, limit),
  };
}
