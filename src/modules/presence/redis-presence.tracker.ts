import type { Redis } from 'ioredis';
import type { Bus } from '../../events/bus.ts';
import type { AppScope } from '../../lib/scope.ts';
import { publishPresence, type PresenceTracker } from './presence.tracker.ts';

const LAST_SEEN_SECONDS = 90 * 24 * 3600;

// Keys: `parley:presence:<app>:<user>`, a sorted set of the user's sockets scored by when each
// expires; `parley:presence:last:<app>:<user>`, when the last one closed; and one index of
// every socket, `parley:presence:sockets`, for the reaper. Nodes renew their sockets' scores
// (heartbeat); a node that dies stops renewing, and its sockets expire.

/** KEYS: user set, index. ARGV: socket, expiresAt, now, limit, index member. Returns the new count, or -1 over the limit. */
const CONNECT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[4]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
return n + 1`;

/** KEYS: user set, index, last seen. ARGV: socket, now, index member, now ISO. Returns sockets left, or -1 if it was not there. */
const DISCONNECT = `
redis.call('ZREM', KEYS[2], ARGV[3])
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then redis.call('SET', KEYS[3], ARGV[4], 'EX', ${LAST_SEEN_SECONDS}) end
return n`;

/**
 * KEYS: index. ARGV: now, limit, key prefix, now ISO. Removes expired sockets (whose node
 * stopped renewing them) and returns "app\\tuser" for each user left with none. Atomic, so
 * of several reapers exactly one reports each user.
 */
const REAP = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local offline = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local app, user, socket = string.match(member, '^([^\\t]*)\\t([^\\t]*)\\t(.*)$')
  local key = ARGV[3] .. app .. ':' .. user
  if app and redis.call('ZREM', key, socket) == 1 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
    if redis.call('ZCARD', key) == 0 then
      redis.call('SET', ARGV[3] .. 'last:' .. app .. ':' .. user, ARGV[4], 'EX', ${LAST_SEEN_SECONDS})
      table.insert(offline, app .. '\\t' .. user)
    end
  end
end
return offline`;

type PresenceCommands = {
  presenceConnect(user: string, index: string, socket: string, expiresAt: number, now: number, limit: number, member: string): Promise<number>;
  presenceDisconnect(user: string, index: string, last: string, socket: string, now: number, member: string, nowIso: string): Promise<number>;
  presenceReap(index: string, now: number, limit: number, prefix: string, nowIso: string): Promise<string[]>;
};

/**
 * Presence shared by every node through Redis. A socket counts for `ttlMs` after its node
 * last renewed it (every ttlMs / 3), so the sockets of a node that died stop counting within
 * `ttlMs`, and a reaper on every node publishes those users' "offline".
 */
export function createRedisPresenceTracker(deps: { redis: Redis; bus: Bus; ttlMs: number; onError: (err: unknown) => void }): PresenceTracker {
  const { bus, ttlMs, onError } = deps;
  const redis = deps.redis as Redis & PresenceCommands;
  redis.defineCommand('presenceConnect', { numberOfKeys: 2, lua: CONNECT });
  redis.defineCommand('presenceDisconnect', { numberOfKeys: 3, lua: DISCONNECT });
  redis.defineCommand('presenceReap', { numberOfKeys: 1, lua: REAP });

  const prefix = 'parley:presence:';
  const index = `${prefix}sockets`;
  const userKey = (appId: string, userId: string) => `${prefix}${appId}:${userId}`;
  const lastKey = (appId: string, userId: string) => `${prefix}last:${appId}:${userId}`;
  const member = (appId: string, userId: string, socketId: string) => `${appId}\t${userId}\t${socketId}`;
  /** This node's sockets, renewed by the heartbeat. */
  const local = new Map<string, { scope: AppScope; userId: string }>();

  /** Upserts, not updates: after Redis restarts empty, the sockets still open count again. */
  async function renew() {
    if (local.size === 0) return;
    const expiresAt = Date.now() + ttlMs;
    const batch = redis.multi();
    for (const [socketId, { scope, userId }] of local) {
      batch.zadd(userKey(scope.appId, userId), expiresAt, socketId);
      batch.pexpireat(userKey(scope.appId, userId), expiresAt);
      batch.zadd(index, expiresAt, member(scope.appId, userId, socketId));
    }
    await batch.exec();
  }

  async function reap() {
    const now = new Date();
    const offline = await redis.presenceReap(index, now.getTime(), 500, prefix, now.toISOString());
    await Promise.all(
      offline.map((entry) => {
        const [appId, userId] = entry.split('\t') as [string, string];
        return publishPresence(bus, appId, userId, false, now);
      }),
    );
  }

  const timers = [
    setInterval(() => void renew().catch(onError), Math.max(100, Math.floor(ttlMs / 3))),
    setInterval(() => void reap().catch(onError), Math.max(100, Math.floor(ttlMs / 3))),
  ];
  for (const t of timers) t.unref();

  return {
    async connect(scope, userId, socketId, limit) {
      const now = Date.now();
      let count: number;
      try {
        count = await redis.presenceConnect(userKey(scope.appId, userId), index, socketId, now + ttlMs, now, limit, member(scope.appId, userId, socketId));
      } catch (err) {
        // Redis away: admit the socket rather than refuse every client (the socket limit
        // cannot be checked meanwhile); the next renewal after Redis returns counts it.
        onError(err);
        local.set(socketId, { scope, userId });
        return true;
      }
      if (count < 0) return false;
      local.set(socketId, { scope, userId });
      if (count === 1) {
        const last = await redis.get(lastKey(scope.appId, userId));
        publishPresence(bus, scope.appId, userId, true, last ? new Date(last) : null).catch(onError);
      }
      return true;
    },
    async disconnect(scope, userId, socketId) {
      local.delete(socketId);
      const now = new Date();
      const left = await redis.presenceDisconnect(
        userKey(scope.appId, userId),
        index,
        lastKey(scope.appId, userId),
        socketId,
        now.getTime(),
        member(scope.appId, userId, socketId),
        now.toISOString(),
      );
      if (left === 0) publishPresence(bus, scope.appId, userId, false, now).catch(onError);
    },
    async get(scope, userIds) {
      if (userIds.length === 0) return [];
      const now = Date.now();
      const batch = redis.pipeline();
      for (const id of userIds) batch.zcount(userKey(scope.appId, id), now, '+inf').get(lastKey(scope.appId, id));
      const results = (await batch.exec()) ?? [];
      return userIds.map((userId, i) => {
        const [[countErr, count], [lastErr, last]] = [results[2 * i]!, results[2 * i + 1]!];
        if (countErr || lastErr) throw countErr ?? lastErr;
        return { userId, online: Number(count) > 0, lastSeenAt: last ? new Date(String(last)) : null };
      });
    },
    stop() {
      for (const t of timers) clearInterval(t);
    },
  };
}
